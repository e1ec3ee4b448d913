"""The GEMM co-verification matrix on Verilator through cocotb: every value bit-exact against
the golden model, every cycle count exact against the perf model (stall-free and with seeded idle
cycles and backpressure). One Verilator build and one simulator process per configuration."""

import pytest

from rpaccel.verif.cases_gemm import describe
from rpaccel.verif.suite import suite_cases, suite_results


@pytest.mark.parametrize("label, cfg, name", [
    pytest.param(*c, id=f"{c[0]}-{c[2]}", marks=pytest.mark.xdist_group(c[0]))
    for c in suite_cases("gemm")])
def test_gemm_rtl(label, cfg, name):
    r = suite_results("gemm", label)[name]
    print(f"{label} {name}: seed={r['seed']} {describe(r)} "
          f"rtl={r['rtl_cycles']} model={r['model_cycles']}")
    assert r["stdlib_sched"], "inside cocotb, `import sched` was not the standard library's"
    assert r["values_match"], r["first_mismatch"]
    assert r["cycles_match"], r["first_mismatch"]
    assert r["rtl_cycles"] == r["model_cycles"] == r["hw_counter"]
    for sub in r.get("subarrays") or []:        # split mode: every sub-array's own count
        if sub is not None:
            assert sub["rtl_cycles"] == sub["model_cycles"] == sub["hw_counter"], sub
    if r.get("mode", "stream") == "stream":
        assert r["load_stalls"] == 0, "load ports must accept one beat per cycle while idle"
        if not r.get("backpressure"):
            assert r["stall_cycles"] == 0
