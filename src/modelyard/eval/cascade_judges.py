"""A local verifier for worked math answers: should the cascade escalate?

The cascade always calls the weak model, then checks its worked solution
without any model call:

* ``no_final``: no parseable ``#### <number>`` final answer (GSM8K format);
* ``arith``: a calculation in the text (``<<3*60=180>>`` or ``3 * 60 = 180``)
  is wrong when re-evaluated;
* ``inconsistent``: the final answer is not the last number the work computed;
* ``non_integer`` / ``negative``: GSM8K answers are non-negative integers;
* ``hedge``: the text second-guesses itself ("however", "round", "can't have");
* ``unused``: share of the problem's numbers never used in the solution.

The escalation score is a fixed, hand-set weighting of these checks (nothing
fitted on GSM8K outcomes); ties are broken by an optional prior score, e.g. a
pre-routing router's, so the cascade can combine both signals.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["WEIGHTS", "Checks", "check_solution", "escalation_scores"]

#: Penalty added for each failed check (higher = escalate sooner).
WEIGHTS: dict[str, float] = {
    "no_final": 4.0,
    "arith": 2.0,
    "inconsistent": 1.0,
    "non_integer": 2.0,
    "negative": 1.0,
    "hedge": 1.0,
    "unused": 1.0,  # multiplied by the unused share (0..1)
}

_NUM = r"-?\$?\d[\d,]*(?:\.\d+)?"
_FINAL = re.compile(r"####\s*(" + _NUM + r")")
_ANNOT = re.compile(r"<<([^=<>]+)=([^<>]+)>>")
_INLINE = re.compile(r"((?:\$?\d[\d,]*(?:\.\d+)?\s*[-+*/×x]\s*)+\$?\d[\d,]*(?:\.\d+)?)\s*=\s*(" + _NUM + r")")
_NUMBERS = re.compile(r"\d[\d,]*(?:\.\d+)?")
_HEDGE = re.compile(
    r"\b(however|round(?:ed|ing)?|approximately|can't have|cannot have|assum(?:e|ing)|not possible)\b", re.I
)
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _num(text: str) -> float | None:
    cleaned = text.replace("$", "").replace(",", "").strip().rstrip(".")
    try:
        return float(cleaned)
    except ValueError:
        return None


def _eval(expr: str) -> float | None:
    """Evaluate + - * / arithmetic safely; None when it is not plain arithmetic."""
    cleaned = expr.replace("$", "").replace(",", "").replace("×", "*").replace("x", "*").replace("%", "/100")
    try:
        tree = ast.parse(cleaned.strip(), mode="eval")
    except SyntaxError:
        return None

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return float(_OPS[type(node.op)](walk(node.left), walk(node.right)))
        raise ValueError("not arithmetic")

    try:
        return walk(tree)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-3, abs_tol=0.011)


@dataclass(frozen=True)
class Checks:
    """Outcome of every check on one solution (``unused`` is a share in [0, 1])."""

    no_final: bool
    arith: bool
    inconsistent: bool
    non_integer: bool
    negative: bool
    hedge: bool
    unused: float

    def penalty(self, weights: dict[str, float] = WEIGHTS) -> float:
        flags = {k: float(getattr(self, k)) for k in weights}
        return sum(weights[k] * v for k, v in flags.items())


def check_solution(problem: str, solution: str) -> Checks:
    """Run every check on one worked solution to ``problem``."""
    final_match = _FINAL.search(solution)
    final = _num(final_match.group(1)) if final_match else None
    results: list[float] = []
    wrong = False
    for expr, claimed in _ANNOT.findall(solution) + _INLINE.findall(solution):
        got, want = _eval(expr), _num(claimed)
        if got is None or want is None:
            continue
        results.append(want)
        wrong = wrong or not _close(got, want)
    inconsistent = final is not None and bool(results) and not _close(final, results[-1])
    body = solution[: final_match.start()] if final_match else solution
    used = {_num(n) for n in _NUMBERS.findall(body)}
    given = [v for v in (_num(n) for n in _NUMBERS.findall(problem)) if v is not None]
    unused = sum(1 for v in given if v not in used) / len(given) if given else 0.0
    return Checks(
        no_final=final is None,
        arith=wrong,
        inconsistent=inconsistent,
        non_integer=final is not None and not _close(final, round(final)),
        negative=final is not None and final < 0,
        hedge=bool(_HEDGE.search(body)),
        unused=unused,
    )


def escalation_scores(
    problems: Sequence[str],
    solutions: Sequence[str],
    *,
    prior: npt.NDArray[np.float64] | None = None,
    prior_weight: float = 0.5,
) -> npt.NDArray[np.float64]:
    """Per prompt: verifier penalty, plus ``prior_weight`` x rank of ``prior`` in [0, 1].

    With ``prior_weight`` below the smallest check weight the prior only orders
    prompts within the same verifier verdict.
    """
    pen = np.array([check_solution(p, s).penalty() for p, s in zip(problems, solutions, strict=True)])
    if prior is None:
        return pen
    ranks = np.argsort(np.argsort(prior, kind="stable"), kind="stable") / max(1, len(prior) - 1)
    return np.asarray(pen + prior_weight * ranks, dtype=np.float64)
