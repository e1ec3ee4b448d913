"""Perf model and golden model of the GEMM engine, against hand-computed and independent values."""

import numpy as np
import pytest

from rpaccel.config import GemmConfig
from rpaccel.perfmodel import (gemm, gemm_cycles, output_beat_cycles, pack_a, pack_w,
                               random_operands, unpack_c)


def reference_gemm(a, w, acc_width):
    """Independent reference: Python ints, wrapping after every multiply-accumulate as the PE
    chain does (column sum accumulated top to bottom)."""
    def wrap(x):
        x &= (1 << acc_width) - 1
        return x - (1 << acc_width) if x >> (acc_width - 1) else x
    m, k = len(a), len(a[0])
    n = len(w[0])
    return [[_acc(a, w, i, j, k, wrap) for j in range(n)] for i in range(m)]


def _acc(a, w, i, j, k, wrap):
    s = 0
    for t in range(k):
        s = wrap(s + a[i][t] * w[t][j])
    return s


@pytest.mark.parametrize("iw, aw, dist", [(8, 32, "uniform"), (8, 16, "extreme"),
                                          (16, 32, "extreme"), (32, 64, "extreme"),
                                          (4, 8, "uniform")])
def test_golden_matches_reference(iw, aw, dist):
    seed = 1234 + iw + aw
    print(f"seed={seed}")
    cfg = GemmConfig(rows=3, cols=2, in_width=iw, acc_width=aw)
    a, w = random_operands(cfg, 5, 40, 4, seed, dist)
    got = gemm(cfg, a, w)
    assert got.tolist() == reference_gemm(a.tolist(), w.tolist(), aw)


def test_golden_wraps():
    cfg = GemmConfig(rows=1, cols=1, in_width=8, acc_width=16)
    a = np.full((1, 3), -128)
    w = np.full((3, 1), -128)
    # 3 * 16384 = 49152 -> wraps to 49152 - 65536
    assert gemm(cfg, a, w)[0, 0] == 49152 - 65536


def test_golden_rejects_bad_operands():
    cfg = GemmConfig(rows=2, cols=2)
    with pytest.raises(ValueError, match=r"a values must be in \[-128, 127\]"):
        gemm(cfg, np.array([[128]]), np.array([[1]]))
    with pytest.raises(ValueError, match="inner dimensions differ"):
        gemm(cfg, np.ones((2, 3), int), np.ones((2, 3), int))
    with pytest.raises(ValueError, match="must hold integers"):
        gemm(cfg, np.ones((2, 2)), np.ones((2, 2), int))


def test_cycles_hand_computed_1x1():
    # 1x1 array, one tile, M=1: cmd (1) + shift 1 + stream 1 + drain rows+cols=2 + 1 beat = 6
    cyc = gemm_cycles(GemmConfig(rows=1, cols=1), 1, 1, 1)
    assert (cyc.total, cyc.weight_load, cyc.streaming, cyc.fill_drain, cyc.output) == (6, 1, 1, 2, 1)


def test_cycles_hand_computed_tiled():
    # 4x4 array, M=8, K=9 (3 K-tiles), N=10 (3 N-tiles): 9 tiles.
    # 1 + 9*4 (shift) + 9*8 (stream) + 8*(4+4-2) + (4+4) + 8*3 beats = 189
    cyc = gemm_cycles(GemmConfig(rows=4, cols=4, weight_buffering=1, c_read_ports=1), 8, 9, 10)
    assert cyc.tiles == 9 and cyc.total == 189


@pytest.mark.parametrize("buffering, ports", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_cycles_breakdown_sums(buffering, ports):
    cfg = GemmConfig(rows=3, cols=8, weight_buffering=buffering, c_read_ports=ports)
    for m, k, n in [(1, 1, 1), (7, 30, 70), (100, 3, 9)]:
        c = gemm_cycles(cfg, m, k, n)
        assert c.total == c.control + c.weight_load + c.streaming + c.fill_drain + c.output
        beats = output_beat_cycles(cfg, m, k, n, range(c.total + 5))   # ready always high
        assert (beats[0], beats[-1], len(beats)) == (c.first_beat, c.total, c.beats)
        assert c.output == (c.beats if ports == 1 else 1)
        if ports == 1 or c.n_tiles == 1:
            assert beats == list(range(c.first_beat, c.total + 1))


def test_output_beats_under_backpressure():
    """1x1, M=3: cmd on 0, shift on 1, stream rows on 2, 3, 4; row r's last write is on 4 + r.
    One C read port: all three rows read from 7 (after the drain), first beat on 8. Two: row r
    read from 5 + r, first beat on 6. Under the same sparse ready the transfers agree."""
    serial, drain = GemmConfig(rows=1, cols=1, c_read_ports=1), GemmConfig(rows=1, cols=1)
    assert gemm_cycles(serial, 3, 1, 1).first_beat == 8
    assert gemm_cycles(drain, 3, 1, 1).first_beat == 6
    ready = [2, 3, 8, 10, 11, 14]
    for cfg in (serial, drain):
        assert output_beat_cycles(cfg, 3, 1, 1, ready) == [8, 10, 11]
        with pytest.raises(ValueError, match="ready pattern too short"):
            output_beat_cycles(cfg, 3, 1, 1, [8, 9])
    assert output_beat_cycles(serial, 3, 1, 1, range(20)) == [8, 9, 10]
    assert output_beat_cycles(drain, 3, 1, 1, range(20)) == [6, 7, 8]


def test_output_drains_under_compute_by_hand():
    """1x1 array, double-buffered, M=2, K=1, N=2: two tiles, L0=1 S0=2, L1=2 S1=max(3, 2+2)=4.
    Two C read ports: row r of N-tile 0 may be read from S0+r+1+drain = 5, 6, of N-tile 1 from
    7, 8. Ready always high: reads 5..8, transfers 6..9 (one port: all four read after the last
    tile, from S1+M+drain = 8, transfers 9..12)."""
    cfg = GemmConfig(rows=1, cols=1, weight_buffering=2)
    cyc = gemm_cycles(cfg, 2, 1, 2)
    assert (cyc.first_beat, cyc.total, cyc.output, cyc.beats) == (6, 9, 1, 4)
    assert output_beat_cycles(cfg, 2, 1, 2, range(20)) == [6, 7, 8, 9]
    # beat 1 waits for ready until 12, so the later beats follow it, not their own A = 7, 8
    assert output_beat_cycles(cfg, 2, 1, 2, [7, 12, 13, 14]) == [7, 12, 13, 14]
    assert output_beat_cycles(cfg, 2, 1, 2, [9, 10, 11, 12]) == [9, 10, 11, 12]
    one = GemmConfig(rows=1, cols=1, weight_buffering=2, c_read_ports=1)
    assert gemm_cycles(one, 2, 1, 2).total == 12
    assert output_beat_cycles(one, 2, 1, 2, range(20)) == [9, 10, 11, 12]


def test_pack_layout_by_hand():
    cfg = GemmConfig(rows=2, cols=2, in_width=8)
    a = np.array([[1, 2, 3], [4, 5, -1]])           # M=2, K=3 -> 2 K-tiles
    words = pack_a(cfg, a)
    # K-tile 0: rows (1,2), (4,5); K-tile 1: (3,0), (-1,0)
    assert words == [1 | 2 << 8, 4 | 5 << 8, 3, 0xFF]
    w = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])  # K=3, N=3 -> 2 K-tiles x 2 N-tiles
    ww = pack_w(cfg, w)
    # tile (nt=0, kt=0): word 0 = column 1 (2, 5), word 1 = column 0 (1, 4)
    assert ww[0:2] == [2 | 5 << 8, 1 | 4 << 8]
    # tile (nt=0, kt=1): rows 2..3 -> (8, 0), (7, 0)
    assert ww[2:4] == [8, 7]
    # tile (nt=1, kt=0): columns 3 (pad), 2 -> (0, 0), (3, 6)
    assert ww[4:6] == [0, 3 | 6 << 8]


def test_unpack_c_inverse():
    cfg = GemmConfig(rows=2, cols=3, acc_width=20)
    rng = np.random.default_rng(7)
    c = rng.integers(-(1 << 19), 1 << 19, size=(4, 7))
    nt = 3
    words = []
    for t in range(nt):
        for i in range(4):
            v = 0
            for j in range(3):
                col = t * 3 + j
                e = int(c[i, col]) if col < 7 else 0
                v |= (e & ((1 << 20) - 1)) << (20 * j)
            words.append(v)
    assert (unpack_c(cfg, words, 4, 7) == c).all()


def test_random_operands_deterministic():
    cfg = GemmConfig(rows=2, cols=2)
    a1, w1 = random_operands(cfg, 3, 4, 5, 99)
    a2, w2 = random_operands(cfg, 3, 4, 5, 99)
    assert (a1 == a2).all() and (w1 == w2).all()
    a, _ = random_operands(cfg, 50, 50, 2, 1, "extreme")
    assert set(np.unique(a)) <= {-128, 127, -1, 0, 1}


@pytest.mark.parametrize("width", [62, 63, 64])
def test_wrap_signed_at_the_int64_edge(width):
    """Found by the random campaign: 2**63 does not fit an int64 (acc_width 63 crashed)."""
    from rpaccel.perfmodel import wrap_signed

    x = np.array([0, 1, -1, (1 << 62) + 5, -(1 << 62) - 5, (1 << 63) - 1, -(1 << 63)], dtype=np.int64)
    ref = [((int(v) + (1 << (width - 1))) % (1 << width)) - (1 << (width - 1)) for v in x]
    assert wrap_signed(x, width).tolist() == ref
    cfg = GemmConfig(rows=2, cols=2, in_width=16, acc_width=width)
    a = np.full((1, 2), -(1 << 15), dtype=np.int64)
    assert gemm(cfg, a, a.T.copy()).tolist() == [[1 << 31]]


def test_double_buffered_cycles_by_hand():
    """4x4 array, M=8, K=9, N=10, double-buffered: 9 tiles, G = 6. Loader/streamer starts
    (module docstring): L0=1 S0=5; L1=5 S1=13; L2=max(9, 5+8+6)=19 S2=23; L3=27 S3=31;
    L4=37 S4=41; L5=45 S5=49; L6=55 S6=59; L7=63 S7=67; L8=73 S8=77. N-tiles end with tiles 2,
    5 and 8: row r may be read from S+r+1+drain = 32.., 58.. and 86..93, so the first beat is on
    33 and the last on 94 (one C read port: all 24 rows read from 77+8+8 = 93, last beat on 117;
    single-buffered with one port: 189)."""
    from rpaccel.perfmodel.gemm import tile_schedule

    cfg = GemmConfig(rows=4, cols=4, weight_buffering=2)
    L, S = tile_schedule(cfg, 8, 9, 10)
    assert L == [1, 5, 19, 27, 37, 45, 55, 63, 73]
    assert S == [5, 13, 23, 31, 41, 49, 59, 67, 77]
    cyc = gemm_cycles(cfg, 8, 9, 10)
    assert (cyc.first_beat, cyc.total) == (33, 94)
    assert gemm_cycles(GemmConfig(rows=4, cols=4, c_read_ports=1), 8, 9, 10).total == 117
    assert gemm_cycles(GemmConfig(rows=4, cols=4, weight_buffering=1, c_read_ports=1),
                       8, 9, 10).total == 189


def test_double_buffering_hides_loads_for_long_m():
    """With M >= rows + 2*cols - 2 the tiles stream back to back: total = 1 + cols (first load)
    + T*M + (rows + cols) + 1 (the last beat; every other drained under compute)."""
    cfg = GemmConfig(rows=8, cols=8, max_m=4096, weight_buffering=2)
    m, k, n = 22, 64, 64          # 22 = 8 + 2*8 - 2; T = 8 * 8 = 64 tiles
    assert gemm_cycles(cfg, m, k, n).total == 1 + 8 + 64 * m + 16 + 1
    assert gemm_cycles(cfg, m - 1, k, n).total > 1 + 8 + 64 * (m - 1) + 16 + 1


@pytest.mark.parametrize("buffering, ports", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_closed_form_equals_recurrence(buffering, ports):
    """The O(1) extrapolation equals the O(T) tile recurrence on random shapes (seeded)."""
    from rpaccel.perfmodel.gemm import tile_schedule

    seed = 77 + buffering + 10 * ports
    rng = np.random.default_rng(seed)
    print(f"seed={seed}")
    for _ in range(400):
        r, c = (int(x) for x in rng.integers(1, 10, size=2))
        cfg = GemmConfig(rows=r, cols=c, max_m=64, max_k=200, max_n=200, weight_buffering=buffering,
                         c_read_ports=ports)
        m, k, n = int(rng.integers(1, 65)), int(rng.integers(1, 201)), int(rng.integers(1, 201))
        _, S = tile_schedule(cfg, m, k, n)
        cyc = gemm_cycles(cfg, m, k, n)
        exposed = cfg.n_tiles(n) * m if ports == 1 else 1
        assert cyc.total == S[-1] + m + r + c + exposed, (r, c, m, k, n)


def test_split_grid_validation_and_subarray():
    cfg = GemmConfig(rows=8, cols=6, split=(2, 1))
    assert (cfg.subarrays, cfg.subarray.rows, cfg.subarray.cols, cfg.subarray.split) == (2, 4, 6, (1, 1))
    for bad in [(3, 1), (1, 4), (0, 1), (2,)]:
        with pytest.raises(ValueError, match=r"^split must be GRxGC with GR dividing rows=8 and GC "
                                             r"dividing cols=6, got "):
            GemmConfig(rows=8, cols=6, split=bad)
    assert GemmConfig(rows=4, cols=4).key() != GemmConfig(rows=4, cols=4, split=(2, 2)).key()


def test_multi_gemm_per_subarray_and_max():
    """8x8 split 2x2: each sub-array is a 4x4 engine. 8x9 @ 9x10 on 4x4 double-buffered is 94
    cycles (by hand above), 1x1 @ 1x1 is 1 + 4 (load) + 1 (stream) + 8 (drain) + 1 (beat) = 15."""
    from rpaccel.perfmodel import gemm_multi_cycles

    cfg = GemmConfig(rows=8, cols=8, split=(2, 2))
    run = gemm_multi_cycles(cfg, [(8, 9, 10), None, (1, 1, 1)])
    assert [c.total if c else None for c in run.subarrays] == [94, None, 15, None]
    assert run.total == 94
    assert gemm_multi_cycles(cfg, [(1, 1, 1)]).subarrays == (gemm_cycles(cfg.subarray, 1, 1, 1),) * 4
    with pytest.raises(ValueError, match="the 2x2 split has 4 sub-arrays, got 5 shapes"):
        gemm_multi_cycles(cfg, [(1, 1, 1)] * 5)
    with pytest.raises(ValueError, match="at least one sub-array"):
        gemm_multi_cycles(cfg, [None])
    with pytest.raises(ValueError, match=r"^k must be an integer in \[1, 512\]"):
        gemm_multi_cycles(cfg, [(1, 513, 1)])
