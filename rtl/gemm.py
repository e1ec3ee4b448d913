"""GEMM engine: ``C = A @ W`` on a weight-stationary systolic array, tiled over K and N.

Interface (all streams follow ``amaranth.lib.stream`` rules; Verilog port names in brackets):

``a_in`` [``a_in__payload/valid/ready``]
    A-buffer words, written at consecutive addresses from 0 (see :func:`rpaccel.perfmodel.pack_a`
    for the layout). Ready whenever the engine is idle.
``w_in`` [``w_in__*``]
    W-buffer words, same rules (layout: :func:`rpaccel.perfmodel.pack_w`).
``cmd`` [``cmd__*``]
    Starts one GEMM: payload ``{m, k_tiles, n_tiles}`` (``k_tiles = ceil(K/rows)``,
    ``n_tiles = ceil(N/cols)``). Ready whenever idle. Accepting it rewinds both load pointers to 0.
    With ``weight_words`` set the W buffer is a preloaded weight memory of many layers and the
    payload also carries ``wbase``, the word the layer's tiles start at.
``c_out`` [``c_out__*``]
    Results: ``M * n_tiles`` beats, N-tile major; beat ``(nt, m)`` carries
    ``C[m, nt*cols:(nt+1)*cols]`` as ``cols`` signed ``acc_width``-bit fields (column 0 in the low
    bits); ``last`` marks the final beat. Obeys backpressure.
``busy``, ``done``, ``cycles``
    ``busy`` is high from the cycle after ``cmd`` is accepted until the last beat transfers;
    ``done`` rises after the last beat and falls when the next command is accepted; ``cycles``
    then holds the GEMM's cycle count (``t_last - t_cmd``, see :mod:`rpaccel.perfmodel.gemm`).
``a_reads``, ``w_reads``, ``c_reads``, ``c_writes``
    Event counters since reset (:data:`rpaccel.config.GEMM_COUNTERS`).

Control: a **loader** (FSM ``loader``) shifts weight tiles, in W-buffer order, into the PE
weight banks (one bank with ``weight_buffering=1``, two with 2); a **streamer** (FSM ``ctrl``)
streams A through the array tile after tile, tagging every activation with its tile's bank. A
bank is FULL from the edge after its tile's last shift until the edge after that tile's last A
read, then HOLDs ``rows + cols - 2`` cycles (the last activation passes the array) before the
loader may refill it. With one bank this is the single-buffered load / stream / gap schedule;
with two, loads overlap streaming. The **output** reads the C rows in beat order; with
``c_read_ports=2`` through a second C-buffer read port, each row on the cycle after its final
accumulator write, while the streamer goes on (with one port it starts after the last tile).
The schedule is the one :func:`rpaccel.perfmodel.gemm_cycles` models (see
:mod:`rpaccel.perfmodel.gemm` for the recurrence); both read the same
:class:`rpaccel.config.GemmConfig`.

Reconfigurable array (``cfg.split != (1, 1)``): the PE array gets multiplexers at the block
boundaries (:class:`rpaccel.rtl.systolic.SystolicArray` with ``grid``), and besides the engine
over the whole array (the ports above) there is one engine per block, each with its own ports
``s{b}_a_in``, ``s{b}_w_in``, ``s{b}_cmd``, ``s{b}_c_out``, ``s{b}_busy``, ``s{b}_done``,
``s{b}_cycles`` (b in row-major order of the grid) and its own buffers (SRAM instances
``s{b}_a_buf`` ...). ``mode`` [``mode__*``] (payload 1 = split) is accepted only while every
engine is idle; from the next cycle only the selected engines accept commands
(:attr:`GemmConfig.mode_change_cycles`). In split mode every block is exactly a monolithic engine
of its size; in monolithic mode the whole array is.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from rpaccel.config import GEMM_COUNTERS, GemmConfig

from .layouts import amaranth_layout
from .sram import SRAM
from .systolic import SystolicArray

__all__ = ["GemmEngine", "engine_logic"]


class GemmEngine(wiring.Component):
    """Weight-stationary systolic GEMM engine with on-chip A, W and C buffers.

    Arguments
    ---------
    cfg : GemmConfig
        Array geometry, operand/accumulator widths and buffer capacity.
    """

    def __init__(self, cfg: GemmConfig) -> None:
        if not isinstance(cfg, GemmConfig):
            raise TypeError(f"cfg must be a GemmConfig, got {cfg!r}")
        self._cfg = cfg
        super().__init__({**_engine_ports(cfg, ""), **({} if cfg.split == (1, 1) else {
            "mode": In(stream.Signature(1)),
            **{k: v for b in range(cfg.subarrays)
               for k, v in _engine_ports(cfg.subarray, f"s{b}_").items()}})})

    @property
    def cfg(self) -> GemmConfig:
        return self._cfg

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        m.submodules.array = array = SystolicArray(
            rows=cfg.rows, cols=cfg.cols, in_width=cfg.in_width, acc_width=cfg.acc_width,
            buffering=cfg.weight_buffering, grid=cfg.split)
        if cfg.split == (1, 1):
            engine_logic(m, cfg, self, array)
            return m
        # split-capable array: one engine over the whole array (monolithic mode) and one per
        # block (split mode) share the PEs; `mode` switches between them while all are idle
        split = Signal()
        subs = [SimpleNamespace(**{n: getattr(self, f"s{b}_{n}") for n in _PORT_NAMES})
                for b in range(cfg.subarrays)]
        busy_any = Signal()
        m.d.comb += busy_any.eq(self.busy | Cat(*(s.busy for s in subs)).any())
        m.d.comb += [self.mode.ready.eq(~busy_any), array.split.eq(split)]
        with m.If(self.mode.valid & self.mode.ready):
            m.d.sync += split.eq(self.mode.payload)
        engine_logic(m, cfg, self, array, enable=~split & ~self.mode.valid)
        for b, sub in enumerate(subs):
            names = ["a_in", "w_in", "w_shift", "psum_out"] + (
                ["a_sel", "w_bank"] if cfg.weight_buffering == 2 else [])
            blk = SimpleNamespace(**{n: getattr(array, f"b{b}_{n}") for n in names})
            engine_logic(m, cfg.subarray, sub, blk, prefix=f"s{b}_",
                         enable=split & ~self.mode.valid)
        return m


_PORT_NAMES = ("a_in", "w_in", "cmd", "c_out", "busy", "done", "cycles", *GEMM_COUNTERS)


def _engine_ports(cfg: GemmConfig, prefix: str) -> dict:
    """One engine's interface (names prefixed for the sub-arrays of a split array)."""
    return {
        f"{prefix}a_in": In(stream.Signature(cfg.a_word_bits)),
        f"{prefix}w_in": In(stream.Signature(cfg.a_word_bits)),
        f"{prefix}cmd": In(stream.Signature(amaranth_layout(cfg.cmd_layout))),
        f"{prefix}c_out": Out(stream.Signature(amaranth_layout(cfg.c_out_layout))),
        f"{prefix}busy": Out(1),
        f"{prefix}done": Out(1),
        f"{prefix}cycles": Out(cfg.cycle_counter_bits),
        **{f"{prefix}{n}": Out(32) for n in GEMM_COUNTERS},
    }


def engine_logic(m: Module, cfg: GemmConfig, ports, array, prefix: str = "",
                 enable=None) -> None:
    """Add one engine's buffers, controller and data path around ``array`` to ``m``.

    ``ports`` has the engine's interface (``a_in``, ``w_in``, ``cmd``, ``c_out``, ``busy``,
    ``done``, ``cycles``); ``array`` the PE array's (``a_in``, ``w_in``, ``w_shift``,
    ``psum_out``, and ``a_sel``/``w_bank`` when double-buffered). Split out of
    :class:`GemmEngine` so that several engines can share one PE array (the reconfigurable
    array's sub-arrays); ``prefix`` names the SRAM instances (``{prefix}a_buf`` ...).
    ``enable``: commands are accepted only while it is high (the array's mode selects this
    engine).
    """
    R, C, IW, AW = cfg.rows, cfg.cols, cfg.in_width, cfg.acc_width
    abuf = SRAM(m, f"{prefix}a_buf", width=cfg.a_word_bits, depth=cfg.a_words)
    wbuf = SRAM(m, f"{prefix}w_buf", width=cfg.a_word_bits, depth=cfg.w_words)
    B = cfg.weight_buffering
    # with two C read ports the output drains under compute through the second one
    P = cfg.c_read_ports
    cbuf = SRAM(m, f"{prefix}c_buf", width=cfg.c_word_bits, depth=cfg.c_words, read_ports=P)

    busy = Signal()
    m.d.comb += ports.busy.eq(busy)

    # ---- load ports: one word per cycle while idle ------------------------------------
    a_wptr = Signal(abuf.abits + 1)
    w_wptr = Signal(wbuf.abits + 1)
    m.d.comb += [
        ports.a_in.ready.eq(~busy), ports.w_in.ready.eq(~busy),
        ports.cmd.ready.eq(~busy & (1 if enable is None else enable)),
        abuf.we.eq(ports.a_in.valid & ports.a_in.ready), abuf.waddr.eq(a_wptr),
        abuf.wdata.eq(ports.a_in.payload),
        wbuf.we.eq(ports.w_in.valid & ports.w_in.ready), wbuf.waddr.eq(w_wptr),
        wbuf.wdata.eq(ports.w_in.payload),
    ]
    with m.If(abuf.we):
        m.d.sync += a_wptr.eq(a_wptr + 1)
    with m.If(wbuf.we):
        m.d.sync += w_wptr.eq(w_wptr + 1)

    cmd_fire = ports.cmd.valid & ports.cmd.ready

    # ---- command registers ----------------------------------------------------------------
    n_m = Signal(cfg.m_bits)
    n_kt = Signal(cfg.kt_bits)
    n_nt = Signal(cfg.nt_bits)
    gap = cfg.tile_gap_cycles

    # ---- weight banks: FULL from the edge after a tile's last shift until the edge after its
    # last activation read; then HOLD for `gap` cycles (the last activation passes the array)
    full = [Signal(name=f"bank{b}_full") for b in range(B)]
    hold = [Signal(range(gap + 1), name=f"bank{b}_hold") for b in range(B)] if gap else []
    for h in hold:
        with m.If(h != 0):
            m.d.sync += h.eq(h - 1)

    # ---- loader: shifts tile after tile (W-buffer order) into the next free bank ------------
    ld_kt = Signal(cfg.kt_bits)
    ld_nt = Signal(cfg.nt_bits)
    ld_bank = Signal(range(max(B, 2)))
    lcnt = Signal(range(C + 1))
    w_rptr = Signal(wbuf.abits + 1)
    ld_go = Signal()
    shifting = Signal()            # high on the cycle a W-buffer read is issued
    ld_last = Signal()
    m.d.comb += ld_last.eq((ld_kt == n_kt - 1) & (ld_nt == n_nt - 1))
    bank_free = Signal()
    m.d.comb += bank_free.eq(Array(full)[ld_bank].bool() == 0)

    def shift_cycle():
        """One W-buffer read / shift cycle of the loader (called inside its FSM states)."""
        m.d.sync += [w_rptr.eq(w_rptr + 1), lcnt.eq(lcnt + 1)]
        with m.If(lcnt == C - 1):
            m.d.sync += [Array(full)[ld_bank].eq(1), lcnt.eq(0)]
            if B == 2:
                m.d.sync += ld_bank.eq(~ld_bank[0])
            with m.If(ld_kt == n_kt - 1):
                m.d.sync += [ld_kt.eq(0), ld_nt.eq(ld_nt + 1)]
            with m.Else():
                m.d.sync += ld_kt.eq(ld_kt + 1)
            m.next = "WAIT"
            with m.If(ld_last):
                m.next = "IDLE"
        with m.Else():
            m.next = "SHIFT"

    with m.FSM(name="loader"):
        with m.State("IDLE"):
            with m.If(cmd_fire):
                m.next = "WAIT"
        with m.State("WAIT"):
            m.d.comb += [ld_go.eq(bank_free & ((Array(hold)[ld_bank] == 0) if gap else 1)),
                         shifting.eq(ld_go)]
            with m.If(ld_go):
                shift_cycle()
        with m.State("SHIFT"):
            m.d.comb += shifting.eq(1)
            shift_cycle()
    m.d.sync += [array.w_shift.eq(shifting)]
    if B == 2:
        m.d.sync += array.w_bank.eq(ld_bank[0])
    m.d.comb += [wbuf.raddr.eq(w_rptr), wbuf.re.eq(shifting)]
    for i in range(R):
        m.d.comb += array.w_in[i].eq(wbuf.rdata.word_select(i, IW).as_signed())

    # ---- streamer: streams A through the array, tile after tile, from the full bank --------
    kt_i = Signal(cfg.kt_bits)
    nt_i = Signal(cfg.nt_bits)
    st_bank = Signal(range(max(B, 2)))
    a_base = Signal(abuf.abits + 1)   # kt_i * M
    c_base = Signal(cbuf.abits + 1)   # nt_i * M; equals M * n_tiles after the last tile
    cnt = Signal(range(max(cfg.max_m, R + C, 2) + 1))
    started = Signal()                # a tile started streaming on the previous cycle
    first_k = Signal()
    last_tile = Signal()
    st_go = Signal()
    streaming = Signal()              # high on the cycle an A-buffer read is issued
    m.d.comb += [first_k.eq(kt_i == 0),
                 last_tile.eq((kt_i == n_kt - 1) & (nt_i == n_nt - 1))]
    m.d.sync += started.eq(st_go)

    # ---- stream-phase pipeline: (valid, C-buffer address, first K tile, bank) per stage --------
    depth = R + C + 1
    pv = [Signal(name=f"pipe{d}_valid") for d in range(depth)]
    # only the valid bits are reset; the rest is data that travels with them (reset_less, see
    # rpaccel.rtl.systolic.pe_logic)
    pa = [Signal(cbuf.abits, name=f"pipe{d}_caddr", reset_less=True) for d in range(depth)]
    pf = [Signal(name=f"pipe{d}_first", reset_less=True) for d in range(depth)]
    ps = [Signal(name=f"pipe{d}_bank", reset_less=True) for d in range(2)]   # bank tag
    # two C read ports: a write of the last K-tile (its row is final) and the GEMM's last write
    pn, pz = ([[Signal(name=f"pipe{d}_{tag}", reset_less=True) for d in range(depth)]
               for tag in ("row_final", "gemm_done")] if P == 2 else ([], []))
    for d in range(1, depth):
        m.d.sync += [pv[d].eq(pv[d - 1]), pa[d].eq(pa[d - 1]), pf[d].eq(pf[d - 1])]
        if P == 2:
            m.d.sync += [pn[d].eq(pn[d - 1]), pz[d].eq(pz[d - 1])]
    if B == 2:
        m.d.sync += ps[1].eq(ps[0])

    m.d.comb += abuf.raddr.eq(a_base + cnt)
    # Activations (and their bank tags), gated to zero outside the stream phase, skewed one
    # cycle per row.
    for i in range(R):
        x = Signal(signed(IW), name=f"skew_{i}_0")
        m.d.comb += x.eq(Mux(pv[1], abuf.rdata.word_select(i, IW).as_signed(), 0))
        t = ps[1]
        for s in range(i):
            y = Signal(signed(IW), name=f"skew_{i}_{s + 1}", reset_less=True)
            m.d.sync += y.eq(x)
            x = y
            if B == 2:
                u = Signal(name=f"skewsel_{i}_{s + 1}", reset_less=True)
                m.d.sync += u.eq(t)
                t = u
        m.d.comb += array.a_in[i].eq(x)
        if B == 2:
            m.d.comb += array.a_sel[i].eq(t)
    # De-skew: column j is delayed C-1-j more cycles, so a whole row of C arrives at once.
    psum_row = []
    for j in range(C):
        x = array.psum_out[j]
        for s in range(C - 1 - j):
            y = Signal(signed(AW), name=f"deskew_{j}_{s + 1}", reset_less=True)
            m.d.sync += y.eq(x)
            x = y
        psum_row.append(x)

    # ---- accumulate: read C word at stage R+C-1, write the sum at stage R+C -------------
    # (no read for the first K tile, which writes the array's sums as they are)
    acc_rd = pv[R + C - 1] & ~pf[R + C - 1]
    wr = R + C
    sums = []
    for j in range(C):
        old = cbuf.rdata.word_select(j, AW).as_signed()
        s = Signal(signed(AW), name=f"acc_sum_{j}")
        m.d.comb += s.eq(Mux(pf[wr], psum_row[j], psum_row[j] + old))
        sums.append(s)
    m.d.comb += [cbuf.we.eq(pv[wr]), cbuf.waddr.eq(pa[wr]), cbuf.wdata.eq(Cat(*sums))]

    # ---- output: read C words in order, valid held until the transfer ------------------------
    # one C read port: after the whole GEMM (state OUTPUT), through the accumulator's port;
    # two: every row on the cycle after its final write (the last K-tile's; `avail` rows are
    # final, in output order), through the second port, while the array goes on. The C buffer
    # holds every N-tile's rows, so no write waits for the output: backpressure on c_out
    # delays only the output.
    o_ptr = Signal(cbuf.abits + 1)
    o_valid = Signal()
    o_last = Signal()
    in_output = Signal()
    rd_fire = Signal()
    if P == 1:
        m.d.comb += [
            rd_fire.eq(in_output & (o_ptr != c_base) & (~o_valid | ports.c_out.ready)),
            ports.c_out.payload.data.eq(cbuf.rdata),
            cbuf.raddr.eq(Mux(in_output, o_ptr, pa[R + C - 1])),
            cbuf.re.eq(Mux(in_output, rd_fire, acc_rd)),
        ]
        with m.If(rd_fire):
            m.d.sync += o_last.eq(o_ptr == c_base - 1)
    else:
        avail = Signal(cbuf.abits + 1)
        fin = Signal()
        with m.If(pv[wr] & pn[wr]):
            m.d.sync += avail.eq(avail + 1)
        with m.If(pv[wr] & pz[wr]):
            m.d.sync += fin.eq(1)
        with m.If(cmd_fire):
            m.d.sync += [avail.eq(0), fin.eq(0)]
        m.d.comb += [
            rd_fire.eq(busy & (o_ptr != avail) & (~o_valid | ports.c_out.ready)),
            ports.c_out.payload.data.eq(cbuf.rdata2),
            cbuf.raddr.eq(pa[R + C - 1]), cbuf.re.eq(acc_rd),
            cbuf.raddr2.eq(o_ptr), cbuf.re2.eq(rd_fire),
        ]
        with m.If(rd_fire):
            m.d.sync += o_last.eq(fin & (o_ptr == avail - 1))
    m.d.comb += [ports.c_out.valid.eq(o_valid), ports.c_out.payload.last.eq(o_last)]
    with m.If(rd_fire):
        m.d.sync += [o_ptr.eq(o_ptr + 1), o_valid.eq(1)]
    with m.Elif(ports.c_out.ready):
        m.d.sync += o_valid.eq(0)

    # ---- event counters (GEMM_COUNTERS) -----------------------------------------------
    c_rd = cbuf.re + (cbuf.re2 if P == 2 else 0)
    m.d.sync += [ports.a_reads.eq(ports.a_reads + abuf.re),
                 ports.w_reads.eq(ports.w_reads + wbuf.re),
                 ports.c_reads.eq(ports.c_reads + c_rd),
                 ports.c_writes.eq(ports.c_writes + cbuf.we)]

    # ---- cycle counter ------------------------------------------------------------------
    with m.If(cmd_fire):
        m.d.sync += [ports.cycles.eq(0), ports.done.eq(0)]
    with m.Elif(busy):
        m.d.sync += ports.cycles.eq(ports.cycles + 1)

    def stream_cycle():
        """One A-buffer read cycle of the streamer (called inside its FSM states)."""
        m.d.comb += [abuf.re.eq(1), pv[0].eq(1), pa[0].eq(c_base + cnt),
                     pf[0].eq(first_k), ps[0].eq(st_bank[0])]
        if P == 2:
            m.d.comb += [pn[0].eq(kt_i == n_kt - 1),
                         pz[0].eq(last_tile & (cnt == n_m - 1))]
        m.d.sync += cnt.eq(cnt + 1)
        with m.If(cnt == n_m - 1):
            m.d.sync += [cnt.eq(0), Array(full)[st_bank].eq(0)]
            if gap > 0:
                m.d.sync += Array(hold)[st_bank].eq(gap)
            if B == 2:
                m.d.sync += st_bank.eq(~st_bank[0])
            with m.If(kt_i == n_kt - 1):
                m.d.sync += [kt_i.eq(0), nt_i.eq(nt_i + 1), a_base.eq(0),
                             c_base.eq(c_base + n_m)]
            with m.Else():
                m.d.sync += [kt_i.eq(kt_i + 1), a_base.eq(a_base + n_m)]
            with m.If(last_tile):
                m.next = "DRAIN" if P == 1 else "OUTPUT"
            with m.Else():
                m.next = "WAIT"
        with m.Else():
            m.next = "STREAM"

    # ---- control: the streamer's FSM (the loader runs beside it) ---------------------------
    with m.FSM(name="ctrl"):
        with m.State("IDLE"):
            with m.If(cmd_fire):
                p = ports.cmd.payload
                m.d.sync += [
                    n_m.eq(p.m), n_kt.eq(p.k_tiles), n_nt.eq(p.n_tiles),
                    kt_i.eq(0), nt_i.eq(0), a_base.eq(0), c_base.eq(0),
                    w_rptr.eq(p.wbase if cfg.weight_words else 0),
                    cnt.eq(0), o_ptr.eq(0), a_wptr.eq(0), w_wptr.eq(0), busy.eq(1),
                    ld_kt.eq(0), ld_nt.eq(0), ld_bank.eq(0), st_bank.eq(0), lcnt.eq(0),
                    *(f.eq(0) for f in full), *(h.eq(0) for h in hold),
                ]
                m.next = "WAIT"
        with m.State("WAIT"):
            m.d.comb += [st_go.eq(Array(full)[st_bank] & ~started), streaming.eq(st_go)]
            with m.If(st_go):
                stream_cycle()
        with m.State("STREAM"):
            m.d.comb += streaming.eq(1)
            stream_cycle()
        if P == 1:
            with m.State("DRAIN"):
                m.d.sync += cnt.eq(cnt + 1)
                with m.If(cnt == cfg.drain_cycles - 1):
                    m.d.sync += cnt.eq(0)
                    m.next = "OUTPUT"
        with m.State("OUTPUT"):   # two C ports: the output runs beside the streamer from the start
            m.d.comb += in_output.eq(1)
            with m.If(ports.c_out.valid & ports.c_out.ready & o_last):
                m.d.sync += [busy.eq(0), ports.done.eq(1), o_valid.eq(0)]
                m.next = "IDLE"
