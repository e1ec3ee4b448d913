"""Embedding cache on Verilator through cocotb: every returned vector equals the backing table,
every hit/miss equals the policy model, every response and DRAM request lands on the cycle the
timeline model predicts, and the hardware counters equal the model's counts. The
configurations in ``VERIFY_ONLY`` run under ``make verify``."""

import pytest

from rpaccel.verif.cases_embcache import VERIFY_ONLY
from rpaccel.verif.suite import suite_cases, suite_results


@pytest.mark.parametrize("label, cfg, name", [
    pytest.param(*c, id=f"{c[0]}-{c[2]}",
                 marks=[pytest.mark.xdist_group(f"embcache-{c[0]}")]
                 + ([pytest.mark.verify] if c[0] in VERIFY_ONLY else []))
    for c in suite_cases("embcache")])
def test_embcache_rtl(label, cfg, name):
    r = suite_results("embcache", label)[name]
    print(f"{label} {name}: seed={r['seed']} lookups={r['lookups']} hits={r['hits']} "
          f"rtl={r['rtl_cycles']} model={r['model_cycles']}")
    assert r["stdlib_sched"]
    assert r["values_match"], r["first_mismatch"]
    assert r["cycles_match"], r["first_mismatch"]
    assert r["rtl_cycles"] == r["model_cycles"]
    if name.startswith("all_miss"):
        assert r["hits"] == 0
    if name.startswith("all_hit") and cfg.static_rows:
        assert r["misses"] == 0


@pytest.mark.xdist_group("embcache-bulk")
def test_embcache_bulk_mode():
    """Bulk mode (trace, DRAM model and sink in the harness, Python out of the clock loop): every
    response and the cycle count equal the model's, for merging bursts and Zipf traces on 4
    lanes with 3 MSHRs and a DRAM that allows 2 requests in flight."""
    from rpaccel.config import EmbCacheConfig
    from rpaccel.verif.embbulk import run_bulk

    cfg = EmbCacheConfig(dim=8, tables=2, rows=256, static_rows=8, sets=8, ways=2,
                         stage_ways=(1, 1), dram_latency=9, dram_interval=2, mem_bits=64,
                         lanes=4, mshrs=3, rob_beats=4, dram_outstanding=2)
    res = run_bulk(cfg, [{"name": "bursts", "seed": 11, "trace": "bursts", "lookups": 300},
                         {"name": "zipf", "seed": 12, "trace": "zipf", "skew": 0.8,
                          "lookups": 401}])
    for r in res:
        print(f"{r['name']}: seed={r['seed']} rtl={r['rtl_cycles']} model={r['model_cycles']}")
        assert r["values_match"], r["first_mismatch"]
        assert r["cycles_match"], r["first_mismatch"]
        assert r["rtl_cycles"] == r["model_cycles"] > 0
    assert res[0]["merged"] > 0
