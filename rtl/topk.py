"""Streaming exact top-k filter with ``lanes`` parallel units and a merging output stage.

Each lane keeps its best ``k_max`` items in a sorted register array (best first). An arriving
item is compared with every entry in parallel and inserted at its rank, the entries below shift
down one place and the worst falls off: one item per lane per cycle. When the ``last`` beat of a
query is accepted the lanes' arrays are copied (with that beat's items inserted) into per-lane
output buffers and cleared, so the next query streams in while the results drain. The output
stage picks the best head among the lanes' buffers each cycle: an L-way merge of sorted lists,
which yields the global top-k exactly because every lane holds its own top ``k_max >= k``.

Ports (Verilog names ``i__*`` and ``o__*``):

``i`` payload ``{items[lanes]{score, id, v}, k, last}``
    Slot j carries one item for lane j when its ``v`` bit is set. ``k`` is read from the
    ``last`` beat. An empty query is a ``last`` beat with no ``v`` bit set.
``o`` payload ``{score, id, last, empty}``
    ``min(k, n)`` beats best first, ``last`` on the final one; an empty query gives one beat
    with ``empty`` and ``last`` set.
``compares`` (32 bits)
    Event counter since reset: score comparisons, ``k_max`` for every item inserted into a lane
    and ``lanes - 1`` for every (non-empty) result beat the merge picks.

Timing: see :mod:`rpaccel.perfmodel.topk`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from rpaccel.config import TopkConfig

from .layouts import amaranth_layout

__all__ = ["TopkFilter"]


class TopkFilter(wiring.Component):
    """Exact streaming top-k (see module docstring).

    Arguments
    ---------
    cfg : TopkConfig
    """

    def __init__(self, cfg: TopkConfig) -> None:
        if not isinstance(cfg, TopkConfig):
            raise TypeError(f"cfg must be a TopkConfig, got {cfg!r}")
        self._cfg = cfg
        self._item = amaranth_layout(cfg.item_layout)
        in_layout = amaranth_layout(cfg.in_layout)
        out_layout = amaranth_layout(cfg.out_layout)
        super().__init__({"i": In(stream.Signature(in_layout)),
                          "o": Out(stream.Signature(out_layout)),
                          "compares": Out(32)})

    @property
    def cfg(self) -> TopkConfig:
        return self._cfg

    @property
    def result_latency(self) -> int:
        """Cycles from accepting a ``last`` beat to the first result beat being valid (the
        output buffers load on the accepting edge): the contract's
        :attr:`TopkConfig.result_latency`, which this design's single register stage gives."""
        return self._cfg.result_latency

    @staticmethod
    def _better(x, e):
        """x ranks before entry e: higher score, or equal score and lower id; or e is empty."""
        return (~e.v | (x.score > e.score) | ((x.score == e.score) & (x.id < e.id)))

    def elaborate(self, platform):
        cfg = self._cfg
        K, L = cfg.k_max, cfg.lanes
        m = Module()

        accept = self.i.valid & self.i.ready
        end = accept & self.i.payload.last

        # ---- result bookkeeping ------------------------------------------------------------
        remaining = Signal(range(K + 1))   # result beats still to send
        empty = Signal()                    # an empty-query beat is pending
        out_free = Signal()
        m.d.comb += [out_free.eq((remaining == 0) & ~empty),
                     self.i.ready.eq(~self.i.payload.last | out_free)]

        # items seen in the current query, saturating at K (only min(k, n) matters)
        seen = Signal(range(K + 1))
        add = sum(self.i.payload.items[j].v for j in range(L))
        total = Signal(range(K + L + 1))
        m.d.comb += total.eq(seen + Mux(accept, add, 0))
        with m.If(end):
            m.d.sync += seen.eq(0)
        with m.Elif(accept):
            m.d.sync += seen.eq(Mux(total > K, K, total))

        heads = []
        shift_lane = [Signal(name=f"take_{j}") for j in range(L)]
        for j in range(L):
            x = Signal(self._item, name=f"lane{j}_in")
            m.d.comb += x.eq(self.i.payload.items[j])
            ent = [Signal(self._item, name=f"lane{j}_e{i}") for i in range(K)]
            ob = [Signal(self._item, name=f"lane{j}_o{i}") for i in range(K)]
            # insertion: better[i] is 0..0 1..1 because the entries are sorted
            better = [Signal(name=f"lane{j}_b{i}") for i in range(K)]
            for i in range(K):
                m.d.comb += better[i].eq(x.v & self._better(x, ent[i]))
            nxt = []
            for i in range(K):
                n_i = Signal(self._item, name=f"lane{j}_n{i}")
                prev_better = better[i - 1] if i > 0 else 0
                if i == 0:
                    m.d.comb += n_i.eq(Mux(better[0], x, ent[0]))
                else:
                    m.d.comb += n_i.eq(Mux(prev_better, ent[i - 1], Mux(better[i], x, ent[i])))
                nxt.append(n_i)
            with m.If(end):
                for i in range(K):
                    m.d.sync += [ent[i].v.eq(0), ob[i].eq(nxt[i])]
            with m.Else():
                with m.If(accept):
                    for i in range(K):
                        m.d.sync += ent[i].eq(nxt[i])
                with m.If(shift_lane[j]):
                    for i in range(K):
                        m.d.sync += ob[i].eq(ob[i + 1] if i + 1 < K else 0)
            heads.append(ob[0])

        # ---- merge: best valid head among the lanes --------------------------------------
        best = heads[0]
        best_lane = Signal(range(max(L, 2)), name="best_lane_0")
        m.d.comb += best_lane.eq(0)
        for j in range(1, L):
            nb = Signal(self._item, name=f"best_{j}")
            nl = Signal(range(max(L, 2)), name=f"best_lane_{j}")
            take = heads[j].v & self._better(heads[j], best)
            m.d.comb += [nb.eq(Mux(take, heads[j], best)), nl.eq(Mux(take, j, best_lane))]
            best, best_lane = nb, nl

        fire = self.o.valid & self.o.ready
        m.d.comb += [
            self.o.valid.eq((remaining != 0) | empty),
            self.o.payload.score.eq(Mux(empty, 0, best.score)),
            self.o.payload.id.eq(Mux(empty, 0, best.id)),
            self.o.payload.last.eq(empty | (remaining == 1)),
            self.o.payload.empty.eq(empty),
        ]
        for j in range(L):
            m.d.comb += shift_lane[j].eq(fire & ~empty & (best_lane == j))
        # event counter: k_max comparisons per inserted item, lanes - 1 per merged result
        m.d.sync += self.compares.eq(self.compares + Mux(accept, add * K, 0)
                                     + Mux(fire & ~empty, L - 1, 0))
        with m.If(end):
            k = self.i.payload.k
            m.d.sync += [remaining.eq(Mux(total > k, k, total)), empty.eq(total == 0)]
        with m.Elif(fire):
            with m.If(empty):
                m.d.sync += empty.eq(0)
            with m.Else():
                m.d.sync += remaining.eq(remaining - 1)
        return m
