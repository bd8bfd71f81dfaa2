"""Classifier router: artefact format, confidence floor, training, and the shipped default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelyard.errors import ConfigError, ModelLoadError
from modelyard.routing.base import BuildContext
from modelyard.routing.classifier.artefact import DEFAULT_DIR, DEFAULT_STATIC_DIR, ClassifierArtefact
from modelyard.routing.classifier.head import LinearHead, MlpHead
from modelyard.routing.classifier.router import ClassifierRouter, ClassifierSpec, TextClassifier
from modelyard.routing.classifier.train import HeadChoice, LabeledSet, load_labeled, split_holdout, train_router
from modelyard.types import ChatRequest, ImagePart, ImageURL, Message, Target, TextPart
from tests.noise_floor import noise_floor
from tests.routing.test_semantic import BagOfWords

DATA = Path(__file__).resolve().parents[2] / "data" / "family-queries"
LABELS = ["lcm", "llm", "slm", "vlm"]


def make_artefact(encoder_id: str = BagOfWords.model_id, seed: int = 0) -> ClassifierArtefact:
    rng = np.random.default_rng(seed)
    head = LinearHead(rng.normal(size=(4, 256)).astype(np.float32), np.zeros(4, dtype=np.float32))
    return ClassifierArtefact(labels=LABELS, encoder_id=encoder_id, head=head, metrics={"note": "test"})


def constant_router(probs: list[float], **kw: object) -> ClassifierRouter:
    """A router whose head ignores the text and always outputs ``probs``."""
    head = LinearHead(np.zeros((4, 256), dtype=np.float32), np.log(np.array(probs, dtype=np.float32)))
    art = ClassifierArtefact(labels=LABELS, encoder_id=BagOfWords.model_id, head=head)
    return ClassifierRouter("clf", TextClassifier(art, BagOfWords()), **kw)  # type: ignore[arg-type]


# -- artefact -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["router-dir", "router.npz"])
def test_artefact_round_trip(tmp_path: Path, name: str) -> None:
    art = make_artefact()
    path = art.save(tmp_path / name)
    loaded = ClassifierArtefact.load(path)
    assert loaded.labels == LABELS and loaded.encoder_id == BagOfWords.model_id
    assert loaded.metrics == {"note": "test"}
    x = BagOfWords().encode(["draw a fox", "what is 2+2"])
    np.testing.assert_allclose(loaded.predict_proba(x), art.predict_proba(x), rtol=1e-6)


def test_mlp_head_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ws = [rng.normal(size=(256, 16)).astype(np.float32), rng.normal(size=(16, 4)).astype(np.float32)]
    bs = [np.zeros(16, dtype=np.float32), np.zeros(4, dtype=np.float32)]
    art = ClassifierArtefact(labels=LABELS, encoder_id="e", head=MlpHead(ws, bs))
    loaded = ClassifierArtefact.load(art.save(tmp_path / "mlp"))
    x = BagOfWords().encode(["hello"])
    np.testing.assert_allclose(loaded.predict_proba(x), art.predict_proba(x), rtol=1e-6)
    assert loaded.predict_proba(x).sum() == pytest.approx(1.0)


def test_schema_version_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    path = make_artefact().save(tmp_path / "r")
    meta = json.loads((path / "router.json").read_text())
    meta["schema_version"] = 99
    (path / "router.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=r"schema version 99.*reads version 1.*modelyard train"):
        ClassifierArtefact.load(path)


def test_wrong_format_and_tampered_weights_are_rejected(tmp_path: Path) -> None:
    path = make_artefact().save(tmp_path / "r")
    meta = json.loads((path / "router.json").read_text())
    (path / "router.json").write_text(json.dumps({**meta, "format": "something-else"}))
    with pytest.raises(ModelLoadError, match="format"):
        ClassifierArtefact.load(path)
    (path / "router.json").write_text(json.dumps(meta))
    other = make_artefact(seed=7)
    np.savez(path / "weights.npz", **other.head.arrays())  # type: ignore[arg-type]
    with pytest.raises(ModelLoadError, match="checksum"):
        ClassifierArtefact.load(path)
    with pytest.raises(ModelLoadError, match="not found"):
        ClassifierArtefact.load(tmp_path / "missing")


def test_encoder_id_mismatch_is_a_clear_error() -> None:
    art = make_artefact(encoder_id="sentence-transformers/some-other-model")
    with pytest.raises(ModelLoadError, match=r"trained on encoder 'sentence-transformers/some-other-model'.*"):
        TextClassifier(art, BagOfWords())


def test_labels_must_match_head() -> None:
    head = LinearHead(np.zeros((3, 8), dtype=np.float32), np.zeros(3, dtype=np.float32))
    with pytest.raises(ModelLoadError, match="3 classes but 4 labels"):
        ClassifierArtefact(labels=LABELS, encoder_id="e", head=head)


# -- router ---------------------------------------------------------------------------------------


def test_confident_pick_goes_to_its_label() -> None:
    d = constant_router([0.05, 0.05, 0.85, 0.05], confidence_floor=0.5).decide_sync(ChatRequest.from_text("hi"))
    assert d.target == Target(kind="family", name="slm")
    assert d.confidence == pytest.approx(0.85, abs=1e-4)
    assert d.details["escalated"] is False and d.candidates[0].accepted


def test_below_confidence_floor_escalates_to_safe_target() -> None:
    router = constant_router([0.3, 0.2, 0.4, 0.1], confidence_floor=0.5, safe_target="model:big-model")
    d = router.decide_sync(ChatRequest.from_text("ambiguous"))
    assert d.target == Target(kind="model", name="big-model")
    assert d.details["escalated"] is True and d.details["label"] == "slm"
    assert "0.40 < floor 0.50" in d.reason and "escalated to big-model" in d.reason
    assert not any(c.accepted for c in d.candidates)


def test_targets_remap_labels_and_unknown_labels_are_rejected() -> None:
    router = constant_router([0.1, 0.8, 0.05, 0.05], targets={"llm": "model:gpt-big"})
    assert router.decide_sync(ChatRequest.from_text("x")).target == Target(kind="model", name="gpt-big")
    with pytest.raises(ConfigError, match="nope"):
        constant_router([0.25] * 4, targets={"nope": "llm"})


def test_image_labels_restrict_the_choice_when_an_image_is_attached() -> None:
    router = constant_router([0.1, 0.1, 0.6, 0.2], image_labels=["vlm"], confidence_floor=0.5)
    content = [TextPart(text="what is this?"), ImagePart(image_url=ImageURL(url="data:image/png;base64,AA=="))]
    with_image = ChatRequest(messages=[Message(role="user", content=content)])
    d = router.decide_sync(with_image)
    assert d.target == Target(kind="family", name="vlm") and d.confidence == pytest.approx(1.0)
    assert router.decide_sync(ChatRequest.from_text("what is this?")).target.name == "slm"


def test_max_chars_classifies_only_the_start() -> None:
    encoder = BagOfWords()
    router = constant_router([0.25] * 4, max_chars=20)
    router.classifier.encoder = encoder
    router.decide_sync(ChatRequest.from_text("draw me a watercolor fox in the snow, please, at dusk"))
    assert encoder.encoded == ["draw me a watercolor"]


def test_spec_builds_router_from_artefact_path(tmp_path: Path) -> None:
    make_artefact().save(tmp_path / "mine")
    spec = ClassifierSpec.model_validate({"name": "clf", "artefact": "mine", "confidence_floor": 0.7})
    assert [p for p, _ in spec.references()] == ["safe_target"]
    build = BuildContext(registry=None, config_dir=tmp_path, routers={}, encoder_factory=BagOfWords)  # type: ignore[arg-type]
    router = ClassifierRouter.from_spec(spec, build)
    assert router.confidence_floor == 0.7 and router.safe_target == Target(kind="family", name="llm")
    with pytest.raises(ConfigError, match="no classifier router"):
        ClassifierRouter.from_spec(ClassifierSpec(name="clf", artefact="missing"), build)


# -- training -------------------------------------------------------------------------------------

TINY = {
    "lcm": ["draw a fox", "draw a castle", "generate an image of a cat", "paint a sunset", "render a logo"],
    "llm": ["prove the theorem", "analyze the economy deeply", "design a distributed system", "reason step by step"],
    "slm": ["what is the capital", "fix this typo", "hello there", "what time is it"],
}


def tiny_set() -> LabeledSet:
    texts = [t for ts in TINY.values() for t in ts]
    labels = [k for k, ts in TINY.items() for _ in ts]
    return LabeledSet(texts, labels, [f"row:{i}" for i in range(len(texts))])


def test_training_on_a_tiny_set_is_deterministic() -> None:
    choices = [HeadChoice("linear", c=4.0), HeadChoice("mlp", hidden=8, alpha=1e-3)]
    a = train_router(tiny_set(), tiny_set(), BagOfWords(), candidates=choices, folds=2, seed=3)
    b = train_router(tiny_set(), tiny_set(), BagOfWords(), candidates=choices, folds=2, seed=3)
    assert a.chosen == b.chosen and a.cv == b.cv
    for name, arr in a.artefact.head.arrays().items():
        np.testing.assert_array_equal(arr, b.artefact.head.arrays()[name])
    test = a.artefact.metrics["test"]
    assert test["accuracy"] == 1.0 and np.array(test["confusion"]).trace() == len(tiny_set())
    assert a.artefact.labels == ["lcm", "llm", "slm"] and a.artefact.encoder_id == BagOfWords.model_id


def test_load_labeled_and_grouped_holdout(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [{"text": f"t{i}", "label": "a" if i % 2 else "b", "source": f"template:x{i % 5}"} for i in range(50)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = load_labeled(path)
    assert len(data) == 50 and len(data.sha256) == 64
    train, test = split_holdout(data, 0.4)
    assert set(train.groups).isdisjoint(test.groups) and len(train) + len(test) == 50
    path.write_text('{"text": "no label"}\n')
    with pytest.raises(ConfigError, match="line 1"):
        load_labeled(path)


# -- the shipped default ----------------------------------------------------------------------------

#: MiniLM-only accuracy, measured once: 153 of the 160 rows of this fixed sample (the first 20
#: held-out rows per family), and 807 of all 861 held-out rows (bench/two_stage_eval.py --save,
#: bench/results/two_stage_eval.json). The whole file takes ~35 s of CPU (over a minute on the
#: shared 2 cores), too slow for the suite, so the test re-measures the sample (~5 s of CPU) and
#: the whole-file figure is checked through the artefact's recorded metric.
#: Floors: measured − 2 standard errors (tests/noise_floor.py): sample 0.9239, whole file 0.9208.
SAMPLE_MEASURED = (153, 160)
HELD_OUT_MEASURED = (807, 861)


def test_default_artefact_meets_its_held_out_accuracy() -> None:
    art = ClassifierArtefact.load(DEFAULT_DIR)
    assert sorted(art.labels) == sorted(["slm", "llm", "moe", "mlm", "vlm", "lam", "sam", "lcm"])
    assert art.metrics["test"]["n"] == HELD_OUT_MEASURED[1]
    assert art.metrics["test"]["accuracy"] >= noise_floor(*HELD_OUT_MEASURED)
    rows = [json.loads(line) for line in (DATA / "test.jsonl").read_text().splitlines()]
    sample = [r for fam in art.labels for r in [r for r in rows if r["label"] == fam][:20]]
    assert len(sample) == SAMPLE_MEASURED[1]
    clf = TextClassifier(art)  # the packaged MiniLM; fails clearly if the encoder id drifted
    probs = clf.predict_proba([r["text"] for r in sample])
    accuracy = np.mean([art.labels[i] == r["label"] for i, r in zip(probs.argmax(axis=1), sample, strict=True)])
    assert accuracy >= noise_floor(*SAMPLE_MEASURED), (accuracy, SAMPLE_MEASURED)


# -- end to end through the engine -------------------------------------------------------------------

CHAIN = (
    """
version: 1
models:
"""
    + "".join(
        f"  sim-{f}:\n    family: {f}\n    provider: sim\n"
        + ("    modalities: {input: [text, image], output: [text]}\n" if f in ("vlm", "sam") else "")
        for f in ("slm", "llm", "moe", "mlm", "vlm", "lam", "sam", "lcm")
    )
    + """
routers:
  default:
    kind: semantic
    fallback: router:classifier
    threshold: 0.8
    routes:
      - {name: reset, target: model:sim-lam, utterances: ["I forgot my password, reset it", "reset my login"]}
  classifier:
    kind: classifier
    confidence_floor: 0.5
    image_labels: [vlm, sam]
"""
)


async def test_engine_runs_embedding_routes_then_the_classifier(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from modelyard import Engine
    from modelyard.config.routers import ROUTER_SPECS
    from modelyard.routing import ROUTER_CLASSES
    from modelyard.routing.semantic import SemanticSpec
    from tests.conftest import make_config

    monkeypatch.setitem(ROUTER_SPECS, "semantic", SemanticSpec)
    monkeypatch.setitem(ROUTER_SPECS, "classifier", ClassifierSpec)
    monkeypatch.setitem(ROUTER_CLASSES, "semantic", "modelyard.routing.semantic:SemanticRouter")
    monkeypatch.setitem(ROUTER_CLASSES, "classifier", "modelyard.routing.classifier.router:ClassifierRouter")
    monkeypatch.setenv("HOME", str(tmp_path))  # the utterance cache goes to ~/.cache
    engine = Engine(make_config(CHAIN))

    d = await engine.route(ChatRequest.from_text("reset my login please"))
    assert d.model == "sim-lam" and d.path == ["default"]

    d = await engine.route(ChatRequest.from_text("Generate an image of a red fox in the snow, watercolor"))
    assert d.path == ["default", "classifier"] and d.model == "sim-lcm"
    assert "falling through" in d.reason and d.details["label"] == "lcm"

    content = [TextPart(text="cut the cat out of this photo"), ImagePart(image_url=ImageURL(url="data:,x"))]
    d = await engine.route(ChatRequest(messages=[Message(role="user", content=content)]))
    assert d.model == "sim-sam"


def test_train_command_writes_a_loadable_router(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from modelyard.cli import train_cmd

    app = typer.Typer()
    train_cmd.register(app)
    app.callback()(lambda: None)
    data = tmp_path / "labeled.jsonl"
    rows = [
        {"text": t, "label": k, "source": f"template:{k}{i % 2}"} for k, ts in TINY.items() for i, t in enumerate(ts)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "router.npz"
    args = ["train", "--data", str(data), "--test", str(data), "--out", str(out), "--head", "linear"]
    result = CliRunner().invoke(app, [*args, "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output and "confusion matrix" in result.output
    art = ClassifierArtefact.load(out)
    assert art.labels == ["lcm", "llm", "slm"] and art.metrics["test"]["n"] == len(rows)
    bad = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "nope.jsonl"), "--out", str(out)])
    assert bad.exit_code == 1 and "not found" in bad.output


# -- two-stage: static head first, MiniLM head when it is unsure ------------------------------------


def two_stage(fast_probs: list[float], full_probs: list[float], **kw: object) -> ClassifierRouter:
    """Constant heads on both stages; the fast one over its own BagOfWords instance."""
    fast_enc = BagOfWords()
    full = constant_router(full_probs).classifier
    fast_head = LinearHead(np.zeros((4, 256), dtype=np.float32), np.log(np.array(fast_probs, dtype=np.float32)))
    fast = TextClassifier(ClassifierArtefact(labels=LABELS, encoder_id=BagOfWords.model_id, head=fast_head), fast_enc)
    return ClassifierRouter("clf", full, fast=fast, **kw)  # type: ignore[arg-type]


def test_two_stage_confident_fast_stage_decides_alone() -> None:
    router = two_stage([0.05, 0.05, 0.85, 0.05], [0.85, 0.05, 0.05, 0.05], fast_confidence=0.8)
    d = router.decide_sync(ChatRequest.from_text("hi"))
    assert d.target.name == "slm" and d.details["stage"] == "fast" and d.details["fast_confidence"] == 0.85
    assert "[static stage, 0.85 >= 0.80]" in d.reason
    assert router.classifier.encoder.encoded == []  # type: ignore[attr-defined]  # MiniLM stage never ran


def test_two_stage_unsure_fast_stage_escalates_to_the_full_head() -> None:
    router = two_stage([0.05, 0.05, 0.75, 0.15], [0.85, 0.05, 0.05, 0.05], fast_confidence=0.8)
    d = router.decide_sync(ChatRequest.from_text("hi"))
    assert d.target.name == "lcm" and d.details["stage"] == "full" and d.details["fast_confidence"] == 0.75
    assert "MiniLM stage: static stage unsure, 0.75 < 0.80" in d.reason and d.details["escalated"] is False
    # the confidence floor still applies to whichever stage decided
    d = two_stage([0.4, 0.2, 0.2, 0.2], [0.3, 0.3, 0.2, 0.2], confidence_floor=0.5).decide_sync(
        ChatRequest.from_text("hi")
    )
    assert d.details["escalated"] is True and d.details["stage"] == "full" and d.target.name == "llm"
    assert "stage" not in constant_router([0.25] * 4).decide_sync(ChatRequest.from_text("x")).details


def test_two_stage_labels_must_agree() -> None:
    full = constant_router([0.25] * 4).classifier
    head = LinearHead(np.zeros((3, 256), dtype=np.float32), np.zeros(3, dtype=np.float32))
    fast = TextClassifier(
        ClassifierArtefact(labels=LABELS[:3], encoder_id=BagOfWords.model_id, head=head), BagOfWords()
    )
    with pytest.raises(ConfigError, match="fast_artefact labels"):
        ClassifierRouter("clf", full, fast=fast)


def test_spec_two_stage_defaults_to_the_calibrated_threshold(tmp_path: Path) -> None:
    build = BuildContext(registry=None, config_dir=tmp_path, routers={})  # type: ignore[arg-type]
    spec = ClassifierSpec.model_validate({"name": "clf", "fast_artefact": "default-static"})
    router = ClassifierRouter.from_spec(spec, build)
    chosen = ClassifierArtefact.load(DEFAULT_STATIC_DIR).metrics["two_stage_cv"]["chosen"]
    assert router.fast is not None and router.fast_confidence == chosen
    spec = ClassifierSpec.model_validate({"name": "clf", "fast_artefact": "default-static", "fast_confidence": 0.9})
    assert ClassifierRouter.from_spec(spec, build).fast_confidence == 0.9
    assert ClassifierRouter.from_spec(ClassifierSpec(name="clf"), build).fast is None  # one stage, as before
    make_artefact().save(tmp_path / "bow")  # a head over another encoder cannot be the fast stage
    with pytest.raises(ConfigError, match="not the packaged static encoder"):
        ClassifierRouter.from_spec(ClassifierSpec(name="clf", fast_artefact="bow"), build)


@pytest.fixture(scope="module")
def shipped_two_stage() -> ClassifierRouter:
    from modelyard.encoders.static import default_static_encoder

    fast = TextClassifier(ClassifierArtefact.load(DEFAULT_STATIC_DIR), default_static_encoder())
    return ClassifierRouter("clf", TextClassifier(ClassifierArtefact.load(DEFAULT_DIR)), fast=fast, fast_confidence=0.7)


def test_shipped_two_stage_decides_clear_queries_fast_and_escalates_unclear_ones(
    shipped_two_stage: ClassifierRouter,
) -> None:
    d = shipped_two_stage.decide_sync(ChatRequest.from_text("Draw me a watercolor fox in a snowy forest"))
    assert d.details["stage"] == "fast" and d.details["label"] == "lcm" and d.details["fast_confidence"] > 0.95
    d = shipped_two_stage.decide_sync(
        ChatRequest.from_text("Find the support tickets that are basically the same issue")
    )
    assert d.details["stage"] == "full" and d.details["fast_confidence"] < 0.7 and "MiniLM stage" in d.reason


#: Measured on the whole held-out file (861 rows; bench/results/two_stage_eval.json): static head
#: alone 780 right (90.6%), two-stage at the calibrated 0.70 799 right (92.8%) with 80.5% decided
#: by the static stage, MiniLM alone 807 (93.7%). Floors: measured − 2 standard errors
#: (tests/noise_floor.py): static 0.8860, two-stage 0.9104.
STATIC_MEASURED = (780, 861)
TWO_STAGE_MEASURED = (799, 861)


def test_shipped_static_and_two_stage_meet_their_held_out_accuracy(shipped_two_stage: ClassifierRouter) -> None:
    fast = ClassifierArtefact.load(DEFAULT_STATIC_DIR)
    assert fast.labels == ClassifierArtefact.load(DEFAULT_DIR).labels
    assert fast.metrics["test"]["accuracy"] >= noise_floor(*STATIC_MEASURED)
    assert fast.metrics["two_stage_cv"]["chosen"] == 0.7
    rows = [json.loads(line) for line in (DATA / "test.jsonl").read_text().splitlines()]
    texts, truth = [r["text"] for r in rows], [r["label"] for r in rows]
    assert shipped_two_stage.fast is not None
    p_fast = shipped_two_stage.fast.predict_proba(texts)
    assert len(rows) == STATIC_MEASURED[1]
    static_acc = np.mean([fast.labels[i] == t for i, t in zip(p_fast.argmax(axis=1), truth, strict=True)])
    assert static_acc >= noise_floor(*STATIC_MEASURED), static_acc
    unsure = np.flatnonzero(p_fast.max(axis=1) < 0.7)
    assert 0.1 < len(unsure) / len(rows) < 0.3  # the static stage decides most, not all
    p_full = shipped_two_stage.classifier.predict_proba([texts[i] for i in unsure])
    pred = p_fast.argmax(axis=1)
    pred[unsure] = p_full.argmax(axis=1)
    two_stage_acc = np.mean([fast.labels[i] == t for i, t in zip(pred, truth, strict=True)])
    assert two_stage_acc >= noise_floor(*TWO_STAGE_MEASURED), two_stage_acc
