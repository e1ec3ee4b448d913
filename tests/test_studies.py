"""Sweeps (local processes and a Dask LocalCluster give identical rows), placement search,
DeepRecSched's climb rule, the study/calibrate commands and their outputs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rpaccel.sched.platforms.calibrate import fit, load_csv
from rpaccel.sched.studies.search import _climb, load_sweep, pareto_front, placement_search, placements
from rpaccel.query import Pipeline, StageSpec as Stage

ROOT = Path(__file__).resolve().parents[1]
PIPE = Pipeline((Stage("rm-small", "cpu", 4, items=4096), Stage("rm-large", "cpu", 4, items=512)),
                name="sl")


def test_sweep_local_processes_equal_serial():
    a = load_sweep([PIPE], [20, 60, 100], queries=800, seed=3, workers=1, progress=False)
    b = load_sweep([PIPE], [20, 60, 100], queries=800, seed=3, workers=2, progress=False)
    assert a == b and [r["qps"] for r in a] == [20, 60, 100]


def test_sweep_on_dask_localcluster_equals_local():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        d = load_sweep([PIPE], [20, 60], queries=500, seed=5, dask=cluster.scheduler_address,
                       progress=False)
    local = load_sweep([PIPE], [20, 60], queries=500, seed=5, progress=False)
    assert d == local


def test_placements_artifact_quirk_and_count():
    ps = placements(["rm-small", "rm-large"], [4096, 512])
    acc = [p for p in ps if p.name.startswith("accel")]
    assert len(acc) == 9
    hc4 = next(p for p in acc if p.name == "accel[hc4,hc4]")
    assert [s.engines for s in hc4.stages] == [2, 2]          # floor(4 / 2 stages)
    hc64 = next(p for p in acc if p.name == "accel[hc16,hc64]")
    assert [s.engines for s in hc64.stages] == [8, 32]


def test_placement_best_matches_artifact_numbers():
    res = placement_search(["rm-small", "rm-large"], [4096, 512], [50.0], queries=600,
                           progress=False, cpu=False)
    best = res["best_per_load"][0]
    # at light load the best p95 is the unloaded S->L on hc4+hc4: 0.5573 + 0.8371 ms
    assert best["config"] == "accel[hc4,hc4]" and round(best["p95_s"] * 1e3, 4) == 1.3944


def test_pareto_front_by_hand():
    rows = [{"qps": 10, "p95_s": 1.0, "saturated": False}, {"qps": 20, "p95_s": 2.0, "saturated": False},
            {"qps": 20, "p95_s": 3.0, "saturated": False}, {"qps": 5, "p95_s": 1.5, "saturated": False},
            {"qps": 30, "p95_s": 0.5, "saturated": True}]
    assert [(r["qps"], r["p95_s"]) for r in pareto_front(rows)] == [(20, 2.0), (10, 1.0)]


def test_climb_rule_reference_cases():
    # DEEPRECSYS.md section 9, hill-climb (scores here are QPS: higher is better)
    order = [512, 256, 128]
    assert _climb(order, {512: 1 / 6.0, 256: 1 / 5.0, 128: 1 / 5.5}) == 256
    assert _climb(order, {512: 1 / 6.0, 256: 1 / 5.5, 128: 1 / 5.0}) == 128
    assert _climb([512, 256], {512: 1 / 5.0, 256: 1 / 6.0}) == 512


def test_calibration_fit_recovers_constants(tmp_path):
    from rpaccel.models import CATALOG

    truth = dict(o=1e-4, l=2e-7, b=1e-10, c=3e-11)
    f = tmp_path / "m.csv"
    lines = ["model,batch,seconds"]
    for name in ("rm-small", "rm-med", "rm-large", "wnd"):
        m = CATALOG[name]
        for n in (1, 16, 256, 4096):
            t = truth["o"] + n * (truth["l"] * m.lookups_per_item + truth["b"] * m.emb_bytes_per_item
                                  + truth["c"] * m.macs_per_item)
            lines.append(f"{name},{n},{t}")
    f.write_text("\n".join(lines) + "\n")
    c = fit(load_csv(f))
    assert c["overhead_s"] == pytest.approx(truth["o"], rel=1e-6)
    assert c["per_mac_s"] == pytest.approx(truth["c"], rel=1e-6)
    f.write_text("model,batch,seconds\nrm-small,4,oops\n")
    with pytest.raises(ValueError, match="line 2"):
        load_csv(f)


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "rpaccel.cli", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_study_load_writes_table_plots_manifest(tmp_path):
    p = _cli("study", "load", str(ROOT / "examples/pipelines/sl-cpu.toml"), "--qps", "50,100",
             "--queries", "500", "-o", "out", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "out"
    assert sorted(x.name for x in out.iterdir()) == ["latency_cdf.png", "manifest.json",
                                                     "p95_vs_qps.png", "results.csv"]
    assert (out / "p95_vs_qps.png").read_bytes()[:4] == b"\x89PNG"
    man = json.loads((out / "manifest.json").read_text())
    assert man["seed"] == 0 and "numpy" in man["versions"]
    # refuses to overwrite, writes nothing
    p = _cli("study", "load", str(ROOT / "examples/pipelines/sl-cpu.toml"), "--qps", "50", "--queries",
             "500", "-o", "out", cwd=tmp_path)
    assert p.returncode == 2 and "exists" in p.stderr


def test_study_bad_input_leaves_nothing(tmp_path):
    p = _cli("study", "placement", "--models", "rm-small,rm-large", "--items", "4096,512",
             "--qps", "100,-5", "--queries", "500", "-o", "out", cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.startswith("rpaccel: error: qps must be numbers > 0")
    assert list(tmp_path.iterdir()) == []


def test_calibrate_cpu_from_csv_and_use(tmp_path):
    csvf = tmp_path / "m.csv"
    csvf.write_text("model,batch,seconds\n" + "\n".join(
        f"{m},{n},{1e-4 + n * k}" for m, k in (("rm-small", 5e-6), ("rm-med", 6e-6),
                                             ("rm-large", 1.1e-5)) for n in (1, 64, 4096)))
    p = _cli("calibrate", "cpu", "--from-csv", str(csvf), "-o", "cal.json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    p = _cli("model", "stage", "--platform", "cpu:cal.json", "--model", "rm-large", "--items",
             "4096", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    inf = json.loads(p.stdout)["inference_s"]
    assert inf == pytest.approx(1e-4 + 4096 * 1.1e-5, rel=0.05)
