"""Weight-stationary systolic array (RPAccel's MMU) and its processing element.

Dataflow (TPU-like, as RecPipe's ``MAC``/``MAC_chain``/``MMU``): PE (i, j) holds one stationary
weight; activations enter each row at the left edge and move one PE right per cycle; partial sums
enter each column at the top (zero) and move one PE down per cycle; column j's sum leaves the
bottom edge. Weights are loaded by shifting them in from the left edge of every row, one column
per cycle with ``w_shift`` high, last column first: after ``cols`` shifts PE (i, j) holds the
weight presented at shift step ``cols - 1 - j``.

Timing: with weights resident, an activation presented to row i on cycle t reaches PE (i, j) on
cycle t + j; its product is added to the partial sum registered by PE (i-1, j) one cycle
earlier, so if row i is fed ``i`` cycles after row 0 (the caller's skew), column j's sum of the
vector fed at cycle t is registered at the bottom on cycle ``t + rows - 1 + j`` and visible on
``psum_out`` from cycle ``t + rows + j``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rpaccel.config import check_int

__all__ = ["pe_logic", "ProcessingElement", "SystolicArray"]


def pe_logic(m: Module, *, a_in: Value, psum_in: Value, w_in: Value, w_shift: Value,
             in_width: int, acc_width: int, name: str) -> tuple[Signal, Signal, Signal]:
    """Add one PE's registers and logic to ``m``; return its (activation, weight, psum) registers.

    Every cycle: ``a <= a_in``; ``psum <= psum_in + a_in * w`` (wrapping at ``acc_width``).
    With ``w_shift`` high: ``w <= w_in``, so weights ripple right through the row.
    """
    a = Signal(signed(in_width), name=f"{name}_a")
    w = Signal(signed(in_width), name=f"{name}_w")
    p = Signal(signed(acc_width), name=f"{name}_psum")
    with m.If(w_shift):
        m.d.sync += w.eq(w_in)
    m.d.sync += [a.eq(a_in), p.eq(psum_in + a_in * w)]
    return a, w, p


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
        a, w, p = pe_logic(m, a_in=self.a_in, psum_in=self.psum_in, w_in=self.w_in,
                           w_shift=self.w_shift, in_width=self._iw, acc_width=self._aw, name="pe")
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
    psum_out:
        One partial sum per column at the bottom edge (column j lags column 0 by j cycles).
    """

    def __init__(self, *, rows: int, cols: int, in_width: int = 8, acc_width: int = 32) -> None:
        self._rows = check_int("rows", rows, 1, 256)
        self._cols = check_int("cols", cols, 1, 256)
        self._iw = check_int("in_width", in_width, 2, 32)
        self._aw = check_int("acc_width", acc_width, 2 * in_width, 64)
        super().__init__({
            "a_in": In(data.ArrayLayout(signed(in_width), rows)),
            "w_in": In(data.ArrayLayout(signed(in_width), rows)),
            "w_shift": In(1),
            "psum_out": Out(data.ArrayLayout(signed(acc_width), cols)),
        })

    rows = property(lambda self: self._rows)
    cols = property(lambda self: self._cols)

    @property
    def latency(self) -> int:
        """Cycles from row 0's activation to column 0's sum on ``psum_out`` (``rows``)."""
        return self._rows

    def elaborate(self, platform):
        m = Module()
        R, C = self._rows, self._cols
        a_prev = [self.a_in[i] for i in range(R)]      # activation entering column j, per row
        w_prev = [self.w_in[i] for i in range(R)]
        psum_prev = [Value.cast(0)] * C                 # partial sum entering row i, per column
        for i in range(R):
            for j in range(C):
                a, w, p = pe_logic(m, a_in=a_prev[i], psum_in=psum_prev[j], w_in=w_prev[i],
                                   w_shift=self.w_shift, in_width=self._iw, acc_width=self._aw,
                                   name=f"pe_{i}_{j}")
                a_prev[i], w_prev[i], psum_prev[j] = a, w, p
        for j in range(C):
            m.d.comb += self.psum_out[j].eq(psum_prev[j])
        return m
