"""Embedding-cache models: policy by hand, the compiled hit-count model against the reference and
an OrderedDict LRU, traces, re-indexing, sweeps and bad input."""

import numpy as np
import pytest

from rpaccel.config import EmbCacheConfig
from rpaccel.perfmodel.embcache import (HIT, MISS, STATIC, CacheModel, embcache_timeline,
                                        hit_counts, hit_rate_sweep, miss_latency,
                                        make_trace, ordered_dict_counts, reindex_by_frequency,
                                        zipf_trace)


def test_true_lru_by_hand():
    cfg = EmbCacheConfig(dim=4, rows=64, static_rows=2, sets=1, ways=2)
    m = CacheModel(cfg)
    seq = [1, 5, 6, 5, 7, 6, 5]
    # 1 static; 5 miss; 6 miss; 5 hit (5 MRU); 7 miss evicts 6 (LRU, not FIFO's 5); 6 miss; 5 miss
    assert [m.access(0, r) for r in seq] == [STATIC, MISS, MISS, HIT, MISS, MISS, MISS]
    m = CacheModel(cfg)
    # FIFO would evict 5 at the access of 7; true LRU keeps it because it was just hit
    assert [m.access(0, r) for r in [5, 6, 5, 7, 5]] == [MISS, MISS, HIT, MISS, HIT]


def test_way_partition_isolates_stages():
    cfg = EmbCacheConfig(dim=4, rows=64, static_rows=0, sets=1, ways=3, stage_ways=(1, 2))
    m = CacheModel(cfg)
    assert m.access(0, 10, 0) == MISS and m.access(0, 11, 1) == MISS
    assert m.access(0, 12, 1) == MISS and m.access(0, 10, 0) == HIT   # stage 1 fills its own ways
    assert m.access(0, 13, 0) == MISS and m.access(0, 10, 0) == MISS  # stage 0 has one way


def test_static_only_never_caches():
    cfg = EmbCacheConfig(dim=4, rows=64, static_rows=4, dynamic=False)
    m = CacheModel(cfg)
    assert [m.access(0, r) for r in [3, 9, 9]] == [STATIC, MISS, MISS]


def test_timeline_by_hand():
    cfg = EmbCacheConfig(dim=4, rows=64, static_rows=1, sets=1, ways=1, dram_latency=3,
                         dram_interval=2, mem_bits=32)             # 64-bit rows: 2 beats
    assert miss_latency(cfg) == 2 + 3 + 2
    tl = embcache_timeline(cfg, [(0, 5, 0), (0, 0, 0), (0, 5, 0)])
    # miss accepted 0 -> DRAM request 1 -> response 7; static accepted 8 -> 10; hit 11 -> 13
    assert [(x.accept, x.respond, x.mem_request) for x in tl] == [(0, 7, 1), (8, 10, None),
                                                                  (11, 13, None)]
    tl = embcache_timeline(cfg, [(0, 0, 0)], start=0, ready_from=5, ready=lambda c: c % 3 == 0)
    assert (tl[0].accept, tl[0].respond) == (5, 9)


@pytest.mark.parametrize("kw", [
    dict(dim=8, rows=1 << 12, static_rows=32, sets=64, ways=4),
    dict(dim=8, rows=1 << 12, static_rows=0, sets=16, ways=1),
    dict(dim=8, tables=3, rows=1 << 10, static_rows=8, sets=32, ways=8, stage_ways=(2, 6)),
    dict(dim=8, rows=1 << 10, static_rows=16, dynamic=False),
])
def test_fast_model_equals_reference_and_ordereddict(kw):
    seed = 21
    print(f"seed={seed}")
    cfg = EmbCacheConfig(**kw)
    t, r = zipf_trace(30_000, rows=cfg.rows, skew=0.9, tables=cfg.tables, seed=seed)
    r, _ = reindex_by_frequency(t, r, cfg.rows)
    s = np.random.default_rng(seed).integers(0, cfg.stages, size=len(r))
    fast = hit_counts(cfg, t, r, s)
    assert fast == hit_counts(cfg, t, r, s, engine="python")
    assert fast == ordered_dict_counts(cfg, t.tolist(), r.tolist(), s.tolist())
    assert fast["lookups"] == 30_000


def test_zipf_and_reindex():
    t, r = zipf_trace(200_000, rows=1000, skew=1.0, seed=3)
    assert r.min() >= 0 and r.max() < 1000
    new, mapping = reindex_by_frequency(t, r, 1000)
    counts = np.bincount(new, minlength=1000)
    assert (np.diff(counts) <= 0).all()                     # hottest rows first
    assert counts[0] / len(new) == pytest.approx(1 / sum(1 / k for k in range(1, 1001)), rel=0.05)
    _, u = zipf_trace(100_000, rows=100, skew=0.0, seed=1, scramble=False)
    assert np.bincount(u, minlength=100).std() / 1000 < 0.1   # skew 0 is uniform


def test_sweep_static_vs_dynamic_split():
    base = EmbCacheConfig(dim=8, rows=1 << 12, static_rows=0, sets=64, ways=4)
    t, r = zipf_trace(50_000, rows=base.rows, skew=1.1, seed=8)
    r, _ = reindex_by_frequency(t, r, base.rows)
    rows = hit_rate_sweep(base, t, r, [{"static_rows": 0}, {"static_rows": 64},
                                       {"sets": 128, "ways": 4}])
    assert rows[0]["static_hits"] == 0 and rows[1]["static_hits"] > 0
    assert rows[2]["hit_rate"] >= rows[0]["hit_rate"]          # more capacity never hurts LRU
    assert all(0 <= x["hit_rate"] <= 1 for x in rows)


@pytest.mark.parametrize("kw, msg", [
    (dict(dim=8, sets=0), r"sets must be an integer in \[1, 1048576\], got 0"),
    (dict(dim=8, ways=0), r"ways must be an integer in \[1, 16\], got 0"),
    (dict(dim=8, sets=12), "sets must be a power of two"),
    (dict(dim=8, rows=256, static_rows=300), r"static_rows must be an integer in \[0, 256\], got 300"),
    (dict(dim=8, ways=4, stage_ways=(1, 2)), r"stage_ways \[1, 2\] must sum to ways=4"),
    (dict(dim=0), r"dim must be an integer in \[1, 128\], got 0"),
])
def test_config_bad_input(kw, msg):
    with pytest.raises(ValueError, match=msg):
        EmbCacheConfig(**kw)


def test_trace_bad_input():
    cfg = EmbCacheConfig(dim=8, rows=256)
    with pytest.raises(ValueError, match=r"skew must be a number >= 0, got -1"):
        zipf_trace(10, rows=256, skew=-1)
    with pytest.raises(ValueError, match=r"row ids must be in \[0, 255\]"):
        hit_counts(cfg, [0], [256])
    with pytest.raises(ValueError, match=r"row must be an integer in \[0, 255\], got 256"):
        cfg.check_lookup(0, 256)


# -- the non-blocking unit -------------------------------------------------------------------------
def _nb_cfg(**kw):
    base = dict(dim=4, rows=16, static_rows=4, sets=2, ways=1, dram_latency=5, dram_interval=1,
                mem_bits=64, lanes=2, mshrs=2, rob_beats=4)
    return EmbCacheConfig(**{**base, **kw})


def test_nonblocking_static_hits_by_hand():
    """Two beats of two static lookups: accepted on 0 and 1 (the lookup register frees as its
    beat finishes), looked up on 1 and 2, ready 2 cycles after the lookup, responses 3 and 4."""
    from rpaccel.perfmodel.embcache import nb_timeline

    tl = nb_timeline(_nb_cfg(), [0, 0, 0, 0], [0, 1, 2, 3])
    assert tl.accept.tolist() == [0, 0, 1, 1]
    assert tl.lookup.tolist() == [1, 1, 2, 2]
    assert tl.respond.tolist() == [3, 3, 4, 4]
    assert tl.kind.tolist() == [STATIC] * 4
    assert tl.counters["static_hits"] == 4 and tl.counters["misses"] == 0


def test_nonblocking_miss_merge_conflict_victim_by_hand():
    """Rows 5, 5 | 7, 5 on a 2-set direct-mapped cache (rows 5 and 7 share set 1, bank 1), DRAM
    latency 5, one beat per row. t1: row 5 misses (MSHR 0), the second 5 hits the same bank
    (bank stall). t2: it merges; beat 1 is accepted; the request goes out (beat on 2+5=7). t3-t7:
    row 7's victim is row 5, in flight until its fill on 7 (5 victim stalls). t8: beat 0 responds
    (fill 7 + 1); row 7 misses, row 5 bank-stalls. t9: row 7's request, beat on 14; row 5's victim
    (row 7) is in flight through 14 (6 stalls). t15: row 5 misses again, request on 16, beat on
    21, beat 1 responds on 22."""
    from rpaccel.perfmodel.embcache import MERGED, nb_timeline

    tl = nb_timeline(_nb_cfg(), [0, 0, 0, 0], [5, 5, 7, 5])
    assert tl.accept.tolist() == [0, 0, 2, 2]
    assert tl.lookup.tolist() == [1, 2, 8, 15]
    assert tl.kind.tolist() == [MISS, MERGED, MISS, MISS]
    assert tl.mem_request.tolist() == [2, -1, 9, 16]
    assert tl.respond.tolist() == [8, 8, 22, 22]
    c = tl.counters
    assert (c["bank_conflict_stalls"], c["victim_stalls"], c["mshr_full_stalls"]) == (2, 11, 0)
    assert (c["merged"], c["misses"], c["dram_requests"]) == (1, 3, 3)


def test_nonblocking_policy_is_the_lru_policy():
    """Whatever the timing, the replacement state moves in request order: a lookup is a miss
    exactly when the policy model says so (merges are policy hits); seeded random configs."""
    from rpaccel.perfmodel.embcache import MERGED, nb_timeline

    rng = np.random.default_rng(31)
    print("seed=31")
    for _ in range(40):
        cfg = EmbCacheConfig(dim=4, tables=2, rows=64, static_rows=int(rng.integers(0, 8)),
                             sets=int(1 << rng.integers(0, 3)), ways=4, stage_ways=(1, 3),
                             dram_latency=int(rng.integers(1, 40)), lanes=int(rng.integers(1, 6)),
                             mshrs=int(rng.integers(2, 9)), rob_beats=int(rng.integers(2, 9)))
        t, r, s = make_trace(cfg, str(rng.choice(["zipf", "conflicts", "bursts"])), 150,
                             int(rng.integers(1 << 30)))
        tl = nb_timeline(cfg, t, r, s)
        ref = CacheModel(cfg)
        want = [ref.access(a, b, c) for a, b, c in zip(t.tolist(), r.tolist(), s.tolist())]
        got = [HIT if k == MERGED else int(k) for k in tl.kind]
        assert got == want


def test_nonblocking_engines_and_fast_model_agree():
    """The compiled kernel equals the Python reference on every per-lookup cycle, and the fast
    throughput model equals the timeline's count; seeded random configurations and traces."""
    from rpaccel.perfmodel.embcache import embcache_cycles, nb_timeline

    rng = np.random.default_rng(32)
    print("seed=32")
    for _ in range(25):
        cfg = EmbCacheConfig(dim=int(rng.integers(1, 9)), tables=3, rows=128,
                             static_rows=int(rng.integers(1, 16)), sets=int(1 << rng.integers(0, 4)),
                             ways=int(rng.integers(1, 5)), dynamic=bool(rng.integers(0, 4)),
                             dram_latency=int(rng.integers(1, 121)),
                             dram_interval=int(rng.integers(1, 5)), mem_bits=32,
                             lanes=int(rng.integers(1, 9)), mshrs=int(rng.integers(2, 17)),
                             rob_beats=int(rng.integers(2, 17)),
                             dram_outstanding=int(rng.integers(1, 9)))
        t, r, s = make_trace(cfg, "zipf", 300, int(rng.integers(1 << 30)), 0.9)
        a = nb_timeline(cfg, t, r, s, engine="python")
        b = nb_timeline(cfg, t, r, s, engine="numba")
        for x, y in zip((a.accept, a.lookup, a.kind, a.respond, a.mem_request),
                        (b.accept, b.lookup, b.kind, b.respond, b.mem_request)):
            assert x.tolist() == y.tolist()
        assert a.counters == b.counters
        fast = embcache_cycles(cfg, t, r, s)
        assert fast["cycles"] == a.respond[-1] - a.accept[0]
        assert fast["misses"] == a.counters["misses"]


def test_blocking_fast_model_equals_timeline():
    """lanes = mshrs = 1 is the blocking design: its fast count (latency + 1 per lookup) equals
    the blocking timeline, today's counts."""
    from rpaccel.perfmodel.embcache import embcache_cycles

    for seed in range(5):
        cfg = EmbCacheConfig(dim=8, rows=256, static_rows=8, sets=4, ways=2, dram_latency=5 + seed)
        t, r, s = make_trace(cfg, "zipf", 200, seed)
        tl = embcache_timeline(cfg, zip(t.tolist(), r.tolist(), s.tolist()))
        assert embcache_cycles(cfg, t, r, s)["cycles"] == tl[-1].respond - tl[0].accept


def test_nonblocking_bad_input():
    for kw, msg in [({"lanes": 0}, r"lanes must be an integer in \[1, 16\], got 0"),
                    ({"lanes": 17}, r"lanes must be an integer in \[1, 16\], got 17"),
                    ({"mshrs": 0}, r"mshrs must be an integer in \[1, 64\], got 0"),
                    ({"mshrs": 65}, r"mshrs must be an integer in \[1, 64\], got 65"),
                    ({"dram_interval": 0}, r"dram_interval must be an integer in \[1, 1000\]"),
                    ({"dram_outstanding": 0}, r"dram_outstanding must be an integer in \[1, 1024\]")]:
        with pytest.raises(ValueError, match=msg):
            _nb_cfg(**kw)


def _both_kernels(cfg, t, r, s, idle, start, ready_from, lines0):
    """The cycle-stepping kernel and the lookup-by-lookup kernel, both compiled, on one run:
    (last cycle, per-lookup records, counters, tag state after) of each."""
    from rpaccel.perfmodel import embcache as E

    tables, rows, stages = E._trace_arrays(cfg, t, r, s)
    n = len(rows)
    beat_lo = E._beat_bounds(cfg, n, None)
    grow = E.global_rows(cfg, tables, rows)
    lo, wn = E._way_arrays(cfg)
    common = (cfg.ways, cfg.mshrs, cfg.rob_beats, cfg.banks, cfg.dram_latency, cfg.dram_interval,
              cfg.beats_per_row, cfg.dram_outstanding, start, ready_from, idle)
    res = []
    for kernel in ("cycles", "lookups"):
        out = [np.full(n, -1, dtype=np.int64) for _ in range(5)]
        cnt = np.zeros(8, dtype=np.int64)
        lines = lines0.copy()
        if kernel == "cycles":
            horizon = E._horizon(cfg, ready_from + int(idle.sum()), n)
            last = E._nb_kernel()(grow, rows, stages, beat_lo, lines, cfg.static_rows, True,
                                  cfg.sets, lo, wn, *common, np.zeros(1, np.int8), True, horizon,
                                  True, *out, cnt)
        else:
            last = E._ev_kernel()(grow, rows, stages, beat_lo, lines, cfg.static_rows, cfg.sets,
                                  lo, wn, *common, True, *out, cnt)
        res.append((last, [o.tolist() for o in out], cnt.tolist(), lines.tolist()))
    return res


def test_lookup_kernel_equals_cycle_kernel():
    """The lookup-by-lookup kernel (a recurrence over lookups) equals the cycle-stepping kernel
    on every per-lookup cycle, counter and the tag state it leaves: seeded random dynamic
    caches (1-2 stage partitions, every stall reason), idle gaps before beats, a late start
    of acceptance, warm tag state from an earlier run."""
    from rpaccel.perfmodel.embcache import empty_lines

    seed = 41
    print(f"seed={seed}; reproduce: pytest tests/test_perfmodel_embcache.py -k lookup_kernel")
    rng = np.random.default_rng(seed)
    stalls = np.zeros(3, dtype=np.int64)
    runs = 0
    while runs < 300:
        split = int(rng.integers(1, 3))
        ways = tuple(int(w) for w in rng.integers(1, 5, size=split))
        cfg = EmbCacheConfig(dim=int(rng.integers(1, 9)), tables=3,
                             rows=int(rng.choice([64, 128, 1024])),
                             static_rows=int(rng.integers(0, 16)),
                             sets=int(1 << rng.integers(0, 4)), ways=sum(ways), stage_ways=ways,
                             dram_latency=int(rng.integers(1, 121)),
                             dram_interval=int(rng.integers(1, 5)),
                             mem_bits=int(rng.choice([32, 64, 256])),
                             lanes=int(rng.integers(1, 9)), mshrs=int(rng.integers(2, 17)),
                             rob_beats=int(rng.integers(2, 17)),
                             dram_outstanding=int(rng.integers(1, 20)))
        if cfg.blocking:
            continue
        n = int(rng.integers(1, 400))
        t, r, _ = make_trace(cfg, str(rng.choice(["zipf", "conflicts", "bursts"])), n,
                             int(rng.integers(1 << 30)))
        s = rng.integers(0, split, size=n)
        nb = -(-n // cfg.lanes)
        idle = (rng.integers(0, 4, size=nb) * (rng.random(nb) < 0.3)).astype(np.int64)
        start = int(rng.integers(0, 50))
        lines = empty_lines(cfg)
        if rng.random() < 0.5:                              # warm: after a first run
            lines = np.array(_both_kernels(cfg, t[::-1], r[::-1], s[::-1], np.zeros(nb, np.int64),
                                           0, 0, lines)[0][3], dtype=np.int64)
        cyc, look = _both_kernels(cfg, t, r, s, idle, start, start + int(rng.integers(0, 20)),
                                  lines)
        assert look == cyc, f"run {runs}: {cfg}"
        stalls += np.array(cyc[2][4:7]) > 0
        runs += 1
    assert (stalls > 20).all(), stalls          # every stall reason was exercised


def test_only_large_caches_get_a_specialised_kernel():
    """A gather runs the kernel compiled for its cache's shape from 1,024 lines (sets x ways)
    up, the general kernel below: 128 x 8 lines is specialised, 128 x 7 and 64 x 8 are not."""
    from rpaccel.perfmodel import embcache as E

    assert E.SPECIALISE_MIN_LINES == 1024

    def cfg(sets, ways):
        return EmbCacheConfig(dim=32, tables=4, rows=1 << 14, static_rows=8, sets=sets,
                              ways=ways, lanes=8, mshrs=16, rob_beats=16)

    general = E._ev_kernel()
    assert E._ev_kernel(cfg(128, 8)) is E._ev_special(cfg(128, 8)) is not general
    assert E._ev_kernel(cfg(128, 7)) is general
    assert E._ev_kernel(cfg(64, 8)) is general


@pytest.mark.parametrize("stage_ways, lanes, sets", [((8,), 8, 16), ((3, 2), 3, 8), ((1,), 1, 4)])
def test_specialised_lookup_kernel_equals_the_general_one(stage_ways, lanes, sets):
    """The lookup-by-lookup kernel compiled for one cache shape (its ways, banks and one way
    group or several bound as constants; what ``ev_gather`` runs) equals the general compiled
    kernel, which the test above checks against the cycle-stepping one: last cycle, counters
    and tag state, on seeded random runs, cold and warm; a power-of-two bank count and not,
    one way group and two."""
    from rpaccel.perfmodel import embcache as E

    seed = 7 + lanes
    print(f"seed={seed}; reproduce: pytest tests/test_perfmodel_embcache.py -k specialised")
    rng = np.random.default_rng(seed)
    cfg = EmbCacheConfig(dim=32, tables=4, rows=1 << 14, static_rows=8, sets=sets,
                         ways=sum(stage_ways), stage_ways=stage_ways, lanes=lanes, mshrs=16,
                         rob_beats=16, dram_outstanding=12, dram_latency=40)
    general, special = E._ev_kernel(), E._ev_special(cfg)
    assert special is not general
    lines = E.empty_lines(cfg)
    kinds = np.zeros(4, dtype=np.int64)
    for run in range(40):
        n = int(rng.integers(1, 3000))
        t, r, _ = make_trace(cfg, str(rng.choice(["zipf", "conflicts", "bursts"])), n,
                             int(rng.integers(1 << 30)))
        s = rng.integers(0, len(stage_ways), size=n)
        tables, rows, stages = E._trace_arrays(cfg, t, r, s)
        beat_lo = E._beat_bounds(cfg, n, None)
        grow = E.global_rows(cfg, tables, rows)
        idle = E._no_idle(len(beat_lo))
        start = int(rng.integers(0, 50))
        res = []
        for kernel in (general, special):
            cnt = np.zeros(8, dtype=np.int64)
            got = lines.copy()
            last = kernel(grow, rows, stages, beat_lo, got, *E._ev_params(cfg), start, start,
                          idle, False, *E._NO_RECORD, cnt)
            res.append((last, cnt.tolist(), got.tolist()))
        assert res[0] == res[1], f"run {run}: {cfg}"
        kinds += np.array(res[0][1][:4]) > 0
        lines = np.array(res[0][2], dtype=np.int64)      # the next run starts warm
    assert (kinds[[0, 1, 3]] > 5).all(), kinds          # static hits, hits and misses occurred


def test_cached_kernels_are_keyed_by_the_values_they_freeze(monkeypatch):
    """numba freezes the globals a compiled kernel reads and invalidates its on-disk cache only
    when the kernel's own file changes; the kernel's name (its cache key) carries the values
    of the numeric globals it reads, so a latency changed in ``rpaccel.config`` (read into
    ``_HIT_READY``) or in this module gives another cache entry, and the constants bound in a
    specialisation do too."""
    from rpaccel.perfmodel import embcache as E

    base = E._unsigned_indices(E._ev_run).__name__
    assert E._unsigned_indices(E._ev_run).__name__ == base           # deterministic
    for name in ("_HIT_READY", "_FILL_READY", "_MSHR_SHIFT"):
        with monkeypatch.context() as m:
            m.setattr(E, name, getattr(E, name) + 1)
            assert E._unsigned_indices(E._ev_run).__name__ != base, name
    special = E._unsigned_indices(E._ev_run, (("record", False), ("ways", 8)))
    assert special.__name__.startswith("_ev_run__record0__ways8__u") and special.__name__ != base
    with pytest.raises(ValueError, match=r"has no parameter or top-level variable \['nope'\]"):
        E._unsigned_indices(E._ev_run, (("nope", 1),))
