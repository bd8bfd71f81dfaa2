"""The embedded default router, end to end, on the hand-written acceptance set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelyard import Engine
from modelyard.config import load_default_config
from modelyard.types import ChatRequest, ImagePart, ImageURL, Message, TextPart

DATA = Path(__file__).resolve().parents[2] / "data" / "family-queries" / "acceptance.jsonl"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def _request(text: str, has_image: bool) -> ChatRequest:
    if not has_image:
        return ChatRequest.from_text(text)
    parts = [TextPart(text=text), ImagePart(image_url=ImageURL(url=f"data:image/png;base64,{PNG}"))]
    return ChatRequest(messages=[Message(role="user", content=parts)])


async def test_default_router_sends_plain_requests_to_the_right_family() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    per_family: dict[str, list[bool]] = {}
    async with Engine(load_default_config()) as engine:
        for row in rows:
            decision = await engine.route(_request(row["text"], row["has_image"]))
            got = decision.family.value if decision.family else "?"
            ok = got == row["label"] or {got, row["label"]} <= {"llm", "moe"}
            per_family.setdefault(row["label"], []).append(ok)
    overall = sum(sum(v) for v in per_family.values()) / len(rows)
    # Measured 96.2% (see README); the floor leaves room for numeric noise, not for regressions.
    assert overall >= 0.90, per_family
    for family, results in per_family.items():
        assert sum(results) / len(results) >= 0.75, (family, results)


@pytest.mark.parametrize(
    ("text", "image", "family"),
    [
        ("Cut the dog out of this photo", True, "sam"),
        ("What does this chart show?", True, "vlm"),
        ("Draw me a watercolor fox in a snowy forest", False, "lcm"),
        ("Book a table for two at 8pm tomorrow and email me the confirmation", False, "lam"),
        ("sentiment: the update is great", False, "mlm"),
        ("What is 2 + 2?", False, "slm"),
    ],
)
async def test_one_liners_per_family(text: str, image: bool, family: str) -> None:
    async with Engine(load_default_config()) as engine:
        decision = await engine.route(_request(text, image))
    assert decision.family is not None and decision.family.value == family, decision.explain()
