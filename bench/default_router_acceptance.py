"""How well does the embedded default router send plain-language requests to the right family?

    .venv/bin/python bench/default_router_acceptance.py [--config FILE] [--errors] [--save FILE]

Runs every request of ``data/family-queries/acceptance.jsonl`` (hand-written, never
used for training) through ``Engine.route`` of the embedded default config — the
whole router (rules → classifier → reasoning tier), no hints set — and compares the
family the router judged with the label. Requests marked ``has_image`` carry
a real (1×1 PNG) image part. "llm≈moe" counts the two reasoning families as
interchangeable, as the acceptance criterion does ("hard multi-step reasoning to
llm/moe").

"Judged" is the family the router chose (``decision.details["judged"]`` when a
capability check moved the request on, else the family it landed on); "served" is
the family of the model that answers. They differ for requests judged ``mlm`` that
the local encoder cannot answer as a chat turn (it answers classification requests
only), which the next capable family serves instead (issue 9).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from _results import RESULTS, Run
from modelyard import Engine
from modelyard.config import load_config, load_default_config
from modelyard.types import ChatRequest, ImagePart, ImageURL, Message, TextPart

DATA = Path(__file__).resolve().parents[1] / "data" / "family-queries" / "acceptance.jsonl"
FAMILIES = ("slm", "llm", "moe", "mlm", "vlm", "lam", "sam", "lcm")
REASONING = {"llm", "moe"}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def request(text: str, has_image: bool) -> ChatRequest:
    if not has_image:
        return ChatRequest.from_text(text)
    parts = [TextPart(text=text), ImagePart(image_url=ImageURL(url=f"data:image/png;base64,{PNG}"))]
    return ChatRequest(messages=[Message(role="user", content=parts)])


async def run(
    config_path: Path | None, rows: list[dict[str, object]], show_errors: bool, save: Run | None = None
) -> float:
    config = load_config(config_path) if config_path else load_default_config()
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    errors: list[str] = []
    async with Engine(config) as engine:
        for row in rows:
            label = str(row["label"])
            decision = await engine.route(request(str(row["text"]), bool(row.get("has_image"))))
            served = decision.family.value if decision.family else "?"
            got = str(decision.details.get("judged", served))
            ok = got == label
            loose = ok or (label in REASONING and got in REASONING)
            c = counts[label]
            c[0] += 1
            c[1] += ok
            c[2] += loose
            c[3] += served == label or (label in REASONING and served in REASONING)
            if not loose:
                errors.append(f"{label} → {got} via {' → '.join(decision.path)}: {str(row['text'])[:90]}")
    table = Table(title="default router on the acceptance set (no hints)")
    for col in ("family", "n", "exact", "llm≈moe", "served (llm≈moe)"):
        table.add_column(col, justify="left" if col == "family" else "right")
    total = [0, 0, 0, 0]
    for fam in [f for f in FAMILIES if f in counts]:
        c = counts[fam]
        total = [a + b for a, b in zip(total, c, strict=True)]
        table.add_row(fam, str(c[0]), f"{c[1] / c[0]:.0%}", f"{c[2] / c[0]:.0%}", f"{c[3] / c[0]:.0%}")
    table.add_row(
        "all", str(total[0]), f"{total[1] / total[0]:.1%}", f"{total[2] / total[0]:.1%}", f"{total[3] / total[0]:.1%}"
    )
    console = Console()
    console.print(table)
    if show_errors:
        for line in errors:
            console.print(line, highlight=False, markup=False)
    if save is not None:  # counts per family: n, exact, llm≈moe (the README figure is the last, over all)
        keys = ("n", "exact", "llm_moe", "served_llm_moe")
        per_family = {fam: dict(zip(keys, counts[fam], strict=True)) for fam in counts}
        all_ = dict(zip(keys, total, strict=True))
        saved = save.save({"per_family": per_family, "all": all_, "misrouted": errors})
        console.print(f"saved {saved}", highlight=False)
    return total[2] / total[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None, help="config file (default: the embedded one)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--errors", action="store_true", help="list the misrouted requests")
    parser.add_argument(
        "--save", type=Path, nargs="?", const=RESULTS / "default_router_acceptance.json", help="write counts as JSON"
    )
    args = parser.parse_args()
    rows = [json.loads(x) for x in args.data.read_text(encoding="utf-8").splitlines() if x.strip()]
    saving = Run("default_router_acceptance", args.save, vars(args)) if args.save else None
    asyncio.run(run(args.config, rows, args.errors, saving))


if __name__ == "__main__":
    main()
