"""``kind: quality_cost``: the choice policies, the shipped RouterBench artefact, OOD deferral, config errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from modelyard import Engine
from modelyard.config import parse_config
from modelyard.errors import ConfigError, ModelLoadError
from modelyard.routing.quality_cost import Policy, QualityCostArtefact, choose, resolve_artefact
from modelyard.training.ood_probes import probes
from modelyard.training.quality import CANDIDATES, fit_quality
from modelyard.types import ChatRequest

#: one candidate per head kind, the ensembles included
CANDIDATES_FOR_ROUND_TRIP = [c for i, c in enumerate(CANDIDATES) if c.kind == "ens" or i % 2 == 0]
P = np.array([[0.9, 0.8, 0.3]])
C = np.array([10.0, 3.0, 1.0])


@pytest.mark.parametrize(
    ("policy", "cap", "want"),
    [
        (Policy(lam=0.0), None, 0),  # best predicted quality, any price
        (Policy(lam=0.02), None, 1),  # 0.9 - 0.2 < 0.8 - 0.06
        (Policy(lam=1.0), None, 2),  # cost dominates
        (Policy(max_cost=5.0), None, 1),  # best among c <= 5
        (Policy(max_cost=0.5), None, 2),  # nothing fits: the cheapest
        (Policy(target_quality=0.75), None, 1),  # cheapest reaching 0.75
        (Policy(target_quality=0.2), None, 2),
        (Policy(target_quality=0.95), None, 0),  # nobody reaches it: the best predicted
        (Policy(lam=0.0), 3.0, 1),  # the request's cost cap removes the dearest
        (Policy(target_quality=0.95), 3.0, 1),
        (Policy(lam=0.0), 0.1, 2),  # a cap nothing meets keeps the cheapest
    ],
)
def test_choose_policies(policy: Policy, cap: float | None, want: int) -> None:
    assert int(choose(P, C, policy, cap=cap)[0]) == want


def test_exact_ties_go_to_the_cheaper_model() -> None:
    assert int(choose(np.array([[0.5, 0.5, 0.5]]), np.array([2.0, 1.0, 3.0]), Policy(lam=0.0))[0]) == 1


def test_lambda_choice_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    pred, cost = rng.random((200, 5)), rng.random((200, 5))
    for lam in (0.0, 0.3, 1.0, 5.0):
        got = choose(pred, cost, Policy(lam=lam))
        for i in range(200):
            best = max(range(5), key=lambda m: (pred[i, m] - lam * cost[i, m], -cost[i, m]))
            assert got[i] == best


@pytest.mark.parametrize("kwargs", [{}, {"lam": 1.0, "max_cost": 1.0}, {"lam": 1.0, "target_quality": 0.5}])
def test_policy_needs_exactly_one_setting(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Policy(**kwargs)


MODELS = """
version: 1
models:
  big: {family: llm, provider: sim, context_window: 200000, price: {input: 0.01, output: 0.03}}
  mid: {family: moe, provider: sim, context_window: 200000, price: {input: 0.001, output: 0.002}}
  small: {family: slm, provider: sim, context_window: 200000, price: {input: 0.0001, output: 0.0002}}
"""


def config(policy: str, extra: str = "") -> str:
    return (
        MODELS
        + f"""
routers:
  default:
    kind: quality_cost
    artefact: routerbench-minilm
    candidates:
      gpt-4-1106-preview: big
      mistralai/mixtral-8x7b-chat: mid
      mistralai/mistral-7b-chat: small
    {policy}
    ood: {{target: big}}
{extra}"""
    )


CODING = "Write a python function to find the second largest number in a list of integers."


async def test_decision_explains_each_candidate() -> None:
    async with Engine(parse_config(config("lambda: 0"))) as engine:
        decision = await engine.route(ChatRequest.from_text(CODING))
    assert decision.router == "default" and decision.model in ("big", "mid", "small")
    predicted = decision.details["predicted_quality"]
    assert set(predicted) == {"gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat", "mistralai/mistral-7b-chat"}
    assert all(0.0 <= q <= 1.0 for q in predicted.values())
    assert len(decision.candidates) == 3 and sum(c.accepted for c in decision.candidates) == 1
    for cand in decision.candidates:
        assert "predicted quality" in cand.reason and "expected cost $" in cand.reason
    best = max(predicted, key=predicted.get)  # λ = 0: the best predicted quality
    assert decision.details["model"] == best


@pytest.mark.parametrize(
    ("policy", "want"),
    [("lambda: 1000000", "small"), ("max_cost: 0.0000001", "small"), ("target_quality: 0.0", "small")],
)
async def test_policies_through_the_engine(policy: str, want: str) -> None:
    async with Engine(parse_config(config(policy))) as engine:
        decision = await engine.route(ChatRequest.from_text(CODING))
    assert decision.model == want, decision.explain()


async def test_request_cost_cap_removes_dear_candidates() -> None:
    request = ChatRequest.from_text(CODING)
    request.hints.max_cost_usd = 0.0002  # below GPT-4's and Mixtral's expected cost on the training data
    async with Engine(parse_config(config("lambda: 0"))) as engine:
        decision = await engine.route(request)
    assert decision.model == "small", decision.explain()
    assert "cost cap" in decision.reason


PROBES = probes()
OOD_CASES = [(kind, text) for kind in ("junk", "one_word", "script", "long") for text in PROBES[kind][:8]]


@pytest.mark.parametrize(
    ("kind", "text"),
    OOD_CASES,
    ids=[f"{k}-{i}" for k, i in zip([c[0] for c in OOD_CASES], itertools.cycle(range(8)), strict=False)],
)
async def test_out_of_distribution_inputs_go_to_the_ood_target(kind: str, text: str) -> None:
    async with Engine(parse_config(config("lambda: 1000000"))) as engine:  # otherwise: the cheapest model
        decision = await engine.route(ChatRequest.from_text(text))
    assert decision.model == "big", (kind, decision.explain())
    assert "out of distribution" in decision.reason and decision.details["ood"] is True


async def test_in_distribution_prompt_is_not_deferred() -> None:
    async with Engine(parse_config(config("lambda: 1000000"))) as engine:
        decision = await engine.route(ChatRequest.from_text(CODING))
    assert decision.model == "small" and "ood" not in decision.details


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("lambda: 1\n    max_cost: 1", "exactly one"),
        ("lambda: -1", "lambda: must be ≥ 0"),
        ("lambda: 1\n    costs: {gpt-3.5-turbo-1106: 1.0}", "not candidates"),
    ],
)
def test_bad_specs_are_clear_errors(body: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_config(config(body))


async def test_unknown_candidate_is_a_clear_error() -> None:
    text = config("lambda: 1").replace("mistralai/mistral-7b-chat: small", "gpt-5: small")
    with pytest.raises(ConfigError, match=r"candidates not in the artefact.*gpt-5"):
        async with Engine(parse_config(text)):
            pass


def test_shipped_artefact_is_small_and_checksummed() -> None:
    where = resolve_artefact("routerbench-minilm")
    total = sum(p.stat().st_size for p in where.iterdir())
    assert total < 2_000_000
    artefact = QualityCostArtefact.load(where)
    assert len(artefact.models) == 11 and artefact.meta["view"]["kind"] == "tail"
    assert any(row.get("selected") for row in artefact.meta["selection"])


async def test_code_only_prompts_mostly_go_to_the_ood_target() -> None:
    """Measured 10/15: code close to MBPP's "Write a python function …" prompts stays in distribution."""
    deferred = 0
    async with Engine(parse_config(config("lambda: 1000000"))) as engine:
        for text in PROBES["code"]:
            decision = await engine.route(ChatRequest.from_text(text))
            deferred += decision.model == "big" and "out of distribution" in decision.reason
    assert deferred >= 10, f"{deferred}/15"


@pytest.mark.parametrize("label", [c.label() for c in CANDIDATES_FOR_ROUND_TRIP])
def test_every_head_kind_round_trips_through_its_artefact(label: str, tmp_path: Path) -> None:
    """Fit on random data, save, load: the loaded head predicts what the fitted one did (float32 storage)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = (rng.random((120, 3)) < 1 / (1 + np.exp(-3 * x[:, :3]))).astype(np.float64)
    cand = next(c for c in CANDIDATES_FOR_ROUND_TRIP if c.label() == label)
    head = fit_quality(cand, x, y, seed=0)
    meta = {"models": ["a", "b", "c"], "mean_cost": [1.0, 2.0, 3.0], "encoder": {"model_id": "test"}}
    QualityCostArtefact(meta, head).save(tmp_path / "art")
    loaded = QualityCostArtefact.load(tmp_path / "art")
    assert loaded.head.kind == head.kind
    np.testing.assert_allclose(loaded.head.predict(x), head.predict(x), atol=2e-3)
    pred = head.predict(x)
    assert pred.shape == (120, 3) and (pred >= 0).all() and (pred <= 1).all()


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(resolve_artefact("routerbench-minilm"), tmp_path / "art")
    with (tmp_path / "art" / "weights.npz").open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(ModelLoadError, match="checksum does not match"):
        QualityCostArtefact.load(tmp_path / "art")
