"""The accuracy-floor formula the classifier and router tests pin their floors with."""

from __future__ import annotations

import math

import pytest

from tests.noise_floor import noise_floor


@pytest.mark.parametrize(
    ("correct", "n", "expected"),
    [
        (807, 861, 0.93728 - 2 * math.sqrt(0.93728 * 0.06272 / 861)),  # normal approximation
        (150, 156, 0.96154 - 2 * math.sqrt(0.96154 * 0.03846 / 156)),
        (20, 20, 20 / 24),  # Wilson at p = 1: n / (n + z²)
        (0, 20, 0.0),
        (18, 20, (0.9 + 0.1 - 2 * math.sqrt(0.09 / 20 + 4 / 1600)) / 1.2),  # Wilson: n·p·(1−p) = 1.8 < 5
    ],
)
def test_floor_values(correct: int, n: int, expected: float) -> None:
    assert noise_floor(correct, n) == pytest.approx(expected, abs=1e-4)


def test_floor_is_below_the_measurement_and_tightens_with_n() -> None:
    for correct, n in [(9, 10), (90, 100), (900, 1000)]:
        assert noise_floor(correct, n) < correct / n
    assert noise_floor(9, 10) < noise_floor(90, 100) < noise_floor(900, 1000)


@pytest.mark.parametrize(("correct", "n"), [(1, 0), (-1, 5), (6, 5)])
def test_bad_counts_are_refused(correct: int, n: int) -> None:
    with pytest.raises(ValueError, match="correct <= n"):
        noise_floor(correct, n)
