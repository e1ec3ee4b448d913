"""The result of one scenario on the RTL, checked against the models: the one record every
``rpaccel sim`` command, the suite, the benchmarks and the random campaign read.

Pure Python (importable without cocotb). The verdict is :attr:`RunResult.ok`, derived here
only: the RTL's cycles equal the perf model's, its values equal the golden model's, and its
event counters (where the unit has them) equal the model's counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["RunResult"]


@dataclass
class RunResult:
    """One scenario's outcome. ``rtl_cycles`` / ``model_cycles``: the cycle counts (None when
    the testbench crashed); ``counters_match``: None for a unit without event counters;
    ``first_mismatch``: the first difference found, in words; ``fields``: the unit's own
    figures (latencies, events, hit counts, ...)."""

    name: str
    rtl_cycles: int | None = None
    model_cycles: int | None = None
    cycles_match: bool = False
    values_match: bool = False
    counters_match: bool | None = None
    first_mismatch: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Cycles, values and (where counted) event counters all match."""
        return bool(self.cycles_match and self.values_match and self.counters_match is not False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunResult":
        """From a testbench's result record (unknown keys go to :attr:`fields`)."""
        own = {f.name for f in fields(cls)} - {"fields"}
        return cls(**{k: v for k, v in d.items() if k in own},
                   fields={k: v for k, v in d.items() if k not in own})

    @classmethod
    def crashed(cls, name: str, why: str) -> "RunResult":
        """A scenario whose testbench raised: it counts as failed."""
        return cls(name=name, first_mismatch=f"testbench error: {why}")

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fields"}
        if self.counters_match is None:
            d.pop("counters_match")
        return {**d, **self.fields, "ok": self.ok}

    # a result record reads like the testbench's dict: r["rtl_cycles"], r.get("latency")
    def __getitem__(self, key: str) -> Any:
        if key == "ok":
            return self.ok
        if key in self.fields:
            return self.fields[key]
        if key in {f.name for f in fields(self)} - {"fields"}:
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: str) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    def get(self, key: str, default: Any = None) -> Any:
        try:
            v = self[key]
        except KeyError:
            return default
        return v
