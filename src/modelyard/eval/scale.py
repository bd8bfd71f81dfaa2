"""The unit of a dataset's quality scores, and how to show and normalise them.

Outcome scores need not be 0/1 correctness: LLM-judge scores run 1-10, rubric
scores 0-100, reward models give negative numbers. Higher must mean better.
The scale is either *declared* (``score_range`` in the outcome file header,
or ``modelyard eval --score-range LO,HI``) or taken from the data:

* every score within [0, 1] → the unit scale [0, 1], shown as a percentage
  (``% correct`` when every score is 0 or 1);
* otherwise → the observed [min, max], shown in score units, and reports say
  the range was observed, not declared (declare it for stable AIQ values).

Quality is shown as a percentage only on the unit scale; on any other scale
it is the mean score in its own unit (``8.28`` on 1-10). APGR, PGR and CPT are
ratios of quality differences, so they are the same on every scale. AIQ is
normalised with `ScoreScale.normalise` (see `modelyard.eval.metrics.aiq`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["UNIT", "ScoreScale", "infer_scale", "parse_score_range"]

FloatArray = npt.NDArray[np.float64]
Source = Literal["declared", "unit", "observed"]


@dataclass(frozen=True)
class ScoreScale:
    """Scores run from ``lo`` (worst) to ``hi`` (best); ``source`` says how that was decided.

    ``binary``: every observed score is exactly ``lo`` or ``hi`` (correct/incorrect).
    """

    lo: float
    hi: float
    source: Source = "unit"
    binary: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)) or self.hi <= self.lo:
            raise ValueError(f"score range must be two finite numbers lo < hi, got [{self.lo:g}, {self.hi:g}]")

    @property
    def is_unit(self) -> bool:
        """True for [0, 1]: quality is then shown as a percentage."""
        return self.lo == 0.0 and self.hi == 1.0

    @property
    def span(self) -> float:
        return self.hi - self.lo

    @property
    def unit(self) -> str:
        """Short unit for headers: ``%``, or the range such as ``1–10``."""
        return "%" if self.is_unit else f"{self.lo:g}–{self.hi:g}"

    def normalise(self, quality: FloatArray | float) -> FloatArray:
        """``(q - lo) / (hi - lo)``: 0 at the worst score, 1 at the best."""
        return np.asarray((np.asarray(quality, dtype=np.float64) - self.lo) / self.span, dtype=np.float64)

    def display(self, quality: FloatArray | float) -> FloatArray:
        """Values to plot: percent on the unit scale, score units otherwise."""
        q = np.asarray(quality, dtype=np.float64)
        return q * 100.0 if self.is_unit else q

    @property
    def decimals(self) -> int:
        """Digits after the point for a mean score: about four significant digits of the range."""
        if self.span <= 2:
            return 3
        if self.span <= 20:
            return 2
        return 1 if self.span <= 200 else 0

    def format(self, quality: float | None) -> str:
        """One quality value: ``82.8%`` on the unit scale, ``8.28`` on 1–10 (``—`` for None/NaN)."""
        if quality is None or math.isnan(quality):
            return "—"
        if self.is_unit:
            return f"{quality * 100:.1f}%"
        return f"{quality:.{self.decimals}f}"

    @property
    def axis_label(self) -> str:
        """Quality axis label, in the unit."""
        if self.is_unit:
            return "quality (% correct)" if self.binary else "quality (mean score, %)"
        return f"quality (mean score, {self.unit})"

    def describe(self) -> str:
        """One line for reports: the range, where it came from, how quality is shown."""
        if self.source == "declared":
            where = "declared score_range"
        elif self.source == "unit":
            where = "all scores within [0, 1]"
        else:
            where = "observed min/max; declare score_range for a fixed scale"
        shown = "as a percentage" if self.is_unit else "as mean scores"
        return f"scores {self.lo:g}–{self.hi:g} ({where}); quality shown {shown}"

    def to_json(self) -> dict[str, object]:
        return {
            "lo": self.lo,
            "hi": self.hi,
            "source": self.source,
            "binary": self.binary,
            "unit": self.unit,
        }


#: The [0, 1] scale (correctness, or any score already normalised).
UNIT = ScoreScale(0.0, 1.0, "unit")


def infer_scale(scores: FloatArray, declared: tuple[float, float] | None = None, *, name: str = "scores") -> ScoreScale:
    """The scale of ``scores`` (any shape): ``declared`` if given, else from the data.

    Raises ``ValueError`` naming ``name`` for non-finite scores, a declared range
    that is not ``lo < hi`` or that some score lies outside, and undeclared
    data whose scores are all equal and outside [0, 1] (no range to infer).
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        raise ValueError(f"{name}: no scores")
    bad = ~np.isfinite(s)
    if bad.any():
        raise ValueError(f"{name}: {int(bad.sum())} score(s) are NaN or infinite")
    mn, mx = float(s.min()), float(s.max())
    if declared is not None:
        lo, hi = (float(v) for v in declared)
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
            raise ValueError(f"{name}: score_range must be [lo, hi] with lo < hi, got {list(declared)}")
        outside = (s < lo) | (s > hi)
        if outside.any():
            first = float(s[outside].flat[0])
            raise ValueError(
                f"{name}: {int(outside.sum())} score(s) outside the declared score_range [{lo:g}, {hi:g}] "
                f"(e.g. {first:g}; observed {mn:g}..{mx:g})"
            )
        return ScoreScale(lo, hi, "declared", _binary(s, lo, hi))
    if mn >= 0.0 and mx <= 1.0:
        return ScoreScale(0.0, 1.0, "unit", _binary(s, 0.0, 1.0))
    if mx <= mn:
        raise ValueError(f"{name}: every score is {mn:g}; declare score_range [lo, hi] to give them a scale")
    return ScoreScale(mn, mx, "observed", _binary(s, mn, mx))


def _binary(s: FloatArray, lo: float, hi: float) -> bool:
    return bool(np.all((s == lo) | (s == hi)))


def parse_score_range(text: str) -> tuple[float, float]:
    """``"1,10"`` / ``"-5,5"`` / ``"0:100"`` → ``(lo, hi)``; ``ValueError`` naming the text otherwise."""
    parts = text.replace(":", ",").split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"score range {text!r}: expected LO,HI such as 1,10 or -5,5") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        raise ValueError(f"score range {text!r}: need LO < HI")
    return lo, hi
