"""Bulk mode of the embedding unit: a simulation harness that keeps Python out of the clock loop.

The harness (top ``bulk_embcache``, simulation only) wraps the non-blocking unit with

* a **trace memory** (``trace_mem``, back-door loaded with the request beats) and a driver that
  presents them back to back from the cycle after ``start``;
* a **DRAM model** in RTL with the rules of :class:`rpaccel.config.EmbCacheConfig` (latency, one
  beat per ``dram_interval``, at most ``dram_outstanding`` requests in flight), reading rows
  from ``dram_mem`` (back-door loaded with every table row);
* a **response sink**, always ready, writing every response beat into ``resp_mem``;
* ``done`` (after the last response) and ``cycles`` (first acceptance to last response, the
  count :func:`rpaccel.perfmodel.embcache.embcache_cycles` gives).

The testbench (:mod:`rpaccel.verif.tb_embcache`, scenarios with ``"mode": "bulk"``) loads the
memories and the unit's static SRAM copies, pulses ``start``, sleeps until ``done``, and checks
every response and the count against the model.
"""

from __future__ import annotations

from pathlib import Path

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rpaccel.config import EmbCacheConfig

__all__ = ["EmbBulkHarness", "TOPLEVEL", "MAX_BEATS", "build_bulk", "run_bulk", "dram_model"]

TOPLEVEL = "bulk_embcache"
#: Request beats the trace and response memories hold.
MAX_BEATS = 1 << 14


class EmbBulkHarness(wiring.Component):
    def __init__(self, cfg: EmbCacheConfig) -> None:
        if cfg.blocking:
            raise ValueError("bulk mode is built for the non-blocking unit (lanes > 1 or "
                             "mshrs > 1)")
        self._cfg = cfg
        super().__init__({"start": In(1), "nbeats": In(32), "done": Out(1), "cycles": Out(32)})

    def elaborate(self, platform):
        from rpaccel.rtl.embcache import EmbeddingCache
        from rpaccel.rtl.sram import SRAM

        cfg = self._cfg
        m = Module()
        m.submodules.unit = u = EmbeddingCache(cfg)
        req_bits, resp_bits = cfg.req_layout.width, cfg.resp_layout.width
        trace = SRAM(m, "trace_mem", width=req_bits, depth=MAX_BEATS)
        resp = SRAM(m, "resp_mem", width=resp_bits, depth=MAX_BEATS)

        now = Signal(32)
        m.d.sync += now.eq(now + 1)
        running = Signal()
        with m.If(self.start):
            m.d.sync += running.eq(1)

        # ---- driver: trace beats back to back ----------------------------------------------
        ptr = Signal(32)
        fire = Signal()
        m.d.comb += [u.req.valid.eq(running & (ptr < self.nbeats)), u.req.payload.eq(trace.rdata),
                     fire.eq(u.req.valid & u.req.ready),
                     trace.re.eq(1), trace.raddr.eq(ptr + fire)]
        with m.If(fire):
            m.d.sync += ptr.eq(ptr + 1)
        first = Signal(32)
        seen = Signal()
        with m.If(fire & ~seen):
            m.d.sync += [first.eq(now), seen.eq(1)]

        # ---- sink: always ready, every beat into resp_mem ------------------------------------
        rptr = Signal(32)
        rfire = Signal()
        m.d.comb += [u.resp.ready.eq(1), rfire.eq(u.resp.valid),
                     resp.we.eq(rfire), resp.waddr.eq(rptr), resp.wdata.eq(u.resp.payload)]
        with m.If(rfire):
            m.d.sync += rptr.eq(rptr + 1)
            with m.If(rptr + 1 == self.nbeats):
                m.d.sync += [self.done.eq(1), self.cycles.eq(now - first)]

        dram_model(m, cfg, u.mem_req, u.mem_resp, now)
        return m


def build_bulk(cfg, root: Path | None = None):
    """Verilator build of the harness for ``cfg`` (cached like the unit's builds)."""
    from .run import build_harness

    return build_harness(EmbBulkHarness(cfg), cfg, TOPLEVEL, Path(__file__), root)



def run_bulk(cfg: EmbCacheConfig, scenarios: list[dict], root: Path | None = None) -> list[dict]:
    """Run bulk scenarios (``trace``, ``lookups``, ``seed``, ``skew``; no idle or backpressure)
    on the harness; one result record each, as :func:`rpaccel.verif.run.run_unit` returns."""
    from .run import run_built

    info = build_bulk(cfg, root)
    scs = [{**sc, "mode": "bulk"} for sc in scenarios]
    return run_built(cfg, info, "rpaccel.verif.tb_embcache", scs, waves=None, root=root, keep=False)


def dram_model(m: Module, cfg: EmbCacheConfig, mem_req, mem_resp, now) -> None:
    """The DRAM of :class:`rpaccel.config.EmbCacheConfig` in RTL (simulation only): in-order
    requests, ``dram_latency``, one beat per ``dram_interval``, at most ``dram_outstanding`` in
    flight, rows from ``dram_mem`` (an SRAM added to ``m``, back-door loaded with every table
    row). ``now`` is a free-running cycle counter."""
    from rpaccel.rtl.sram import SRAM

    B, MB = cfg.beats_per_row, cfg.mem_bits
    dram = SRAM(m, "dram_mem", width=B * MB, depth=cfg.total_rows)
    OUT = cfg.dram_outstanding
    D = 1 << max(1, (OUT - 1).bit_length())
    fa = [Signal(cfg.addr_bits, name=f"dq{x}_addr") for x in range(D)]
    fd = [Signal(32, name=f"dq{x}_first") for x in range(D)]
    head = Signal(range(D))
    count = Signal(range(D + 1))
    prev_last = Signal(32)
    have_prev = Signal()
    beat = Signal(range(max(B, 2)))
    rq = mem_req.valid & mem_req.ready
    m.d.comb += mem_req.ready.eq(count < OUT)
    d0 = Signal(32)
    m.d.comb += d0.eq(Mux(have_prev & (prev_last + cfg.dram_interval > now + cfg.dram_latency),
                          prev_last + cfg.dram_interval, now + cfg.dram_latency))
    tail = (head + count)[:len(head)]
    with m.If(rq):
        m.d.sync += [Array(fa)[tail].eq(mem_req.payload), Array(fd)[tail].eq(d0),
                     prev_last.eq(d0 + (B - 1) * cfg.dram_interval), have_prev.eq(1)]
    due = Signal(32)
    m.d.comb += due.eq(Array(fd)[head] + beat * cfg.dram_interval)
    deliver = Signal()
    m.d.comb += deliver.eq((count != 0) & (due == now))
    last = deliver & (beat == B - 1)
    with m.If(deliver):
        m.d.sync += beat.eq(Mux(beat == B - 1, 0, beat + 1))
    with m.If(last):
        m.d.sync += head.eq(head + 1)
    m.d.sync += count.eq(count + rq - last)
    # the row of the entry that is the head on the next cycle (the memory reads a cycle ahead)
    nxt = Signal(cfg.addr_bits)
    m.d.comb += nxt.eq(Array(fa)[head])
    with m.If(last):
        m.d.comb += nxt.eq(Array(fa)[(head + 1)[:len(head)]])
    with m.If((count == 0) | (last & (count == 1))):
        m.d.comb += nxt.eq(mem_req.payload)
    m.d.comb += [dram.re.eq(1), dram.raddr.eq(nxt),
                 mem_resp.valid.eq(deliver),
                 mem_resp.payload.eq(dram.rdata.word_select(beat, MB))]
