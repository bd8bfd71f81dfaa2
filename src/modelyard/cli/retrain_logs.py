"""``modelyard train --from-logs``: the telemetry side of the train command."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from modelyard.cli.common import console, fail

__all__ = ["train_from_logs"]


def train_from_logs(db: str, out: Path, *, since: str | None, force: bool, baseline: Path | None) -> None:
    """Label records, retrain, compare with the live artefact at ``out``; exit 1 when refused."""
    from modelyard.encoders import default_encoder
    from modelyard.errors import ModelyardError
    from modelyard.routing.classifier.retrain import retrain_from_records
    from modelyard.routing.classifier.train import load_labeled
    from modelyard.telemetry.report import load_records, parse_since

    try:
        start = parse_since(since, now=time.time()) if since else None
        records = load_records(db, since=start)
        base = load_labeled(baseline) if baseline is not None else None
        console.print(f"{len(records)} records from {db}", highlight=False)
        done = retrain_from_records(records, default_encoder(), out, live=out, force=force, baseline=base)
    except ModelyardError as exc:
        fail(str(exc))
    lab = done.labelled
    console.print(
        f"labelled {len(lab.rows)} ({dict(lab.sources)}); skipped {sum(lab.skipped.values())}: "
        f"{dict(lab.skipped)}",
        highlight=False,
    )
    old = "n/a (no live router)" if done.old_f1 is None else f"{done.old_f1:.3f}"
    console.print(
        f"held-out macro-F1 on {done.n_test} rows: old {old}  new {done.new_f1:.3f}", highlight=False
    )
    if done.drift is not None:
        d = done.drift
        centroid = "-" if d.centroid_distance is None else f"{d.centroid_distance:.3f}"
        console.print(f"drift: family-mix distance {d.mix_distance:.2f}, centroid distance {centroid}")
        for warning in d.warnings:
            console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if done.refused:
        console.print(
            f"[red]kept the live router at {out}[/]: the new one is worse (use --force to replace it)"
        )
        raise typer.Exit(1)
    console.print(f"[green]wrote[/] {done.written}", highlight=False)
