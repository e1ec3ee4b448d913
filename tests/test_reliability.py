"""Reliability rules: output paths checked before any work (nothing written, one line, exit 2),
one funnel rule for every command, contradictory flags refused."""

from __future__ import annotations

import pytest

from rpaccel.cli import main

#: An output location no process can write in (a folder under /proc cannot be created).
BAD = "/proc/rpaccel-x"


def _run(capsys, argv):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("argv", [
    ["sim", "accel", "--config", "tiny", "--pipeline", "tiny", "--dump", BAD],
    ["sim", "gemm", "--rows", "3", "--cols", "8", "--m", "5", "--k", "20", "--n", "30",
     "--dump", BAD],
    ["study", "fidelity", "-o", BAD],
    ["study", "cache", "-o", BAD, "--workload", "uniform-1m"],
    ["verilog", "gemm", "--rows", "4", "--cols", "4", "-o", f"{BAD}/g.v"],
    ["simulate", "examples/pipelines/tiny.toml", "--qps", "100", "--queries", "10",
     "--records", f"{BAD}/r.csv"],
    ["model", "accel", "--config", "tiny", "--pipeline", "tiny", "--timeline", "TMP/ok.csv",
     "--plot", f"{BAD}/a.png"],
    ["trace", "profile", "examples/traces/criteo-sample.npz", "-o", f"{BAD}/p.json"],
])
def test_outputs_checked_before_the_work(tmp_path, capsys, argv):
    argv = [a.replace("TMP", str(tmp_path)) for a in argv]
    rc, out, err = _run(capsys, argv)
    assert rc == 2 and err.startswith("rpaccel: error: ") and err.count("\n") == 1, err
    assert BAD in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())                     # nothing half-written


def test_every_command_refuses_a_growing_funnel(tmp_path, capsys):
    p = tmp_path / "grow.toml"
    p.write_text('name = "grows"\n[[stage]]\nmodel = "rm-small"\nitems = 4096\n'
                 'platform = "cpu"\n[[stage]]\nmodel = "rm-large"\nitems = 8192\n'
                 'platform = "cpu"\n')
    msgs = set()
    for argv in (["simulate", str(p), "--qps", "10", "--queries", "10"],
                 ["study", "load", str(p), "--qps", "10", "-o", str(tmp_path / "s")]):
        rc, out, err = _run(capsys, argv)
        assert rc == 2 and "a stage keeps at most what it receives" in err, err
        msgs.add(err.split(": ", 2)[-1])
    assert len(msgs) == 1 and not (tmp_path / "s").exists()


@pytest.mark.parametrize("extra,message", [
    (["--size", "fixed", "--size-mu", "5.1"],
     "--size-mu applies to --size lognormal or pareto, not --size fixed"),
    (["--size", "lognormal", "--size-sd", "3"], "--size-sd applies to --size normal"),
    (["--size", "lognormal", "--size-sigma", "nan"], "--size-sigma must be a finite number"),
    (["--size", "normal", "--size-sd", "inf"], "--size-sd must be a finite number"),
    (["--arrival-file", "a.txt"], "--arrival-file applies to --arrival file"),
    (["--size", "fixed", "--size-file", "s.txt"], "--size-file applies to --size file"),
])
def test_simulate_contradictions(capsys, extra, message):
    rc, out, err = _run(capsys, ["simulate", "examples/pipelines/tiny.toml", "--qps", "100",
                                 "--queries", "10", *extra])
    assert rc == 2 and message in err and err.count("\n") == 1, err


def test_headline_report_states_the_truth():
    """The report's generated sentences on cases with known answers: a platform that never
    meets the target is listed as never meeting it; one that meets it is not; a figure is
    printed with its configuration, and "none" stands for no figure."""
    from types import SimpleNamespace

    from rpaccel.sched.studies.config import HeadlineSettings
    from rpaccel.sched.studies.headline import _report

    w = {"workload": "w1", "accel_mode": "profile"}
    rows = [{**w, "platform": "rpaccel (multi-stage)", "p95_ms_at_load": 1.5,
             "qps_per_w_at_load": 50.0, "p95_config": "rp 2+2", "lbt_qps": 900.0,
             "lbt_config": "rp 3+1"},
            {**w, "platform": "tpu-like (RM-large [4096])", "p95_ms_at_load": 6.0,
             "qps_per_w_at_load": 5.0, "p95_config": "tpu", "lbt_qps": 300.0,
             "lbt_config": "tpu"},
            {**w, "platform": "cpu", "p95_ms_at_load": None, "qps_per_w_at_load": None,
             "p95_config": "cpu x8", "lbt_qps": 0.0, "lbt_config": None}]
    ratios = {("w1", "profile"): {"tpu-like (RM-large [4096])": {"latency_x": 4.0,
                                                                "throughput_x": 3.0},
                                  "cpu": {"latency_x": None, "throughput_x": float("inf")}}}
    feats = [{"workload": "w1", "configuration": "no static hot set", "ndcg@64": 0.93,
              "p95_ms_at_load": None, "lbt_qps": 0.0}]
    md = _report(rows, ratios, {}, feats, 0.92, HeadlineSettings(), [SimpleNamespace(name="w1")],
                 ("profile",))
    never = [line for line in md.splitlines() if line.startswith("Never meets")]
    assert len(never) == 1 and never[0].endswith(": cpu.") and "tpu" not in never[0]
    assert "| w1 | profile | 1.500 | 6.000 | 4.00 | 900 | 300 | 3.00 | 3x / 6x |" in md
    assert "| profile | rpaccel (multi-stage) | 1.500 | 50.0 | rp 2+2 | 900.0 | rp 3+1 |" in md
    assert "| profile | cpu | none | none | cpu x8 | none | none |" in md
    assert "| w1 | no static hot set | 0.9300 | none | none |" in md
    assert "None" not in md and " 0.0 |" not in md


def test_staged_outputs_all_or_nothing(tmp_path):
    """A command's outputs appear together when it succeeds; a failure part-way leaves no
    target and no temporary behind (a folder's earlier files are kept)."""
    from rpaccel.outputs import staged

    (tmp_path / "dump").mkdir()
    (tmp_path / "dump" / "old.txt").write_text("kept")
    with pytest.raises(RuntimeError):
        with staged() as st:
            st.file(tmp_path / "a.csv").write_text("x")
            (st.folder(tmp_path / "dump") / "accel.json").write_text("{}")
            raise RuntimeError("the plot failed")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["dump", "old.txt"]
    with staged() as st:
        st.file(tmp_path / "a.csv").write_text("x")
        (st.folder(tmp_path / "dump") / "accel.json").write_text("{}")
        assert not (tmp_path / "a.csv").exists()          # not before the block ends
    assert (tmp_path / "a.csv").read_text() == "x"
    assert sorted(p.name for p in (tmp_path / "dump").iterdir()) == ["accel.json", "old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "dump"]


def test_model_accel_timeline_and_plot_both_or_neither(tmp_path, capsys, monkeypatch):
    """`model accel --timeline T --plot P`: if drawing the plot fails, the timeline CSV is not
    left behind either."""
    import rpaccel.sched.studies.plots as plots

    def broken(*a, **k):
        raise ValueError("plot: rendering failed")

    monkeypatch.setattr(plots, "timeline", broken)
    rc, out, err = _run(capsys, ["model", "accel", "--config", "tiny", "--pipeline", "tiny",
                                 "--timeline", str(tmp_path / "t.csv"),
                                 "--plot", str(tmp_path / "t.png")])
    assert rc == 2 and "rendering failed" in err and not list(tmp_path.iterdir())
    monkeypatch.undo()
    rc, out, err = _run(capsys, ["model", "accel", "--config", "tiny", "--pipeline", "tiny",
                                 "--timeline", str(tmp_path / "t.csv"),
                                 "--plot", str(tmp_path / "t.png")])
    assert rc == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.png"]


@pytest.mark.parametrize("argv,message", [
    (["quality", "--pipeline", "examples/pipelines/sl-cpu.toml", "--filter", "global",
      "--sub-batch", "256", "--queries", "10"],
     "--sub-batch applies to --filter per-sub-batch, not --filter global"),
    (["cost", "area", "--accel", "nosuch"], "--accel: 'nosuch' is neither a preset"),
    (["model", "stage", "--platform", "rpaccel:rpaccel", "--model", "ncf", "--items", "64"],
     "it has GEMM layers outside its MLPs (1x128x64 per item)"),
])
def test_contradictions_name_the_flags(capsys, argv, message):
    rc, out, err = _run(capsys, argv)
    assert rc == 2 and message in err and err.count("\n") == 1, err
    assert "attention" not in err


def test_histk_api_checks_its_scores():
    """The histogram filter's golden model takes only scores its hardware can hold."""
    from rpaccel.config import HistkConfig
    from rpaccel.perfmodel.histk import histk

    cfg = HistkConfig(bins=16, score_width=8)
    assert list(histk(cfg, [0, 200, 255, 17], 2).index) == [1, 2]
    for bad, msg in (([1, -3], r"scores must be in \[0, 255\] \(8-bit unsigned\), got -3 at "
                                r"index 1"),
                     ([256], r"got 256 at index 0"), ([1.5], "must be integers"),
                     ([[1]], "1-D")):
        with pytest.raises(ValueError, match=msg):
            histk(cfg, bad, 1)
    signed = HistkConfig(bins=16, score_width=8, signed_scores=True)
    assert list(histk(signed, [-128, 127, 0], 1).index) == [1]
    with pytest.raises(ValueError, match=r"\[-128, 127\] \(8-bit signed\), got 128"):
        histk(signed, [128], 1)


def test_examples_one_kind_per_folder(tmp_path, capsys):
    """`examples/` holds one kind of file per folder, so a glob in a command means one kind:
    every accelerator, model and pipeline file loads as its kind, and the README's
    `rpaccel study load examples/pipelines/*.toml` runs on all the pipelines."""
    from pathlib import Path

    from rpaccel.accel import load_accel
    from rpaccel.models import load_model
    from rpaccel.query import load_pipeline
    from rpaccel.sched.serving.sim import check_pipeline

    ex = Path(__file__).resolve().parents[1] / "examples"
    kinds = {p.name for p in ex.iterdir()}
    assert kinds == {"accelerators", "models", "pipelines", "traces"}, kinds
    for f in (ex / "accelerators").iterdir():
        load_accel(str(f))
    for f in (ex / "models").iterdir():
        load_model(str(f))
    pipes = sorted((ex / "pipelines").glob("*.toml"))
    assert len(pipes) >= 10 and all(check_pipeline(load_pipeline(str(f))) for f in pipes)
    rc, out, err = _run(capsys, ["study", "load", *map(str, pipes), "--qps", "50",
                                 "--queries", "200", "-o", str(tmp_path / "load")])
    assert rc == 0, err
    import csv

    with open(tmp_path / "load" / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(pipes)


def test_memory_bound_refused_before_the_work(tmp_path, capsys):
    """A run estimated to need more memory than the limit is refused in one line naming
    --queries and the limit, before anything runs or is written; the estimate bounds a
    measured run from above."""
    import subprocess
    import sys

    big = ["simulate", "examples/pipelines/sl-cpu.toml", "--qps", "1000", "--queries",
           "100000000", "--records", str(tmp_path / "r.csv")]
    rc, out, err = _run(capsys, big)
    assert rc == 2 and err.count("\n") == 1 and "--queries 100,000,000 needs about" in err
    assert "default limit" in err and not list(tmp_path.iterdir())
    rc, out, err = _run(capsys, ["simulate", "examples/pipelines/sl-cpu.toml", "--qps", "10",
                                 "--queries", "1000000", "--memory-limit-gb", "0.1"])
    assert rc == 2 and "over --memory-limit-gb 0.1" in err, err
    rc, out, err = _run(capsys, ["study", "load", "examples/pipelines/sl-cpu.toml", "--qps",
                                 "10", "--queries", "60000000", "--workers", "2", "-o",
                                 str(tmp_path / "s")])
    assert rc == 2 and "x --workers 2 needs about" in err and not list(tmp_path.iterdir())
    # the estimate bounds the heap a two-stage pipeline's 200,000 queries allocate at their
    # peak (Python's and numpy's allocations, traced), measured in a fresh process after a
    # small simulation has loaded and compiled everything (a compiler's peak would hide the
    # simulation's in the process's maximum RSS); a CPU pipeline: nothing else, such as an
    # executor profile, allocates
    from pathlib import Path

    from rpaccel.query import load_pipeline
    from rpaccel.sched.serving.sim import memory_estimate

    root = Path(__file__).resolve().parents[1]
    f = str(root / "examples" / "pipelines" / "sl-cpu.toml")
    q = 200_000
    code = ("import contextlib, io, sys, tracemalloc; from rpaccel.cli import main\n"
            "def run(q):\n"
            f"    assert main(['simulate', {f!r}, '--qps', '300', '--queries', str(q), "
            "'--json']) in (0, None)\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    run(1000); tracemalloc.start(); run(" + str(q) + ")\n"
            "print(tracemalloc.get_traced_memory()[1], file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]
    peak, est = int(r.stderr.strip().splitlines()[-1]), memory_estimate(load_pipeline(f), q)
    assert est / 3 < peak <= est, (peak, est)


def test_simulate_sla_never_met_says_none(capsys):
    """A target no load meets has no figure: "none" on the console, null in JSON (not 0.0);
    a target that is met prints its rate."""
    import json

    base = ["simulate", "examples/pipelines/sl-cpu.toml", "--qps", "10", "--queries", "200"]
    rc, out, err = _run(capsys, base + ["--sla-ms", "0.001"])
    assert rc == 0 and "max QPS with p95 <= 0.001 ms  none (no load meets it)" in out
    rc, out, err = _run(capsys, base + ["--sla-ms", "0.001", "--json"])
    assert json.loads(out)["max_qps_under_sla"] is None
    rc, out, err = _run(capsys, base + ["--sla-ms", "100", "--json"])
    assert json.loads(out)["max_qps_under_sla"] > 10


def test_modes_report_states_the_truth():
    """The modes study's sentences on known cases: saturated runs are marked, the largest
    error is taken below saturation only, and "none" when every point saturated."""
    from rpaccel.sched.studies.modes import _report

    def row(load, e95, p95, sat_e=False, sat_p=False):
        r = {"pipeline": "P", "accel": "A", "load": load, "qps": 100 * load,
             "exact_saturated": sat_e, "profile_saturated": sat_p}
        for m, v in (("exact", e95), ("profile", p95)):
            r.update({f"{m}_p50_ms": v / 2, f"{m}_p95_ms": v, f"{m}_p99_ms": v * 2})
        r["p95_error_pct"] = (p95 - e95) / e95 * 100 if e95 else None
        return r

    rows = [row(0.5, 1.0, 1.1), row(0.9, 10.0, 2.0, sat_e=True)]
    md = "\n".join(_report(rows, [], queries=300, seed=0, workload=None))
    assert "20.000 (saturated)" in md and "| -80.0 % |" in md
    assert "Largest p95 error below saturation: +10.0 % (P on A at 50% load)." in md
    md = "\n".join(_report([rows[1]], [], queries=300, seed=0, workload=None))
    assert "none (every point saturated)" in md
