"""``modelyard eval`` for N models: load outcomes, predict with each quality_cost router, report the frontier.

Datasets: a generic ``modelyard-outcomes/1`` JSONL file with any number of models
(`modelyard.eval.datasets.load_jsonl`), or ``routerbench:<task>:<split>``
(`modelyard.eval.routerbench`). Routers: ``kind: quality_cost`` artefacts (a path or
a shipped name). An artefact must predict every model in the dataset; it decides
with its own expected cost per model, and is charged the dataset's per-prompt costs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelyard.encoders.base import Encoder
from modelyard.eval.datasets import OutcomeDataset, load_dataset
from modelyard.eval.frontier import FrontierReport, evaluate_frontier
from modelyard.eval.metrics import FloatArray
from modelyard.eval.scale import infer_scale

__all__ = ["FrontierRequest", "is_quality_cost_ref", "load_outcomes", "predict", "run_frontier"]

Progress = Callable[[int, int], None]


@dataclass
class FrontierRequest:
    dataset: str
    routers: Sequence[str]
    bootstrap: int = 1000
    seed: int = 0
    score_range: tuple[float, float] | None = None


def load_outcomes(spec: str) -> OutcomeDataset:
    """``routerbench:<task>:<split>``, ``mmlu``, ``gsm8k`` or a ``.jsonl``/``.csv`` path."""
    if spec.startswith("routerbench:"):
        from modelyard.eval.routerbench import load_routerbench, parse_spec

        return load_routerbench(*parse_spec(spec))
    return load_dataset(spec)


def is_quality_cost_ref(ref: str) -> bool:
    from modelyard.errors import ModelLoadError
    from modelyard.routing.quality_cost import resolve_artefact

    try:
        resolve_artefact(ref)
    except ModelLoadError:
        return False
    return True


def embedding_tag(max_length: int, view: str, max_chars: int) -> str:
    """Cache tag shared with `modelyard.training.tasks` (same text, same settings, same vectors)."""
    return f"max_length={max_length}|view={view}{max_chars}"


def predict(
    ref: str, dataset: OutcomeDataset, *, encoder: Encoder | None = None, progress: Progress | None = None
) -> tuple[FloatArray, FloatArray]:
    """(predicted quality ``(n, m)`` in dataset model order, decision cost per model ``(m,)``)."""
    from modelyard.eval.embed_cache import cached_encode
    from modelyard.routing.quality_cost import QualityCostArtefact, resolve_artefact

    artefact = QualityCostArtefact.load(resolve_artefact(ref))
    missing = [m for m in dataset.models if m not in artefact.models]
    if missing:
        raise ValueError(f"router {ref}: predicts {artefact.models}, not the dataset's {missing}")
    cols = [artefact.models.index(m) for m in dataset.models]
    ml = int(artefact.meta["encoder"].get("max_length", 256))
    view = artefact.meta.get("view", {"kind": "head", "max_chars": 300})
    if encoder is None:
        from modelyard.encoders import MiniLMEncoder

        encoder = MiniLMEncoder(max_length=ml)
    if encoder.model_id != artefact.meta["encoder"]["model_id"]:
        raise ValueError(
            f"router {ref} needs encoder {artefact.meta['encoder']['model_id']!r}, got {encoder.model_id!r}"
        )
    texts = [artefact.text(p) for p in dataset.prompts]
    tag = embedding_tag(ml, str(view["kind"]), int(view.get("max_chars", 300)))
    vecs = cached_encode(encoder, texts, tag=tag, progress=progress).astype(np.float64)
    return artefact.head.predict(vecs)[:, cols], artefact.mean_cost[cols]


def run_frontier(
    request: FrontierRequest,
    *,
    out_dir: Path,
    encoder: Encoder | None = None,
    progress: Progress | None = None,
    tick: Callable[[], None] | None = None,
) -> tuple[FrontierReport, OutcomeDataset, dict[str, Path]]:
    """Evaluate, then write ``<out>/frontier_<dataset>.json`` and ``.png``."""
    from modelyard.eval.frontier_report import plot_frontier

    dataset = load_outcomes(request.dataset)
    if request.score_range is not None:
        infer_scale(dataset.scores, request.score_range, name=request.dataset)
        dataset = dataclasses.replace(dataset, score_range=request.score_range)
    routers = {Path(ref).name: predict(ref, dataset, encoder=encoder, progress=progress) for ref in request.routers}
    report = evaluate_frontier(dataset, routers, bootstrap=request.bootstrap, seed=request.seed, tick=tick)
    report.settings["routers"] = list(request.routers)
    stem = f"frontier_{dataset.name}"
    paths = {"json": out_dir / f"{stem}.json", "png": out_dir / f"{stem}.png"}
    report.write_json(paths["json"])
    plot_frontier(report, dataset, paths["png"])
    return report, dataset, paths
