"""The integrated RPAccel's simulation harness (top ``bulk_accel``, simulation only): Python
stays out of the clock loop.

Around the accelerator (:class:`rpaccel.rtl.accel.RPAccelTop`) it adds

* the **host**: ``host_mem`` (back-door loaded with every query's input beats, in order) and a
  driver presenting them from the cycle after ``start``, beat j ``idle_mem[j]`` cycles after
  beat j-1 transferred and not before cycle ``arrive_mem[j]`` (its query's arrival; all zero:
  back to back); cycle 0 of the count is the first beat the link accepts. It records the cycle
  each input beat transferred (``in_time_mem``) and each result beat arrived
  (``res_time_mem``), so every query's latency is measured on the RTL;
* the **DRAM** holding the embedding tables (:func:`rpaccel.verif.embbulk.dram_model`);
* sinks: every result beat the host receives into ``res_mem``, every top-k result of stage s
  into ``surv{s}_mem``; ``done`` after ``nres`` result beats; ``cycles`` = the last result beat's
  arrival minus the first host beat's cycle (the executor's count).

The testbench (:mod:`rpaccel.verif.tb_accel`) loads the command memories, weights, biases, the
static cache copies, the DRAM and the host beats by back door, pulses ``start``, sleeps until
``done`` and checks the results, every stage's survivors and the cycle count.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from amaranth.hdl import ClockDomain, ClockSignal, DomainRenamer, Module, Mux, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rpaccel.accel import AccelConfig, accel_from_dict
from rpaccel.query import Pipeline, Placement, pipeline_from_dict, place
from rpaccel.config import _config_key
from rpaccel.isa import RTL_COUNTERS, queue_order

__all__ = ["AccelBuild", "AccelBulkHarness", "TOPLEVEL", "MAX_HOST_BEATS", "MAX_RESULTS",
           "build_accel"]

TOPLEVEL = "bulk_accel"
MAX_HOST_BEATS = 1 << 13
MAX_RESULTS = 1 << 10


@dataclasses.dataclass(frozen=True)
class AccelBuild:
    """What one RTL build is generated for: the accelerator, the pipeline and the sub-batch
    size (the top is specialised to the placed pipeline's shapes; the filter policy is data: the
    command streams carry it, so both policies run on one build)."""

    accel: AccelConfig
    pipeline: Pipeline
    sub_batch: int | None

    def __post_init__(self) -> None:
        # the accelerator program (no platform fields): one build per program, however the
        # pipeline was given (a preset with its platform, a file, a dict); the workload is a
        # scenario's (the sparse ids are data), not the build's
        object.__setattr__(self, "pipeline",
                           dataclasses.replace(self.pipeline.accel_program(), workload=None))

    def to_dict(self) -> dict:
        a = self.accel.to_dict()
        for k in ("fidelity", "serve"):      # study settings: not part of the hardware
            a.pop(k)
        return {"accel": a, "pipeline": self.pipeline.to_dict(), "sub_batch": self.sub_batch}

    @classmethod
    def from_dict(cls, d: dict) -> "AccelBuild":
        a = dict(d["accel"])
        a["topk"] = {k: a["topk"][k] for k in ("k_max", "lanes")}
        p = dict(d["pipeline"])
        p["stage"] = [{k: v for k, v in st.items()} for st in p["stage"]]
        if p.get("sub_batch") is None:
            p.pop("sub_batch", None)
        return cls(accel_from_dict(a), pipeline_from_dict(p), d["sub_batch"])

    def key(self) -> str:
        return _config_key("accel-top", self.to_dict())

    def label(self) -> str:
        return f"accel_{self.accel.name or 'cfg'}_s{len(self.pipeline.stages)}"

    @functools.cached_property
    def placement(self) -> Placement:
        """Where the build's pipeline sits (placed once per build; the RTL is specialised to
        it, and the filter policy is data)."""
        return place(self.accel, self.pipeline, self.sub_batch, "global")


class AccelBulkHarness(wiring.Component):
    def __init__(self, build: AccelBuild) -> None:
        self._b = build
        S = len(build.pipeline.stages)
        super().__init__({"start": In(1), "nbeats": In(32), "nres": In(32),
                          **{f"n_{q}": In(16) for q in queue_order(S)},
                          "done": Out(1), "cycles": Out(32),
                          "counters": Out(32 * len(RTL_COUNTERS))})

    def elaborate(self, platform):
        from rpaccel.rtl.accel import RPAccelTop
        from rpaccel.rtl.sram import SRAM

        from .embbulk import dram_model

        b = self._b
        accel, pipe = b.accel, b.pipeline
        S = len(pipe.stages)
        m = Module()
        top = RPAccelTop(accel, pipe, b.placement)
        # The accelerator runs in domain `core`: the harness's clock, and its reset through a
        # register. Verilator re-evaluates everything that reads a VPI-written signal (the
        # testbench drives `rst`) on every step; a registered reset keeps the units' reset
        # logic out of that.
        m.domains.core = ClockDomain("core")
        rst_r = Signal(init=1)
        m.d.sync += rst_r.eq(ResetSignal("sync"))
        m.d.comb += [ClockSignal("core").eq(ClockSignal("sync")), ResetSignal("core").eq(rst_r)]
        m.submodules.top = DomainRenamer("core")(top)
        # The testbench writes these inputs through VPI; Verilator re-evaluates everything that
        # reads a VPI-writable signal on every evaluation, so the design reads registered copies
        # (taken on `start`), not the inputs themselves.
        start = Signal()
        m.d.sync += start.eq(self.start)
        nbeats, nres = Signal(32), Signal(32)
        with m.If(self.start):
            m.d.sync += [nbeats.eq(self.nbeats), nres.eq(self.nres)]
        for q in queue_order(S):
            n = Signal(16, name=f"n_{q}_r")
            with m.If(self.start):
                m.d.sync += n.eq(getattr(self, f"n_{q}"))
            m.d.comb += getattr(top, f"n_{q}").eq(n)
        m.d.comb += top.start.eq(start)
        now = Signal(32)
        m.d.sync += now.eq(now + 1)
        running = Signal()
        with m.If(start):
            m.d.sync += running.eq(1)
        # host: beats back to back
        W = accel.host_bytes_per_cycle * 8
        hm = SRAM(m, "host_mem", width=W, depth=MAX_HOST_BEATS)
        im = SRAM(m, "idle_mem", width=16, depth=MAX_HOST_BEATS)   # idle cycles before a beat
        # arrive_mem[j]: the cycle (from the first beat) before which beat j is not presented:
        # its query's arrival (all zero: back to back)
        am = SRAM(m, "arrive_mem", width=32, depth=MAX_HOST_BEATS)
        ptr = Signal(32)
        fire = Signal()
        fired = Signal()
        gap = Signal(16)
        wait = Signal(16)
        first = Signal(32)
        seen = Signal()
        arrived = Signal()
        since = Signal(32)                      # cycles since the first beat (when seen)
        m.d.comb += [since.eq(now - first), wait.eq(Mux(fired, im.rdata, gap)),
                     arrived.eq(~seen | (since >= am.rdata)),
                     top.host_in.valid.eq(running & (ptr < nbeats) & (wait == 0) & arrived),
                     top.host_in.payload.eq(hm.rdata),
                     fire.eq(top.host_in.valid & top.host_in.ready),
                     hm.re.eq(1), hm.raddr.eq(ptr + fire), im.re.eq(1), im.raddr.eq(ptr + fire),
                     am.re.eq(1), am.raddr.eq(ptr + fire)]
        m.d.sync += [fired.eq(fire), gap.eq(Mux(wait != 0, wait - 1, 0))]
        with m.If(fire):
            m.d.sync += ptr.eq(ptr + 1)
        with m.If(fire & ~seen):
            m.d.sync += [first.eq(now), seen.eq(1)]
        # in_time_mem[j]: the cycle (from the first beat) beat j transferred
        itm = SRAM(m, "in_time_mem", width=32, depth=MAX_HOST_BEATS)
        m.d.comb += [itm.we.eq(fire), itm.waddr.eq(ptr),
                     itm.wdata.eq(Mux(seen, since, 0))]
        # the host's backpressure: stall_mem[c] = 1 -> no result beat taken on cycle c
        # (cycles counted from the first host beat; all zero: always ready)
        from rpaccel.perfmodel.query import STALL_HORIZON as STALL_DEPTH

        st = SRAM(m, "stall_mem", width=1, depth=STALL_DEPTH)
        m.d.comb += [st.re.eq(1), st.raddr.eq(since + 1),
                     top.host_out_ready.eq(~(seen & (since < STALL_DEPTH) & st.rdata[0]))]
        # results
        rm = SRAM(m, "res_mem", width=W, depth=MAX_RESULTS)
        rptr = Signal(32)
        # res_time_mem[i]: the cycle (from the first beat) result beat i arrived
        rtm = SRAM(m, "res_time_mem", width=32, depth=MAX_RESULTS)
        m.d.comb += [rm.we.eq(top.host_out.valid), rm.waddr.eq(rptr),
                     rm.wdata.eq(top.host_out.payload), top.host_out.ready.eq(1),
                     rtm.we.eq(top.host_out.valid), rtm.waddr.eq(rptr),
                     rtm.wdata.eq(since)]
        with m.If(top.host_out.valid):
            m.d.sync += rptr.eq(rptr + 1)
            with m.If(rptr + 1 == nres):
                m.d.sync += [self.done.eq(1), self.cycles.eq(now - first)]
        for s in range(S):
            sv = getattr(top, f"surv{s}")
            sm = SRAM(m, f"surv{s}_mem", width=len(sv.payload), depth=MAX_RESULTS * 4)
            sp = Signal(32, name=f"surv{s}_ptr")
            m.d.comb += [sm.we.eq(sv.valid), sm.waddr.eq(sp), sm.wdata.eq(sv.payload),
                         sv.ready.eq(1)]
            with m.If(sv.valid):
                m.d.sync += sp.eq(sp + 1)
        dram_model(m, accel.embedding, top.mem_req, top.mem_resp, now)
        m.d.comb += self.counters.eq(top.counters)
        return m


#: C++ optimisation of the integrated accelerator's harness builds (every one: the tests', the
#: CLI's, the campaign's). The top's generated C++ is large and its simulations are short, so
#: the compile dominates: the tiny preset's build takes 50 s at -O1 and 74 s at the units'
#: -O2 (:data:`rpaccel.verif.toolchain.OPT_FAST`), and simulates its scenarios in the same
#: 4.4 s; -O0 builds in 44 s but simulates in 6.5 s (2-core development VM, alone, 2026-12-02).
ACCEL_OPT_FAST = "-O1"


def build_accel(build: AccelBuild, root: Path | None = None, waves: bool = False,
                opt_fast: str | None = None):
    """Verilator build of the harness for ``build`` (cached by its key and the RTL's digest;
    ``waves``: the traced variant; ``opt_fast``: the C++ optimisation, default
    :data:`ACCEL_OPT_FAST`)."""
    from .run import build_harness

    return build_harness(AccelBulkHarness(build), build, TOPLEVEL, Path(__file__), root,
                         waves=waves, opt_fast=opt_fast or ACCEL_OPT_FAST)


def run_accel(build: AccelBuild, scenarios: list[dict], root: Path | None = None,
              keep: bool = False, waves: str | None = None,
              opt_fast: str | None = None) -> list[dict]:
    """Run scenarios (``seed``, ``queries``, ``policy``, optional ``dump``) on the RTL (``waves``:
    a VCD of the run to this path; ``opt_fast``: :func:`build_accel`'s); one result record
    each: ``rtl_cycles``, ``model_cycles``, ``cycles_match``, ``values_match``, ..."""
    from .run import run_built

    info = build_accel(build, root, waves=bool(waves), opt_fast=opt_fast)
    return run_built(build, info, "rpaccel.verif.tb_accel", scenarios, waves=waves, root=root,
                     keep=keep)
