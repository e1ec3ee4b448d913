"""RPAccel as a system-study platform (``rpaccel:PRESET``): the artifact preset reproduces the
RecPipe artifact's printed latencies, the executor-timed presets agree with ``rpaccel model
accel`` and (tiny) with the RTL, accelerator groups simulate with no contention exactly as the
executor runs one query, and bad placements are one-line errors."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rpaccel.accel import Fidelity, load_accel
from rpaccel.query import load_pipeline as accel_pipeline
from rpaccel.perfmodel import model_accel
from rpaccel.sched.platforms.rpaccel import RPAccelPlatform
from rpaccel.models import get_model
from rpaccel.sched.platforms.hosts import get_platform
from rpaccel.query import pipeline_from_dict as _from_dict
from rpaccel.query import load_pipeline as _load
from rpaccel.sched.serving.sim import check_pipeline, simulate


def pipeline_from_dict(d):
    """A system pipeline from a mapping, checked for simulation (as `rpaccel simulate` loads it)."""
    return check_pipeline(_from_dict(d))


def load_pipeline(f):
    """A pipeline file, checked for simulation (as `rpaccel simulate` loads it)."""
    return check_pipeline(_load(f))

ROOT = Path(__file__).resolve().parents[1]
EXE = [sys.executable, "-m", "rpaccel.cli"]

# RECPIPE.md section 4.2: per-stage latency (ms) printed by the artifact's model, and the
# hardconfs' array side and DRAM bandwidth (section 3).
HC = {"hc1": (128, 32.0), "hc4": (64, 8.0), "hc16": (32, 2.0), "hc64": (16, 0.125)}
PRINTED = [
    ("rm-small", 128, (0.0992, 0.1060, 0.1380, 0.5793)),
    ("rm-small", 512, (0.1328, 0.1497, 0.2372, 1.3162)),
    ("rm-small", 4096, (0.4466, 0.5573, 1.1632, 8.1947)),
    ("rm-med", 128, (0.1219, 0.1457, 0.2562, 1.9280)),
    ("rm-med", 512, (0.2017, 0.2625, 0.5583, 4.7260)),
    ("rm-med", 4096, (0.9462, 1.3534, 3.3787, 30.8404)),
    ("rm-large", 128, (0.2181, 0.4250, 1.1181, 10.8964)),
    ("rm-large", 512, (0.3994, 0.8371, 2.3340, 18.9470)),
    ("rm-large", 1024, (0.6410, 1.3866, 3.9551, 29.6812)),
    ("rm-large", 2048, (1.1242, 2.4856, 7.1975, 51.1497)),
    ("rm-large", 4096, (2.0907, 4.6835, 13.6822, 94.0865)),
]


def _artifact_slice(hc: str) -> RPAccelPlatform:
    a = load_accel("artifact")
    side, gib = HC[hc]
    arr = dataclasses.replace(a.array, rows=side, cols=side)
    return RPAccelPlatform(dataclasses.replace(a, array=arr, fidelity=dataclasses.replace(
        a.fidelity, dram_gib_s=gib)), f"artifact-{hc}")


def test_artifact_preset_reproduces_the_printed_table():
    plat = get_platform("rpaccel:artifact")
    b = plat.breakdown(get_model("rm-large"), 4096)
    assert round(b["cycles"], 1) == 261_343.0          # RECPIPE.md 4.1
    assert round(b["total_s"] * 1e3, 7) == 2.0907438
    assert (round(b["host_in_cycles"]), round(b["embedding_cycles"], 1), b["topk_cycles"],
            b["host_out_cycles"]) == (17_000, 131_391.5, 32.0, 5_000)
    for i, hc in enumerate(HC):
        p = _artifact_slice(hc)
        for model, n, ms in PRINTED:
            got = round(p.service_time(get_model(model), n) * 1e3, 4)
            assert got == ms[i], (model, n, hc, got, ms[i])


def _cli(*args, ok=True):
    r = subprocess.run(EXE + list(args), capture_output=True, text=True, cwd=ROOT)
    if ok:
        assert r.returncode == 0, r.stderr[-2000:]
    return r


@pytest.mark.parametrize("preset", ["rpaccel", "tpu-like"])
def test_model_stage_equals_model_accel(preset, tmp_path):
    """The platform's cycles are the executor's on the same program: `rpaccel model stage`
    against `rpaccel model accel` with the one-stage pipeline the [serve] table describes."""
    a = load_accel(preset)
    st = json.loads(_cli("model", "stage", "--platform", f"rpaccel:{preset}", "--model",
                         "rm-large", "--items", "4096", "--json").stdout)
    pipe = tmp_path / "p.toml"
    pipe.write_text(f'k_out = {a.serve.k_out}\n[[stage]]\nmodel = "rm-large"\nitems = 4096\n'
                    f'subarrays = {a.serve.subarrays}\n')
    sb = a.serve.sub_batch or 4096
    ac = json.loads(_cli("model", "accel", "--config", preset, "--pipeline", str(pipe),
                         "--sub-batch", str(sb), "--json").stdout)
    assert st["cycles"] == ac["cycles"] > 0
    assert st["fidelity"].startswith("executor")
    assert st["sub_batch"] == sb
    if preset == "tpu-like":
        # no on-chip filter: every score crosses the link, and the host sorts (artifact table)
        assert st["host_sort_s"] == pytest.approx(0.35e-3)
        assert ac["events"]["host_bytes_out"] == 4096 * a.result_bytes()
        assert ac["events"]["topk_compares"] == 0
        assert st["emb_static_hits"] == 0


def test_artifact_cli_and_sizes_beyond_one_pass():
    d = json.loads(_cli("model", "stage", "--platform", "rpaccel:artifact", "--model",
                        "rm-large", "--items", "4096", "--json").stdout)
    assert round(d["cycles"], 1) == 261_343.0 and d["fidelity"].startswith("serial")
    # a query above max_items runs as back-to-back passes: 2 x 4096 costs twice 4096
    p = get_platform("rpaccel:rpaccel")
    one = p.cycles(get_model("rm-small"), 4096)["cycles"]
    two = p.cycles(get_model("rm-small"), 8192)
    assert two["cycles"] == 2 * one and two["passes"] == 2
    # padding: 1000 items run as 4 sub-batches of 256 (1024 items); below one sub-batch of
    # 1,024 (the rpaccel preset's), a query runs whole
    assert get_platform("rpaccel:rpaccel-sb256").cycles(get_model("rm-small"),
                                                        1000)["items_padded"] == 1024
    assert p.cycles(get_model("rm-small"), 1000)["items_padded"] == 1000
    assert p.cycles(get_model("rm-small"), 3000)["items_padded"] == 3072


def test_no_contention_simulation_equals_the_executor():
    p = load_pipeline(ROOT / "examples" / "pipelines/s-l.toml")
    r = simulate(p, np.array([0.0]), np.array([4096]), warmup=0)
    ex = model_accel(load_accel("rpaccel"), accel_pipeline("s-l"))
    assert round(r.records["latency_s"][0] / 8e-9) == ex.latency[0] == ex.cycles
    # stage completions in order, stage 0 before the end
    assert 0 < r.records["stage0_done_s"][0] < r.records["stage1_done_s"][0]
    # well-spaced queries do not interact: every latency equals the executor's
    arr = np.arange(20) * ex.seconds * 3
    r = simulate(p, arr, np.full(20, 4096), warmup=0)
    assert np.allclose(r.records["latency_s"], ex.seconds, rtol=0, atol=1e-12)


def test_contention_close_to_back_to_back_executor():
    """All queries at once: the rigid-reservation model against the executor running the same
    back-to-back program (README: within 3 %)."""
    p = load_pipeline(ROOT / "examples" / "pipelines/s-l.toml")
    for q in (2, 4, 8):
        r = simulate(p, np.zeros(q), np.full(q, 4096), warmup=0)
        ex = model_accel(load_accel("rpaccel"), accel_pipeline("s-l"), queries=q)
        sim = r.records["latency_s"].max() / 8e-9
        assert abs(sim - ex.cycles) / ex.cycles < 0.03, (q, sim, ex.cycles)
        assert sim > r.records["latency_s"].min() / 8e-9     # they did queue


def _tiny_pipeline(tmp_path) -> Path:
    text = (ROOT / "examples" / "pipelines/tiny.toml").read_text()
    text = text.replace('"examples/', f'"{ROOT}/examples/')
    f = tmp_path / "sl-tiny.toml"
    f.write_text(text)
    return f


@pytest.mark.xdist_group("accel-tiny")
def test_tiny_group_equals_rtl(tmp_path):
    """The shipped tiny config: the simulated latency of one query (no contention), the
    executor and the RTL (`rpaccel sim accel`) give the same cycles."""
    p = load_pipeline(_tiny_pipeline(tmp_path))
    r = simulate(p, np.array([0.0]), np.array([128]), warmup=0)
    sim_cycles = round(r.records["latency_s"][0] / 8e-9)
    f = str(_tiny_pipeline(tmp_path))
    # one file, four commands: the accelerator commands take the pipeline's platform's config
    rtl = json.loads(_cli("sim", "accel", "--pipeline", f, "--seed", "0", "--json").stdout)
    assert rtl["cycles_match"] and rtl["values_match"]
    assert sim_cycles == rtl["rtl_cycles"] == rtl["model_cycles"]
    model = json.loads(_cli("model", "accel", "--pipeline", f, "--json").stdout)
    assert model["cycles"] == rtl["rtl_cycles"]
    prog = json.loads(_cli("compile", "--pipeline", f, "--json").stdout)
    assert prog["config"] == "tiny" and prog["sub_batch"] == 32 and prog["commands"]
    out = json.loads(_cli("simulate", f, "--qps", "1000", "--queries", "200", "--json").stdout)
    assert out["p50_s"] >= rtl["rtl_cycles"] * 8e-9 * (1 - 1e-12)


def test_full_size_sl_file_through_three_commands():
    """The full-size S->L file (`examples/pipelines/s-l.toml`) runs through `model accel`,
    `compile` and `simulate`; its cycles are the `s-l` preset's on `--config rpaccel`."""
    f = str(ROOT / "examples" / "pipelines/s-l.toml")
    model = json.loads(_cli("model", "accel", "--pipeline", f, "--seed", "1", "--json").stdout)
    preset = json.loads(_cli("model", "accel", "--config", "rpaccel", "--pipeline", "s-l",
                             "--seed", "1", "--json").stdout)
    assert model["cycles"] == preset["cycles"] == 144_298
    prog = json.loads(_cli("compile", "--pipeline", f, "--json").stdout)
    assert prog["config"] == "rpaccel" and prog["groups"] == [[0, 1], [1, 3]]
    out = json.loads(_cli("simulate", f, "--qps", "100", "--queries", "50", "--json").stdout)
    assert out["p50_s"] >= 144_091 * 8e-9 * (1 - 1e-12)
    bad = _cli("model", "accel", "--pipeline", str(ROOT / "examples" / "pipelines/sl-cpu.toml"), ok=False)
    assert bad.returncode == 2 and "--config is needed" in bad.stderr


def _stage(**kw):
    return {"model": "rm-small", "platform": "rpaccel:rpaccel", "engines": 1, "items": 4096,
            **kw}


@pytest.mark.parametrize("stages, top, msg", [
    ([_stage(subarrays=5)], {}, "subarrays must sum to at most"),
    ([_stage(subarrays=1)], {"sub_batch": 300}, "sub_batch=300 must divide stage[0].items=4096"),
    ([_stage(subarrays=1, sub_batch=256), _stage(model="rm-large", items=512, subarrays=3)],
     {}, "stage[0]: unknown key 'sub_batch'"),
    ([_stage(subarrays=1), _stage(model="rm-large", items=512, subarrays=3, engines=2)], {},
     "stage[1].engines must equal"),
    ([_stage(subarrays=1)], {"k_out": 2000}, "k_out = 2000 exceeds topk.k_max=1024"),
    ([{"model": "rm-small", "platform": "cpu", "engines": 1}], {"sub_batch": 8},
     "sub_batch is for pipelines with stages on an accelerator's sub-arrays"),
    ([_stage()], {"sub_batch": 8},
     "sub_batch is for pipelines with stages on an accelerator's sub-arrays"),
    ([_stage(platform="rpaccel:nope", subarrays=1)], {}, "unknown preset"),
    ([_stage(platform="rpaccel:tpu-like", subarrays=1),
      _stage(platform="rpaccel:tpu-like", subarrays=1, items=512)], {}, "needs a split array"),
])
def test_bad_groups(stages, top, msg):
    with pytest.raises(ValueError) as e:
        pipeline_from_dict({"stage": stages, **top})
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_bad_fidelity_and_cli_exit_2(tmp_path):
    with pytest.raises(ValueError, match="fidelity.gemm must be 'formula' or 'exact'"):
        Fidelity(gemm="fast")
    with pytest.raises(ValueError, match="needs every switch exact; fidelity.hits"):
        Fidelity(hits="fixed")
    bad = tmp_path / "a.toml"
    bad.write_text((ROOT / "examples" / "accelerators/rpaccel.toml").read_text()
                   + '\n[fidelity]\ngemm = "formula"\nschedule = "serial"\nspeed = 1\n')
    r = _cli("model", "stage", "--platform", f"rpaccel:{bad}", "--model", "rm-large",
             "--items", "64", ok=False)
    assert r.returncode == 2 and "unknown key 'speed'" in r.stderr and r.stderr.count("\n") == 1
    r = _cli("model", "stage", "--platform", "rpaccel:rpaccel", "--model", "ncf", "--items",
             "64", ok=False)
    assert r.returncode == 2 and "cannot run on an rpaccel platform" in r.stderr


def test_host_sort_in_simulation():
    """tpu-like filters on the host: the simulator adds the artifact's host-sort time."""
    st = {"model": "rm-small", "platform": "rpaccel:tpu-like", "engines": 1, "items": 4096}
    p = pipeline_from_dict({"stage": [st]})
    r = simulate(p, np.array([0.0]), np.array([4096]), warmup=0)
    svc = get_platform("rpaccel:tpu-like").service_time(get_model("rm-small"), 4096)
    assert r.records["latency_s"][0] == pytest.approx(svc + 0.35e-3, abs=1e-15)


def test_fidelity_ladder(tmp_path):
    """`rpaccel study fidelity`: starts at the artifact's printed numbers, ends at the
    rpaccel-sb256 preset's executor figures, one switch per rung; table, Markdown and PNG
    written."""
    from rpaccel.sched.studies.fidelity import RUNGS, SERVING_RUNGS, ladder_configs

    cfgs = ladder_configs()
    assert cfgs[0].fidelity == Fidelity.artifact() and cfgs[-1].fidelity == Fidelity()
    for a, b in zip(cfgs, cfgs[1:]):
        assert a != b                                  # every rung changes something
    out = tmp_path / "fid"
    d = json.loads(_cli("study", "fidelity", "-o", str(out), "--json").stdout)
    rows = d["rows"]
    assert [r["switch"] for r in rows] == [r[0] for r in RUNGS + SERVING_RUNGS]
    large, sl = "RM-large [4096] cycles", "S->L [4096, 512] cycles"
    assert rows[0][large] == 261_343.0                   # RECPIPE.md 4.1
    assert rows[0]["S->L [4096, 512] ms"] == round(0.4466 + 0.3994, 4)   # hc1 + hc1, 4.2
    plat = get_platform("rpaccel:rpaccel-sb256")
    hw = rows[len(RUNGS) - 1]                            # the last hardware rung
    assert hw[large] == plat.cycles(get_model("rm-large"), 4096)["cycles"]
    assert hw[sl] == model_accel(load_accel("rpaccel-sb256"), accel_pipeline("s-l")).cycles
    # the serving rungs: a warm stream without overlap, then a loaded one (queueing included),
    # each against a stream of the executor with the same arrivals
    warm, loaded = rows[len(RUNGS)], rows[len(RUNGS) + 1]
    ex = model_accel(load_accel("rpaccel-sb256"), accel_pipeline("s-l"), queries=16,
                     arrivals=[i * 2 * int(hw[sl]) for i in range(16)])
    assert warm[sl] == round(sum(ex.latency[8:]) / 8, 1)
    assert loaded[sl] > warm[sl] and loaded[large] > warm[large]
    for r, p in zip(rows[1:], rows):
        assert abs(r[f"{large[:-7]} effect cycles"] - (r[large] - p[large])) <= 0.11
    for f in ("fidelity.csv", "fidelity.md", "fidelity_waterfall.png", "manifest.json"):
        assert (out / f).stat().st_size > 100
    r = _cli("study", "fidelity", "-o", str(out), ok=False)
    assert r.returncode == 2 and "exists" in r.stderr


def test_rpaccel_placement_search(tmp_path):
    from rpaccel.sched.studies.search import _splits, rpaccel_placements

    assert _splits(2, 4) == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (3, 1)]
    assert len(_splits(3, 4)) == 4 and _splits(1, 4) == [(1,), (2,), (3,), (4,)]
    c = rpaccel_placements(["rm-small", "rm-large"], [[4096], [512, 4096, 300]],
                           sub_batches=(256, 8192), filters=("global",))
    # left out: 300 items (not a multiple of 256), 4096 survivors (above topk.k_max = 1024),
    # sub-batch 8192 (above items[0])
    assert len(c) == 6 and all("b256" in p.name and p.stages[1].items == 512 for p in c)
    assert all(sum(s.subarrays for s in p.stages) <= 4 for p in c)
    one = rpaccel_placements(["rm-large"], [[4096]], sub_batches=(256,))
    assert sorted(p.stages[0].subarrays for p in one) == [0, 1, 2, 3, 4]
    out = tmp_path / "pl"
    r = _cli("study", "placement", "--rpaccel", "rpaccel", "--models", "rm-small,rm-large",
             "--items", "4096,256/512", "--qps", "100,400", "--queries", "500",
             "--sub-batches", "256", "--filters", "global", "-o", str(out))
    assert "12 placements x 2 loads" in r.stdout
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 24 and (out / "pareto.csv").exists()
    bad = _cli("study", "placement", "--rpaccel", "rpaccel", "--models", "rm-small",
               "--items", "4096", "--qps", "100", "--filters", "best", "-o",
               str(tmp_path / "x"), ok=False)
    assert bad.returncode == 2 and "filters must be" in bad.stderr


def test_study_headline(tmp_path):
    """`rpaccel study headline` on a small budget, one workload, both accelerator timings: the
    report, its tables and PNGs; one comparison row per (workload, accel mode, platform);
    RPAccel's best multi-stage configuration is iso-quality and multi-stage, the baseline is
    tpu-like RM-large [4096], exact mode re-measures the same configurations, the ratios follow
    from the comparison table, features are ablated."""
    import csv

    out = tmp_path / "hl"
    r = _cli("study", "headline", "--queries", "300", "--quality-queries", "200",
             "--exact-queries", "20", "--workloads", "criteo-sample", "-o", str(out))
    assert "criteo-sample    exact    RPAccel vs tpu-like" in r.stdout
    for f in ("headline.md", "comparison.csv", "candidates.csv", "features.csv", "quality.csv",
              "headline.png", "features.png", "manifest.json",
              "configs/accel-no-static.toml", "configs/accel-no-sub-batching.toml"):
        assert (out / f).stat().st_size > 0, f
    rd = lambda f: list(csv.DictReader((out / f).read_text().splitlines()))    # noqa: E731
    rows = rd("comparison.csv")
    keys = [(c["workload"], c["accel_mode"], c["platform"]) for c in rows]
    assert len(keys) == len(set(keys)) and {k[1] for k in keys} == {"profile", "exact"}
    cmp = {(c["accel_mode"], c["platform"]): c for c in rows}
    md = (out / "headline.md").read_text()
    for mode in ("profile", "exact"):
        rp, tpu = cmp[mode, "rpaccel (multi-stage)"], cmp[mode, "tpu-like (RM-large [4096])"]
        assert "->" in rp["lbt_config"] and "rpaccel[" in rp["lbt_config"]
        assert tpu["lbt_config"] == "rm-large [4096] (global) on tpu-like"
        x = float(rp["lbt_qps"]) / float(tpu["lbt_qps"])
        assert f"| criteo-sample | {mode} |" in md and f"| {x:.2f} |" in md
    # exact mode re-measures the configurations profile mode found best
    assert cmp["exact", "rpaccel (multi-stage)"]["lbt_config"] == \
        cmp["profile", "rpaccel (multi-stage)"]["lbt_config"]
    # the CPU does not depend on the accelerator timing
    assert cmp["exact", "cpu"]["p95_ms_at_load"] == cmp["profile", "cpu"]["p95_ms_at_load"]
    assert "Why the figures differ" in md and ("gather-bound" in md or "GEMM-bound" in md)
    feats = rd("features.csv")
    assert feats[0]["configuration"] == "all features" and len(feats) == 4
    assert {f["workload"] for f in feats} == {"criteo-sample"}
    # the ablated accelerator files load and differ from the preset in the ablated field only
    a = load_accel(str(out / "configs" / "accel-no-static.toml"))
    assert a.embedding.static_rows == 0 and a.array == load_accel("rpaccel").array
    bad = _cli("study", "headline", "--qps", "0", "-o", str(tmp_path / "bad"), ok=False)
    assert bad.returncode == 2 and "qps must be > 0" in bad.stderr
    assert not (tmp_path / "bad").exists()
    bad = _cli("study", "headline", "--workloads", "nosuch", "-o", str(tmp_path / "bad"),
               ok=False)
    assert bad.returncode == 2 and "nosuch" in bad.stderr and not (tmp_path / "bad").exists()


def test_model_stage_on_tiny_equals_model_accel(tmp_path):
    """The shipped tiny config, one stage: a catalog-style model file on rpaccel:tiny gives the
    executor's cycles for the one-stage pipeline its [serve] table describes."""
    st = json.loads(_cli("model", "stage", "--platform", "rpaccel:tiny", "--model",
                         str(ROOT / "examples" / "models/tiny-s.toml"), "--items", "128",
                         "--json").stdout)
    pipe = tmp_path / "p.toml"
    pipe.write_text('k_out = 8\n[[stage]]\nitems = 128\nsubarrays = 0\nmodel = { dense = 6, '
                    'bottom = [6, 8, 4], tables = 3, top = [16, 8, 1] }\n')
    ac = json.loads(_cli("model", "accel", "--config", "tiny", "--pipeline", str(pipe),
                         "--sub-batch", "32", "--json").stdout)
    assert st["cycles"] == ac["cycles"] > 0 and st["sub_batch"] == 32
