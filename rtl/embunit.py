"""Non-blocking embedding unit: ``lanes`` lookups per beat, ``mshrs`` outstanding misses, in-order
responses through a reorder buffer. The same dual static + dynamic design and policy as the
blocking cache (:mod:`rpaccel.rtl.embcache`, which elaborates this for any configuration but
``lanes = mshrs = 1``); the cycle contract is in :mod:`rpaccel.perfmodel.embcache`.

Structure:

* **Lookup register**: the accepted request beat and the mask of its lookups still to go.
  Every cycle the longest prefix of them that meets the rules goes (static: always; otherwise a
  bank not used earlier in the cycle, and for a miss a victim not in flight and a free MSHR).
* **Static SRAM**: one copy per lane (``static_buf{j}``), all written by the preload, so static
  hits never conflict.
* **Dynamic cache**: tags (valid, tag, LRU age per way) in registers, reset with the unit (no
  clear phase); data in ``banks = min(lanes, sets)`` SRAM macros (``data_buf{b}``), set s in bank
  ``s mod banks`` at word ``(s div banks) * ways + way``. The tag registers are sized for the
  verified configurations; a large cache would keep them in banked SRAM with the same rule.
* **MSHRs**: address, stage, line (set, way) and a valid bit; a lookup whose row an MSHR holds
  for the lookup's stage merges into it. Misses queue their MSHR for ``mem_req`` in allocation
  order; DRAM answers in request order, and the last beat of a row fills the line, frees the
  MSHR and wakes the waiting slots.
* **Reorder buffer**: ``rob_beats`` entries of ``lanes`` slots (data, tag, flags, ready, waiting
  MSHR), in registers; the oldest entry responds when all its slots are ready.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal

from rpaccel.config import EmbCacheConfig

from .sram import SRAM

__all__ = ["nonblocking_logic", "global_addr"]


def global_addr(cfg: EmbCacheConfig, table, row):
    """The DRAM address of a lookup, :meth:`EmbCacheConfig.global_row`: ``table * rows + row``
    for uniform tables, else ``table_bases[table] + row`` (a constant table of bases)."""
    if not cfg.table_rows:
        return table * cfg.rows + row
    return Array(Const(b, cfg.addr_bits) for b in cfg.table_bases)[table] + row


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def nonblocking_logic(m: Module, cfg: EmbCacheConfig, io) -> None:
    """Add the non-blocking unit to ``m``; ``io`` is the component (ports as in
    :class:`rpaccel.rtl.embcache.EmbeddingCache`)."""
    L, M, R, NB = cfg.lanes, cfg.mshrs, cfg.rob_beats, cfg.banks
    S, W, RB = cfg.sets, cfg.ways, cfg.row_bits
    cfg.check_rtl()
    set_bits = (S - 1).bit_length()
    tag_bits = max(1, cfg.addr_bits - set_bits)
    age_bits = max(1, (W - 1).bit_length())
    QC = max(2, _pow2(M))            # queue capacity (power of two >= mshrs)
    RP = _pow2(R)                    # reorder-buffer storage (power of two >= rob_beats)
    mid_bits = max(1, (M - 1).bit_length())
    n_static = cfg.tables * cfg.static_rows
    B = cfg.beats_per_row

    # ---- storage -------------------------------------------------------------------------------
    sbufs = [SRAM(m, f"static_buf{j}", width=RB, depth=max(1, n_static)) for j in range(L)]
    bank_depth = -(-S // NB) * W
    dbufs = [SRAM(m, f"data_buf{b}", width=RB, depth=bank_depth) for b in range(NB)]
    tv = [[Signal(name=f"tag_{s}_{w}_valid") for w in range(W)] for s in range(S)]
    tt = [[Signal(tag_bits, name=f"tag_{s}_{w}_tag") for w in range(W)] for s in range(S)]
    ta = [[Signal(age_bits, name=f"tag_{s}_{w}_age") for w in range(W)] for s in range(S)]

    # ---- preload (static copies) ---------------------------------------------------------------
    pre_ptr = Signal(range(max(n_static, 1) + 1))
    m.d.comb += io.pre.ready.eq(1)
    for sb in sbufs:
        m.d.comb += [sb.we.eq(io.pre.valid & (n_static > 0)), sb.waddr.eq(pre_ptr),
                     sb.wdata.eq(io.pre.payload)]
    with m.If(io.pre.valid):
        m.d.sync += pre_ptr.eq(pre_ptr + 1)

    # ---- MSHRs and the DRAM queues -------------------------------------------------------------
    mv = [Signal(name=f"mshr{x}_valid") for x in range(M)]
    ma = [Signal(cfg.addr_bits, name=f"mshr{x}_addr", reset_less=True) for x in range(M)]
    ms = [Signal(max(1, set_bits), name=f"mshr{x}_set", reset_less=True) for x in range(M)]
    mw = [Signal(range(max(W, 2)), name=f"mshr{x}_way", reset_less=True) for x in range(M)]
    mg = [Signal(max(1, (cfg.stages - 1).bit_length()), name=f"mshr{x}_stage", reset_less=True)
          for x in range(M)]
    q = [Signal(mid_bits, name=f"reqq{x}", reset_less=True) for x in range(QC)]
    q_head = Signal(range(QC))
    q_len = Signal(range(QC + 1))
    f = [Signal(mid_bits, name=f"flightq{x}", reset_less=True) for x in range(QC)]
    f_head = Signal(range(QC))
    f_len = Signal(range(QC + 1))
    beat = Signal(range(max(B, 2)))
    acc = Signal(max(1, (B - 1) * cfg.mem_bits), reset_less=True)   # earlier beats of the row
    fill_now = Signal(B * cfg.mem_bits)
    fill = Signal()
    fill_m = Signal(mid_bits)
    qm = Signal(mid_bits)
    m.d.comb += [io.mem_resp.ready.eq(1), qm.eq(Array(q)[q_head]),
                 io.mem_req.valid.eq(q_len != 0), io.mem_req.payload.eq(Array(ma)[qm]),
                 fill.eq(io.mem_resp.valid & (beat == B - 1)), fill_m.eq(Array(f)[f_head])]
    if B > 1:
        m.d.comb += fill_now.eq(Cat(acc, io.mem_resp.payload))
        with m.If(io.mem_resp.valid):
            m.d.sync += [acc.eq(Cat(acc, io.mem_resp.payload)[cfg.mem_bits:]), beat.eq(beat + 1)]
            with m.If(beat == B - 1):
                m.d.sync += beat.eq(0)
    else:
        m.d.comb += fill_now.eq(io.mem_resp.payload)
    fill_row = fill_now[:RB]
    with m.If(fill):
        m.d.sync += [Array(mv)[fill_m].eq(0), f_head.eq(f_head + 1)]
    if cfg.dynamic:
        fset = Signal.like(ms[0])
        fway = Signal.like(mw[0])
        m.d.comb += [fset.eq(Array(ms)[fill_m]), fway.eq(Array(mw)[fill_m])]
        for b, db in enumerate(dbufs):
            m.d.comb += [db.we.eq(fill & ((fset % NB) == b)),
                         db.waddr.eq((fset // NB) * W + fway), db.wdata.eq(fill_row)]
    req_fire = io.mem_req.valid & io.mem_req.ready
    with m.If(req_fire):
        m.d.sync += [q_head.eq(q_head + 1), Array(f)[(f_head + f_len)[:len(f_head)]].eq(qm)]
    m.d.sync += f_len.eq(f_len + req_fire - fill)

    # ---- the lookup register -------------------------------------------------------------------
    slots = io.req.payload.slots
    ir = Signal.like(io.req.payload, reset_less=True)
    rem = Signal(L)                       # lookups of the held beat still to go
    ir_entry = Signal(range(RP))
    free = Signal(M)
    m.d.comb += free.eq(~Cat(*mv))
    free_count = Signal(range(M + 1))
    m.d.comb += free_count.eq(sum(~v for v in mv))

    used = Const(0, NB)
    ok = Const(1, 1)
    nmiss = Const(0, range(L + 1))
    F = free
    go = Signal(L)
    reason = [Signal(name=f"stop_{r}") for r in ("bank", "victim", "mshr")]
    lanes = []
    stage_lo = [sum(cfg.stage_ways[:s]) for s in range(cfg.stages)]
    for j in range(L):
        sl = ir.slots[j]
        ln = {}
        g = Signal(cfg.addr_bits, name=f"l{j}_addr")
        m.d.comb += g.eq(global_addr(cfg, sl.table, sl.row))
        st = Signal(max(1, set_bits), name=f"l{j}_set")
        tg = Signal(tag_bits, name=f"l{j}_tag")
        m.d.comb += [st.eq(g[:set_bits] if set_bits else 0),
                     tg.eq(g[set_bits:] if cfg.addr_bits > set_bits else 0)]
        stat = Signal(name=f"l{j}_static")
        m.d.comb += stat.eq(sl.row < cfg.static_rows if cfg.static_rows else 0)
        bank = Signal(range(max(NB, 2)), name=f"l{j}_bank")
        m.d.comb += bank.eq(st % NB)
        # in flight for this stage? (merge) -- the matching MSHR (at most one matches)
        inflight = Signal(name=f"l{j}_inflight")
        hit_m = Signal(mid_bits, name=f"l{j}_mshr")
        for x in reversed(range(M)):
            with m.If(mv[x] & (ma[x] == g) & (mg[x] == sl.stage)):
                m.d.comb += [inflight.eq(1), hit_m.eq(x)]
        # the set's tag word, partition, hit, victim, and the updated words
        vw = [Signal(name=f"l{j}_v{w}") for w in range(W)]
        tw = [Signal(tag_bits, name=f"l{j}_t{w}") for w in range(W)]
        aw = [Signal(age_bits, name=f"l{j}_a{w}") for w in range(W)]
        for w in range(W):
            m.d.comb += [vw[w].eq(Array(tv[s][w] for s in range(S))[st]),
                         tw[w].eq(Array(tt[s][w] for s in range(S))[st]),
                         aw[w].eq(Array(ta[s][w] for s in range(S))[st])]
        inp = [Signal(name=f"l{j}_part{w}") for w in range(W)]
        for w in range(W):
            terms = [sl.stage == s for s in range(cfg.stages)
                     if stage_lo[s] <= w < stage_lo[s] + cfg.stage_ways[s]]
            m.d.comb += inp[w].eq(Cat(*terms).any() if terms else 0)
        psize = Signal(range(W + 1), name=f"l{j}_psize")
        m.d.comb += psize.eq(cfg.stage_ways[0])
        for s in range(1, cfg.stages):
            with m.If(sl.stage == s):
                m.d.comb += psize.eq(cfg.stage_ways[s])
        hitv = Cat(*(inp[w] & vw[w] & (tw[w] == tg) for w in range(W)))
        dhit = Signal(name=f"l{j}_dhit")
        m.d.comb += dhit.eq(hitv.any() if cfg.dynamic else 0)
        hway = Signal(range(max(W, 2)), name=f"l{j}_hway")
        for w in reversed(range(W)):
            with m.If(hitv[w]):
                m.d.comb += hway.eq(w)
        victim = Signal(range(max(W, 2)), name=f"l{j}_victim")
        inval = Cat(*(inp[w] & ~vw[w] for w in range(W)))
        for w in reversed(range(W)):
            with m.If(inp[w] & vw[w] & (aw[w] == psize - 1)):
                m.d.comb += victim.eq(w)
        with m.If(inval.any()):
            for w in reversed(range(W)):
                with m.If(inval[w]):
                    m.d.comb += victim.eq(w)
        vaddr = Signal(cfg.addr_bits, name=f"l{j}_vaddr")      # the victim line's row
        m.d.comb += vaddr.eq(Cat(st, Array(tw)[victim]) if set_bits else Array(tw)[victim])
        vpend = Signal(name=f"l{j}_victim_pending")
        if cfg.dynamic:
            m.d.comb += vpend.eq(~inval.any() & Cat(*(mv[x] & (ma[x] == vaddr)
                                                     & (mg[x] == sl.stage)
                                                     for x in range(M))).any())
        miss = Signal(name=f"l{j}_miss")
        m.d.comb += miss.eq(~stat & ~inflight & ~dhit)

        def touched(sel, fill_tag: bool):
            """The set's word after touching way ``sel`` (true LRU) or filling it."""
            old = Signal(age_bits + 1, name=f"l{j}_old_{'f' if fill_tag else 'h'}")
            m.d.comb += old.eq(W)
            for w in range(W):
                with m.If((sel == w) & vw[w]):
                    m.d.comb += old.eq(aw[w])
            out = []
            for w in range(W):
                nv, nt, na = (Signal(name=f"l{j}_{'f' if fill_tag else 'h'}v{w}"),
                              Signal(tag_bits, name=f"l{j}_{'f' if fill_tag else 'h'}t{w}"),
                              Signal(age_bits, name=f"l{j}_{'f' if fill_tag else 'h'}a{w}"))
                m.d.comb += [nv.eq(vw[w]), nt.eq(tw[w]), na.eq(aw[w])]
                with m.If(sel == w):
                    m.d.comb += na.eq(0)
                    if fill_tag:
                        m.d.comb += [nv.eq(1), nt.eq(tg)]
                with m.Elif(inp[w] & vw[w] & (aw[w] < old)):
                    m.d.comb += na.eq(aw[w] + 1)
                out.append((nv, nt, na))
            return out

        new_hit = touched(hway, False)
        new_fill = touched(victim, True)

        # the prefix rule
        active = rem[j]
        bank_free = ~(used >> bank)[0]
        can_miss = ~vpend & (nmiss < free_count)
        cond = stat | (bank_free & (~miss | can_miss))
        gj = Signal(name=f"l{j}_go")
        m.d.comb += gj.eq(active & ok & cond)
        first_stop = active & ok & ~cond
        with m.If(first_stop):
            with m.If(~bank_free):
                m.d.comb += reason[0].eq(1)
            with m.Elif(vpend):
                m.d.comb += reason[1].eq(1)
            with m.Else():
                m.d.comb += reason[2].eq(1)
        ok = ok & (~active | cond)
        used = used | Mux(gj & ~stat, (Const(1, NB) << bank)[:NB], 0)
        # MSHR for a miss: the lowest free one not taken by an earlier lane this cycle
        alloc = Signal(mid_bits, name=f"l{j}_alloc")
        for x in reversed(range(M)):
            with m.If(F[x]):
                m.d.comb += alloc.eq(x)
        take = gj & miss
        Fn = Signal(M, name=f"l{j}_free_after")
        m.d.comb += Fn.eq(Mux(take, F & ~(Const(1, M) << alloc), F))
        F = Fn
        rank = Signal(range(L + 1), name=f"l{j}_rank")
        m.d.comb += rank.eq(nmiss)
        nmiss = nmiss + take
        m.d.comb += go[j].eq(gj)
        ln.update(g=g, st=st, tg=tg, stat=stat, bank=bank, inflight=inflight, hit_m=hit_m,
                  dhit=dhit, hway=hway, victim=victim, miss=miss, new_hit=new_hit,
                  new_fill=new_fill, alloc=alloc, rank=rank, take=take, go=gj, sl=sl)
        lanes.append(ln)
    finishing = Signal()
    held = Signal()
    m.d.comb += finishing.eq(ok)        # every remaining lookup goes this cycle (or none held)
    m.d.comb += held.eq(rem.any())

    # ---- commit the lookups that go ------------------------------------------------------------
    n_taken = Signal(range(L + 1))
    m.d.comb += n_taken.eq(nmiss)
    for ln in lanes:
        if cfg.dynamic:
            upd = ln["go"] & ~ln["stat"]
            for s in range(S):
                with m.If(upd & (ln["st"] == s)):
                    for w in range(W):
                        src = [Mux(ln["miss"], nf, nh)
                               for nf, nh in zip(ln["new_fill"][w], ln["new_hit"][w])]
                        m.d.sync += [tv[s][w].eq(src[0]), tt[s][w].eq(src[1]),
                                     ta[s][w].eq(src[2])]
        with m.If(ln["take"]):
            m.d.sync += [Array(mv)[ln["alloc"]].eq(1), Array(ma)[ln["alloc"]].eq(ln["g"]),
                         Array(ms)[ln["alloc"]].eq(ln["st"]),
                         Array(mw)[ln["alloc"]].eq(ln["victim"]),
                         Array(mg)[ln["alloc"]].eq(ln["sl"].stage),
                         Array(q)[(q_head + q_len + ln["rank"])[:len(q_head)]].eq(ln["alloc"])]
    m.d.sync += q_len.eq(q_len + n_taken - req_fire)

    # ---- reorder buffer ------------------------------------------------------------------------
    def slot_regs(e, j):
        p = f"rob{e}_{j}_"
        return dict(valid=Signal(name=p + "valid"), rdy=Signal(name=p + "rdy"),
                    wait=Signal(name=p + "waiting"), mid=Signal(mid_bits, name=p + "mshr",
                                                                  reset_less=True),
                    data=Signal(RB, name=p + "data", reset_less=True),
                    tag=Signal(cfg.tag_width, name=p + "tag", reset_less=True),
                    hit=Signal(name=p + "hit", reset_less=True),
                    static=Signal(name=p + "static", reset_less=True),
                    merged=Signal(name=p + "merged", reset_less=True))

    rob = [[slot_regs(e, j) for j in range(L)] for e in range(RP)]
    head = Signal(range(RP))
    tail = Signal(range(RP))
    count = Signal(range(RP + 1))
    # responses
    hv = Signal()
    m.d.comb += hv.eq((count != 0) & Array(Cat(*(~s["valid"] | s["rdy"] for s in rob[e])).all()
                                             for e in range(RP))[head])
    m.d.comb += io.resp.valid.eq(hv)
    for j in range(L):
        o = io.resp.payload.slots[j]
        for name in ("valid", "data", "tag", "hit", "static", "merged"):
            m.d.comb += getattr(o, name).eq(Array(rob[e][j][name] for e in range(RP))[head])
    resp_fire = io.resp.valid & io.resp.ready
    # accepts
    accept = io.req.valid & io.req.ready
    m.d.comb += io.req.ready.eq((~held | finishing) & (count < R))
    m.d.sync += count.eq(count + accept - resp_fire)
    with m.If(resp_fire):
        m.d.sync += head.eq(head + 1 if RP > 1 else 0)
    with m.If(held):
        m.d.sync += rem.eq(rem & ~go)
    with m.If(accept):
        m.d.sync += [ir.eq(io.req.payload), rem.eq(Cat(*(s.valid for s in slots))),
                     ir_entry.eq(tail), tail.eq(tail + 1 if RP > 1 else 0)]
    # delayed SRAM data for static and dynamic hits
    wr_v = [Signal(name=f"l{j}_wr") for j in range(L)]
    wr_static = [Signal(name=f"l{j}_wr_static") for j in range(L)]
    wr_bank = [Signal(range(max(NB, 2)), name=f"l{j}_wr_bank") for j in range(L)]
    wr_e = Signal(range(RP))
    m.d.sync += wr_e.eq(ir_entry)
    for j, ln in enumerate(lanes):
        hit_now = ln["go"] & (ln["stat"] | (~ln["inflight"] & ln["dhit"]))
        m.d.sync += [wr_v[j].eq(hit_now), wr_static[j].eq(ln["stat"]), wr_bank[j].eq(ln["bank"])]
        sb = sbufs[j]
        m.d.comb += [sb.re.eq(ln["go"] & ln["stat"]),
                     sb.raddr.eq(ln["sl"].table * cfg.static_rows + ln["sl"].row
                                 if n_static else 0)]
    for b, db in enumerate(dbufs):
        for j, ln in reversed(list(enumerate(lanes))):
            rd = ln["go"] & ~ln["stat"] & ~ln["inflight"] & ln["dhit"] & (ln["bank"] == b)
            with m.If(rd):
                m.d.comb += [db.re.eq(1), db.raddr.eq((ln["st"] // NB) * W + ln["hway"])]
    bank_rdata = Array(db.rdata for db in dbufs)
    for e in range(RP):
        for j, ln in enumerate(lanes):
            s = rob[e][j]
            # a new beat: slots without a lookup are ready at once
            with m.If(accept & (tail == e)):
                m.d.sync += [s["valid"].eq(slots[j].valid), s["rdy"].eq(~slots[j].valid),
                             s["wait"].eq(0), s["tag"].eq(slots[j].tag)]
            # the lookup goes: flags, and the wait for a row in flight
            with m.If(ln["go"] & (ir_entry == e)):
                m.d.sync += [s["static"].eq(ln["stat"]),
                             s["hit"].eq(ln["stat"] | (ln["dhit"] & ~ln["inflight"])),
                             s["merged"].eq(ln["inflight"] & ~ln["stat"])]
                with m.If(~ln["stat"] & ln["inflight"]):
                    with m.If(fill & (ln["hit_m"] == fill_m)):
                        m.d.sync += [s["data"].eq(fill_row), s["rdy"].eq(1)]
                    with m.Else():
                        m.d.sync += [s["wait"].eq(1), s["mid"].eq(ln["hit_m"])]
                with m.Elif(ln["take"]):
                    m.d.sync += [s["wait"].eq(1), s["mid"].eq(ln["alloc"])]
            # a fill wakes the slots waiting on it
            with m.If(fill & s["wait"] & (s["mid"] == fill_m)):
                m.d.sync += [s["data"].eq(fill_row), s["rdy"].eq(1), s["wait"].eq(0)]
            # static and dynamic hits: the SRAM word, one cycle after the lookup
            with m.If(wr_v[j] & (wr_e == e)):
                m.d.sync += [s["data"].eq(Mux(wr_static[j], sbufs[j].rdata,
                                              bank_rdata[wr_bank[j]])), s["rdy"].eq(1)]

    # ---- counters ------------------------------------------------------------------------------
    def count_up(sig, n):
        m.d.sync += sig.eq(sig + n)

    count_up(io.hits_static, sum(ln["go"] & ln["stat"] for ln in lanes))
    count_up(io.hits_dynamic, sum(ln["go"] & ~ln["stat"] & ~ln["inflight"] & ln["dhit"]
                                  for ln in lanes))
    count_up(io.merged, sum(ln["go"] & ~ln["stat"] & ln["inflight"] for ln in lanes))
    count_up(io.misses, n_taken)
    count_up(io.mem_bytes, n_taken * cfg.row_bytes)
    count_up(io.bank_conflict_stalls, reason[0])
    count_up(io.victim_stalls, reason[1])
    count_up(io.mshr_full_stalls, reason[2])
