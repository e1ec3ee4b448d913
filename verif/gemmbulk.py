"""Bulk harness of the GEMM engine: its stream inputs driven from registers inside the simulation.

In bulk mode the operands are loaded by back door and the testbench only starts the GEMMs and
waits. Driving the engine's ``cmd``, ``mode`` and ``c_out.ready`` from cocotb makes them top-level
inputs, and Verilator re-evaluates all logic that depends on a top-level input (or on a net VPI
may write, see ``rtl/verilog/public.vlt``) at every evaluation, twice per clock cycle. For the 16x16 array split 4x4 that logic is the 17 engines'
control, 42 % of the simulation time (measured with ``perf``). The harness (top
``bulk_gemm``, simulation only) keeps the engine's inputs internal:

* ``c_out.ready`` is tied high, and ``a_in``/``w_in`` are idle, since the operands are loaded by
  back door;
* the engine's reset is the top-level ``rst`` registered (one cycle later);
* on ``go`` it registers ``split`` and one command word per engine (inputs ``cmd{e}``, e = 0 for
  the whole array and 1 + b for sub-array b), then presents the ``mode`` beat (split-capable
  arrays). On the next cycle it presents the commands of the engines that ``run`` selects, all
  together.

The engine's RTL is unchanged. Its ``busy``/``done``/``cycles`` and SRAMs are reached through the
hierarchy (``dut.unit``).
"""

from __future__ import annotations

from pathlib import Path

from amaranth.hdl import ClockDomain, ClockSignal, DomainRenamer, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from rpaccel.config import GemmConfig

__all__ = ["GemmBulkHarness", "TOPLEVEL", "build_gemm_bulk"]

TOPLEVEL = "bulk_gemm"


class GemmBulkHarness(wiring.Component):
    def __init__(self, cfg: GemmConfig) -> None:
        self._cfg = cfg
        n = 1 + (cfg.subarrays if cfg.split != (1, 1) else 0)
        self._n = n
        self._widths = [cfg.cmd_layout.width] + [cfg.subarray.cmd_layout.width] * (n - 1)
        super().__init__({"go": In(1), "split": In(1), "run": In(n),
                          **{f"cmd{e}": In(w) for e, w in enumerate(self._widths)}})

    def elaborate(self, platform):
        from rpaccel.rtl.gemm import GemmEngine

        cfg, n = self._cfg, self._n
        m = Module()
        # the engine's reset comes from a register, not from the top-level input, so that no
        # engine logic depends on a top-level input (same clock; reset one cycle later)
        m.domains.core = ClockDomain("core")
        rst_q = Signal(init=1)
        m.d.sync += rst_q.eq(ResetSignal("sync"))
        m.d.comb += [ClockSignal("core").eq(ClockSignal("sync")), ResetSignal("core").eq(rst_q)]
        m.submodules.unit = u = DomainRenamer("core")(GemmEngine(cfg))
        engines = [""] + [f"s{b}_" for b in range(n - 1)]
        split_q = Signal()
        run_q = Signal(n)
        words = [Signal(w, name=f"cmd_q{e}") for e, w in enumerate(self._widths)]
        phase = Signal(2)         # 0 idle, 1 mode beat, 2 commands
        with m.If(self.go):
            m.d.sync += [split_q.eq(self.split), run_q.eq(self.run), phase.eq(1),
                         *(w.eq(getattr(self, f"cmd{e}")) for e, w in enumerate(words))]
        if n > 1:
            m.d.comb += [u.mode.valid.eq(phase == 1), u.mode.payload.eq(split_q)]
        with m.If(phase == 1):
            m.d.sync += phase.eq(2)
        with m.If(phase == 2):
            m.d.sync += phase.eq(0)
        for e, pre in enumerate(engines):
            cmd = getattr(u, f"{pre}cmd")
            m.d.comb += [cmd.valid.eq((phase == 2) & run_q[e]), cmd.payload.eq(words[e]),
                         getattr(u, f"{pre}c_out").ready.eq(1),
                         getattr(u, f"{pre}a_in").valid.eq(0), getattr(u, f"{pre}w_in").valid.eq(0)]
        return m


def build_gemm_bulk(cfg, root: Path | None = None):
    """Verilator build of the harness for ``cfg`` (cached like the unit's builds)."""
    from .run import build_harness

    return build_harness(GemmBulkHarness(cfg), cfg, TOPLEVEL, Path(__file__), root)
