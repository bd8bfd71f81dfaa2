"""The GSM8K verifier's checks on hand-written solutions."""

from __future__ import annotations

import numpy as np

from modelyard.eval.cascade_judges import check_solution, escalation_scores

PROBLEM = "Tom has 3 boxes of 12 apples and eats 5. How many are left?"


def test_clean_solution_passes() -> None:
    c = check_solution(PROBLEM, "3 * 12 = <<3*12=36>>36 apples. 36 - 5 = <<36-5=31>>31.\n#### 31")
    assert not (c.no_final or c.arith or c.inconsistent or c.non_integer or c.negative or c.hedge)
    assert c.unused == 0.0
    assert c.penalty() == 0.0


def test_each_failure_is_caught() -> None:
    assert check_solution(PROBLEM, "3 * 12 = <<3*12=38>>38. 38 - 5 = 33\n#### 33").arith
    assert check_solution(PROBLEM, "3 * 12 = 36 and 36 - 5 = 31").no_final
    assert check_solution(PROBLEM, "3 * 12 = 36, 36 - 5 = 31\n#### 30").inconsistent
    assert check_solution(PROBLEM, "36 / 5 = 7.2\n#### 7.2").non_integer
    assert check_solution(PROBLEM, "5 - 36 = -31\n#### -31").negative
    assert check_solution(PROBLEM, "However, we round 36 - 5 = 31\n#### 31").hedge
    assert check_solution(PROBLEM, "The answer is 3.\n#### 3").unused == 2 / 3  # 12 and 5 unused


def test_prior_only_breaks_ties() -> None:
    problems = [PROBLEM] * 3
    solutions = ["#### 31", "no answer", "#### 31"]
    scores = escalation_scores(problems, solutions, prior=np.array([0.9, 0.0, 0.1]))
    assert scores[1] > scores[0] > scores[2]
