"""Embedding cache on Verilator through cocotb: every returned vector equals the backing table,
every hit/miss equals the policy model, every response and DRAM request lands on the cycle the
timeline model predicts, and the hardware counters equal the model's counts."""

import pytest

from rpaccel.verif.suite import EMBCACHE_SUITE, embcache_matrix

_cache: dict[str, dict] = {}


def _results(label, cfg):
    if label not in _cache:
        from rpaccel.verif.run import run_embcache

        _cache[label] = {r["name"]: r for r in run_embcache(cfg, embcache_matrix(cfg))}
    return _cache[label]


CASES = [pytest.param(label, cfg, sc["name"], id=f"{label}-{sc['name']}",
                      marks=pytest.mark.xdist_group(f"embcache-{label}"))
         for label, cfg in EMBCACHE_SUITE for sc in embcache_matrix(cfg)]


@pytest.mark.parametrize("label, cfg, name", CASES)
def test_embcache_rtl(label, cfg, name):
    r = _results(label, cfg)[name]
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
