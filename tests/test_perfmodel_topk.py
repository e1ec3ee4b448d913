"""Golden top-k and the top-k timing model against hand-computed cases."""

import numpy as np
import pytest

from rpaccel.config import TopkConfig
from rpaccel.perfmodel import topk, topk_batch, topk_cycles, topk_timeline


def test_topk_tie_rule_by_hand():
    s, i = topk([5, 7, 7, 1, 7], [10, 3, 2, 0, 9], 4)
    assert s.tolist() == [7, 7, 7, 5] and i.tolist() == [2, 3, 9, 10]


def test_topk_fewer_than_k_and_empty():
    s, i = topk([1, 2], [0, 1], 5)
    assert s.tolist() == [2, 1] and i.tolist() == [1, 0]
    s, i = topk([], [], 3)
    assert s.size == 0


def test_topk_equals_stable_sort_random():
    seed = 77
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    for _ in range(50):
        n = int(rng.integers(1, 300))
        s = rng.integers(-5, 6, size=n)
        ids = rng.permutation(n)
        k = int(rng.integers(1, 40))
        ref = sorted(zip(s.tolist(), ids.tolist()), key=lambda t: (-t[0], t[1]))[:k]
        gs, gi = topk(s, ids, k, id_width=16)
        assert list(zip(gs.tolist(), gi.tolist())) == ref


def test_topk_batch_matches_single():
    rng = np.random.default_rng(5)
    s = rng.integers(0, 100, size=(6, 50))
    ids = np.tile(np.arange(50), (6, 1))
    bs, bi = topk_batch(s, ids, 7, id_width=8)
    for q in range(6):
        ss, ii = topk(s[q], ids[q], 7, id_width=8)
        assert (bs[q] == ss).all() and (bi[q] == ii).all()


def test_topk_bad_input():
    cfg = TopkConfig(k_max=8, id_width=4)
    with pytest.raises(ValueError, match=r"^k must be an integer in \[1, 8\], got 0$"):
        cfg.check_query(3, 0)
    with pytest.raises(ValueError, match=r"^k must be an integer in \[1, 8\], got 9$"):
        cfg.check_query(3, 9)
    with pytest.raises(ValueError, match=r"^n must be an integer in \[0, 16\], got -1$"):
        cfg.check_query(-1, 2)
    with pytest.raises(ValueError, match=r"^n must be an integer in \[0, 16\], got 17$"):
        cfg.check_query(17, 2)
    with pytest.raises(ValueError, match=r"^lanes must be an integer in \[1, 16\], got 0$"):
        TopkConfig(k_max=8, lanes=0)
    with pytest.raises(ValueError, match=r"^k_max must be an integer in \[1, 1024\], got 0$"):
        TopkConfig(k_max=0)


def test_cycles_by_hand():
    cfg = TopkConfig(k_max=8, lanes=1)
    assert topk_cycles(cfg, 10, 3) == 9 + 3       # 10 beats, 3 results after the last
    assert topk_cycles(cfg, 0, 3) == 1            # lone last, one empty beat
    assert topk_cycles(TopkConfig(k_max=8, lanes=4), 10, 8) == 2 + 8   # 3 beats, 8 results


def test_back_to_back_stall_by_hand():
    cfg = TopkConfig(k_max=8, lanes=1)
    # q0: n=2, k=5 -> beats at 0, 1; results 2, 3. q1: n=1 -> its (last) beat must wait for
    # q0's results to finish: offered at 2, accepted at 4; result at 5.
    tl = topk_timeline(cfg, [(2, 5), (1, 1)])
    assert tl[0].in_cycles == (0, 1) and tl[0].out_cycles == (2, 3)
    assert tl[1].in_cycles == (4,) and tl[1].out_cycles == (5,)
    # backpressure: ready only on even cycles
    tl = topk_timeline(cfg, [(2, 5)], ready=lambda c: c % 2 == 0)
    assert tl[0].out_cycles == (2, 4)
