"""Reusable cocotb stream agents for ``amaranth.lib.stream`` ports (``<name>__valid/ready/payload``).

Cycle numbering: the clock's rising edges are at ``k * period``; a transfer *happens on cycle k*
when ``valid`` and ``ready`` are high at the edge at time ``k * period``. Agents sample in the
``ReadOnly`` phase just after edge ``k - 1``, i.e. the values the edge ``k`` will see, because
drivers only change inputs right after a rising edge.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from cocotb.triggers import ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

__all__ = ["Pauser", "StreamDriver", "StreamSink", "StreamMonitor", "Beat"]


class Pauser:
    """Seeded pause generator: ``next()`` is True on a cycle where the agent should idle.

    ``p`` is the probability of a pause cycle; ``p == 0`` never pauses.
    """

    def __init__(self, p: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"pause probability must be in [0, 1), got {p}")
        self.p = p
        self._rng = random.Random(seed)

    def __call__(self) -> bool:
        return self.p > 0 and self._rng.random() < self.p


def _port(dut: Any, name: str, member: str) -> Any:
    return getattr(dut, f"{name}__{member}")


class _Agent:
    def __init__(self, dut: Any, name: str, clk: Any, period_ns: float) -> None:
        self.valid = _port(dut, name, "valid")
        self.ready = _port(dut, name, "ready")
        self.payload = _port(dut, name, "payload")
        self.clk = clk
        self.period_ns = period_ns

    def upcoming_cycle(self) -> int:
        """Index of the rising edge that will sample what ReadOnly shows now."""
        return int(round(get_sim_time("ns") / self.period_ns)) + 1


class StreamDriver(_Agent):
    """Drives ``payload``/``valid`` of a sink port; pauses (idle cycles) from ``pauser``.

    ``stalls`` counts cycles where ``valid`` was high and ``ready`` low.
    """

    def __init__(self, dut, name, clk, period_ns, pauser: Pauser | None = None) -> None:
        super().__init__(dut, name, clk, period_ns)
        self.pauser = pauser or Pauser(0.0)
        self.stalls = 0
        self.valid.value = 0

    async def send(self, items: Iterable[int]) -> list[int]:
        """Send every item (starting right after a rising edge); return their transfer cycles."""
        cycles = []
        for item in items:
            while self.pauser():
                self.valid.value = 0
                await RisingEdge(self.clk)
            self.valid.value = 1
            self.payload.value = item
            while True:
                await ReadOnly()
                fire = bool(self.ready.value)
                cyc = self.upcoming_cycle()
                await RisingEdge(self.clk)
                if fire:
                    cycles.append(cyc)
                    break
                self.stalls += 1
        self.valid.value = 0
        return cycles


class StreamSink(_Agent):
    """Drives ``ready`` of a source port from a pause generator (backpressure), every cycle."""

    def __init__(self, dut, name, clk, period_ns, pauser: Pauser | None = None) -> None:
        super().__init__(dut, name, clk, period_ns)
        self.pauser = pauser or Pauser(0.0)
        self.ready.value = 0

    async def run(self) -> None:
        while True:
            self.ready.value = 0 if self.pauser() else 1
            await RisingEdge(self.clk)


@dataclass
class Beat:
    cycle: int
    payload: int


@dataclass
class StreamMonitor(_Agent):
    """Passively records every transfer ``(cycle, payload)`` and every cycle ``ready`` was high."""

    beats: list[Beat] = field(default_factory=list)
    ready_cycles: list[int] = field(default_factory=list)

    def __init__(self, dut, name, clk, period_ns,
                 on_beat: Callable[[Beat], None] | None = None) -> None:
        super().__init__(dut, name, clk, period_ns)
        self.beats = []
        self.ready_cycles = []
        self.on_beat = on_beat

    async def run(self) -> None:
        while True:
            await RisingEdge(self.clk)
            await ReadOnly()
            cyc = self.upcoming_cycle()
            if self.ready.value:
                self.ready_cycles.append(cyc)
                if self.valid.value:
                    beat = Beat(cyc, int(self.payload.value))
                    self.beats.append(beat)
                    if self.on_beat:
                        self.on_beat(beat)
