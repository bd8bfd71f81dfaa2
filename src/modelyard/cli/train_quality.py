"""``modelyard train --outcomes``: fit a ``kind: quality_cost`` (N-model) router from outcome files."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from modelyard.cli.common import console, fail

__all__ = ["train_quality"]


def train_quality(specs: list[str], out: Path, *, head: str, seed: int) -> None:
    """Validate the candidate heads on each file's 80/20 split, save the best with its OOD reference."""
    from modelyard.encoders import MiniLMEncoder
    from modelyard.eval.embed_cache import cached_encode
    from modelyard.eval.frontier_runner import embedding_tag, load_outcomes
    from modelyard.routing.text_view import view_text
    from modelyard.training.quality import CANDIDATES, save_with_ood, train_quality_router
    from modelyard.training.tasks import MAX_LENGTH, VIEW

    if head not in ("auto", "knn", "mlp", "mf", "ens"):
        fail(f"--quality-head must be auto, knn, mlp, mf or ens, not {head!r}")
    try:
        sets = [load_outcomes(s) for s in specs]
    except (ValueError, KeyError, FileNotFoundError) as exc:
        fail(str(exc))
    if len({d.models for d in sets}) != 1:
        fail(
            "every --outcomes file must score the same models: "
            + "; ".join(f"{d.name}: {list(d.models)}" for d in sets)
        )
    encoder = MiniLMEncoder(max_length=MAX_LENGTH)
    texts = [[view_text(p, *VIEW) for p in d.prompts] for d in sets]
    with console.status("embedding prompts (cached under .cache/embeddings)"):
        vectors = [cached_encode(encoder, t, tag=embedding_tag(MAX_LENGTH, *VIEW)).astype("float64") for t in texts]
    candidates = [c for c in CANDIDATES if head in ("auto", c.kind)]
    with console.status("validating candidates") as status:
        trained = train_quality_router(
            sets,
            vectors,
            encoder_id=encoder.model_id,
            max_length=MAX_LENGTH,
            view=VIEW,
            version=out.name,
            candidates=candidates,
            seed=seed,
            tick=lambda label: status.update(f"validated {label}"),
        )
    save_with_ood(trained, out, sets, vectors, texts)
    table = Table(title="validation AIQ (80/20 split of each training file; never test)")
    table.add_column("candidate")
    for d in sets:
        table.add_column(d.name, justify="right")
    table.add_column("criterion", justify="right")
    table.add_column("Brier", justify="right")
    for row in sorted(trained.rows, key=lambda r: -r["criterion"]):
        mark = "  ← chosen" if row.get("selected") else ""
        table.add_row(
            row["label"] + mark,
            *(f"{row['val_aiq'][d.name]:.3f}" for d in sets),
            f"{row['criterion']:.3f}",
            f"{row['val_brier']:.4f}",
        )
    console.print(table)
    console.print(f"[green]wrote[/] {out} (router.json, weights.npz, ood.npz)", highlight=False)
