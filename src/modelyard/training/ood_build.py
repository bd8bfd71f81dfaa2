"""Build the OOD references shipped with the strong/weak score heads (``threshold_artefacts/*/ood.npz``).

    python -m modelyard.training.ood_build

Reference: MiniLM vectors of the fixed 2,000-prompt sample of MMLU-train
(`modelyard.training.tasks`), 80% of it; ``min_similarity`` is the 1% quantile of the
other 20%'s nearest-reference similarity (no test prompt is used); ``min_words`` the
shortest reference text, ``max_words`` 1.5 × the longest (`modelyard.training.quality.LONG_FACTOR`),
``min_known_share`` the 0.5% quantile of the reference texts' known-word share.
The signal (nearest-neighbour similarity) was chosen by the AUROC measurement in
``bench/quality_routing.py ood`` (docs/routing-quality.md).
"""

from __future__ import annotations

import numpy as np

from modelyard.eval.datasets import hash_split
from modelyard.routing.ood import NearestNeighbourOOD
from modelyard.routing.text_view import view_text
from modelyard.training.quality import KNOWN_SHARE_QUANTILE, LONG_FACTOR, VAL_SALT
from modelyard.training.tasks import VIEW, embed, encoder, load_task

__all__ = ["build_mmlu_ood"]


def build_mmlu_ood() -> NearestNeighbourOOD:
    """The reference over the MMLU-train sample (see module docstring)."""
    ds = load_task("mmlu", "train")
    x = embed(ds).astype(np.float32)
    which = hash_split(ds.prompts, (0.8, 0.2), salt=VAL_SALT)
    texts = [view_text(ds.prompts[int(i)], *VIEW) for i in np.flatnonzero(which == 0)]
    return NearestNeighbourOOD.fit(
        x[which == 0],
        texts,
        x[which == 1],
        encoder_id=encoder().model_id,
        source=f"{ds.name} (fixed 2,000-prompt sample of the MMLU train split; 80% reference, 20% held out)",
        long_factor=LONG_FACTOR,
        known_share_quantile=KNOWN_SHARE_QUANTILE,
    )


def main() -> None:
    from modelyard.routing.threshold import BUILTIN_DIR, OOD_FILE

    ood = build_mmlu_ood()
    for directory in sorted(BUILTIN_DIR.glob("mmlu-minilm-*")):
        ood.save(directory / OOD_FILE)
        print(
            f"wrote {directory / OOD_FILE}: {len(ood.reference)} vectors, min_similarity {ood.min_similarity:.2f}, "
            f"min_words {ood.min_words}, max_words {ood.max_words}; held-out flagged {ood.meta['held_out_flagged']:.2%}"
        )


if __name__ == "__main__":
    main()
