"""`RunBudget`: the whole run's cost cap, held per item before it starts and settled after.

Counters are integer nano-dollars, so sums are exact. ``spent`` is what
finished items cost (from the checkpoint, so it survives restarts), ``lost``
bounds what attempts killed in flight may have cost, ``held`` is open holds.
An item starts only if ``spent + lost + held + its hold <= cap``; it cannot
spend past its hold (the engine enforces the hold as the request's
``max_cost``), so ``spent + lost`` never passes the cap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from modelyard.batch.checkpoint import NANO, from_nano

__all__ = ["Fit", "RunBudget"]

log = logging.getLogger("modelyard.batch")


class Fit:
    """What `RunBudget.fits` says about one hold."""

    YES = "yes"  # hold it now
    LATER = "later"  # fits once holds in flight settle
    NEVER = "never"  # more than is left even with nothing in flight: the cap is reached for this route


@dataclass
class RunBudget:
    """A cap of ``cap_nano`` (None: unlimited, still counted)."""

    cap_nano: int | None
    spent_nano: int = 0
    lost_nano: int = 0
    held_nano: int = 0
    overspent_items: int = 0  # items whose actual passed their hold (never expected; logged)

    @classmethod
    def of(cls, cap_usd: float | None, *, spent_nano: int = 0, lost_nano: int = 0) -> RunBudget:
        cap = None if cap_usd is None else int(cap_usd * NANO)
        return cls(cap, spent_nano=spent_nano, lost_nano=lost_nano)

    def fits(self, hold_nano: int) -> str:
        if self.cap_nano is None:
            return Fit.YES
        base = self.spent_nano + self.lost_nano
        if base + hold_nano > self.cap_nano:
            return Fit.NEVER
        return Fit.YES if base + self.held_nano + hold_nano <= self.cap_nano else Fit.LATER

    def hold(self, hold_nano: int) -> None:
        self.held_nano += hold_nano

    def settle(self, hold_nano: int, actual_nano: int, *, custom_id: str = "") -> None:
        self.held_nano -= hold_nano
        self.spent_nano += actual_nano
        if self.cap_nano is not None and actual_nano > hold_nano:
            self.overspent_items += 1
            log.warning("item %s spent $%.9f, more than its hold $%.9f", custom_id, actual_nano / NANO,
                        hold_nano / NANO)

    def lose(self, hold_nano: int) -> None:
        """An attempt whose outcome is unknown (its worker died): count its whole hold as spent."""
        self.held_nano -= hold_nano
        self.lost_nano += hold_nano

    @property
    def spent_usd(self) -> float:
        return from_nano(self.spent_nano)

    @property
    def lost_usd(self) -> float:
        return from_nano(self.lost_nano)

    @property
    def cap_usd(self) -> float | None:
        return None if self.cap_nano is None else from_nano(self.cap_nano)
