"""Histogram (approximate) top-k filter on Verilator through cocotb: every query's result beats
are exactly the golden histogram filter's items (arrival order, ``last`` on the final one) and
every input and result beat transfers on the cycle the timeline model predicts."""

import pytest

from rpaccel.verif.suite import suite_cases, suite_results


@pytest.mark.parametrize("label, cfg, name", [
    pytest.param(*c, id=f"{c[0]}-{c[2]}", marks=pytest.mark.xdist_group(f"histk-{c[0]}"))
    for c in suite_cases("histk")])
def test_histk_rtl(label, cfg, name):
    r = suite_results("histk", label)[name]
    print(f"{label} {name}: seed={r['seed']} queries={r['n_queries']} "
          f"rtl={r['rtl_cycles']} model={r['model_cycles']} returned={r['returned']}")
    assert r["stdlib_sched"]
    assert r["values_match"], r["first_mismatch"]
    assert r["cycles_match"], r["first_mismatch"]
    assert r["rtl_cycles"] == r["model_cycles"]
