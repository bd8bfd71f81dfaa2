"""``modelyard calibrate --from-logs``: a threshold router's threshold from the prompts actually seen."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.table import Table

from modelyard.cli.common import console, fail

if TYPE_CHECKING:
    from modelyard.routing.threshold import ThresholdScorer
    from modelyard.telemetry.record import Record

__all__ = ["calibrate_lambda", "calibrate_logs"]


def _cost(value: str | None, records: list[Record], flag: str) -> float:
    from modelyard.training.calibrate_logs import mean_cost

    if value is None:
        fail(f"--spend-per-1k needs {flag} (USD per request, or the model whose records to average)")
    try:
        return float(value)
    except ValueError:
        return mean_cost(records, value)


def calibrate_logs(
    scorer: ThresholdScorer,
    router: str,
    db: str,
    *,
    strong_share: float,
    since: str | None,
    requested: str | None,
    spend_per_1k: float | None,
    strong_cost: str | None,
    weak_cost: str | None,
) -> None:
    """Print the threshold for the target share (or spend) on the logged prompts, and the YAML to set it."""
    from modelyard.errors import ModelyardError
    from modelyard.telemetry.report import load_records, parse_since
    from modelyard.training.calibrate_logs import calibrate_from_records, share_for_spend

    try:
        start = parse_since(since, now=time.time()) if since else None
        records = load_records(db, since=start)
        spend_note = ""
        if spend_per_1k is not None:
            c_s, c_w = _cost(strong_cost, records, "--strong-cost"), _cost(weak_cost, records, "--weak-cost")
            strong_share = share_for_spend(spend_per_1k, c_s, c_w)
            spend_note = f" (from ${spend_per_1k:g} per 1k requests; strong ${c_s:.6f}, weak ${c_w:.6f} per request)"
        with console.status(f"scoring the prompts in {len(records)} records"):
            result = calibrate_from_records(
                records,
                scorer.score,
                strong_share=strong_share,
                benchmark_threshold=scorer.threshold_for_share(strong_share),
                requested=requested,
            )
    except ModelyardError as exc:
        fail(str(exc))
    table = Table(title=f"calibration of {scorer.version} on logged traffic")
    table.add_column("setting")
    table.add_column("value", justify="right")
    table.add_row("target strong share", f"{result.target_share:.1%}{spend_note}")
    table.add_row("threshold (logged prompts)", f"{result.threshold:.6f}")
    table.add_row("achieved on logged prompts", f"{result.achieved_share:.1%} of {result.n_prompts} prompts")
    table.add_row("threshold from the benchmark quantiles", f"{result.benchmark_threshold:.6f}")
    table.add_row("… its strong share on these prompts", f"{result.benchmark_share_on_logs:.1%}")
    table.add_row("records read", str(result.n_records))
    console.print(table)
    console.print("YAML: " + result.yaml(router))


def calibrate_lambda(router: str, db: str, *, spend_per_1k: float, since: str | None, requested: str | None) -> None:
    """Print the λ of a ``quality_cost`` router that spends ``spend_per_1k`` on the logged prompts."""
    import numpy as np

    from modelyard.encoders import MiniLMEncoder
    from modelyard.errors import ModelyardError
    from modelyard.routing.quality_cost import QualityCostArtefact, resolve_artefact
    from modelyard.telemetry.report import load_records, parse_since
    from modelyard.training.calibrate_logs import lambda_for_spend, logged_prompts

    try:
        artefact = QualityCostArtefact.load(resolve_artefact(router))
        start = parse_since(since, now=time.time()) if since else None
        texts, n_records = logged_prompts(load_records(db, since=start), requested)
        with console.status(f"predicting {len(artefact.models)} models' quality on {len(texts)} logged prompts"):
            encoder = MiniLMEncoder(max_length=int(artefact.meta["encoder"].get("max_length", 256)))
            vecs = encoder.encode([artefact.text(t) for t in texts]).astype(np.float64)
            result = lambda_for_spend(artefact.head.predict(vecs), artefact.mean_cost, artefact.models, spend_per_1k)
    except ModelyardError as exc:
        fail(str(exc))
    table = Table(title=f"lambda of {router} on logged traffic ({result.n_prompts} prompts, {n_records} records)")
    table.add_column("setting")
    table.add_column("value", justify="right")
    table.add_row("target spend per 1k requests", f"${result.target_per_1k:.4f}")
    table.add_row("expected spend per 1k at this lambda", f"${result.spend_per_1k:.4f}")
    table.add_row("lambda (quality per USD)", f"{result.lam:.6g}")
    table.add_row("mean predicted quality", f"{result.predicted_quality:.3f}")
    for model, share in sorted(result.shares.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  share to {model}", f"{share:.1%}")
    console.print(table)
    console.print(f"YAML: {{kind: quality_cost, artefact: {router}, lambda: {result.lam:.6g}, candidates: {{...}}}}")
