"""Approximate (histogram) top-k filter: RecPipe's ``sortvals`` (RECPIPE.md section 1.4) with
its quirks fixed. A sibling of the exact filter (:mod:`rpaccel.rtl.topk`).

* **IN**: one item per beat. Its bin (the score's top ``log2(bins)`` bits, offset binary when
  signed) counts up, and ``{score, id}`` is written to the buffer (an SRAM macro of
  ``max_items`` words). ``k`` is taken from the ``last`` beat.
* **WALK**: one bin per cycle from the top, accumulating counts until the running count reaches
  k, or bin 0. The bin is the threshold; the running count is the number of results. The
  counters clear for the next query.
* **DRAIN**: the buffer is read in arrival order; an item at or above the threshold bin becomes a
  result beat (registered output; the read and the output register stall together under
  backpressure). ``last`` marks the final result. IN resumes after it transfers.

Ports (Verilog ``i__*``, ``o__*``): ``i`` ``{score, id, k, last}``; ``o`` ``{score, id, last}``.
Timing: :class:`rpaccel.config.HistkConfig`, :mod:`rpaccel.perfmodel.histk`.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from rpaccel.config import HistkConfig

from .layouts import amaranth_layout
from .sram import SRAM

__all__ = ["HistogramFilter"]


class HistogramFilter(wiring.Component):
    """See the module docstring. ``cfg``: :class:`~rpaccel.config.HistkConfig`."""

    def __init__(self, cfg: HistkConfig) -> None:
        if not isinstance(cfg, HistkConfig):
            raise TypeError(f"cfg must be a HistkConfig, got {cfg!r}")
        self._cfg = cfg
        super().__init__({"i": In(stream.Signature(amaranth_layout(cfg.in_layout))),
                          "o": Out(stream.Signature(amaranth_layout(cfg.out_layout)))})

    @property
    def cfg(self) -> HistkConfig:
        return self._cfg

    def elaborate(self, platform):
        cfg = self._cfg
        B, N = cfg.bins, cfg.max_items
        m = Module()
        sw, iw = cfg.score_width, cfg.id_width
        buf = SRAM(m, "buf", width=sw + iw, depth=N)

        counts = Array(Signal(range(N + 1), name=f"count{b}") for b in range(B))
        wptr = Signal(range(N + 1))
        kreg = Signal(range(N + 1))
        idx = Signal(range(B))
        acc = Signal(range(N + 1))
        thr = Signal(range(B))
        total = Signal(range(N + 1))            # results of this query
        rptr = Signal(range(N + 1))
        pending = Signal()                      # buffer read data arrives this cycle
        emitted = Signal(range(N + 1))

        def bin_of(score):
            off = score.as_unsigned() ^ (1 << (sw - 1)) if cfg.signed_scores else score
            return off[sw - cfg.bin_bits:]

        inp = self.i.payload
        accept = self.i.valid & self.i.ready
        fire = self.o.valid & self.o.ready
        acc_n = Signal(range(2 * N + 1))
        m.d.comb += acc_n.eq(acc + counts[idx])
        rd_score = Signal(signed(sw) if cfg.signed_scores else unsigned(sw))
        rd_id = Signal(iw)
        m.d.comb += [rd_score.eq(buf.rdata[:sw]), rd_id.eq(buf.rdata[sw:])]
        advance = ~self.o.valid | self.o.ready

        with m.FSM():
            with m.State("IN"):
                m.d.comb += [self.i.ready.eq(1), buf.we.eq(accept), buf.waddr.eq(wptr),
                             buf.wdata.eq(inp.score.as_unsigned() | (inp.id << sw))]
                with m.If(accept):
                    m.d.sync += [counts[bin_of(inp.score)].eq(counts[bin_of(inp.score)] + 1),
                                 wptr.eq(wptr + 1)]
                    with m.If(inp.last):
                        m.d.sync += [kreg.eq(inp.k), idx.eq(B - 1), acc.eq(0)]
                        m.next = "WALK"
            with m.State("WALK"):
                with m.If((acc_n >= kreg) | (idx == 0)):
                    m.d.sync += [thr.eq(idx), total.eq(acc_n), rptr.eq(0), pending.eq(0),
                                 emitted.eq(0)]
                    m.d.sync += [c.eq(0) for c in counts]
                    m.next = "DRAIN"
                with m.Else():
                    m.d.sync += [acc.eq(acc_n), idx.eq(idx - 1)]
            with m.State("DRAIN"):
                qual = pending & (bin_of(rd_score) >= thr)
                with m.If(advance):
                    m.d.sync += [self.o.valid.eq(qual), self.o.payload.score.eq(rd_score),
                                 self.o.payload.id.eq(rd_id),
                                 self.o.payload.last.eq(emitted + 1 == total)]
                    with m.If(qual):
                        m.d.sync += emitted.eq(emitted + 1)
                    m.d.comb += [buf.re.eq(rptr < wptr), buf.raddr.eq(rptr)]
                    m.d.sync += pending.eq(rptr < wptr)
                    with m.If(rptr < wptr):
                        m.d.sync += rptr.eq(rptr + 1)
                with m.If(fire & self.o.payload.last):
                    m.d.sync += [self.o.valid.eq(0), wptr.eq(0)]
                    m.next = "IN"
        return m
