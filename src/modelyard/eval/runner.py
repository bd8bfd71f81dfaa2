"""``modelyard eval`` end to end: load data, score every router, sweep, write results.

Router references understood by :func:`router_scores`:

* a threshold-router artefact (a directory with ``router.json``, or the name of
  one shipped in ``modelyard/routing/threshold_artefacts/``) - a pre-routing router;
* ``cascade:verifier`` - weak model first, escalate by the math verifier;
* ``cascade:verifier+<artefact>`` - the same, ties ordered by the artefact's score.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelyard.encoders.base import Encoder
from modelyard.eval.cascade_judges import escalation_scores
from modelyard.eval.datasets import GSM8K_STRONG, GSM8K_WEAK, OutcomeDataset, load_dataset
from modelyard.eval.metrics import FloatArray
from modelyard.eval.scale import infer_scale
from modelyard.eval.sweep import Report, evaluate_routers

__all__ = ["EvalRequest", "router_scores", "run_eval", "select_split"]

Progress = Callable[[int, int], None]


@dataclass
class EvalRequest:
    dataset: str
    routers: Sequence[str]
    split: str = "auto"
    strong: str = GSM8K_STRONG
    weak: str = GSM8K_WEAK
    bootstrap: int = 1000
    random_seeds: int = 100
    seed: int = 0
    #: (worst, best) score; overrides the outcome file's ``score_range``. None: as declared there, else inferred.
    score_range: tuple[float, float] | None = None


def select_split(dataset: OutcomeDataset, split: str) -> OutcomeDataset:
    """``auto``: MMLU -> its held-out test split (routers train on MMLU-train); else all rows."""
    if split == "all" or (split == "auto" and dataset.name != "mmlu"):
        return dataset
    from modelyard.eval.train import mmlu_split

    name = "test" if split == "auto" else split
    rows = mmlu_split(dataset)[name]
    return dataset.subset(rows, name=f"{dataset.name}-{name}")


def _artefact_scores(
    ref: str, dataset: OutcomeDataset, encoder: Encoder | None, progress: Progress | None
) -> FloatArray:
    from modelyard.eval.embed_cache import cached_encode
    from modelyard.routing.threshold import ThresholdScorer

    scorer = ThresholdScorer.load(ref, encoder)
    max_length = int(scorer.artefact.meta["encoder"].get("max_length", 128))
    if encoder is None:
        from modelyard.encoders import MiniLMEncoder

        encoder = MiniLMEncoder(max_length=max_length)
    vecs = cached_encode(encoder, dataset.prompts, tag=f"max_length={max_length}", progress=progress)
    return scorer.score_vectors(vecs)


def router_scores(
    refs: Sequence[str],
    dataset: OutcomeDataset,
    *,
    weak: str,
    encoder: Encoder | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    """Score vectors for the pre-routing routers and the cascades named in ``refs``."""
    routers: dict[str, FloatArray] = {}
    cascades: dict[str, FloatArray] = {}
    for ref in refs:
        if ref.startswith("cascade:"):
            spec = ref.removeprefix("cascade:")
            judge, _, prior_ref = spec.partition("+")
            if judge != "verifier":
                raise ValueError(f"unknown cascade judge {judge!r}; known: verifier")
            if weak not in dataset.responses:
                raise ValueError(f"cascade needs {weak!r} responses; {dataset.name} has none")
            prior = _artefact_scores(prior_ref, dataset, encoder, progress) if prior_ref else None
            cascades[ref] = escalation_scores(dataset.prompts, dataset.responses[weak], prior=prior)
        else:
            routers[Path(ref).name] = _artefact_scores(ref, dataset, encoder, progress)
    return routers, cascades


def run_eval(
    request: EvalRequest,
    *,
    out_dir: Path,
    encoder: Encoder | None = None,
    progress: Progress | None = None,
    tick: Callable[[], None] | None = None,
) -> tuple[Report, dict[str, Path]]:
    """Evaluate, then write ``<out>/eval_<dataset>.json`` and ``.png``."""
    from modelyard.eval.plots import plot_report

    dataset = load_dataset(request.dataset)
    if request.score_range is not None:
        infer_scale(dataset.scores, request.score_range, name=request.dataset)  # errors name the file
        dataset = dataclasses.replace(dataset, score_range=request.score_range)
    dataset = select_split(dataset, request.split)
    routers, cascades = router_scores(
        request.routers, dataset, weak=request.weak, encoder=encoder, progress=progress
    )
    report = evaluate_routers(
        dataset,
        routers,
        strong=request.strong,
        weak=request.weak,
        cascades=cascades,
        bootstrap=request.bootstrap,
        random_seeds=request.random_seeds,
        seed=request.seed,
        tick=tick,
    )
    report.settings["routers"] = list(request.routers)
    stem = f"eval_{dataset.name}"
    paths = {"json": out_dir / f"{stem}.json", "png": out_dir / f"{stem}.png"}
    report.write_json(paths["json"])
    plot_report(report, paths["png"])
    return report, paths
