"""Top-k filter on Verilator through cocotb: every query's result equals the golden stable-sort
top-k and every input and result beat transfers on the cycle the timeline model predicts."""

import pytest

from rpaccel.verif.suite import TOPK_SUITE, topk_matrix

_cache: dict[str, dict] = {}


def _results(label, cfg):
    if label not in _cache:
        from rpaccel.verif.run import run_topk

        _cache[label] = {r["name"]: r for r in run_topk(cfg, topk_matrix(cfg))}
    return _cache[label]


CASES = [pytest.param(label, cfg, sc["name"], id=f"{label}-{sc['name']}",
                      marks=pytest.mark.xdist_group(f"topk-{label}"))
         for label, cfg in TOPK_SUITE for sc in topk_matrix(cfg)]


@pytest.mark.parametrize("label, cfg, name", CASES)
def test_topk_rtl(label, cfg, name):
    r = _results(label, cfg)[name]
    print(f"{label} {name}: seed={r['seed']} queries={r['n_queries']} "
          f"rtl={r['rtl_cycles']} model={r['model_cycles']}")
    assert r["stdlib_sched"]
    assert r["values_match"], r["first_mismatch"]
    assert r["cycles_match"], r["first_mismatch"]
    assert r["rtl_cycles"] == r["model_cycles"]
