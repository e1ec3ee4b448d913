"""Top-k filter on Verilator through cocotb: every query's result equals the golden stable-sort
top-k and every input and result beat transfers on the cycle the timeline model predicts."""

import pytest

from rpaccel.verif.suite import suite_cases, suite_results


@pytest.mark.parametrize("label, cfg, name", [
    pytest.param(*c, id=f"{c[0]}-{c[2]}", marks=pytest.mark.xdist_group(f"topk-{c[0]}"))
    for c in suite_cases("topk")])
def test_topk_rtl(label, cfg, name):
    r = suite_results("topk", label)[name]
    print(f"{label} {name}: seed={r['seed']} queries={r['n_queries']} "
          f"rtl={r['rtl_cycles']} model={r['model_cycles']}")
    assert r["stdlib_sched"]
    assert r["values_match"], r["first_mismatch"]
    assert r["cycles_match"], r["first_mismatch"]
    # the comparison counter: k_max per item, lanes - 1 per merged result (perfmodel.topk)
    assert r["counters_match"], r["first_mismatch"]
    assert r["rtl_cycles"] == r["model_cycles"]
