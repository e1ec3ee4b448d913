"""Embedding cache on Verilator through cocotb: every returned vector equals the backing table,
every hit/miss equals the policy model, every response and DRAM request lands on the cycle the
timeline model predicts, and the hardware counters equal the model's counts."""

import pytest

from rpaccel.verif.suite import suite_cases, suite_results


@pytest.mark.parametrize("label, cfg, name", [
    pytest.param(*c, id=f"{c[0]}-{c[2]}", marks=pytest.mark.xdist_group(f"embcache-{c[0]}"))
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
