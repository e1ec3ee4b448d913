"""The integrated RPAccel on Verilator through cocotb: for every matrix build and scenario, the
ranked list and every stage's survivors equal the golden model's bit for bit, and the cycle
count (first host beat to last result beat) equals the executor's. The builds in
``VERIFY_ONLY`` (minutes of simulation each) run under ``make verify``."""

import functools

import pytest

from rpaccel.verif.cases_accel import CLI_SHARED, VERIFY_ONLY, matrix_builds

BUILDS = {label: (build, scs) for label, build, scs in matrix_builds()}


@functools.lru_cache(maxsize=None)
def _results(label: str) -> dict:
    from rpaccel.verif.accelbulk import run_accel

    build, scs = BUILDS[label]
    return {r["name"]: r for r in run_accel(build, scs)}


@pytest.mark.parametrize("label, name", [
    pytest.param(label, sc["name"], id=f"{label}-{sc['name']}",
                 marks=[pytest.mark.xdist_group("accel-tiny" if label in CLI_SHARED
                                                else f"accel-{label}")]
                 + ([pytest.mark.verify] if label in VERIFY_ONLY else []))
    for label, (_, scs) in BUILDS.items() for sc in scs])
def test_accel_rtl(label, name):
    r = _results(label)[name]
    print(f"{label} {name}: seed={r['seed']} queries={r['queries']} rtl={r['rtl_cycles']} "
          f"model={r['model_cycles']}; reproduce: rpaccel.verif.accelbulk.run_accel(BUILDS"
          f"[{label!r}][0], [{{'seed': {r['seed']}, 'queries': {r['queries']}}}])")
    assert r["stdlib_sched"]
    assert r["values_match"], r["first_mismatch"]
    assert r["cycles_match"], r["first_mismatch"]
    assert r["rtl_cycles"] == r["model_cycles"] > 0
    # the RTL's event counters equal the executor's counts (and count something)
    assert r["counters_match"], r["first_mismatch"]
    assert r["rtl_events"] == r["model_events"]
    assert r["rtl_events"]["lookups"] > 0 and r["rtl_events"]["topk_items"] > 0
    # every query's latency (first host beat to last result beat) measured on the RTL
    assert r["latency_rtl"] == r["latency_model"] and len(r["latency_rtl"]) == r["queries"]
    assert r["response_rtl"] == r["response_model"]
    if r.get("gaps"):
        # a stream: arrivals from the gaps; no query's first beat before it arrived
        assert r["arrival"] == [sum(r["gaps"][:q]) for q in range(r["queries"])]
        assert all(x >= 0 for x in r["response_rtl"])


def _docs_recompute() -> str:
    """The docs' numpy recomputation of a dump (between its markers, on the accelerator's
    page)."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    text = (root / "docs" / "hardware" / "accelerator.md").read_text()
    start = text.index("<!-- recompute:start -->")
    block = text[start:text.index("<!-- recompute:end -->")]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.xdist_group("accel-tiny")
def test_cli_sim_accel_and_dump_recomputed_with_numpy(tmp_path):
    """`rpaccel sim accel` on the shipped tiny config matches; its dump, recomputed by the
    docs' numpy snippet alone, gives the RTL's ranked list."""
    import json
    import subprocess
    import sys

    exe = [sys.executable, "-m", "rpaccel.cli"]
    out = subprocess.run(exe + ["sim", "accel", "--config", "tiny", "--pipeline", "tiny",
                                "--seed", "5", "--dump", str(tmp_path / "d"), "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    d = json.loads(out.stdout)
    assert d["cycles_match"] and d["values_match"] and d["rtl_cycles"] == d["model_cycles"]
    code = _docs_recompute().replace("DUMP", str(tmp_path / "d"))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "True", run.stderr
    bad = subprocess.run(exe + ["sim", "accel", "--config", "tiny", "--pipeline", "tiny",
                                "--sub-batch", "24", "--dump", str(tmp_path / "e")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "sub_batch 24" in bad.stderr and bad.stderr.count("\n") == 1
    assert not (tmp_path / "e").exists()


@pytest.mark.xdist_group("accel-tiny")
def test_cli_sim_accel_stream():
    """`rpaccel sim accel --gaps`: a warm stream with a gap shorter and one longer than a
    query's service time; per-query latencies, values and counters equal the executor's, and
    `rpaccel model accel` with the same flags gives the same latencies."""
    import json
    import subprocess
    import sys

    exe = [sys.executable, "-m", "rpaccel.cli"]
    flags = ["--config", "tiny", "--pipeline", "tiny", "--queries", "3", "--gaps", "3000,40000",
             "--seed", "5", "--json"]
    out = subprocess.run(exe + ["sim", "accel"] + flags, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["cycles_match"] and d["values_match"] and d["counters_match"]
    assert d["latency_rtl"] == d["latency_model"] and len(d["dynamic_hits"]) == 3
    assert d["arrival"] == [0, 3000, 43000]
    # query 1 arrives while query 0 runs (it shares the units: slower than query 0 alone);
    # query 2 arrives after both left (no wait at the link)
    assert d["response_rtl"][1] > d["latency_rtl"][0]
    assert d["response_rtl"][2] == d["latency_rtl"][2]
    m = subprocess.run(exe + ["model", "accel"] + flags, capture_output=True, text=True)
    md = json.loads(m.stdout)
    assert md["latency"] == d["latency_model"] and md["arrival"] == d["arrival"]
    assert [p["dynamic_hits"] for p in md["per_query"]] == d["dynamic_hits"]


@pytest.mark.verify
@pytest.mark.xdist_group("accel-mid32")
def test_midsize_warm_stream():
    """The mid-size proof (opt-in, ``make verify``): a 32x32 array split 2x2, 1,024 first-stage
    items, two stages, a 1,024-line cache, a warm stream of four queries; cycles, every query's
    latency, values and counters equal the models'."""
    import time

    from rpaccel.verif.accelbulk import run_accel
    from rpaccel.verif.cases_accel import midsize_build

    label, build, scs = midsize_build()
    t0 = time.perf_counter()
    (r,) = run_accel(build, scs)
    print(f"{label}: build + simulation {time.perf_counter() - t0:.0f} s; rtl={r['rtl_cycles']} "
          f"model={r['model_cycles']} latency_rtl={r['latency_rtl']} arrival={r['arrival']}")
    assert r["values_match"] and r["cycles_match"] and r["counters_match"], r["first_mismatch"]
    assert r["latency_rtl"] == r["latency_model"] and r["response_rtl"] == r["response_model"]
    assert r["response_rtl"][2] > r["latency_rtl"][2]          # queued behind two in flight
