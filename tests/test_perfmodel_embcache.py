"""Embedding-cache models: policy by hand, the compiled hit-count model against the reference and
an OrderedDict LRU, traces, re-indexing, sweeps and bad input."""

import numpy as np
import pytest

from rpaccel.config import EmbCacheConfig
from rpaccel.perfmodel.embcache import (HIT, MISS, STATIC, CacheModel, embcache_timeline,
                                        hit_counts, hit_rate_sweep, miss_latency,
                                        ordered_dict_counts, reindex_by_frequency, zipf_trace)


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
