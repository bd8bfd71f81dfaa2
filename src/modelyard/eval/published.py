"""RouteLLM's published results (arXiv 2406.18665 v4, Tables 2 and 3), for side-by-side tables.

Only the best published router per benchmark and the random baseline are
listed; the numbers are quoted, not recomputed.
"""

from __future__ import annotations

__all__ = ["PUBLISHED"]

#: benchmark -> row name -> {"apgr", "cpt50", "cpt80"} (CPT as a share in [0, 1]).
PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "mmlu": {
        "RouteLLM best published": {"apgr": 0.603, "cpt50": 0.3540, "cpt80": 0.7031},
        "RouteLLM random": {"apgr": 0.500, "cpt50": 0.50, "cpt80": 0.80},
    },
    "gsm8k": {
        "RouteLLM best published": {"apgr": 0.622, "cpt50": 0.3364, "cpt80": 0.6326},
        "RouteLLM random": {"apgr": 0.500, "cpt50": 0.50, "cpt80": 0.80},
    },
}
