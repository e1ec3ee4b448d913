"""Cycle-exact performance model and golden functional model of the GEMM engine.

Cycle contract (see README, "What a cycle count includes")
-----------------------------------------------------------
Cycles are clock periods of the engine's single clock. A stream transfer *happens on cycle t*
when ``valid`` and ``ready`` are both high during cycle t (sampled at the rising edge that ends
it). The GEMM count is ``t_last - t_cmd``: from the cycle the command is accepted on ``cmd`` to
the cycle the last result beat transfers on ``c_out``. Operand loading (``a_in``/``w_in``)
happens before the command and is not part of the count; the engine accepts one beat per cycle
on each load port whenever it is idle, so loading takes exactly as many cycles as the producer
needs.

Schedule, with T = ceil(K/rows) * ceil(N/cols) weight tiles walked N-tile major, G = rows + cols
- 2 and B = ``weight_buffering`` weight banks per PE. Two processes run side by side:

* the **loader** shifts tile j's weights into bank ``j mod B``: ``cols`` cycles, one W-buffer word
  per cycle, tiles in order. It starts tile j on cycle
  ``L_j = max(L_{j-1} + cols, S_{j-B} + M + G)`` (``L_0 = 1``, the cycle after the command; the
  second term only for j >= B): a bank is reloaded only after the last activation of the tile that
  used it has passed the last PE (G cycles after its last A read).
* the **streamer** reads tile j's M rows of A, one per cycle, on cycles ``[S_j, S_j + M)``, with
  ``S_j = max(L_j + cols, S_{j-1} + max(M, 2))``: once the tile's weights are in, after the
  previous tile, and never two tile starts on consecutive cycles (the accumulator's
  read-modify-write of a row needs two cycles between K-tiles when M = 1).

With B = 1 this is the single-buffered schedule: load, stream, wait G, load, ... With B = 2 the
next tile's weights shift in while the current tile streams, so when ``M >= rows + 2*cols - 2``
the tiles stream back to back and the weight load and the fill are paid once.

Output. Row ``r`` of N-tile ``nt`` is final once its last K-tile's activation row ``r`` has
passed the array: ``A_{nt,r} = S_j + r + 1 + rows + cols`` with ``j = (nt+1)*k_tiles - 1`` is the
first cycle on which it may be read (its last accumulator write was on the cycle before). The
output reads one C row per cycle and presents it on ``c_out`` the cycle after, ``M *
ceil(N/cols)`` beats in N-tile-major order. Beat ``i`` is read on ``r_i = max(A_i, x_{i-1})`` and
transfers on the first cycle ``x_i > r_i`` with ``c_out.ready`` high (``x_{-1} = -inf``);
``valid`` stays high from the read until the transfer.

* ``c_read_ports = 1`` (the output shares the accumulator's read port): every beat waits for
  the last row of the last tile, ``A_i = S_{T-1} + M + rows + cols``: the output starts ``rows +
  cols + 1`` cycles after the last A read and the beats follow back to back. Each cycle with
  ``c_out.valid`` high and ``ready`` low adds exactly one cycle.
* ``c_read_ports = 2`` (a second read port for the output): ``A_i = A_{nt,r}``, every row as
  soon as it is final, while the array computes the next rows and N-tiles. The ``A_i`` strictly
  increase, so without backpressure every beat is read on its ``A_i`` and only the last one is
  exposed: the count is the last A read + ``rows + cols`` + 1. The C buffer holds all
  ``M * n_tiles`` rows, so backpressure delays only the output, never the array.

:func:`gemm_cycles` evaluates the recurrence in O(1): the loader/streamer state, relative to
``S_j``, becomes periodic within a few tiles, and the rest is extrapolated
(:func:`tile_schedule` is the O(T) reference, tested equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from rpaccel.config import GemmConfig, check_seed

__all__ = [
    "GemmCycles", "gemm_cycles", "tile_schedule", "MultiGemmCycles", "gemm_multi_cycles",
    "output_beat_cycles", "beat_read_cycles", "gemm", "pack_a", "pack_w", "unpack_c",
    "random_operands", "wrap_signed", "gemm_events",
]


@dataclass(frozen=True, slots=True)
class GemmCycles:
    """Cycle count of one GEMM (``total``) and its breakdown; all values in clock cycles."""

    total: int
    control: int
    weight_load: int
    streaming: int
    fill_drain: int
    output: int          # output beats on the critical path (all with one C read port, the
    #                      last one with two: the others drain under compute)
    tiles: int
    k_tiles: int
    n_tiles: int
    first_beat: int  # cycle offset (from the command cycle) of the first valid output beat
    beats: int       # all output beats, M * n_tiles

    def as_dict(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in self.__slots__}


def _next_tile(cfg: GemmConfig, m: int, L: list[int], S: list[int]) -> None:
    """Append tile j = len(S)'s loader start L_j and streamer start S_j (see module docstring)."""
    j, c, b = len(S), cfg.cols, cfg.weight_buffering
    lj = 1 if j == 0 else L[j - 1] + c
    if j >= b:
        lj = max(lj, S[j - b] + m + cfg.tile_gap_cycles)
    sj = lj + c if j == 0 else max(lj + c, S[j - 1] + max(m, 2))
    L.append(lj)
    S.append(sj)


def gemm_events(cfg: GemmConfig, m: int, k: int, n: int) -> dict[str, int]:
    """The engine's event counts for one ``M x K x N`` GEMM (its counters,
    :data:`rpaccel.config.GEMM_COUNTERS`): every (K, N) tile streams the M rows of A through the
    array (``a_reads``) and shifts ``cols`` weight rows in (``w_reads``); every streamed row
    writes its C row (``c_writes``), reading it first for the K tiles after the first; the
    output reads every finished C row once (``c_reads``)."""
    kt, nt = cfg.k_tiles(k), cfg.n_tiles(n)
    return {"a_reads": m * kt * nt, "w_reads": kt * nt * cfg.cols,
            "c_reads": m * (kt - 1) * nt + m * nt, "c_writes": m * kt * nt}


def tile_schedule(cfg: GemmConfig, m: int, k: int, n: int) -> tuple[list[int], list[int]]:
    """O(T) reference: every tile's first shift cycle L_j and first stream cycle S_j."""
    m, k, n = cfg.check_shape(m, k, n)
    L: list[int] = []
    S: list[int] = []
    for _ in range(cfg.k_tiles(k) * cfg.n_tiles(n)):
        _next_tile(cfg, m, L, S)
    return L, S


def _last_stream_start(cfg: GemmConfig, m: int, tiles: int) -> int:
    """S_{T-1} in O(1): step until the state relative to S_j repeats, then extrapolate."""
    b = cfg.weight_buffering
    L: list[int] = []
    S: list[int] = []
    seen: dict[tuple[int, ...], int] = {}
    for j in range(tiles):
        _next_tile(cfg, m, L, S)
        if j < b:
            continue
        state = (L[j] - S[j], *(S[j] - S[j - i] for i in range(1, b + 1)))
        if state in seen:
            j1 = seen[state]
            period, delta = j - j1, S[j] - S[j1]
            k, r = divmod(tiles - 1 - j, period)
            return S[j1 + r] + (k + 1) * delta
        seen[state] = j
    return S[tiles - 1]


def gemm_cycles(cfg: GemmConfig, m: int, k: int, n: int) -> GemmCycles:
    """Cycles of one stall-free GEMM, from the command cycle to the last result beat. O(1).

    Breakdown: ``control`` (1, command decode), ``weight_load`` (cycles the streamer waits for
    weights before and between tiles: with single buffering every tile's load and the inter-tile
    gap; with double buffering only what the overlap does not hide), ``streaming`` (T * M),
    ``fill_drain`` (with single buffering the gaps and the final drain, as before; with double
    buffering the final drain), ``output`` (the exposed beats: all ``M * n_tiles`` with one C
    read port, the last one with two).
    """
    m, k, n = cfg.check_shape(m, k, n)
    kt, nt = cfg.k_tiles(k), cfg.n_tiles(n)
    t = kt * nt
    streaming = t * m
    beats = m * nt
    control = cfg.control_cycles
    end = _last_stream_start(cfg, m, t) + m          # first cycle after the last A read
    waits = end - control - streaming                # streamer idle before and between tiles
    if cfg.weight_buffering == 1:
        weight_load, fill_drain = t * cfg.cols, (t - 1) * cfg.tile_gap_cycles + cfg.drain_cycles
        assert weight_load + (t - 1) * cfg.tile_gap_cycles == waits
    else:
        weight_load, fill_drain = waits, cfg.drain_cycles
    if cfg.c_read_ports == 1:
        first_beat, exposed = end + cfg.drain_cycles + 1, beats
    else:
        first_beat, exposed = _last_stream_start(cfg, m, kt) + cfg.drain_cycles + 2, 1
    total = end + cfg.drain_cycles + exposed
    assert total == control + weight_load + streaming + fill_drain + exposed
    return GemmCycles(total=total, control=control, weight_load=weight_load, streaming=streaming,
                      fill_drain=fill_drain, output=exposed, tiles=t, k_tiles=kt, n_tiles=nt,
                      first_beat=first_beat, beats=beats)


def beat_read_cycles(cfg: GemmConfig, m: int, k: int, n: int) -> list[int]:
    """``A_i`` of every output beat (module docstring): the first cycle offset on which beat i's
    C row may be read. O(T + beats)."""
    m, k, n = cfg.check_shape(m, k, n)
    kt, nt = cfg.k_tiles(k), cfg.n_tiles(n)
    _, S = tile_schedule(cfg, m, k, n)
    d = cfg.drain_cycles
    if cfg.c_read_ports == 1:
        return [S[-1] + m + d] * (m * nt)
    return [S[(j + 1) * kt - 1] + r + 1 + d for j in range(nt) for r in range(m)]


@dataclass(frozen=True, slots=True)
class MultiGemmCycles:
    """Concurrent GEMMs on the sub-arrays of a split array (:func:`gemm_multi_cycles`).

    ``subarrays[i]`` is sub-array i's :class:`GemmCycles` (row-major order of the grid), or None
    when it runs nothing; ``total`` is the whole run's count, the slowest sub-array's (each
    counts from the command that starts it, all commands on the same cycle).
    """

    total: int
    split: tuple[int, int]
    subarrays: tuple[GemmCycles | None, ...]

    def as_dict(self) -> dict:
        return {"total": self.total, "split": list(self.split),
                "subarrays": [c.as_dict() if c is not None else None for c in self.subarrays]}


def gemm_multi_cycles(cfg: GemmConfig, shapes) -> MultiGemmCycles:
    """Cycles of concurrent GEMMs, one ``(m, k, n)`` (or None: idle) per sub-array of
    ``cfg.split``; a single shape runs on every sub-array. Each sub-array behaves as a monolithic
    engine of its size (``cfg.subarray``), so its count is :func:`gemm_cycles` of that config.
    O(number of sub-arrays).

    Co-verified against the RTL's split mode (every sub-array's count exact).
    """
    shapes = list(shapes)
    n = cfg.subarrays
    if len(shapes) == 1 and n > 1:
        shapes = shapes * n
    if not 1 <= len(shapes) <= n:
        raise ValueError(f"shapes: the {cfg.split[0]}x{cfg.split[1]} split has {n} sub-array"
                         f"{'s' if n > 1 else ''}, got {len(shapes)} shapes")
    sub = cfg.subarray
    cyc = tuple(None if s is None else gemm_cycles(sub, *s) for s in shapes) + (None,) * (n - len(shapes))
    busy = [c.total for c in cyc if c is not None]
    if not busy:
        raise ValueError("shapes: at least one sub-array must run a GEMM")
    return MultiGemmCycles(total=max(busy), split=cfg.split, subarrays=cyc)


def output_beat_cycles(cfg: GemmConfig, m: int, k: int, n: int,
                       ready_cycles: Iterable[int]) -> list[int]:
    """Cycle offsets (from the command cycle) at which the output beats transfer under
    backpressure.

    ``ready_cycles`` are the cycle offsets at which ``c_out.ready`` was high, ascending. Beat
    ``i`` is read on ``r_i = max(A_i, x_{i-1})`` (:func:`beat_read_cycles`) and transfers on the
    first ready cycle after its read (module docstring). With ``ready`` always high the last
    transfer is :func:`gemm_cycles`'s ``total``.
    """
    ready = iter(ready_cycles)
    out: list[int] = []
    x = None
    reads = beat_read_cycles(cfg, m, k, n)
    for a in reads:
        r = a if x is None else max(a, x)
        for t in ready:
            if t > r:
                x = t
                break
        else:
            raise ValueError(f"ready pattern too short: {len(out)} of {len(reads)} beats "
                             f"transferred")
        out.append(x)
    return out


# -- integer semantics -------------------------------------------------------------------------
def wrap_signed(x: np.ndarray, width: int) -> np.ndarray:
    """Reduce int64 values modulo ``2**width`` into the signed range (two's complement).

    Written without the constant ``2**width`` (or ``2**63``), which does not fit an int64:
    ``u - 2**width == u - 2**(width-1) - 2**(width-1)`` (the random campaign found the overflow
    at ``acc_width = 63``).
    """
    x = np.asarray(x, dtype=np.int64)
    if width >= 64:
        return x
    u = x & np.int64((1 << width) - 1)
    half = np.int64(1 << (width - 1))
    with np.errstate(over="ignore"):
        return np.where(u >= half, u - half - half, u).astype(np.int64)


def _check_operand(name: str, x: np.ndarray, width: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D integer matrix, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {x.dtype}")
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if x.size and (x.min() < lo or x.max() > hi):
        raise ValueError(f"{name} values must be in [{lo}, {hi}] for in_width={width}")
    return x.astype(np.int64)


def gemm(cfg: GemmConfig, a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Golden ``C = A @ W`` with the RTL's semantics: signed operands, wrap modulo 2**acc_width.

    Every partial sum in the array wraps at ``acc_width`` bits; since wrapping is a ring
    homomorphism the result equals the exact product reduced once, which is what this computes
    (int64 arithmetic wraps modulo 2**64, a multiple of 2**acc_width).
    """
    a = _check_operand("a", a, cfg.in_width)
    w = _check_operand("w", w, cfg.in_width)
    if a.shape[1] != w.shape[0]:
        raise ValueError(f"a is {a.shape} and w is {w.shape}: inner dimensions differ")
    cfg.check_shape(a.shape[0], a.shape[1], w.shape[1])
    with np.errstate(over="ignore"):
        c = a @ w
    return wrap_signed(c, cfg.acc_width)


# -- host-side data layout (what a DMA engine would write into the buffers) -----------------------
def _pack_words(x: np.ndarray, width: int) -> list[int]:
    """Pack each row of ``x`` (signed ints) into one integer, element 0 in the low bits."""
    mask = (1 << width) - 1
    words = []
    for row in x.tolist():
        v = 0
        for i, e in enumerate(row):
            v |= (e & mask) << (i * width)
        words.append(v)
    return words


def pack_a(cfg: GemmConfig, a: np.ndarray) -> list[int]:
    """A-buffer words: K-tile major, then row m; word (kt, m) holds ``a[m, kt*rows : (kt+1)*rows]``
    (zero-padded), element i at bits ``[i*in_width, (i+1)*in_width)``, for PE row i."""
    a = _check_operand("a", a, cfg.in_width)
    m, k = a.shape
    r = cfg.rows
    kt = cfg.k_tiles(k)
    pad = np.zeros((m, kt * r), dtype=np.int64)
    pad[:, :k] = a
    tiles = pad.reshape(m, kt, r).transpose(1, 0, 2).reshape(kt * m, r)
    return _pack_words(tiles, cfg.in_width)


def pack_w(cfg: GemmConfig, w: np.ndarray) -> list[int]:
    """W-buffer words in tile order (N-tile major, then K-tile), ``cols`` words per tile.

    Weights shift into the array from the left, so word s of a tile carries column
    ``cols - 1 - s`` of the tile: element i is ``w[kt*rows + i, nt*cols + cols - 1 - s]``.
    """
    w = _check_operand("w", w, cfg.in_width)
    k, n = w.shape
    r, c = cfg.rows, cfg.cols
    kt, nt = cfg.k_tiles(k), cfg.n_tiles(n)
    pad = np.zeros((kt * r, nt * c), dtype=np.int64)
    pad[:k, :n] = w
    # (kt, r, nt, c) -> (nt, kt, c reversed, r)
    t = pad.reshape(kt, r, nt, c).transpose(2, 0, 3, 1)[:, :, ::-1, :]
    return _pack_words(t.reshape(nt * kt * c, r), cfg.in_width)


def unpack_c(cfg: GemmConfig, words: Sequence[int], m: int, n: int) -> np.ndarray:
    """Inverse of the output order: beat (nt, m) holds ``c[m, nt*cols : (nt+1)*cols]``."""
    c = cfg.cols
    nt = cfg.n_tiles(n)
    if len(words) != m * nt:
        raise ValueError(f"expected {m * nt} result beats, got {len(words)}")
    data = cfg.c_out_layout.fields["data"]      # the payload's data field: cols accumulators
    flat = np.array([data.unpack(v) for v in words], dtype=np.int64).reshape(nt * m, c)
    full = flat.reshape(nt, m, c).transpose(1, 0, 2).reshape(m, nt * c)
    return full[:, :n]


def random_operands(cfg: GemmConfig, m: int, k: int, n: int, seed: int,
                    dist: str = "uniform") -> tuple[np.ndarray, np.ndarray]:
    """Seeded random operands. ``dist``: ``uniform`` over the full signed range, or ``extreme``
    (only the most negative, most positive, -1, 0 and 1)."""
    m, k, n = cfg.check_shape(m, k, n)
    check_seed(seed)
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (cfg.in_width - 1)), (1 << (cfg.in_width - 1)) - 1
    if dist == "uniform":
        a = rng.integers(lo, hi, size=(m, k), endpoint=True, dtype=np.int64)
        w = rng.integers(lo, hi, size=(k, n), endpoint=True, dtype=np.int64)
    elif dist == "extreme":
        vals = np.array([lo, hi, -1, 0, 1], dtype=np.int64)
        a = rng.choice(vals, size=(m, k))
        w = rng.choice(vals, size=(k, n))
    else:
        raise ValueError(f"dist must be one of ['uniform', 'extreme'], got {dist!r}")
    return a, w
