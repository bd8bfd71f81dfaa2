"""Score heads (``kind: threshold``) and the default router on inputs unlike their training data.

Probe sets: `modelyard.training.ood_probes` (junk, one-word turns, code only, other
scripts, very long inputs). Counts below were measured once with the shipped
references (docs/routing-quality.md, "Knowing what it does not know").
"""

from __future__ import annotations

import pytest

from modelyard import Engine
from modelyard.config import load_default_config, parse_config
from modelyard.errors import ConfigError
from modelyard.routing.ood import NearestNeighbourOOD
from modelyard.routing.threshold import BUILTIN_DIR, OOD_FILE
from modelyard.training.ood_probes import probes
from modelyard.types import ChatRequest

PROBES = probes()
THRESHOLD = """
version: 1
models:
  big: {family: llm, provider: sim, context_window: 200000}
  small: {family: slm, provider: sim, context_window: 200000}
  safe: {family: moe, provider: sim, context_window: 200000}
routers:
  default:
    kind: threshold
    artefact: mmlu-minilm-logreg
    strong: big
    weak: small
    threshold: 0.05
    ood: {target: safe}
"""
MMLU_LIKE = (
    "Which of the following best describes the function of the mitochondria in eukaryotic cells?\n"
    "A. Protein synthesis\nB. ATP production\nC. Lipid storage\nD. DNA replication\nAnswer:"
)
ALWAYS = [(kind, text) for kind in ("junk", "one_word", "long") for text in PROBES[kind]]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(parse_config(THRESHOLD))


@pytest.mark.parametrize(("kind", "text"), ALWAYS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(ALWAYS)])
async def test_junk_short_and_long_inputs_go_to_the_ood_target(engine: Engine, kind: str, text: str) -> None:
    decision = await engine.route(ChatRequest.from_text(text))
    assert decision.model == "safe", (kind, decision.explain())
    assert decision.reason.startswith("out of distribution:") and decision.details["ood"] is True


@pytest.mark.parametrize(("kind", "measured"), [("code", 12), ("script", 14)])
async def test_code_only_and_other_scripts_mostly_go_to_the_ood_target(
    engine: Engine, kind: str, measured: int
) -> None:
    """Not every one: ``def f(x): return [i * i …]`` is as close to MMLU's computer-science
    questions as 1% of unseen MMLU prompts are. Measured 12/15 code, 14/16 scripts."""
    deferred = 0
    for text in PROBES[kind]:
        decision = await engine.route(ChatRequest.from_text(text))
        deferred += decision.model == "safe" and "out of distribution" in decision.reason
    assert deferred >= measured, f"{kind}: {deferred}/{len(PROBES[kind])} deferred"


async def test_an_mmlu_like_question_is_scored(engine: Engine) -> None:
    decision = await engine.route(ChatRequest.from_text(MMLU_LIKE))
    assert decision.model in ("big", "small") and "strong-need score" in decision.reason, decision.explain()


async def test_a_target_that_cannot_take_the_input_is_not_used() -> None:
    """A long input the OOD target's context window cannot hold is scored as usual instead."""
    text = THRESHOLD.replace(
        "safe: {family: moe, provider: sim, context_window: 200000}",
        "safe: {family: moe, provider: sim, context_window: 512}",
    )
    async with Engine(parse_config(text)) as engine:
        decision = await engine.route(ChatRequest.from_text(PROBES["long"][0]))
    assert decision.model in ("big", "small") and "strong-need score" in decision.reason


def test_every_shipped_score_head_has_a_reference() -> None:
    for name in ("mmlu-minilm-logreg", "mmlu-minilm-mlp", "mmlu-minilm-knn"):
        ood = NearestNeighbourOOD.load(BUILTIN_DIR / name / OOD_FILE)
        assert ood.max_words is not None and ood.min_words >= 1
        assert ood.meta["held_out_flagged"] <= 0.02  # ~1% of unseen in-distribution prompts by construction


def test_ood_without_a_reference_is_a_config_error(tmp_path: object) -> None:
    import shutil
    from pathlib import Path

    where = Path(str(tmp_path)) / "head"
    shutil.copytree(BUILTIN_DIR / "mmlu-minilm-logreg", where)
    (where / OOD_FILE).unlink()
    with pytest.raises(ConfigError, match=r"routers\.default\.ood: no OOD reference"):
        Engine(parse_config(THRESHOLD.replace("artefact: mmlu-minilm-logreg", f"artefact: {where}")))


DEFAULT_SHORT = PROBES["one_word"] + ["test", "thanks!", "hello?"]
#: symbol and emoji junk; keyboard mash with letters ("ljwe caxou vewkogr") is NOT caught by the default
#: classifier's check today (measured 23/40 of all junk probes flagged; see docs/routing-quality.md)
DEFAULT_JUNK = [t for t in PROBES["junk"] if not any(c.isalnum() for c in t)]


@pytest.fixture(scope="module")
def default_engine() -> Engine:
    return Engine(load_default_config())


@pytest.mark.parametrize("text", DEFAULT_SHORT + DEFAULT_JUNK)
async def test_default_router_sends_short_turns_and_junk_to_the_safe_target(default_engine: Engine, text: str) -> None:
    decision = await default_engine.route(ChatRequest.from_text(text))
    assert decision.family is not None and decision.family.value == "slm", decision.explain()
    assert "out of distribution" in decision.reason, decision.explain()
