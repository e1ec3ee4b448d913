"""Embedding cache: the fixed co-verification matrix and the random campaign's generators."""

from __future__ import annotations

import numpy as np

from rpaccel.config import EmbCacheConfig
from rpaccel.perfmodel.embcache import TRACE_KINDS, make_trace, non_static_rows

from .seeds import scenario_seed

#: Embedding-cache configurations: static + dynamic with 2 DRAM beats per row; direct-mapped
#: dynamic-only with DRAM latency 1; static-only with a large, slow DRAM; two tables of different
#: sizes (the packed address map) and two pipeline stages sharing a way-partitioned cache.
SUITE: list[tuple[str, EmbCacheConfig]] = [
    ("d8_s8_4x2", EmbCacheConfig(dim=8, rows=256, static_rows=8, sets=4, ways=2,
                                 dram_latency=5, mem_bits=64)),
    ("direct_dynonly_lat1", EmbCacheConfig(dim=4, rows=128, static_rows=0, sets=8, ways=1,
                                           dram_latency=1, mem_bits=64)),
    ("static_only_lat60", EmbCacheConfig(dim=16, elem_width=8, rows=128, static_rows=16,
                                         dynamic=False, sets=1, ways=1, dram_latency=60,
                                         dram_interval=3, mem_bits=32)),
    ("t2_rows_stages_1_3", EmbCacheConfig(dim=8, tables=2, rows=128, table_rows=(40, 128),
                                          static_rows=4, sets=8, ways=4, stage_ways=(1, 3),
                                          dram_latency=12, dram_interval=2, mem_bits=64)),
]

#: The non-blocking unit: lanes 1, 2, 4, 8 and MSHRs 1, 2, 8 over static + dynamic,
#: dynamic-only, static-only and stage-partitioned caches (with tables of 3 and 128 rows); DRAM latency 1..120, beat intervals
#: 1..4, outstanding limits; reorder buffers from 2 to 16 beats.
NB_SUITE: list[tuple[str, EmbCacheConfig]] = [
    ("nb_l2_m2", EmbCacheConfig(dim=8, rows=256, static_rows=8, sets=4, ways=2, dram_latency=5,
                                mem_bits=64, lanes=2, mshrs=2, rob_beats=4)),
    ("nb_l4_m8_parts_rows", EmbCacheConfig(dim=8, tables=2, rows=128, table_rows=(128, 3),
                                           static_rows=4, sets=8, ways=4, stage_ways=(1, 3),
                                           dram_latency=12, dram_interval=2, mem_bits=64,
                                           lanes=4, mshrs=8, rob_beats=8, dram_outstanding=4)),
    ("nb_l8_m8_static_only", EmbCacheConfig(dim=16, elem_width=8, rows=128, static_rows=16,
                                            dynamic=False, sets=1, ways=1, dram_latency=60,
                                            dram_interval=3, mem_bits=32, lanes=8, mshrs=8,
                                            rob_beats=16)),
    ("nb_l1_m8_dynonly_lat1", EmbCacheConfig(dim=4, rows=128, static_rows=0, sets=8, ways=1,
                                             dram_latency=1, mem_bits=64, lanes=1, mshrs=8,
                                             rob_beats=2)),
    ("nb_l4_m1_lat120", EmbCacheConfig(dim=8, rows=256, static_rows=16, sets=4, ways=2,
                                       dram_latency=120, dram_interval=4, mem_bits=32, lanes=4,
                                       mshrs=1, rob_beats=8)),
    ("nb_l8_m2_dynonly_out1", EmbCacheConfig(dim=8, rows=256, static_rows=0, sets=16, ways=2,
                                             dram_latency=30, mem_bits=64, lanes=8, mshrs=2,
                                             rob_beats=8, dram_outstanding=1)),
]
SUITE += NB_SUITE

#: Co-verified by ``make verify`` only (``make lint`` lints them), to keep the suite within its
#: budget: 16-element rows over 8 lanes and a 60-cycle DRAM (``make test`` keeps the blocking
#: static-only configuration and the other 8-lane one), and 4 lanes on one MSHR behind a
#: 120-cycle DRAM (``make test`` keeps the one-lane unit with 8 MSHRs and the 2-lane one with 2).
VERIFY_ONLY = frozenset({"nb_l8_m8_static_only", "nb_l4_m1_lat120"})

LINT_EXTRA: list[tuple[str, EmbCacheConfig]] = []


def matrix(cfg: EmbCacheConfig) -> list[dict]:
    """Repeats (Zipf), conflicts, all-miss, all-hit, and idle/backpressure variants."""
    base = [("zipf", {"trace": "zipf", "skew": 1.2, "lookups": 120}),
            ("zipf_flat", {"trace": "zipf", "skew": 0.5, "lookups": 80}),
            ("conflicts", {"trace": "conflicts", "lookups": 60}),
            ("all_miss", {"trace": "all_miss", "lookups": 40}),
            ("all_hit", {"trace": "all_hit", "lookups": 40}),
            ("zipf_idle", {"trace": "zipf", "skew": 1.0, "lookups": 80, "idle": 0.3}),
            ("conflicts_bp", {"trace": "conflicts", "lookups": 60, "backpressure": 0.5}),
            ("zipf_idle_bp", {"trace": "zipf", "skew": 1.1, "lookups": 100, "idle": 0.25,
                              "backpressure": 0.4}),
            ("bursts", {"trace": "bursts", "lookups": 80}),
            ("zipf_0.6", {"trace": "zipf", "skew": 0.6, "lookups": 100, "backpressure": 0.3})]
    out = []
    for name, extra in base:
        seed = scenario_seed(cfg.label(), name)
        out.append({"name": f"{name}-seed{seed}", "seed": seed, **extra})
    return out


def validate(cfg: EmbCacheConfig, sc: dict) -> None:
    """The RTL must exist for ``cfg`` and the trace must be one :func:`make_trace` can draw for
    it (both raise otherwise)."""
    cfg.check_rtl()
    make_trace(cfg, sc.get("trace", "zipf"), sc["lookups"], sc["seed"], sc.get("skew", 1.0))


def describe(r: dict) -> str:
    return f"{r['lookups']} lk, {r['hits']} hit"


# -- random campaign -------------------------------------------------------------------------
def random_config(rng: np.random.Generator) -> EmbCacheConfig:
    """Static-only, dynamic-only or both; 1..4 tables; partitioned ways for up to 3 stages;
    DRAM latency 1..120, beat interval 1..4, rows of 1..6 beats; half of them non-blocking
    (lanes 1..8, MSHRs 1..16, reorder buffer 2..16 beats, 1..16 DRAM requests in flight); half
    of the multi-table ones with tables of different sizes (``table_rows``, 1..rows each)."""
    kind = str(rng.choice(["both", "both", "static_only", "dynamic_only"]))
    tables = int(rng.integers(1, 5))
    rows = int(1 << rng.integers(4, 9))
    ways = int(rng.integers(1, 5))
    stages = int(rng.integers(1, min(3, ways) + 1))
    cut = sorted(rng.choice(np.arange(1, ways), size=stages - 1, replace=False).tolist()) \
        if stages > 1 else []
    sw = tuple(b - a for a, b in zip([0, *cut], [*cut, ways]))
    dim = int(rng.integers(1, 17))
    elem = int(rng.choice([4, 8, 16]))
    mem = int(rng.choice([16, 32, 64]))
    base = dict(
        dim=dim, elem_width=elem, tables=tables, rows=rows,
        static_rows=0 if kind == "dynamic_only" else int(rng.integers(1, rows // 2 + 1)),
        sets=int(1 << rng.integers(0, 4)), ways=ways, dynamic=kind != "static_only",
        stage_ways=sw if len(sw) > 1 else (), mem_bits=mem,
        dram_latency=int(rng.integers(1, 121)), dram_interval=int(rng.integers(1, 5)),
        tag_width=int(rng.integers(1, 9)))
    # drawn last, so the blocking draws above are those of earlier campaigns
    if rng.integers(0, 2):
        lanes = int(rng.choice([1, 2, 3, 4, 8]))
        mshrs = int(rng.choice([1, 2, 4, 8, 16]))
        base.update(lanes=lanes, mshrs=2 if lanes == mshrs == 1 else mshrs,
                    rob_beats=int(rng.integers(2, 17)), dram_outstanding=int(rng.integers(1, 17)))
    if tables > 1 and rng.integers(0, 2):
        base["table_rows"] = tuple(int(x) for x in rng.integers(1, rows + 1, size=tables))
    return EmbCacheConfig(**base)


def random_scenario(cfg: EmbCacheConfig, rng: np.random.Generator) -> dict:
    trace = str(rng.choice(TRACE_KINDS))
    if trace == "all_miss" and not non_static_rows(cfg):
        trace = "all_hit"                 # every row of every table is static
    hi = 80 if trace != "all_miss" else min(80, non_static_rows(cfg))
    return {"seed": int(rng.integers(0, 1 << 31)), "trace": trace,
            "skew": round(float(rng.uniform(0.6, 1.2)), 3), "lookups": int(rng.integers(1, hi + 1)),
            "idle": float(rng.choice([0.0, 0.0, 0.25, 0.5])),
            "backpressure": float(rng.choice([0.0, 0.0, 0.3, 0.6]))}


def sim_argv(sc: dict) -> list[str]:
    out = ["--lookups", str(sc["lookups"]), "--trace", sc.get("trace", "zipf"),
           "--seed", str(sc["seed"])]
    if sc.get("trace", "zipf") == "zipf":
        out += ["--skew", str(sc.get("skew", 1.0))]
    for key in ("idle", "backpressure"):
        if sc.get(key):
            out += [f"--{key}", str(sc[key])]
    return out
