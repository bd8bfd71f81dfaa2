"""A request's total latency budget, shared by every step that spends it."""

from __future__ import annotations

import time

__all__ = ["Deadline"]


class Deadline:
    """An absolute point on the monotonic clock.

    Every provider call, retry, cascade step and council fan-out asks for
    ``remaining()`` instead of carrying its own timeout, so the budget is
    spent once, not once per layer.
    """

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    @classmethod
    def after_ms(cls, milliseconds: float) -> Deadline:
        return cls.after(milliseconds / 1000.0)

    def remaining(self) -> float:
        """Seconds left; never negative."""
        return max(0.0, self.at - time.monotonic())

    def remaining_ms(self) -> float:
        return self.remaining() * 1000.0

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def cap(self, timeout: float | None) -> float:
        """The smaller of ``timeout`` and the time left."""
        left = self.remaining()
        return left if timeout is None else min(timeout, left)

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s)"
