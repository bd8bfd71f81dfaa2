"""Read a reviewer's ``VERDICT: APPROVE`` / ``VERDICT: REJECT``, as real models write it.

Accepted: any case, markdown emphasis (``**VERDICT: APPROVE**``, ``Verdict: **Reject**``),
``-``/``=``/``:`` separators, past tense (``APPROVED``) and trailing punctuation.
When several verdicts appear (a reviewer that changes its mind, or quotes the
instruction) the last one wins. No verdict at all counts as a rejection, with
that reason recorded: silence must not approve a draft.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ReviewVerdict", "parse_verdict"]

_VERDICT = re.compile(
    r"verdict[\s*_`'\"]*[:=\-–—]?[\s*_`'\"]*(approve[ds]?|approval|accept(?:ed)?|reject(?:ed|s)?|rejection)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ReviewVerdict:
    approved: bool
    found: bool
    reason: str


def parse_verdict(text: str) -> ReviewVerdict:
    matches = list(_VERDICT.finditer(text))
    if not matches:
        return ReviewVerdict(False, False, "no VERDICT line found; counted as REJECT")
    word = matches[-1].group(1).lower()
    approved = word.startswith(("approv", "accept"))
    label = "APPROVE" if approved else "REJECT"
    if len({m.group(1).lower().startswith(("approv", "accept")) for m in matches}) > 1:
        return ReviewVerdict(
            approved, True, f"VERDICT: {label} (last of {len(matches)} conflicting verdicts)"
        )
    return ReviewVerdict(approved, True, f"VERDICT: {label}")
