"""Weight-stationary systolic array (RPAccel's MMU) and its processing element.

Dataflow (TPU-like, as RecPipe's ``MAC``/``MAC_chain``/``MMU``): PE (i, j) holds one stationary
weight; activations enter each row at the left edge and move one PE right per cycle; partial sums
enter each column at the top (zero) and move one PE down per cycle; column j's sum leaves the
bottom edge. Weights are loaded by shifting them in from the left edge of every row, one column
per cycle with ``w_shift`` high, last column first: after ``cols`` shifts PE (i, j) holds the
weight presented at shift step ``cols - 1 - j``.

Double-buffered weights (``buffering=2``, TPU-style): every PE holds two weights (banks 0 and
1), each bank with its own shift chain; ``w_bank`` selects the chain that ``w_shift`` moves. Every
activation carries a bank tag (``a_sel``) that travels with it, and a PE multiplies by the weight of
the tagged bank, so the next tile's weights shift into one bank while the current tile's
activations use the other, and the switch happens as a wavefront with the first activation of the
next tile.

Timing: with weights resident, an activation presented to row i on cycle t reaches PE (i, j) on
cycle t + j; its product is added to the partial sum registered by PE (i-1, j) one cycle
earlier, so if row i is fed ``i`` cycles after row 0 (the caller's skew), column j's sum of the
vector fed at cycle t is registered at the bottom on cycle ``t + rows - 1 + j`` and visible on
``psum_out`` from cycle ``t + rows + j``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rpaccel.config import check_int

__all__ = ["pe_logic", "ProcessingElement", "SystolicArray"]


def pe_logic(m: Module, *, a_in: Value, psum_in: Value, w_in: list[Value], w_shift: Value,
             in_width: int, acc_width: int, name: str, sel_in: Value | None = None,
             w_bank: Value | None = None) -> tuple[Signal, list[Signal], Signal, Signal | None]:
    """Add one PE's registers and logic to ``m``; return its (activation, weights per bank, psum,
    bank tag) registers. ``w_in`` has one entry per weight bank (1 or 2).

    Every cycle: ``a <= a_in``; ``psum <= psum_in + a_in * w[sel_in]`` (wrapping at
    ``acc_width``). With ``w_shift`` high: ``w[w_bank] <= w_in[w_bank]``, so weights ripple right
    through the row in the selected bank. With one bank, ``sel_in``/``w_bank`` are unused.
    """
    banks = len(w_in)
    # Datapath registers have no reset (reset_less): a valid wavefront's partial sums depend only
    # on its own activations, the zero at the top edge and the weights loaded for it, never on
    # what a register held before (each psum is overwritten every cycle, not accumulated in
    # place). Leaving the reset out saves a multiplexer per bit, and in Verilator it keeps this
    # logic out of the input-driven evaluation the reset input would otherwise force twice per
    # clock cycle (the split 16x16 array simulated 2.xx times faster).
    a = Signal(signed(in_width), name=f"{name}_a", reset_less=True)
    w = [Signal(signed(in_width), name=f"{name}_w" + (str(b) if banks > 1 else ""),
                reset_less=True) for b in range(banks)]
    p = Signal(signed(acc_width), name=f"{name}_psum", reset_less=True)
    if banks == 1:
        with m.If(w_shift):
            m.d.sync += w[0].eq(w_in[0])
        m.d.sync += [a.eq(a_in), p.eq(psum_in + a_in * w[0])]
        return a, w, p, None
    sel = Signal(name=f"{name}_sel", reset_less=True)
    for b in range(banks):
        with m.If(w_shift & (w_bank == b)):
            m.d.sync += w[b].eq(w_in[b])
    m.d.sync += [a.eq(a_in), sel.eq(sel_in), p.eq(psum_in + a_in * Mux(sel_in, w[1], w[0]))]
    return a, w, p, sel


class ProcessingElement(wiring.Component):
    """One multiply-accumulate PE with a stationary weight.

    Arguments
    ---------
    in_width, acc_width:
        Signed operand and accumulator widths in bits.

    Members
    -------
    a_in, a_out:
        Activation from the left; registered copy to the right neighbour.
    w_in, w_out, w_shift:
        Weight shift chain: with ``w_shift`` high the PE's weight takes ``w_in``; ``w_out`` is
        the PE's weight (the right neighbour's ``w_in``).
    psum_in, psum_out:
        Partial sum from above; registered ``psum_in + a_in * weight`` to the PE below.
    """

    def __init__(self, *, in_width: int = 8, acc_width: int = 32) -> None:
        self._iw = check_int("in_width", in_width, 2, 32)
        self._aw = check_int("acc_width", acc_width, 2 * in_width, 64)
        super().__init__({
            "a_in": In(signed(in_width)), "a_out": Out(signed(in_width)),
            "w_in": In(signed(in_width)), "w_out": Out(signed(in_width)), "w_shift": In(1),
            "psum_in": In(signed(acc_width)), "psum_out": Out(signed(acc_width)),
        })

    @property
    def in_width(self) -> int:
        return self._iw

    @property
    def acc_width(self) -> int:
        return self._aw

    def elaborate(self, platform):
        m = Module()
        a, (w,), p, _ = pe_logic(m, a_in=self.a_in, psum_in=self.psum_in, w_in=[self.w_in],
                                 w_shift=self.w_shift, in_width=self._iw, acc_width=self._aw,
                                 name="pe")
        m.d.comb += [self.a_out.eq(a), self.w_out.eq(w), self.psum_out.eq(p)]
        return m


class SystolicArray(wiring.Component):
    """``rows x cols`` weight-stationary PE array (flat: one module, PEs named ``pe_i_j``).

    Members
    -------
    a_in:
        One activation per row at the left edge (the caller skews row i by i cycles).
    w_in, w_shift:
        One weight per row at the left edge, shifted in while ``w_shift`` is high.
    a_sel, w_bank (``buffering=2`` only):
        Bank tag of each row's activation (skewed like it); bank that ``w_shift`` loads.
    psum_out:
        One partial sum per column at the bottom edge (column j lags column 0 by j cycles).
    """

    def __init__(self, *, rows: int, cols: int, in_width: int = 8, acc_width: int = 32,
                 buffering: int = 1, grid: tuple[int, int] = (1, 1)) -> None:
        self._rows = check_int("rows", rows, 1, 256)
        self._cols = check_int("cols", cols, 1, 256)
        self._iw = check_int("in_width", in_width, 2, 32)
        self._aw = check_int("acc_width", acc_width, 2 * in_width, 64)
        self._banks = check_int("buffering", buffering, 1, 2)
        gr, gc = grid
        if rows % gr or cols % gc:
            raise ValueError(f"grid {gr}x{gc} must divide the {rows}x{cols} array")
        self._grid = (gr, gc)
        br, bc = rows // gr, cols // gc
        sig = {
            "a_in": In(data.ArrayLayout(signed(in_width), rows)),
            "w_in": In(data.ArrayLayout(signed(in_width), rows)),
            "w_shift": In(1),
            "psum_out": Out(data.ArrayLayout(signed(acc_width), cols)),
        }
        if buffering == 2:
            sig.update({"a_sel": In(data.ArrayLayout(1, rows)), "w_bank": In(1)})
        if grid != (1, 1):
            # split mode: every block of br x bc PEs is an array of its own, with its own edges
            sig["split"] = In(1)
            for b in range(gr * gc):
                sig.update({f"b{b}_a_in": In(data.ArrayLayout(signed(in_width), br)),
                            f"b{b}_w_in": In(data.ArrayLayout(signed(in_width), br)),
                            f"b{b}_w_shift": In(1),
                            f"b{b}_psum_out": Out(data.ArrayLayout(signed(acc_width), bc))})
                if buffering == 2:
                    sig.update({f"b{b}_a_sel": In(data.ArrayLayout(1, br)), f"b{b}_w_bank": In(1)})
        super().__init__(sig)

    rows = property(lambda self: self._rows)
    cols = property(lambda self: self._cols)
    buffering = property(lambda self: self._banks)
    grid = property(lambda self: self._grid)

    @property
    def latency(self) -> int:
        """Cycles from row 0's activation to column 0's sum on ``psum_out`` (``rows``)."""
        return self._rows

    def elaborate(self, platform):
        m = Module()
        R, C = self._rows, self._cols
        B = self._banks
        gr, gc = self._grid
        br, bc = R // gr, C // gc
        split = self.split if self._grid != (1, 1) else None
        a_prev = [self.a_in[i] for i in range(R)]      # activation entering column j, per row
        s_prev = [self.a_sel[i] if B == 2 else None for i in range(R)]   # its bank tag
        w_prev = [[self.w_in[i]] * B for i in range(R)]  # per row: the chain input of each bank
        psum_prev = [Value.cast(0)] * C                 # partial sum entering row i, per column
        for i in range(R):
            for j in range(C):
                shift, bank = self.w_shift, (self.w_bank if B == 2 else None)
                if split is not None:
                    # block boundaries: in split mode a block takes its own left edge (activation,
                    # bank tag, weight chain) and a zero partial sum at its top edge
                    blk = (i // br) * gc + j // bc
                    r = i % br
                    if j % bc == 0:
                        a_prev[i] = Mux(split, getattr(self, f"b{blk}_a_in")[r], a_prev[i])
                        w_prev[i] = [Mux(split, getattr(self, f"b{blk}_w_in")[r], w)
                                     for w in w_prev[i]]
                        if B == 2:
                            s_prev[i] = Mux(split, getattr(self, f"b{blk}_a_sel")[r], s_prev[i])
                    if i % br == 0 and i > 0:
                        psum_prev[j] = Mux(split, 0, psum_prev[j])
                    shift = Mux(split, getattr(self, f"b{blk}_w_shift"), shift)
                    if B == 2:
                        bank = Mux(split, getattr(self, f"b{blk}_w_bank"), bank)
                a, w, p, sel = pe_logic(m, a_in=a_prev[i], psum_in=psum_prev[j], w_in=w_prev[i],
                                        w_shift=shift, in_width=self._iw,
                                        acc_width=self._aw, name=f"pe_{i}_{j}",
                                        sel_in=s_prev[i], w_bank=bank)
                a_prev[i], w_prev[i], psum_prev[j], s_prev[i] = a, w, p, sel
                if split is not None and i % br == br - 1:
                    blk = (i // br) * gc + j // bc
                    m.d.comb += getattr(self, f"b{blk}_psum_out")[j % bc].eq(p)
        for j in range(C):
            m.d.comb += self.psum_out[j].eq(psum_prev[j])
        return m
