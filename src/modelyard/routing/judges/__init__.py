"""Judges: score an answer for a cascade gate or a council (the `Judge` seam).

One module per kind — heuristic, logprob, embedding, llm_judge, verifiers —
plus compose (all / any / mean / min). YAML names them by ``kind``; custom
judges are added with `register_judge`.
"""

from modelyard.routing.judges.base import Judge, NoSignal, Verdict, accepts, wants_logprobs
from modelyard.routing.judges.registry import JUDGE_CLASSES, build_judge, register_judge

__all__ = [
    "JUDGE_CLASSES",
    "Judge",
    "NoSignal",
    "Verdict",
    "accepts",
    "build_judge",
    "register_judge",
    "wants_logprobs",
]
