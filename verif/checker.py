"""One scoreboard for every testbench: expected value and expected cycle per transaction.

A testbench collects what the RTL did (a list of transfer cycles, a list of values) and what the
models predict (the perf model's cycles, the golden model's values), and hands both to a
:class:`Checker`. The checker compares them in order and keeps the **first divergence**, with the
transaction's index and its cycle, as a one-line message (``first_mismatch`` in every result
record). Cycle and value agreement are tracked separately, because the reports show both.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["Checker"]


def _short(v: Any, limit: int = 80) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Checker:
    """Scoreboard; ``first_mismatch`` is the first divergence reported, or None."""

    def __init__(self) -> None:
        self.first_mismatch: str | None = None
        self.errors = 0

    def fail(self, msg: str) -> bool:
        """Record a divergence (only the first message is kept); returns False."""
        self.errors += 1
        if self.first_mismatch is None:
            self.first_mismatch = msg
        return False

    def check_cycles(self, what: str, got: Sequence[int], expected: Sequence[int]) -> bool:
        """Every transfer of ``what`` on the model's cycle, and as many transfers as it says."""
        for i, (g, e) in enumerate(zip(got, expected)):
            if g != e:
                return self.fail(f"{what} {i}: RTL transferred it on cycle {g}, model says {e}")
        if len(got) != len(expected):
            i = min(len(got), len(expected))
            return self.fail(f"{what}: RTL made {len(got)} transfers, model expects "
                             f"{len(expected)} (first difference at {what} {i})")
        return True

    def check_values(self, what: str, got: Sequence[Any], expected: Sequence[Any],
                     cycles: Sequence[int] | None = None) -> bool:
        """Every value of ``what`` equal to the golden one; ``cycles`` (the RTL's transfer cycles)
        only label the message."""
        for i, (g, e) in enumerate(zip(got, expected)):
            if g != e:
                at = f" on cycle {cycles[i]}" if cycles is not None and i < len(cycles) else ""
                return self.fail(f"{what} {i}{at}: RTL {_short(g)}, golden {_short(e)}")
        if len(got) != len(expected):
            return self.fail(f"{what}: RTL gave {len(got)}, golden expects {len(expected)}")
        return True

    def check_equal(self, what: str, got: Any, expected: Any) -> bool:
        """One scalar (a counter, a flag) equal to the model's."""
        if got != expected:
            return self.fail(f"{what}: RTL {_short(got)}, model {_short(expected)}")
        return True
