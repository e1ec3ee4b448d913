"""Dual static + dynamic embedding cache, one lookup port, one DRAM port: the blocking design
below for ``lanes = mshrs = 1``, else the non-blocking unit of :mod:`rpaccel.rtl.embunit`.

* **Static cache**: an SRAM macro holding rows ``[0, static_rows)`` of every table (rows are
  re-indexed by access frequency offline), loaded through ``pre`` in an explicit preload phase;
  the hit test is a compare ``row < static_rows``.
* **Dynamic cache**: ``sets x ways`` lines of one row each; the tag store (valid, tag and an LRU
  age per way) is an Amaranth memory of ``sets`` words, the data an SRAM macro. True LRU: the
  accessed way gets age 0 and the valid ways of the stage's partition that were younger age by
  one; a miss fills the partition's first invalid way, else its oldest. Way-partitioned by
  pipeline stage (``stage_ways``).
* **Blocking**: one request at a time; a miss issues one DRAM request and waits for its beats.

Ports: ``req`` {table, row, stage, tag}; ``resp`` {data, tag, hit, static} in request order;
``pre`` (static preload words, sequential); ``mem_req`` {addr = the global row,
``table_bases[table] + row``};
``mem_resp`` (row beats, low bits first); counters ``hits_static``, ``hits_dynamic``,
``misses``, ``mem_bytes``. After reset the cache clears its tag store for ``sets`` cycles
before it accepts requests. Timing: :mod:`rpaccel.perfmodel.embcache`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from rpaccel.config import EmbCacheConfig

from .embunit import global_addr, nonblocking_logic
from .layouts import amaranth_layout
from .sram import SRAM

__all__ = ["EmbeddingCache"]


class EmbeddingCache(wiring.Component):
    """See the module docstring. Arguments: ``cfg`` (:class:`EmbCacheConfig`)."""

    def __init__(self, cfg: EmbCacheConfig) -> None:
        if not isinstance(cfg, EmbCacheConfig):
            raise TypeError(f"cfg must be an EmbCacheConfig, got {cfg!r}")
        cfg.check_rtl()
        self._cfg = cfg
        self._set_bits = (cfg.sets - 1).bit_length()
        self._tag_bits = max(1, cfg.addr_bits - self._set_bits)
        self._age_bits = max(1, (cfg.ways - 1).bit_length())
        req = amaranth_layout(cfg.req_layout)
        resp = amaranth_layout(cfg.resp_layout)
        super().__init__({
            "req": In(stream.Signature(req)), "resp": Out(stream.Signature(resp)),
            "pre": In(stream.Signature(cfg.row_bits)),
            "mem_req": Out(stream.Signature(cfg.addr_bits)),
            "mem_resp": In(stream.Signature(cfg.mem_bits)),
            "hits_static": Out(32), "hits_dynamic": Out(32), "misses": Out(32),
            "mem_bytes": Out(32),
            **({} if cfg.blocking else {name: Out(32) for name in cfg.nonblocking_counters}),
        })

    @property
    def cfg(self) -> EmbCacheConfig:
        return self._cfg

    def elaborate(self, platform):
        cfg = self._cfg
        W, S = cfg.ways, cfg.sets
        m = Module()
        if not cfg.blocking:
            nonblocking_logic(m, cfg, self)
            return m
        entry = data.StructLayout({"valid": 1, "tag": self._tag_bits, "age": self._age_bits})
        word_layout = data.ArrayLayout(entry, W)

        # ---- storage -----------------------------------------------------------------------
        # depth >= 2 keeps a 1-bit address for a single-set cache (a 0-bit port is not Verilog)
        m.submodules.tags = tags = memory.Memory(shape=word_layout, depth=max(S, 2), init=[])
        t_rd = tags.read_port(domain="sync")
        t_wr = tags.write_port()
        n_static = cfg.tables * cfg.static_rows
        sbuf = SRAM(m, "static_buf", width=cfg.row_bits, depth=max(1, n_static))
        dbuf = SRAM(m, "data_buf", width=cfg.row_bits, depth=S * W)

        # ---- request registers ---------------------------------------------------------------
        p = self.req.payload
        r_table = Signal.like(p.table)
        r_row = Signal.like(p.row)
        r_stage = Signal.like(p.stage)
        r_tag = Signal.like(p.tag)
        g = Signal(cfg.addr_bits)
        m.d.comb += g.eq(global_addr(cfg, r_table, r_row))
        r_set = Signal(max(1, self._set_bits))
        r_tagv = Signal(self._tag_bits)
        m.d.comb += [r_set.eq(g[:self._set_bits] if self._set_bits else 0),
                     r_tagv.eq(g[self._set_bits:] if cfg.addr_bits > self._set_bits else 0)]
        is_static = Signal()
        m.d.comb += is_static.eq(r_row < cfg.static_rows if cfg.static_rows else 0)

        fire_req = self.req.valid & self.req.ready
        p_g = Signal(cfg.addr_bits)
        m.d.comb += p_g.eq(global_addr(cfg, p.table, p.row))
        m.d.comb += [t_rd.addr.eq(p_g[:self._set_bits] if self._set_bits else 0),
                     t_rd.en.eq(fire_req)]
        with m.If(fire_req):
            m.d.sync += [r_table.eq(p.table), r_row.eq(p.row), r_stage.eq(p.stage),
                         r_tag.eq(p.tag)]

        # ---- partition, hit detection, LRU ---------------------------------------------------
        word = t_rd.data
        lo = [sum(cfg.stage_ways[:s]) for s in range(cfg.stages)]
        in_part = [Signal(name=f"in_part_{w}") for w in range(W)]
        for w in range(W):
            terms = [r_stage == s for s in range(cfg.stages) if lo[s] <= w < lo[s] + cfg.stage_ways[s]]
            m.d.comb += in_part[w].eq(Cat(*terms).any() if terms else 0)
        part_size = Signal(range(W + 1))
        m.d.comb += part_size.eq(cfg.stage_ways[0])
        for s in range(1, cfg.stages):
            with m.If(r_stage == s):
                m.d.comb += part_size.eq(cfg.stage_ways[s])
        hitv = Signal(W)
        for w in range(W):
            m.d.comb += hitv[w].eq(in_part[w] & word[w].valid & (word[w].tag == r_tagv))
        any_hit = Signal()
        m.d.comb += any_hit.eq(hitv.any() & cfg.dynamic)
        hit_way = Signal(range(max(W, 2)))
        for w in reversed(range(W)):
            with m.If(hitv[w]):
                m.d.comb += hit_way.eq(w)
        # victim: first invalid way of the partition, else its oldest (age = part_size - 1)
        victim = Signal(range(max(W, 2)))
        inval = Signal(W)
        oldest = Signal(W)
        for w in range(W):
            m.d.comb += [inval[w].eq(in_part[w] & ~word[w].valid),
                         oldest[w].eq(in_part[w] & word[w].valid & (word[w].age == part_size - 1))]
        for w in reversed(range(W)):
            with m.If(oldest[w]):
                m.d.comb += victim.eq(w)
        with m.If(inval.any()):
            for w in reversed(range(W)):
                with m.If(inval[w]):
                    m.d.comb += victim.eq(w)

        def lru_word(sel: Signal, fill: bool) -> Signal:
            """Word after touching way ``sel`` (a hit) or filling it with the request's tag."""
            out = Signal(word_layout, name="lru_fill" if fill else "lru_hit")
            old = Signal(self._age_bits + 1, name="old_age_fill" if fill else "old_age_hit")
            m.d.comb += old.eq(W)     # an invalid victim: every valid way ages
            for w in range(W):
                with m.If((sel == w) & word[w].valid):
                    m.d.comb += old.eq(word[w].age)
            for w in range(W):
                e = word[w]
                m.d.comb += out[w].eq(e)
                with m.If(sel == w):
                    m.d.comb += out[w].age.eq(0)
                    if fill:
                        m.d.comb += [out[w].valid.eq(1), out[w].tag.eq(r_tagv)]
                with m.Elif(in_part[w] & e.valid & (e.age < old)):
                    m.d.comb += out[w].age.eq(e.age + 1)
            return out

        hit_word = lru_word(hit_way, fill=False)
        fill_word_now = lru_word(victim, fill=True)
        r_victim = Signal.like(victim)
        r_fill_word = Signal(word_layout)

        # ---- miss path -----------------------------------------------------------------------
        B = cfg.beats_per_row
        fill = Signal(B * cfg.mem_bits)
        beat = Signal(range(max(B, 2)))
        src = Signal(2)      # response source: 0 static SRAM, 1 data SRAM, 2 fill register
        m.d.comb += self.mem_req.payload.eq(g)
        last_beat = Signal()
        m.d.comb += last_beat.eq(self.mem_resp.valid & (beat == B - 1))
        fill_now = Signal(B * cfg.mem_bits)
        m.d.comb += fill_now.eq(fill)
        for j in range(B):
            with m.If(beat == j):
                m.d.comb += fill_now.word_select(j, cfg.mem_bits).eq(self.mem_resp.payload)

        # ---- preload -------------------------------------------------------------------------
        pre_ptr = Signal(range(max(n_static, 1) + 1))
        idle = Signal()
        m.d.comb += [self.pre.ready.eq(idle), sbuf.we.eq(self.pre.valid & idle & (n_static > 0)),
                     sbuf.waddr.eq(pre_ptr), sbuf.wdata.eq(self.pre.payload)]
        with m.If(self.pre.valid & self.pre.ready):
            m.d.sync += pre_ptr.eq(pre_ptr + 1)

        # ---- response ------------------------------------------------------------------------
        r_hit = Signal()
        r_static = Signal()
        m.d.comb += [
            self.resp.payload.tag.eq(r_tag), self.resp.payload.hit.eq(r_hit),
            self.resp.payload.static.eq(r_static),
            self.resp.payload.data.eq(Mux(src == 0, sbuf.rdata, Mux(src == 1, dbuf.rdata,
                                                                    fill[:cfg.row_bits]))),
        ]
        m.d.comb += [sbuf.raddr.eq(r_table * cfg.static_rows + r_row if n_static else 0),
                     dbuf.raddr.eq(r_set * W + hit_way)]

        clear = Signal(range(S + 1))
        with m.FSM(name="cache"):
            with m.State("CLEAR"):
                m.d.comb += [t_wr.addr.eq(clear), t_wr.en.eq(1), t_wr.data.eq(0)]
                m.d.sync += clear.eq(clear + 1)
                with m.If(clear == S - 1):
                    m.next = "IDLE"
            with m.State("IDLE"):
                m.d.comb += [idle.eq(1), self.req.ready.eq(~self.pre.valid)]
                with m.If(fire_req):
                    m.next = "LOOKUP"
            with m.State("LOOKUP"):
                with m.If(is_static):
                    m.d.comb += sbuf.re.eq(1)
                    m.d.sync += [src.eq(0), r_hit.eq(1), r_static.eq(1),
                                 self.hits_static.eq(self.hits_static + 1)]
                    m.next = "RESP"
                with m.Elif(any_hit):
                    m.d.comb += [dbuf.re.eq(1), t_wr.addr.eq(r_set), t_wr.data.eq(hit_word),
                                 t_wr.en.eq(1)]
                    m.d.sync += [src.eq(1), r_hit.eq(1), r_static.eq(0),
                                 self.hits_dynamic.eq(self.hits_dynamic + 1)]
                    m.next = "RESP"
                with m.Else():
                    m.d.comb += self.mem_req.valid.eq(1)
                    m.d.sync += [src.eq(2), r_hit.eq(0), r_static.eq(0), beat.eq(0),
                                 r_victim.eq(victim), r_fill_word.eq(fill_word_now)]
                    with m.If(self.mem_req.ready):
                        m.next = "MEM_WAIT"
                    with m.Else():
                        m.next = "MEM_REQ"
            with m.State("MEM_REQ"):
                m.d.comb += self.mem_req.valid.eq(1)
                with m.If(self.mem_req.ready):
                    m.next = "MEM_WAIT"
            with m.State("MEM_WAIT"):
                m.d.comb += self.mem_resp.ready.eq(1)
                with m.If(self.mem_resp.valid):
                    m.d.sync += [fill.eq(fill_now), beat.eq(beat + 1)]
                with m.If(last_beat):
                    if cfg.dynamic:
                        m.d.comb += [dbuf.we.eq(1), dbuf.waddr.eq(r_set * W + r_victim),
                                     dbuf.wdata.eq(fill_now[:cfg.row_bits]),
                                     t_wr.addr.eq(r_set), t_wr.data.eq(r_fill_word),
                                     t_wr.en.eq(1)]
                    m.d.sync += [self.misses.eq(self.misses + 1),
                                 self.mem_bytes.eq(self.mem_bytes + cfg.row_bytes)]
                    m.next = "RESP"
            with m.State("RESP"):
                m.d.comb += self.resp.valid.eq(1)
                with m.If(self.resp.ready):
                    m.next = "IDLE"
        return m
