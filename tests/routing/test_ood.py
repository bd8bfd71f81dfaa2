"""The out-of-distribution check (routing/ood.py) and the classifier router's ``ood:`` setting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelyard import ChatRequest, Engine
from modelyard.encoders.static import default_static_encoder
from modelyard.errors import ConfigError, ModelLoadError
from modelyard.routing.classifier.artefact import DEFAULT_DIR, OOD_FILE
from modelyard.routing.ood import NearestNeighbourOOD, count_words, known_share
from tests.conftest import make_config

DATA = Path(__file__).resolve().parents[2] / "data" / "family-queries"


def unit(rows: list[list[float]]) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("text", "words"),
    [("test", 1), ("hi there", 2), ("?!?!", 0), ("👍👍", 0), ("1+1", 2), ("你好", 1), ("Как дела?", 2), ("", 0)],
)
def test_words_are_runs_of_letters_or_digits(text: str, words: int) -> None:
    assert count_words(text) == words


def test_fit_measures_both_thresholds_on_the_data() -> None:
    reference = unit([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0]])
    held_out = unit([[1, 0.05, 0], [0.5, 0.5, 0.7], [0, 1, 0.1]] * 10)
    ood = NearestNeighbourOOD.fit(reference, ["a b", "c d e", "f g h i"], held_out, encoder_id="e", quantile=0.05)
    assert ood.min_words == 2
    sims = (held_out @ reference.T).max(axis=1)
    assert ood.min_similarity == pytest.approx(np.floor(np.quantile(sims, 0.05) * 100) / 100)
    assert ood.meta["held_out_flagged"] <= 0.05 + 1e-9


VERDICTS = [
    # (text, vector, out?, reason fragment)
    ("test", [1, 0, 0], True, "1 word, the shortest training text has 2"),
    ("👍", [1, 0, 0], True, "no letters or digits"),
    ("far away words", [0, 0, 1], True, "nearest training example similarity 0.000 < 0.50"),
    ("close enough words", [1, 0.1, 0], False, "in distribution"),
]


#: (text, vector, out?, reason fragment) with ``min_known_share`` 0.1: the lexical test runs before the
#: encoder is asked, so junk that embeds right next to real requests ([1, 0, 0]) is still caught.
LEXICAL = [
    ("asdkjh qwpoeiru zxmcnb", [1, 0, 0], True, "0% of its words are known words, under 10%"),
    ("qwerty uiop asdf", [1, 0, 0], True, "0% of its words are known words"),
    ("lkjlkj sdfsdf", [1, 0, 0], True, "0% of its words are known words"),
    ("what is the capital of france", [1, 0, 0], False, "in distribution"),
    ("tell me about zxqv", [1, 0, 0], False, "in distribution"),  # 3 of 4 words known
    ("what is the capital of france", [0, 0, 1], True, "similarity 0.000 < 0.50"),
    ("1234 5678", [1, 0, 0], False, "in distribution"),  # no letters: the share is not measured
]


@pytest.mark.parametrize(("text", "vector", "out", "reason"), LEXICAL)
def test_the_known_word_share_is_judged_before_the_encoder_can_clear_a_text(
    text: str, vector: list[float], out: bool, reason: str
) -> None:
    ood = NearestNeighbourOOD(unit([[1, 0, 0], [0, 1, 0]]), "e", min_similarity=0.5, min_words=2, min_known_share=0.1)
    calls: list[int] = []

    def encode() -> np.ndarray:
        calls.append(1)
        return unit([vector])[0]

    verdict = ood.check(text, encode)
    assert verdict.out is out and reason in verdict.reason, verdict
    lexical = (share := known_share(text)) is not None and share < 0.1
    assert bool(calls) is not lexical  # caught by the words alone: never encoded


@pytest.mark.parametrize(("text", "vector", "out", "reason"), VERDICTS)
def test_check_says_why(text: str, vector: list[float], out: bool, reason: str) -> None:
    ood = NearestNeighbourOOD(unit([[1, 0, 0], [0, 1, 0]]), "e", min_similarity=0.5, min_words=2)
    calls: list[int] = []

    def encode() -> np.ndarray:
        calls.append(1)
        return unit([vector])[0]

    verdict = ood.check(text, encode)
    assert verdict.out is out and reason in verdict.reason
    assert bool(calls) is (count_words(text) >= 2)  # too short: decided without encoding


def test_save_load_round_trip_and_damage_is_refused(tmp_path: Path) -> None:
    ood = NearestNeighbourOOD(unit([[1, 2, 3], [3, 2, 1]]), "enc", min_similarity=0.3, min_words=2, meta={"x": 1})
    path = ood.save(tmp_path / "ood.npz")
    back = NearestNeighbourOOD.load(path)
    assert (back.encoder_id, back.min_similarity, back.min_words, back.meta["x"]) == ("enc", 0.3, 2, 1)
    assert np.allclose(back.reference, ood.reference, atol=0.01)
    data = dict(np.load(path))
    data["codes"] = data["codes"].copy()
    data["codes"][0, 0] += 1
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(ModelLoadError, match="checksum"):
        NearestNeighbourOOD.load(tmp_path / "bad.npz")


def test_the_shipped_reference_is_the_measured_one() -> None:
    ood = NearestNeighbourOOD.load(DEFAULT_DIR / OOD_FILE)
    assert ood.encoder_id == default_static_encoder().model_id  # microseconds a query, no MiniLM
    assert len(ood.reference) == 256 and ood.unit == "cluster" and ood.min_words == 2
    assert ood.min_similarity == 0.86  # 1% quantile of held-out nearest-cluster similarity (docs/classifier.md)
    assert ood.meta["held_out_flagged"] < 0.02
    # 0.5% quantile of the training texts' known-word share, rounded down to 0.05 (docs/classifier.md)
    assert ood.min_known_share == 0.1 and ood.meta["known_share_quantile"] == 0.005


#: Junk of several kinds; none of it sets a threshold (those come from the training and held-out files).
JUNK = [
    # keyboard mash: rows, diagonals, home row, random runs
    "asdkjh qwpoeiru zxmcnb",
    "lkjlkj sdfsdf",
    "qwerty uiop asdf",
    "asdf asdf asdf",
    "zxcv bnm qwer",
    "qazwsx edcrfv",
    "poiuy lkjhg mnbvc",
    "trewq gfdsa",
    "fdsa rewq vcxz",
    "asdfghjkl qwertyuiop",
    "asdjkl qweiop",
    "wert yuio pasd",
    "hjkl hjkl",
    "jkl jkl jkl",
    "uiop[] asdf",
    "sdfgh jklö",
    "ASDF QWER ZXCV",
    # random letters
    "ljwe caxou vewkogr",
    "xqzvb plmok nijuh",
    "mnbv cxz lkjh",
    "gfhgfh jhgjhg",
    "kjhkjh kjhkjh",
    "dfgdfg dfgdfg",
    "fjfjfj dkdkdk",
    "xkcd qwop zzzz",
    "vbnm vbnm",
    "wxyz abcd efgh",
    "zzzz zzzz",
    "mmmm nnnn",
    "aaaa bbbb cccc",
    # repeated syllables
    "blah blah blah",
    "la la la la",
    "na na na na na",
    "ba ba ba ba",
    "ko ko ko ko",
    "dodo dada dudu",
    "lalala lalala",
    "yada yada yada",
    "hmmm hmmm",
    "plop plop plop",
    # one word, symbols, emoji
    "test",
    "asdfgh",
    "👍",
    "?!?!",
    "😀😀😀",
]


@pytest.mark.parametrize("text", JUNK)
async def test_junk_of_every_kind_goes_to_the_ood_target(text: str) -> None:
    engine = Engine(make_config(CLASSIFIER))
    decision = await engine.route(ChatRequest.from_text(text, model="guarded"))
    assert decision.model == "sim-slm", decision.explain()
    assert decision.reason.startswith("out of distribution:") and decision.details["ood"] is True


def _text_rows(name: str) -> list[str]:
    rows = [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [str(r["text"]) for r in rows if not r.get("has_image")]  # with an image the check does not run


@pytest.mark.parametrize(("name", "most"), [("test.jsonl", 0.01), ("acceptance.jsonl", 4 / 116)])
def test_real_requests_are_rarely_flagged_and_the_word_test_flags_none(name: str, most: float) -> None:
    """Held-out rows (never trained on) and the hand-written acceptance set: measured in docs/classifier.md."""
    ood = NearestNeighbourOOD.load(DEFAULT_DIR / OOD_FILE)
    encoder = default_static_encoder()
    texts = _text_rows(name)
    vectors = encoder.encode(texts)
    verdicts = [ood.check(t, lambda v=v: v) for t, v in zip(texts, vectors, strict=True)]
    flagged = sum(v.out for v in verdicts)
    assert flagged / len(texts) <= most + 1e-9, [(t, v.reason) for t, v in zip(texts, verdicts, strict=True) if v.out]
    assert not [t for t, v in zip(texts, verdicts, strict=True) if "known words" in v.reason]


CLASSIFIER = """
models:
  sim-slm: {family: slm, provider: sim}
  sim-llm: {family: llm, provider: sim}
  sim-mlm: {family: mlm, provider: sim}
  sim-lcm: {family: lcm, provider: sim}
routers:
  plain: {kind: classifier, artefact: default, confidence_floor: 0.3, safe_target: llm}
  guarded: {kind: classifier, artefact: default, confidence_floor: 0.3, safe_target: llm, ood: {target: slm}}
  strict: {kind: classifier, artefact: default, confidence_floor: 0.3, ood: {target: slm, min_similarity: 0.99}}
"""


@pytest.mark.parametrize("text", ["test", "asdfgh", "👍", "?", "今天天气怎么样？"])
async def test_junk_goes_to_the_ood_target_with_the_reason(text: str) -> None:
    engine = Engine(make_config(CLASSIFIER))
    decision = await engine.route(ChatRequest.from_text(text, model="guarded"))
    assert decision.model == "sim-slm", decision.explain()
    assert decision.reason.startswith("out of distribution:") and decision.details["ood"] is True


async def test_in_distribution_requests_are_classified_and_the_floor_is_configurable() -> None:
    engine = Engine(make_config(CLASSIFIER))
    text = "Draw me a watercolor fox in a snowy forest"
    guarded = await engine.route(ChatRequest.from_text(text, model="guarded"))
    assert guarded.model == "sim-lcm" and guarded.details["ood_similarity"] >= 0.86
    strict = await engine.route(ChatRequest.from_text(text, model="strict"))
    assert strict.model == "sim-slm" and "< 0.99" in strict.reason


def test_an_artefact_without_a_reference_is_a_config_error(tmp_path: Path) -> None:
    for name in ("router.json", "weights.npz"):
        (tmp_path / name).write_bytes((DEFAULT_DIR / name).read_bytes())
    text = CLASSIFIER.replace(
        "artefact: default, confidence_floor: 0.3, safe_target: llm, ood", f"artefact: {tmp_path}, ood"
    )
    with pytest.raises(ConfigError, match=r"routers\.guarded\.ood: no OOD reference"):
        Engine(make_config(text))
