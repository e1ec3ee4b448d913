"""The integrated RPAccel: the reconfigurable array, the non-blocking embedding unit and top-k
filters under a controller that executes command streams (:mod:`rpaccel.isa`).

The top is **generated for an accelerator config and a placed pipeline** (the compiler's
:class:`~rpaccel.query.Placement`, passed in by the caller): the number of stages,
each stage's sub-array group, sub-batch and chunk sizes, table counts and dims, and layer widths
fix the buffers and the interaction network. Weights, biases, embedding tables, the query data
and the command streams are data: the weight and bias memories and the command memories are
loaded by back door, the tables sit in the DRAM behind ``mem_req``/``mem_resp``, the queries
come over ``host_in``.

Ports: ``start`` (pulse: the controller starts; the array's mode is set on the same cycle),
``n_{queue}`` (commands in each queue's memory), ``host_in`` (the host's beats; ``ready`` is the
link's), ``host_out`` (result beats as the host receives them, ``host_latency`` after sending),
``host_out_ready`` (the link takes a result beat on this cycle: the host's backpressure),
``mem_req``/``mem_resp`` (the embedding unit's DRAM port), ``surv{s}`` (every top-k result
beat of stage s: ``{id, score}``, for the testbench's survivor check), and per queue a
``busy``-style ``q_{queue}_ptr`` (commands issued).

The top is built from blocks, elaborated in order into its module and sharing one context
(the controller's per-queue signals, the item memories, candidate lists and result buffers):
:class:`CommandControl` (command memories, tokens, issue), :class:`HostLink` (both directions),
:class:`GatherEngine`, one :class:`StageEngine` (LOADA, GEMM, vector unit) and one
:class:`FilterUnit` (TOPK) per stage, and :class:`EventCounters`. Each block exposes the
latency its registers give it (``host_link.latency``, ``gather.start_latency``,
``item_read_latency``, ``buffer_read_latency``, ``vector_latency``, ``feed_latency``); a test
checks them against :mod:`rpaccel.isa`.

Every block follows the cycle rule of its command in :mod:`rpaccel.isa`; the executor
(:mod:`rpaccel.perfmodel.executor`) models exactly this.
"""

from __future__ import annotations

import dataclasses

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from rpaccel.accel import AccelConfig
from rpaccel.query import POOL_MAX, POOL_MIN, Pipeline, Placement, pool_acc_bits
from rpaccel.config import GEMM_COUNTERS, ceil_div
from rpaccel.isa import (DST_CODES, OP_CODES, RTL_COUNTERS, SRC_CODES, command_layout,
                         queue_links, queue_order)

from .embcache import EmbeddingCache
from .gemm import GemmEngine
from .layouts import amaranth_layout
from .sram import SRAM
from .topk import TopkFilter

__all__ = ["RPAccelTop", "rtl_check", "MAX_COMMANDS"]

#: Depth of each queue's command memory.
MAX_COMMANDS = 1024
#: Lookups per item the RTL gather engine indexes (an 8-bit lookup counter).
RTL_MAX_LOOKUPS = 255


def _write(m: Module, regs, index, value, enable) -> None:
    """``regs[index] <= value`` when ``enable``: one comparator per register (a dynamic-index
    write to an ``Array`` would emit a case over every index value for every register)."""
    for i, r in enumerate(regs):
        with m.If(enable & (index == i)):
            m.d.sync += r.eq(value)


def rtl_check(accel: AccelConfig, pipeline: Pipeline, placement: Placement) -> None:
    """Raise a one-line ``ValueError`` for what the RTL top does not build."""
    eng = accel.group_array(placement.split)
    if not accel.on_chip_filter:
        raise ValueError("on_chip_filter = false (host sort) is a model-only baseline: the RTL "
                         "top filters on chip")
    if eng.rows != eng.cols:
        raise ValueError(f"the RTL top needs square (sub-)arrays, got {eng.rows}x{eng.cols}")
    if accel.result_bytes() > accel.host_bytes_per_cycle:
        raise ValueError("the RTL top needs a result (id + score) to fit one host beat")
    accel.embedding.check_rtl()
    for s, st in enumerate(pipeline.stages):
        if st.spec.lookups > RTL_MAX_LOOKUPS:
            raise ValueError(f"stage[{s}].model: {st.spec.lookups} lookups per item; the RTL "
                             f"gather engine indexes at most {RTL_MAX_LOOKUPS} (the perf model "
                             f"has no such limit)")
    if accel.embedding.rows > 1 << 16:
        raise ValueError(f"embedding.rows must be <= 65536 for the RTL top (its gather engine "
                         f"carries 16-bit row ids), got {accel.embedding.rows}")


class _Context:
    """What the blocks of one elaboration share: the module, the configs, the shared storage
    and the controller's per-queue signals (attributes added as the blocks are built)."""

    def __init__(self, **kw) -> None:
        self.__dict__.update(kw)

    def add(self, **kw) -> None:
        self.__dict__.update(kw)


class CommandControl:
    """The controller: one command memory per queue, the dependency-token counters, and the
    issue rule (:mod:`rpaccel.isa`: a command issues when its pops are covered, the previous
    command of its queue is done and its unit is free; the ``g`` queues share the gather
    engine, lowest stage first)."""

    def elaborate(self, x: _Context) -> None:
        m, S, running, top = x.m, x.S, x.running, x.top
        # ---- command memories, tokens, issue -----------------------------------------------
        layout = command_layout()
        CL = amaranth_layout(layout)
        links = queue_links(S)
        order = queue_order(S)
        cmd = {}          # queue -> head command view (valid this cycle)
        have = {}         # queue -> a command is waiting
        issue = {}        # queue -> issues this cycle
        busy = {}         # queue -> executing
        done = {}         # queue -> done pulse (tokens pushed)
        lat = {}          # queue -> latched command of the executing one
        for q in order:
            mem = SRAM(m, f"cmdmem_{q}", width=layout.width, depth=MAX_COMMANDS)
            ptr = Signal(16, name=f"q_{q}_ptr")
            issue[q] = Signal(name=f"issue_{q}")
            busy[q] = Signal(name=f"busy_{q}")
            done[q] = Signal(name=f"done_{q}")
            m.d.comb += [mem.re.eq(1), mem.raddr.eq(ptr + issue[q])]
            view = Signal(CL, name=f"head_{q}")
            m.d.comb += view.eq(mem.rdata)
            cmd[q] = view
            have[q] = Signal(name=f"have_{q}")
            m.d.comb += have[q].eq(running & (ptr < getattr(top, f"n_{q}")))
            with m.If(issue[q]):
                m.d.sync += ptr.eq(ptr + 1)
            lat[q] = Signal(CL, name=f"cur_{q}")
            with m.If(issue[q]):
                m.d.sync += lat[q].eq(view)
        # token counters
        tok = {}
        tok_ok = {q: Signal(name=f"tokok_{q}") for q in order}
        for c_q in order:
            pops, _ = links[c_q]
            conds = []
            for i, p in enumerate(pops):
                t = Signal(16, name=f"tok_{p}_to_{c_q}")
                tok[(p, c_q)] = t
                need = getattr(cmd[c_q], f"pop{i}")
                conds.append(t >= need)
            m.d.comb += tok_ok[c_q].eq(Cat(*conds).all() if conds else 1)
        for (p, c_q), t in tok.items():
            bit = links[p][1].index(c_q)
            inc = done[p] & lat[p].push[bit]
            i = links[c_q][0].index(p)
            dec = Mux(issue[c_q], getattr(cmd[c_q], f"pop{i}"), 0)
            m.d.sync += t.eq(t + inc - dec)
        ready = {q: Signal(name=f"ready_{q}") for q in order}
        for q in order:
            m.d.comb += ready[q].eq(have[q] & tok_ok[q] & ~busy[q])
        # the gather engine: the g queues' shared unit, lowest stage first
        g_busy = Signal()
        prev = Const(0)
        for s in range(S):
            m.d.comb += issue[f"g{s}"].eq(ready[f"g{s}"] & ~g_busy & ~prev)
            prev = prev | (ready[f"g{s}"] & ~g_busy)
        for q in order:
            if not q.startswith("g"):
                m.d.comb += issue[q].eq(ready[q])
            if q == "host":
                continue            # busy while sending, below (the link is pipelined)
            with m.If(issue[q]):
                m.d.sync += busy[q].eq(1)
            with m.If(done[q]):
                m.d.sync += busy[q].eq(0)

        x.add(layout=layout, CL=CL, links=links, order=order, cmd=cmd, have=have, issue=issue,
              busy=busy, done=done, lat=lat, ready=ready, g_busy=g_busy)


class HostLink:
    """The host link, both directions: a delay line of ``host_latency`` registers each way (a
    beat sent on cycle c arrives on c + latency), the per-candidate deserialiser into the item
    memories (RECV), and the result serialiser (SEND)."""

    def __init__(self) -> None:
        self.in_delay: list = []
        self.out_delay: list = []

    @property
    def latency(self) -> int:
        """Registers a beat passes each way (the config's ``host_latency``)."""
        assert len(self.in_delay) == len(self.out_delay)
        return len(self.in_delay)

    def elaborate_in(self, x: _Context) -> None:
        m, accel, pipe, pl, top = x.m, x.accel, x.pipe, x.pl, x.top
        issue, cmd, busy, done = x.issue, x.cmd, x.busy, x.done
        bpi, hb, NMAX, items_mem, rec_bits = x.bpi, x.hb, x.NMAX, x.items_mem, x.rec_bits
        # ---- host in: link delay line, per-candidate deserialiser -------------------------
        L = accel.host_latency
        recv_left = Signal(32)
        recv_on = Signal()
        fire_in = Signal()
        m.d.comb += [top.host_in.ready.eq(issue["host"] | (recv_on & (recv_left != 0))),
                     fire_in.eq(top.host_in.valid & top.host_in.ready)]
        with m.If(issue["host"]):
            m.d.sync += [recv_on.eq(1), recv_left.eq(cmd["host"].items * bpi - fire_in)]
        with m.Elif(recv_on & fire_in):
            m.d.sync += recv_left.eq(recv_left - 1)
        # the host queue is free again once all its beats are sent (the link is pipelined)
        m.d.comb += busy["host"].eq(recv_on & (recv_left != 0))
        with m.If(recv_on & ~issue["host"] & (recv_left == 0)):
            m.d.sync += recv_on.eq(0)
        dv, dd = fire_in, top.host_in.payload
        for i in range(L):
            v = Signal(name=f"hin_v{i}")
            x_ = Signal(len(dd), name=f"hin_d{i}", reset_less=True)
            m.d.sync += [v.eq(dv), x_.eq(dd)]
            self.in_delay.append(v)
            dv, dd = v, x_
        beat_i = Signal(range(max(bpi, 2)))
        acc = Signal(bpi * hb * 8, reset_less=True)
        idx = Signal(16)
        qsl = Signal()
        per_recv = pl.plans[0].sub_batch
        rx_done = Signal()
        whole = Signal(bpi * hb * 8)
        m.d.comb += whole.eq(acc | (dd << (beat_i * hb * 8)))
        for mem in items_mem:
            m.d.comb += [mem.we.eq(dv & (beat_i == bpi - 1)),
                         mem.waddr.eq(Mux(qsl, NMAX, 0) + idx), mem.wdata.eq(whole[:rec_bits])]
        with m.If(dv):
            with m.If(beat_i == bpi - 1):
                m.d.sync += [beat_i.eq(0), acc.eq(0), idx.eq(idx + 1)]
                m.d.comb += rx_done.eq((idx + 1) % per_recv == 0)
                with m.If(idx + 1 == pipe.items[0]):
                    m.d.sync += [idx.eq(0), qsl.eq(~qsl)]
            with m.Else():
                m.d.sync += [beat_i.eq(beat_i + 1), acc.eq(whole)]
        # a RECV is done (its tokens pushed) when its last beat arrives
        m.d.comb += done["host"].eq(rx_done)

        x.add(L=L, fire_in=fire_in)

    def elaborate_out(self, x: _Context) -> None:
        m, pipe, top, L = x.m, x.pipe, x.top, x.L
        issue, cmd, lat, done = x.issue, x.cmd, x.lat, x.done
        res_id, res_sc = x.res_id, x.res_sc
        # ---- host out: SEND -----------------------------------------------------------------
        oc, ol = cmd["out"], lat["out"]
        # a result beat goes on each cycle the host link takes one (host_out_ready)
        s_i = Signal(16)
        s_on = Signal()
        snd = Signal()
        pend = Signal()
        sidx = Signal(16)
        sq = Signal()
        m.d.comb += [pend.eq(issue["out"] | (s_on & (s_i < ol.k))),
                     snd.eq(pend & top.host_out_ready),
                     sidx.eq(Mux(issue["out"], 0, s_i)),
                     sq.eq(Mux(issue["out"], oc.qslot, ol.qslot))]
        with m.If(issue["out"]):
            m.d.sync += [s_on.eq(1), s_i.eq(snd)]
        with m.Elif(snd):
            m.d.sync += s_i.eq(s_i + 1)
        word = Cat(res_id[Mux(sq, pipe.k_out, 0) + sidx], Const(0, 16),
                   res_sc[Mux(sq, pipe.k_out, 0) + sidx])
        last_snd = Signal()
        m.d.comb += last_snd.eq(snd & (sidx == Mux(issue["out"], oc.k, ol.k) - 1))
        ov, od, olast = snd, word, last_snd
        for i in range(L):
            v = Signal(name=f"hout_v{i}")
            x_ = Signal(len(top.host_out.payload), name=f"hout_d{i}", reset_less=True)
            lx = Signal(name=f"hout_l{i}")
            m.d.sync += [v.eq(ov), x_.eq(od), lx.eq(olast)]
            self.out_delay.append(v)
            ov, od, olast = v, x_, lx
        m.d.comb += [top.host_out.valid.eq(ov), top.host_out.payload.eq(od),
                     done["out"].eq(ov & olast)]
        with m.If(ov & olast):
            m.d.sync += s_on.eq(0)


class GatherEngine:
    """The gather engine (the ``g`` queues, one at a time): candidate ids through the candidate
    list and the item memory into a 4-deep prefetch queue, request beats to the embedding unit
    back to back, and the responses (in request order) into the stages' interaction buffers."""

    def __init__(self) -> None:
        self.start_path: list = []

    @property
    def start_latency(self) -> int:
        """Registers from a GATHER's issue to its first request beat (:data:`rpaccel.isa.
        GATHER_START`): the two fetch stages (candidate id, item-memory read) and the prefetch
        queue's count."""
        return len(self.start_path)

    def elaborate(self, x: _Context) -> None:
        m, S, pl, emb, unit = x.m, x.S, x.pl, x.emb, x.unit
        issue, cmd, done, g_busy, CL = x.issue, x.cmd, x.done, x.g_busy, x.CL
        D, TM, NMAX, R, stages = x.D, x.TM, x.NMAX, x.R, x.stages
        items_mem, cand_id = x.items_mem, x.cand_id
        # ---- gather engine ----------------------------------------------------------------
        # (see the GATHER rule: candidate list, item memory, prefetch queue; first beat at t+3)
        lanes = emb.lanes
        g_stage = Signal(range(max(S, 2)))
        g_cmd = Signal(CL)
        anyg = Cat(*(issue[f"g{s}"] for s in range(S))).any()
        with m.If(anyg):
            m.d.sync += g_busy.eq(1)
            for s in range(S):
                with m.If(issue[f"g{s}"]):
                    m.d.sync += [g_stage.eq(s), g_cmd.eq(cmd[f"g{s}"])]
        # fetch: one candidate per cycle into a 4-deep queue (count + in flight < 4)
        f_p = Signal(16)                       # next candidate to fetch
        f_on = Signal()
        fq_ids = [Signal(16 * TM, name=f"gq{i}_ids", reset_less=True) for i in range(4)]
        fq_head = Signal(2)
        fq_count = Signal(3)
        inflight = [Signal(name=f"gfetch{i}") for i in range(2)]
        gm = items_mem[0]
        fetch = Signal()
        cid_r = Signal(16)
        qs_r = Signal()
        m.d.comb += fetch.eq(f_on & (f_p < g_cmd.items)
                             & (fq_count + inflight[0] + inflight[1] < 4))
        # first fetch on the issue cycle itself (the command is the head view then)
        fetch_now = Signal()
        fetch_pos = Signal(16)
        fetch_cmd = Signal(CL)
        m.d.comb += [fetch_now.eq(anyg | fetch),
                     fetch_pos.eq(Mux(anyg, 0, f_p))]
        for s in range(S):
            with m.If(issue[f"g{s}"]):
                m.d.comb += fetch_cmd.eq(cmd[f"g{s}"])
        with m.If(~anyg):
            m.d.comb += fetch_cmd.eq(g_cmd)
        with m.If(anyg):
            m.d.sync += [f_on.eq(1), f_p.eq(1)]
        with m.Elif(fetch):
            m.d.sync += f_p.eq(f_p + 1)
        # cycle t: the candidate id; t+1: the item memory read; t+2: into the queue
        cid = Signal(16)
        sel_stage = Signal(range(max(S, 2)))
        m.d.comb += sel_stage.eq(g_stage)
        for s in range(S):
            with m.If(issue[f"g{s}"]):
                m.d.comb += sel_stage.eq(s)
        for s in range(S):
            with m.If(sel_stage == s):
                m.d.comb += cid.eq(cand_id(s, fetch_cmd.qslot, fetch_cmd.offset + fetch_pos))
        m.d.sync += [inflight[0].eq(fetch_now), inflight[1].eq(inflight[0]),
                     cid_r.eq(cid), qs_r.eq(fetch_cmd.qslot)]
        m.d.comb += [gm.re.eq(1), gm.raddr.eq(Mux(qs_r, NMAX, 0) + cid_r)]
        ids_in = gm.rdata[D * 8:D * 8 + 32 * TM]
        packed_ids = Cat(*(ids_in[32 * t:32 * t + 16] for t in range(TM)))
        push = inflight[1]
        # presenter
        pb = Signal(8)                         # beat within the candidate
        nbp = Signal(8)
        T_cur = Signal(8)
        base_cur = Signal(8)
        cst = Signal(2)
        for s in range(S):
            with m.If(g_stage == s):
                m.d.comb += [nbp.eq(ceil_div(stages[s]["L"], lanes)), T_cur.eq(stages[s]["L"]),
                             cst.eq(pl.cache_stage[s])]
        m.d.comb += base_cur.eq(g_cmd.base)
        head_ids = Signal(16 * TM)
        m.d.comb += head_ids.eq(Array(fq_ids)[fq_head])
        req = unit.req
        pres = Signal()
        m.d.comb += pres.eq(g_busy & (fq_count != 0))
        m.d.comb += req.valid.eq(pres)
        for j in range(lanes):
            slot = req.payload.slots[j]
            tt = Signal(8, name=f"gslot{j}_t")           # the item's lookup index
            tab = Signal(8, name=f"gslot{j}_table")      # its table within the stage
            m.d.comb += [tt.eq(pb * lanes + j), tab.eq(tt)]
            for s in range(S):
                if stages[s]["model"].pooled:
                    lt = stages[s]["model"].lookup_tables()
                    with m.If(g_stage == s):
                        m.d.comb += tab.eq(Array(Const(t, 8) for t in lt)[tt])
            m.d.comb += [slot.valid.eq(tt < T_cur), slot.table.eq(base_cur + tab),
                         slot.row.eq(head_ids.word_select(tt[:max(1, (TM - 1).bit_length())]
                                                          if TM > 1 else 0, 16)),
                         slot.stage.eq(cst), slot.tag.eq(0)]
        pop = Signal()
        m.d.comb += pop.eq(req.valid & req.ready & (pb == nbp - 1))
        with m.If(req.valid & req.ready):
            m.d.sync += pb.eq(Mux(pb == nbp - 1, 0, pb + 1))
        _write(m, fq_ids, (fq_head + fq_count)[:2], packed_ids, push)
        with m.If(pop):
            m.d.sync += fq_head.eq(fq_head + 1)
        m.d.sync += fq_count.eq(fq_count + push - pop)
        self.start_path = [inflight[0], inflight[1], fq_count]
        # responses: in request order, into the stage's interaction segments
        rp = Signal(16)
        rb = Signal(8)
        resp = unit.resp
        m.d.comb += resp.ready.eq(1)
        g_last = Signal()
        m.d.comb += g_last.eq(resp.valid & (rb == nbp - 1) & (rp == g_cmd.items - 1))
        with m.If(resp.valid):
            with m.If(rb == nbp - 1):
                m.d.sync += [rb.eq(0), rp.eq(rp + 1)]
            with m.Else():
                m.d.sync += rb.eq(rb + 1)
        with m.If(g_last):
            m.d.sync += [g_busy.eq(0), f_on.eq(0), rp.eq(0), rb.eq(0)]
        for s in range(S):
            m.d.comb += done[f"g{s}"].eq(g_last & (g_stage == s))
        # pooled embeddings (rpaccel.query.pool_acc_bits): table t's lookups [off, off + L) sit
        # in beats off // lanes .. (off + L - 1) // lanes of the item; its row arrives summed
        # (a one-hot table: the lane's row itself) on the response of its last beat
        pooled_out = []                        # per (stage, table): its pooled row is written
        emb_data = {}                          # (stage, table) -> the int8 row written
        for s, st in enumerate(stages):
            md, d = st["model"], st["d"]
            off = 0
            for t, L in enumerate(md.pooling):
                b0, b1 = off // lanes, (off + L - 1) // lanes
                last = Signal(name=f"gpool{s}_{t}_last")
                m.d.comb += last.eq(resp.valid & (g_stage == s) & (rb == b1))
                pooled_out.append(last)
                if L == 1:
                    emb_data[s, t] = resp.payload.slots[off % lanes].data[:d * 8]
                    off += L
                    continue
                AB = pool_acc_bits(L)
                acc = [Signal(signed(AB), name=f"gpool{s}_{t}_acc{e}", reset_less=True)
                       for e in range(d)]
                k = [Signal(16, name=f"gpool{s}_{t}_k{j}") for j in range(lanes)]
                inr = [Signal(name=f"gpool{s}_{t}_in{j}") for j in range(lanes)]
                for j in range(lanes):
                    m.d.comb += [k[j].eq(rb * lanes + j),
                                 inr[j].eq((k[j] >= off) & (k[j] < off + L))]
                row = Signal(d * 8, name=f"gpool{s}_{t}_row")
                for e in range(d):
                    terms = [Mux(inr[j], resp.payload.slots[j].data[e * 8:(e + 1) * 8].as_signed(),
                                 0) for j in range(lanes)]
                    new = Signal(signed(AB), name=f"gpool{s}_{t}_sum{e}")
                    m.d.comb += new.eq(Mux(rb == b0, 0, acc[e]) + sum(terms))
                    with m.If(resp.valid & (g_stage == s) & (rb >= b0) & (rb < b1)):
                        m.d.sync += acc[e].eq(new)
                    sat = Mux(new > POOL_MAX, POOL_MAX, Mux(new < POOL_MIN, POOL_MIN, new))
                    m.d.comb += row[e * 8:(e + 1) * 8].eq(sat[:8])
                emb_data[s, t] = row
                off += L
        segs = []                               # per stage, per sub-array: segment SRAMs
        i_out = 0
        for s, st in enumerate(stages):
            per_b = []
            for bi in range(st["g"]):
                seg0 = [SRAM(m, f"inter{s}_{bi}_bot{u}", width=R * 8, depth=2 * st["c"])
                        for u in range(st["nt_d"])]
                es = [SRAM(m, f"inter{s}_{bi}_emb{t}", width=st["d"] * 8, depth=2 * st["c"])
                      for t in range(st["T"])]
                per_b.append((seg0, es))
                c = st["c"]
                for t, sr in enumerate(es):
                    hit = Signal(name=f"gw{s}_{bi}_{t}")
                    m.d.comb += hit.eq(pooled_out[i_out + t] & (rp // c == bi))
                    m.d.comb += [sr.we.eq(hit), sr.waddr.eq(Mux(g_cmd.slot, c, 0) + rp % c),
                                 sr.wdata.eq(emb_data[s, t])]
            i_out += st["T"]
            segs.append(per_b)

        x.add(lanes=lanes, req=req, segs=segs, pooled_out=pooled_out)


class StageEngine:
    """Stage s's MLP (the ``x{s}`` queue) on its sub-array group: LOADA (the A buffers from the
    item memory, the activation buffer or the interaction buffer), GEMM (the sub-arrays in
    lockstep), and the vector unit (bias, ReLU, shift, saturate) into the activation,
    interaction or score buffer."""

    def __init__(self, s: int) -> None:
        self.s = s
        self.item_path: list = []
        self.buffer_path: list = []
        self.vector_path: list = []

    @property
    def item_read_latency(self) -> int:
        """Registers from a LOADA read to its A word from the item memory
        (:data:`rpaccel.isa.ITEM_READ_LATENCY`)."""
        return len(self.item_path)

    @property
    def buffer_read_latency(self) -> int:
        """Registers from a LOADA read to its A word from the activation or interaction buffer
        (:data:`rpaccel.isa.BUFFER_READ_LATENCY`)."""
        return len(self.buffer_path)

    @property
    def vector_latency(self) -> int:
        """Registers from a result beat leaving the array to its buffer write
        (:data:`rpaccel.isa.VECTOR_LATENCY`)."""
        return len(self.vector_path)

    def elaborate(self, x: _Context) -> None:
        s = self.s
        st = x.stages[s]
        m, R, AW, eng_port, items_mem, CL, NMAX = (x.m, x.R, x.AW, x.eng_port, x.items_mem, x.CL,
                                                   x.NMAX)
        issue, cmd, lat, done, cand_id = x.issue, x.cmd, x.lat, x.done, x.cand_id
        D, segs, scores_r, a_ins, cmds_in, c_outs = (x.D, x.segs, x.scores_r, x.a_ins,
                                                     x.cmds_in, x.c_outs)
        xq = f"x{s}"
        xc, xl = cmd[xq], lat[xq]
        c, g = st["c"], st["g"]
        # ---- LOADA ----
        w_i = Signal(16, name=f"x{s}_wi")      # next word to read
        l_on = Signal(name=f"x{s}_lon")
        with m.If(issue[xq] & (xc.op == OP_CODES["LOADA"])):
            m.d.sync += [l_on.eq(1), w_i.eq(1)]
        with m.Elif(l_on & (w_i < xl.words)):
            m.d.sync += w_i.eq(w_i + 1)
        rd = Signal(name=f"x{s}_rd")            # a word is read this cycle
        pos = Signal(16, name=f"x{s}_pos")
        cur = Signal(CL, name=f"x{s}_lcmd")
        m.d.comb += cur.eq(Mux(issue[xq], xc, xl))
        m.d.comb += [rd.eq((issue[xq] & (xc.op == OP_CODES["LOADA"]))
                           | (l_on & (w_i < xl.words))),
                     pos.eq(Mux(issue[xq], 0, w_i))]
        kt_r = Signal(8, name=f"x{s}_kt")
        m_r = Signal(16, name=f"x{s}_m")
        m.d.comb += [kt_r.eq(pos // c), m_r.eq(pos % c)]
        # pipeline registers
        v1 = Signal(name=f"x{s}_v1")
        v2 = Signal(name=f"x{s}_v2")
        kt1 = Signal(8, name=f"x{s}_kt1")
        kt2 = Signal(8, name=f"x{s}_kt2")
        src1 = Signal(2, name=f"x{s}_src1")
        src2 = Signal(2, name=f"x{s}_src2")
        pad1 = [Signal(name=f"x{s}_pad1_{bi}") for bi in range(g)]
        pad2 = [Signal(name=f"x{s}_pad2_{bi}") for bi in range(g)]
        m.d.sync += [v1.eq(rd), kt1.eq(kt_r), src1.eq(cur.src), v2.eq(v1 & (src1 == 0)),
                     kt2.eq(kt1), src2.eq(src1)]
        self.item_path, self.buffer_path = [v1, v2], [v1]
        act = [SRAM(m, f"act{s}_{bi}", width=R * 8, depth=max(1, c * st["max_nt"]))
               for bi in range(g)]
        for bi in range(g):
            b_arr = st["subs"][bi]
            a_in = eng_port(b_arr, "a_in")
            a_ins.append(a_in)
            p_in_batch = Signal(16, name=f"x{s}_{bi}_p")
            m.d.comb += p_in_batch.eq(bi * c + m_r)
            pad = Signal(name=f"x{s}_{bi}_pad")
            m.d.comb += pad.eq(p_in_batch >= st["plan"].sub_batch)
            cid_x = Signal(16, name=f"x{s}_{bi}_cid")
            m.d.comb += cid_x.eq(cand_id(s, cur.qslot, cur.offset + p_in_batch))
            cid_x1 = Signal(16, name=f"x{s}_{bi}_cid1")
            q1 = Signal(name=f"x{s}_{bi}_q1")
            m.d.sync += [cid_x1.eq(cid_x), q1.eq(cur.qslot), pad1[bi].eq(pad),
                         pad2[bi].eq(pad1[bi])]
            im = items_mem[x.mi]
            x.mi += 1
            m.d.comb += [im.re.eq(1), im.raddr.eq(Mux(q1, NMAX, 0) + cid_x1)]
            # items: element e of word kt is dense[kt*R + e] (zero beyond D)
            dense = im.rdata[:D * 8]
            padded = Cat(dense, Const(0, max(0, 8 * R * ceil_div(max(D, 1), R) - 8 * D) + 8 * R))
            w_items = Signal(R * 8, name=f"x{s}_{bi}_witems")
            m.d.comb += w_items.eq(Mux(pad2[bi], 0, padded.word_select(kt2, R * 8)))
            # act: sequential words
            ab = act[bi]
            m.d.comb += [ab.re.eq(rd & (cur.src == SRC_CODES["act"])), ab.raddr.eq(pos)]
            # inter: every segment's row m, then word kt of the concatenation
            seg0, es = segs[s][bi]
            for sr in seg0 + es:
                m.d.comb += [sr.re.eq(rd & (cur.src == SRC_CODES["inter"])),
                             sr.raddr.eq(Mux(cur.slot, c, 0) + m_r)]
            bot = Cat(*(x.rdata for x in seg0))[:st["d"] * 8]
            cat = Cat(bot, *(x.rdata for x in es))
            width = (st["T"] + 1) * st["d"] * 8
            ktn = ceil_div((st["T"] + 1) * st["d"], R)
            catp = Cat(cat, Const(0, ktn * R * 8 - width + R * 8))
            w_inter = Signal(R * 8, name=f"x{s}_{bi}_winter")
            m.d.comb += w_inter.eq(Mux(pad1[bi], 0, catp.word_select(kt1, R * 8)))
            with m.If(v2):
                m.d.comb += [a_in.valid.eq(1), a_in.payload.eq(w_items)]
            with m.Elif(v1 & (src1 == SRC_CODES["act"])):
                m.d.comb += [a_in.valid.eq(1), a_in.payload.eq(ab.rdata)]
            with m.Elif(v1 & (src1 == SRC_CODES["inter"])):
                m.d.comb += [a_in.valid.eq(1), a_in.payload.eq(w_inter)]
        # LOADA done: the cycle of its last a_in beat
        lw_last = Signal(name=f"x{s}_lastw")
        m.d.comb += lw_last.eq(rd & (pos == cur.words - 1))
        l1 = Signal(name=f"x{s}_l1")
        l2 = Signal(name=f"x{s}_l2")
        m.d.sync += [l1.eq(lw_last), l2.eq(l1 & (src1 == SRC_CODES["items"]))]
        load_done = Signal(name=f"x{s}_load_done")
        m.d.comb += load_done.eq((l1 & (src1 != SRC_CODES["items"])) | l2)
        with m.If(load_done):
            m.d.sync += l_on.eq(0)
        # ---- GEMM ----
        gemm_on = Signal(name=f"x{s}_gon")
        for bi in range(g):
            cp = eng_port(st["subs"][bi], "cmd")
            cmds_in.append(cp)
            m.d.comb += [cp.valid.eq(issue[xq] & (xc.op == OP_CODES["GEMM"])),
                         cp.payload.m.eq(xc.m), cp.payload.k_tiles.eq(xc.kt),
                         cp.payload.n_tiles.eq(xc.nt), cp.payload.wbase.eq(xc.wbase)]
        with m.If(issue[xq] & (xc.op == OP_CODES["GEMM"])):
            m.d.sync += gemm_on.eq(1)
        # vector unit: register the beat and read the bias; write one cycle later
        nt_v = Signal(8, name=f"x{s}_ntv")
        m_v = Signal(16, name=f"x{s}_mv")
        vv = Signal(name=f"x{s}_vv")
        vlast = Signal(name=f"x{s}_vlast")
        nt1 = Signal(8, name=f"x{s}_nt1")
        m1 = Signal(16, name=f"x{s}_m1")
        c0 = eng_port(st["subs"][0], "c_out")
        with m.If(c0.valid):
            with m.If(m_v == xl.m - 1):
                m.d.sync += [m_v.eq(0), nt_v.eq(nt_v + 1)]
            with m.Else():
                m.d.sync += m_v.eq(m_v + 1)
        with m.If(issue[xq]):
            m.d.sync += [m_v.eq(0), nt_v.eq(0)]
        m.d.sync += [vv.eq(c0.valid), vlast.eq(c0.valid & c0.payload.last), nt1.eq(nt_v),
                     m1.eq(m_v)]
        self.vector_path = [vv]
        gemm_done = Signal(name=f"x{s}_gemm_done")
        m.d.comb += gemm_done.eq(gemm_on & vlast)
        with m.If(gemm_done):
            m.d.sync += gemm_on.eq(0)
        m.d.comb += done[xq].eq(load_done | gemm_done)
        for bi in range(g):
            co = eng_port(st["subs"][bi], "c_out")
            m.d.comb += co.ready.eq(1)
            c_outs.append(co)
            data_r = Signal(R * AW, name=f"x{s}_{bi}_vd", reset_less=True)
            m.d.sync += data_r.eq(co.payload.data.as_value())
            bias = SRAM(m, f"bias{s}_{bi}", width=R * 32, depth=max(1, st["nbias"]))
            m.d.comb += [bias.re.eq(co.valid), bias.raddr.eq(xl.bbase + nt_v)]
            ys = []
            outs = []
            for j in range(R):
                y = Signal(signed(AW), name=f"x{s}_{bi}_y{j}")
                m.d.comb += y.eq(data_r.word_select(j, AW).as_signed()
                                 + bias.rdata.word_select(j, 32).as_signed())
                ys.append(y)
                r = Signal(signed(AW), name=f"x{s}_{bi}_r{j}")
                m.d.comb += r.eq(Mux(y < 0, 0, y) >> xl.shift)
                o = Signal(8, name=f"x{s}_{bi}_o{j}")
                m.d.comb += o.eq(Mux(r > 127, 127, r[:8]))
                outs.append(o)
            ow = Cat(*outs)
            ab = act[bi]
            m.d.comb += [ab.we.eq(vv & (xl.dst == DST_CODES["act"])),
                         ab.waddr.eq(nt1 * c + m1), ab.wdata.eq(ow)]
            seg0, _ = segs[s][bi]
            for u, sr in enumerate(seg0):
                m.d.comb += [sr.we.eq(vv & (xl.dst == DST_CODES["inter"]) & (nt1 == u)),
                             sr.waddr.eq(Mux(xl.slot, c, 0) + m1), sr.wdata.eq(ow)]
            _write(m, scores_r[s], Mux(xl.slot, g * c, 0) + bi * c + m1, ys[0],
                   vv & (xl.dst == DST_CODES["score"]))


class FilterUnit:
    """Stage s's top-k unit (the ``f{s}`` queue): feeds the sub-batch's scores and candidate
    ids from the score buffer, and writes the survivors into the next stage's candidate list
    or the result buffer."""

    def __init__(self, s: int) -> None:
        self.s = s
        self.feed_path: list = []

    @property
    def feed_latency(self) -> int:
        """Registers from a TOPK's issue to its first beat into the filter (the score buffer's
        read, :data:`rpaccel.isa.BUFFER_READ_LATENCY`)."""
        return len(self.feed_path)

    def elaborate(self, x: _Context) -> None:
        s = self.s
        st = x.stages[s]
        m, accel, pipe, S, top = x.m, x.accel, x.pipe, x.S, x.top
        issue, lat, done, cand_id = x.issue, x.lat, x.done, x.cand_id
        scores, cand_r, res_id_r, res_sc_r, topks = (x.scores, x.cand_r, x.res_id_r,
                                                     x.res_sc_r, x.topks)
        fq = f"f{s}"
        c, g = st["c"], st["g"]
        # ---- TOPK (f queue) ----
        m.submodules[f"topk{s}"] = tk = TopkFilter(accel.topk)
        topks.append(tk)
        fl = lat[fq]
        f_i = Signal(16, name=f"f{s}_i")
        f_on = Signal(name=f"f{s}_on")
        tl = accel.topk.lanes
        with m.If(issue[fq]):
            m.d.sync += [f_on.eq(1), f_i.eq(0)]
        self.feed_path = [f_on]
        beats = Signal(16, name=f"f{s}_beats")
        m.d.comb += beats.eq((fl.n + tl - 1) // tl)
        feeding = Signal(name=f"f{s}_feeding")
        m.d.comb += feeding.eq(f_on & (f_i < beats))
        with m.If(feeding):
            m.d.sync += f_i.eq(f_i + 1)
        m.d.comb += tk.i.valid.eq(feeding)
        for j in range(tl):
            p = Signal(16, name=f"f{s}_p{j}")
            m.d.comb += p.eq(f_i * tl + j)
            it = tk.i.payload["items"][j]
            m.d.comb += [it.v.eq(p < fl.n),
                         it.score.eq(scores[s][Mux(fl.slot, g * c, 0) + p]),
                         it.id.eq(cand_id(s, fl.qslot, fl.offset + p))]
        m.d.comb += [tk.i.payload.k.eq(fl.k), tk.i.payload.last.eq(fl.last & (f_i == beats - 1))]
        # results
        r_i = Signal(16, name=f"f{s}_r")
        o = tk.o
        m.d.comb += o.ready.eq(1)
        with m.If(o.valid):
            m.d.sync += r_i.eq(r_i + 1)
        if s < S - 1:
            n1 = pipe.items[s + 1]
            _write(m, cand_r[s + 1], Mux(fl.qslot, n1, 0) + fl.emit + r_i, o.payload.id,
                   o.valid)
        else:
            at = Mux(fl.qslot, pipe.k_out, 0) + r_i
            _write(m, res_id_r, at, o.payload.id, o.valid)
            _write(m, res_sc_r, at, o.payload.score, o.valid)
        sv = getattr(top, f"surv{s}")
        m.d.comb += [sv.valid.eq(o.valid), sv.payload.eq(Cat(o.payload.id[:16], o.payload.score))]
        f_done = Signal(name=f"f{s}_done")
        m.d.comb += f_done.eq((o.valid & o.payload.last)
                              | (f_on & ~fl.last & (f_i == beats - 1)))
        with m.If(issue[fq]):
            m.d.sync += r_i.eq(0)
        with m.If(f_done):
            m.d.sync += f_on.eq(0)
        m.d.comb += done[fq].eq(f_done)



class EventCounters:
    """The top's event counters (:data:`rpaccel.isa.RTL_COUNTERS`, 32 bits each, counting since
    reset): its own increments and the units' counters, summed."""

    def elaborate(self, x: _Context) -> None:
        m, accel, top, arr, eng_cfg = x.m, x.accel, x.top, x.arr, x.eng_cfg
        fire_in, req, lanes, topks = x.fire_in, x.req, x.lanes, x.topks
        a_ins, cmds_in, c_outs = x.a_ins, x.cmds_in, x.c_outs
        # ---- event counters (rpaccel.isa.RTL_COUNTERS) ----------------------------------------
        inc = {"host_beats_in": fire_in, "host_beats_out": top.host_out.valid,
               "lookups": Mux(req.valid & req.ready,
                              sum(req.payload.slots[j].valid for j in range(lanes)), 0),
               "pooled_outputs": sum(x.pooled_out),
               "dram_requests": top.mem_req.valid & top.mem_req.ready,
               "topk_items": sum(Mux(t.i.valid & t.i.ready,
                                     sum(t.i.payload["items"][j].v for j in range(accel.topk.lanes)),
                                     0) for t in topks),
               "a_words": sum(p.valid & p.ready for p in a_ins),
               "gemm_commands": sum(p.valid & p.ready for p in cmds_in),
               "c_beats": sum(p.valid & p.ready for p in c_outs),
               "dram_beats": top.mem_resp.valid & top.mem_resp.ready}
        engines = [""] + ([f"s{b}_" for b in range(eng_cfg.subarrays)]
                          if eng_cfg.split != (1, 1) else [])
        # the units' own counters, summed
        direct = {n: sum(getattr(arr, f"{p}{n}") for p in engines) for n in GEMM_COUNTERS}
        direct["topk_compares"] = sum(t.compares for t in topks)
        cnts = []
        for name in RTL_COUNTERS:
            c = Signal(32, name=f"cnt_{name}")
            if name in direct:          # the units' own counters
                m.d.comb += c.eq(direct[name])
            else:
                m.d.sync += c.eq(c + inc[name])
            cnts.append(c)
        m.d.comb += top.counters.eq(Cat(*cnts))


class RPAccelTop(wiring.Component):
    def __init__(self, accel: AccelConfig, pipeline: Pipeline, placement: Placement) -> None:
        rtl_check(accel, pipeline, placement)
        self.accel, self.pipe, self.pl = accel, pipeline, placement
        S = len(pipeline.stages)
        self.S = S
        W = accel.host_bytes_per_cycle * 8
        emb = accel.embedding
        ports = {
            "start": In(1),
            "host_in": In(stream.Signature(W)),
            "host_out": Out(stream.Signature(W)),
            "host_out_ready": In(1),
            "mem_req": Out(stream.Signature(emb.addr_bits)),
            "mem_resp": In(stream.Signature(emb.mem_bits)),
        }
        for q in queue_order(S):
            ports[f"n_{q}"] = In(16)
        for s in range(S):
            ports[f"surv{s}"] = Out(stream.Signature(16 + accel.array.acc_width))
        ports["counters"] = Out(32 * len(RTL_COUNTERS))
        super().__init__(ports)
        #: The blocks, elaborated in this order into the top's module.
        self.control = CommandControl()
        self.host_link = HostLink()
        self.gather = GatherEngine()
        self.stage_engines = [StageEngine(s) for s in range(S)]
        self.filters = [FilterUnit(s) for s in range(S)]
        self.counters_block = EventCounters()

    # ------------------------------------------------------------------------------------------
    def elaborate(self, platform):
        accel, pipe, pl, S = self.accel, self.pipe, self.pl, self.S
        m = Module()
        split = pl.split
        eng_cfg = dataclasses.replace(accel.array, weight_words=accel.weight_words(split))
        m.submodules.array = arr = GemmEngine(eng_cfg)
        sub = eng_cfg.subarray if split else dataclasses.replace(eng_cfg, split=(1, 1))
        R = sub.rows                       # rows == cols (checked)
        AW = accel.array.acc_width
        emb = accel.embedding
        m.submodules.emb = unit = EmbeddingCache(emb)
        wiring.connect(m, wiring.flipped(self.mem_req), unit.mem_req)
        wiring.connect(m, unit.mem_resp, wiring.flipped(self.mem_resp))
        m.d.comb += unit.pre.valid.eq(0)

        def eng_port(b: int, name: str):
            return getattr(arr, f"s{b}_{name}" if split else name)

        # the array's mode: split, set on `start`
        if eng_cfg.split != (1, 1):
            m.d.comb += [arr.mode.valid.eq(self.start), arr.mode.payload.eq(int(split))]

        running = Signal()
        with m.If(self.start):
            m.d.sync += running.eq(1)


        # ---- shapes -------------------------------------------------------------------------
        D, TM = pipe.dense, pipe.sparse
        item_bytes = pipe.record_bytes
        hb = accel.host_bytes_per_cycle
        bpi = ceil_div(item_bytes, hb)               # host beats per candidate
        NMAX = accel.max_items
        stages = []
        topks = []                         # every stage's top-k unit (for the event counters)
        a_ins, cmds_in, c_outs = [], [], []  # the GEMM engine's ports, every sub-array
        for s, st in enumerate(pipe.stages):
            md = st.spec
            layers = md.layers()
            first, g = pl.groups[s]
            c = pl.chunk_rows[s]
            stages.append(dict(
                model=md, layers=layers, nb=len(md.bottom) - 1, subs=list(range(first, first + g)),
                g=g, c=c, plan=pl.plans[s], T=md.tables, L=md.lookups, d=md.dim,
                nt_d=ceil_div(md.dim, R),
                max_nt=max(sub.n_tiles(n) for _, _, _, n in layers),
                nbias=sum(sub.n_tiles(n) for _, _, _, n in layers)))


        # ---- storage shared by several blocks ------------------------------------------------
        x = _Context(m=m, top=self, accel=accel, pipe=pipe, pl=pl, S=S, split=split,
                     eng_cfg=eng_cfg, arr=arr, R=R, AW=AW, emb=emb, unit=unit,
                     eng_port=eng_port, running=running, D=D, TM=TM, hb=hb, bpi=bpi, NMAX=NMAX,
                     stages=stages, topks=topks, a_ins=a_ins, cmds_in=cmds_in, c_outs=c_outs)
        self.control.elaborate(x)
        # item memories: one copy for the gather engine, one per sub-array (LOADA from items)
        rec_bits = item_bytes * 8
        n_copies = 1 + sum(st["g"] for st in stages)
        items_mem = [SRAM(m, f"items{i}", width=rec_bits, depth=2 * NMAX) for i in range(n_copies)]
        # candidate lists of stages >= 1 (registers): 2 query slots x items[s]
        # register files: always written before they are read, so without reset (a reset mux
        # per register is logic the simulator evaluates on every step)
        cand_r = [[]] + [[Signal(16, name=f"cand{s}_{j}", reset_less=True)
                          for j in range(2 * pipe.items[s])] for s in range(1, S)]
        cand = [Array(x) for x in cand_r]
        res_id_r = [Signal(16, name=f"res_id{j}", reset_less=True) for j in range(2 * pipe.k_out)]
        res_sc_r = [Signal(signed(AW), name=f"res_sc{j}", reset_less=True)
                    for j in range(2 * pipe.k_out)]
        res_id, res_sc = Array(res_id_r), Array(res_sc_r)
        scores_r = [[Signal(signed(AW), name=f"score{s}_{j}", reset_less=True)
                     for j in range(2 * st["g"] * st["c"])] for s, st in enumerate(stages)]
        scores = [Array(x) for x in scores_r]

        def cand_id(s, qslot, pos):
            """The candidate index at position ``pos`` of stage s's list (stage 0: identity)."""
            if s == 0:
                return pos
            n = pipe.items[s]
            return cand[s][Mux(qslot, n, 0) + pos]

        x.add(rec_bits=rec_bits, items_mem=items_mem, cand_r=cand_r, cand=cand,
              res_id_r=res_id_r, res_sc_r=res_sc_r, res_id=res_id, res_sc=res_sc,
              scores_r=scores_r, scores=scores, cand_id=cand_id, mi=1)
        self.host_link.elaborate_in(x)
        self.gather.elaborate(x)
        for s in range(S):
            self.stage_engines[s].elaborate(x)
            self.filters[s].elaborate(x)
        self.host_link.elaborate_out(x)
        self.counters_block.elaborate(x)
        return m
