"""Build the family-queries dataset: train.jsonl and test.jsonl (deterministic).

Run from anywhere: ``python data/family-queries/build.py``. The same seed always
writes byte-identical files. Held-out items are whole templates and whole
hand-written lines, so no filled variant of a test template appears in train.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from templates import IMAGE_FAMILIES, NEUTRAL_CONTEXT, SLOTS, TEMPLATES  # noqa: E402

SEED = 20260312
TEST_FRACTION = 0.2
TARGET_PER_FAMILY = 560
FAMILIES = ("slm", "llm", "moe", "mlm", "vlm", "lam", "sam", "lcm")

IMP_WRAPPERS = [
    "{x}",
    "{x}",
    "{x}",
    "Please {xl}",
    "{x} Thanks!",
    "Can you {xs}?",
    "Could you please {xs}?",
    "I need you to {xl}",
    "hey, {xl}",
    "Would you {xs}?",
    "quick one: {xl}",
    "I'd like you to {xl}",
]
Q_WRAPPERS = [
    "{x}",
    "{x}",
    "{x}",
    "Quick question: {x}",
    "hi! {x}",
    "{x} thanks",
    "Hey, {xl}",
    "{x} Just curious.",
]
_SLOT = re.compile(r"{(\w+)}")


def _fill(text: str, rng: random.Random) -> str:
    """Fill each slot; ``<name>_list`` slots become a numbered list of 3-6 fillers."""

    chosen: dict[str, str] = {}  # a slot named twice gets the same filler both times

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in chosen:
            if name.endswith("_list"):
                pool = SLOTS[name[: -len("_list")]]
                picks = rng.sample(pool, k=min(len(pool), rng.randint(3, 6)))
                chosen[name] = "\n".join(f"{i}. {p}" for i, p in enumerate(picks, 1))
            else:
                chosen[name] = rng.choice(SLOTS[name])
        return chosen[name]

    filled = _SLOT.sub(one, text)
    return re.sub(r"\b([Aa]) ([aeiouAEIOU])", r"\1n \2", filled)


def _wrap(text: str, kind: str, rng: random.Random) -> str:
    if kind == "raw":
        return text
    wrapper = rng.choice(IMP_WRAPPERS if kind == "imp" else Q_WRAPPERS)
    lowered = text[0].lower() + text[1:]
    stripped = lowered.rstrip(".?!")
    return wrapper.format(x=text, xl=lowered, xs=stripped)


def _typo(text: str, rng: random.Random) -> str:
    """One or two keyboard-style slips (swap, drop or double a letter) in longer words."""
    words = text.split(" ")
    for _ in range(rng.randint(1, 2)):
        candidates = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
        if not candidates:
            break
        i = rng.choice(candidates)
        w = words[i]
        j = rng.randrange(1, len(w) - 2)
        op = rng.choice(("swap", "drop", "double"))
        if op == "swap":
            w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
        elif op == "drop":
            w = w[:j] + w[j + 1 :]
        else:
            w = w[:j] + w[j] + w[j:]
        words[i] = w
    return " ".join(words)


def _vary(text: str, lang: str, rng: random.Random) -> str:
    """Surface variation shared by all families, so it carries no family signal."""
    if lang == "en" and rng.random() < 0.18:
        text = f"{rng.choice(NEUTRAL_CONTEXT)} {text}"
    if rng.random() < 0.10:
        text = _typo(text, rng)
    if rng.random() < 0.12:
        text = text.lower()
    if rng.random() < 0.10:
        text = text.rstrip(".?!")
    return text


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _read_handwritten(family: str) -> list[str]:
    lines = (HERE / "handwritten" / f"{family}.txt").read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def _split(items: list[str], rng: random.Random) -> tuple[set[str], set[str]]:
    order = sorted(items)
    rng.shuffle(order)
    n_test = max(1, round(len(order) * TEST_FRACTION))
    return set(order[n_test:]), set(order[:n_test])


def build_family(family: str, rng: random.Random) -> list[dict[str, object]]:
    has_image = family in IMAGE_FAMILIES
    rows: list[dict[str, object]] = []
    hand = _read_handwritten(family)
    _, hand_test = _split(hand, rng)
    for text in hand:
        rows.append(
            {
                "text": text,
                "label": family,
                "has_image": has_image,
                "source": "handwritten",
                "split": "test" if text in hand_test else "train",
            }
        )
    templates = TEMPLATES[family]
    _, tmpl_test = _split([t[0] for t in templates], rng)
    quota = -(-(TARGET_PER_FAMILY - len(hand)) // len(templates))
    for tid, lang, kind, text in templates:
        seen: set[str] = set()
        for _ in range(quota * 6):
            if len(seen) >= quota:
                break
            out = _vary(_wrap(_fill(text, rng), kind, rng), lang, rng)
            if _key(out) in seen:
                continue
            seen.add(_key(out))
            rows.append(
                {
                    "text": out,
                    "label": family,
                    "has_image": has_image,
                    "source": f"template:{tid}",
                    "split": "test" if tid in tmpl_test else "train",
                }
            )
    return rows


def main() -> None:
    rng = random.Random(SEED)
    rows = [r for fam in FAMILIES for r in build_family(fam, rng)]
    train_keys = {_key(str(r["text"])) for r in rows if r["split"] == "train"}
    seen: set[str] = set()
    out: dict[str, list[dict[str, object]]] = {"train": [], "test": []}
    for r in rows:
        k = _key(str(r["text"]))
        if k in seen or (r["split"] == "test" and k in train_keys):
            continue  # exact duplicates never straddle the split
        seen.add(k)
        split = str(r.pop("split"))
        out[split].append(r)
    for split, items in out.items():
        rng.shuffle(items)
        path = HERE / f"{split}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for r in items:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        counts = Counter(str(r["label"]) for r in items)
        print(f"{split}: {len(items)} rows sha256:{digest} " + " ".join(f"{f}={counts[f]}" for f in FAMILIES))


if __name__ == "__main__":
    main()
