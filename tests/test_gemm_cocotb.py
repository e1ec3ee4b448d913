"""The GEMM co-verification matrix on Verilator through cocotb: every value bit-exact against
the golden model, every cycle count exact against the perf model (stall-free and with seeded idle
cycles and backpressure). One Verilator build and one simulator process per configuration."""

import pytest

from rpaccel.verif.suite import GEMM_SUITE, gemm_matrix

_cache: dict[str, list[dict]] = {}


def _results(label, cfg):
    if label not in _cache:
        from rpaccel.verif.run import run_gemm

        _cache[label] = {r["name"]: r for r in run_gemm(cfg, gemm_matrix(cfg))}
    return _cache[label]


CASES = [pytest.param(label, cfg, sc["name"], id=f"{label}-{sc['name']}",
                      marks=pytest.mark.xdist_group(label))
         for label, cfg in GEMM_SUITE for sc in gemm_matrix(cfg)]


@pytest.mark.parametrize("label, cfg, name", CASES)
def test_gemm_rtl(label, cfg, name):
    r = _results(label, cfg)[name]
    print(f"{label} {name}: seed={r['seed']} M={r['m']} K={r['k']} N={r['n']} "
          f"rtl={r['rtl_cycles']} model={r['model_cycles']}")
    assert r["stdlib_sched"], "inside cocotb, `import sched` was not the standard library's"
    assert r["values_match"], r["first_mismatch"]
    assert r["cycles_match"], r["first_mismatch"]
    assert r["rtl_cycles"] == r["model_cycles"] == r["hw_counter"]
    if r.get("mode", "stream") == "stream":
        assert r["load_stalls"] == 0, "load ports must accept one beat per cycle while idle"
        if not r.get("backpressure"):
            assert r["stall_cycles"] == 0
