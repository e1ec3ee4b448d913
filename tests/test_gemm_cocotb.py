"""The GEMM co-verification matrix on Verilator through cocotb: every value bit-exact against
the golden model, every cycle count exact against the perf model (stall-free and with seeded idle
cycles and backpressure). One Verilator build and one simulator process per configuration; the
configurations in ``VERIFY_ONLY`` run under ``make verify``."""

import pytest

from rpaccel.verif.cases_gemm import VERIFY_ONLY, describe
from rpaccel.verif.suite import suite_cases, suite_results


@pytest.mark.parametrize("label, cfg, name", [
    pytest.param(*c, id=f"{c[0]}-{c[2]}",
                 marks=[pytest.mark.xdist_group(c[0])]
                 + ([pytest.mark.verify] if c[0] in VERIFY_ONLY else []))
    for c in suite_cases("gemm")])
def test_gemm_rtl(label, cfg, name):
    r = suite_results("gemm", label)[name]
    print(f"{label} {name}: seed={r['seed']} {describe(r)} "
          f"rtl={r['rtl_cycles']} model={r['model_cycles']}")
    assert r["stdlib_sched"], "inside cocotb, `import sched` was not the standard library's"
    assert r["values_match"], r["first_mismatch"]
    assert r["cycles_match"], r["first_mismatch"]
    # the event counters advanced by rpaccel.perfmodel.gemm_events (A/W/C buffer accesses)
    assert r["counters_match"], r["first_mismatch"]
    assert r["rtl_cycles"] == r["model_cycles"] == r["hw_counter"]
    for sub in r.get("subarrays") or []:        # split mode: every sub-array's own count
        if sub is not None:
            assert sub["rtl_cycles"] == sub["model_cycles"] == sub["hw_counter"], sub
            assert sub["counters_match"], sub
    if r.get("mode", "stream") == "stream":
        assert r["load_stalls"] == 0, "load ports must accept one beat per cycle while idle"
        if not r.get("backpressure"):
            assert r["stall_cycles"] == 0


@pytest.mark.xdist_group("gemm-harness")
def test_gemm_split_bulk_harness():
    """The bulk harness (rpaccel.verif.gemmbulk: the engine's inputs driven inside the
    simulation, used by the split-array speed benchmark): every sub-array bit-exact and
    cycle-exact, with one sub-array idle, on an 8x6 array split 2x1 (and 4 sub-arrays of 4x3 in
    a 2x2 grid)."""
    from rpaccel.config import GemmConfig
    from rpaccel.verif.gemmbulk import build_gemm_bulk
    from rpaccel.verif.run import run_built

    for split, subs in [((2, 1), [{"m": 9, "k": 5, "n": 13, "seed": 3}, None]),
                        ((2, 2), [{"m": 1, "k": 1, "n": 1, "seed": 4},
                                  {"m": 12, "k": 9, "n": 7, "seed": 5},
                                  {"m": 7, "k": 4, "n": 3, "seed": 6},
                                  {"m": 3, "k": 13, "n": 10, "seed": 7}])]:
        cfg = GemmConfig(rows=8, cols=6, max_m=16, max_k=16, max_n=16, split=split)
        (r,) = run_built(cfg, build_gemm_bulk(cfg), "rpaccel.verif.tb_gemm",
                    [{"name": "harness", "seed": 1, "mode": "harness", "subs": subs}],
                    waves=None, root=None, keep=False)
        print(split, r["rtl_cycles"], r["model_cycles"])
        assert r["values_match"] and r["cycles_match"], r["first_mismatch"]
        for sub, want in zip(r["subarrays"], subs):
            assert (sub is None) == (want is None)
            if sub is not None:
                assert sub["rtl_cycles"] == sub["model_cycles"] == sub["hw_counter"] > 0
