"""Acceptance check of the default classifier router on data/family-queries/acceptance.jsonl.

    .venv/bin/python bench/classifier_acceptance.py [--floor 0.5] [--artefact default]

Three views, per family:

* **text only**: the classifier's top label, ignoring whether an image is attached;
* **router**: `ClassifierRouter` as a config would build it: confidence floor with
  escalation to ``llm``, and ``image_labels: [vlm, sam]`` so a request carrying an
  image is classified among the image families only;
* **router, llm≈moe**: the same, counting ``llm`` and ``moe`` as interchangeable for
  hard reasoning, as the acceptance criterion does ("hard multi-step reasoning to
  llm/moe"); an escalation to ``llm`` is right for those two families only.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from modelyard.routing.classifier.router import ClassifierRouter, TextClassifier
from modelyard.types import ChatRequest, ImagePart, ImageURL, Message, TextPart

DATA = Path(__file__).resolve().parents[1] / "data" / "family-queries"
FAMILIES = ("slm", "llm", "moe", "mlm", "vlm", "lam", "sam", "lcm")
REASONING = {"llm", "moe"}


def request(text: str, has_image: bool) -> ChatRequest:
    if not has_image:
        return ChatRequest.from_text(text)
    parts = [TextPart(text=text), ImagePart(image_url=ImageURL(url="data:image/png;base64,iVBORw0KGgo="))]
    return ChatRequest(messages=[Message(role="user", content=parts)])


def main(path: Path, floor: float, artefact: str, show_errors: bool) -> None:
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    classifier = TextClassifier.load(artefact)
    router = ClassifierRouter(
        "classifier", classifier, confidence_floor=floor, safe_target="llm", image_labels=["vlm", "sam"]
    )
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    errors: list[str] = []
    for r in rows:
        label, text = r["label"], r["text"]
        c = counts[label]
        c[0] += 1
        top, _ = classifier.classify(text)
        c[1] += top == label
        d = router.decide_sync(request(text, bool(r.get("has_image"))))
        got = d.target.name
        c[2] += got == label
        c[3] += got == label or (label in REASONING and got in REASONING)
        c[4] += bool(d.details.get("escalated"))
        if got != label and not (label in REASONING and got in REASONING):
            errors.append(f"{label} → {got} ({d.reason}): {text[:90]}")
    table = Table(title=f"{path.name}: default classifier router (floor {floor}, escalate to llm)")
    for col in ("family", "n", "text only", "router", "router, llm≈moe", "escalated"):
        table.add_column(col, justify="left" if col == "family" else "right")
    total = [0, 0, 0, 0, 0]
    for fam in [f for f in FAMILIES if f in counts]:
        c = counts[fam]
        total = [a + b for a, b in zip(total, c, strict=True)]
        table.add_row(fam, str(c[0]), *(f"{c[i] / c[0]:.0%}" for i in (1, 2, 3)), str(c[4]))
    table.add_row("all", str(total[0]), *(f"{total[i] / total[0]:.1%}" for i in (1, 2, 3)), str(total[4]))
    console = Console()
    console.print(table)
    if show_errors:
        for line in errors:
            console.print(line, highlight=False, markup=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA / "acceptance.jsonl")
    parser.add_argument("--floor", type=float, default=0.5)
    parser.add_argument("--artefact", default="default")
    parser.add_argument("--errors", action="store_true", help="list the misrouted requests")
    args = parser.parse_args()
    main(args.data, args.floor, args.artefact, args.errors)
