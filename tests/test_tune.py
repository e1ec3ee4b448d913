"""`rpaccel study tune` (the preset's own knobs at equal area) and the embedding unit's cell
model it prices MSHRs and lanes with."""

import csv
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from rpaccel.accel import load_accel
from rpaccel.area import TECHNOLOGIES, embedding_cells_model, rollup
from rpaccel.config import EmbCacheConfig
from rpaccel.perfmodel import model_accel
from rpaccel.query import load_pipeline
from rpaccel.sched.studies import tune as T
from rpaccel.workload import load_workload

ROOT = Path(__file__).resolve().parents[1]
EXE = [sys.executable, "-m", "rpaccel.cli"]

#: The presets' embedding units synthesised with Yosys at 2 and 4 sets, the part independent of
#: the sets (docs/cost.md): held out of the model's fit.
PRESET_SYNTH_CELLS = {"tpu-like": 666_810, "rpaccel": 678_185}


@pytest.mark.parametrize("name", sorted(PRESET_SYNTH_CELLS))
def test_embedding_model_predicts_the_presets_syntheses(name):
    """The structural model, fitted on small units only, lands within 6 % of the full-size
    units' syntheses (120x more reorder-buffer bits than its largest fitted point)."""
    cells, how = embedding_cells_model(load_accel(name).embedding)
    assert abs(cells / PRESET_SYNTH_CELLS[name] - 1) < 0.06, cells
    assert "syntheses" in how


def test_embedding_model_prices_mshrs_lanes_and_the_rollup():
    """More MSHRs, lanes or reorder-buffer beats cost cells, and the roll-up adds the model's
    cells at the technology's area per cell."""
    e = load_accel("rpaccel").embedding
    c0 = embedding_cells_model(e)[0]
    for k, v in (("mshrs", 32), ("lanes", 4), ("rob_beats", 32)):
        assert embedding_cells_model(dataclasses.replace(e, **{k: v}))[0] < c0, k
    a = load_accel("rpaccel")
    with_model = rollup(a, embedding_cells=c0)["total_mm2"]
    without = rollup(a)["total_mm2"]
    assert with_model - without == pytest.approx(
        c0 * TECHNOLOGIES["recpipe-12nm"].um2_per_cell / 1e6)


@pytest.mark.verify
def test_embedding_model_on_a_new_synthesis():
    """A unit outside the fitted points, synthesised now (two Yosys runs, minutes): the model
    within 15 %."""
    from rpaccel.verif.synth import embedding_logic_cells

    e = EmbCacheConfig(dim=8, elem_width=8, tables=8, rows=512, static_rows=8, sets=16, ways=4,
                       mem_bits=64, lanes=2, mshrs=8, rob_beats=8)
    synth = embedding_logic_cells(e)[0]
    model = embedding_cells_model(e)[0]
    print(f"synthesised {synth:,}, model {model:,}")
    assert abs(model / synth - 1) < 0.15


def test_tune_knobs_keep_the_embedding_capacity():
    """The static/dynamic trade keeps tables x static rows + sets x ways lines; a change of
    ways keeps the dynamic cache's lines; a change of sets changes the area."""
    b = load_accel("rpaccel")
    e = b.embedding
    s = T._state(b, b.serve.sub_batch, b.serve.subarrays)
    total = e.tables * e.static_rows + e.sets * e.ways
    vals = T.knob_values("static-dynamic", s, b)
    assert (e.static_rows, e.sets) in vals and (0, total // e.ways) in vals and len(vals) > 3
    for static, sets in vals:
        assert e.tables * static + sets * e.ways == total
        assert sets & (sets - 1) == 0
    for w in T.knob_values("ways", s, b):
        st = T.moved(s, "ways", w)
        assert st["sets"] * w == e.sets * e.ways
        acc = T.build(b, st)[0]
        assert acc.embedding.sets * acc.embedding.ways == e.sets * e.ways
    # the sets knob changes the capacity, and the area with it
    sets = T.knob_values("sets", s, b)
    assert sets == [e.sets // 4, e.sets // 2, e.sets, 2 * e.sets, 4 * e.sets]
    areas = [T.accel_area_mm2(T.build(b, T.moved(s, "sets", x))[0]) for x in sets]
    assert areas == sorted(areas) and len(set(areas)) == len(areas)


def test_tune_small_study(tmp_path):
    """Two knobs, one workload, one pass: every accepted configuration fits the budget, the best
    is the highest-scoring configuration evaluated, the base's figures are the executor's
    steady cycles per query, and the recommended accelerator file loads."""
    wl = load_workload("criteo-kaggle")
    out = tmp_path / "t"
    res = T.tune_study(out, workloads=(wl,), knobs=("mshrs", "sub-batch"), queries=3, warmup=1,
                       passes=1, progress=False)
    with (out / "tune.csv").open() as f:
        rows = list(csv.DictReader(f))
    budget = res["budget_mm2"]
    scored = [r for r in rows if r["score"] and r["step"] != "cross"]
    assert len(scored) == 6                 # base + 2 MSHR values + 3 sub-batches
    assert all(float(r["area_mm2"]) <= budget + 1e-9 for r in scored)
    best = next(r for r in res["best"] if r["role"] == "best")
    assert best["score"] == pytest.approx(max(float(r["score"]) for r in scored))
    scores = [p["score"] for p in res["path"]]
    assert scores == sorted(scores) and len(set(scores)) == len(scores)
    # the base, measured independently: RM-large on all four sub-arrays, the preset's sub-batch
    a = load_accel("rpaccel")
    rm = load_pipeline("rm-large").accel_program()
    rm = dataclasses.replace(rm, stages=(dataclasses.replace(rm.stages[0], subarrays=4),))
    r = model_accel(a, rm, sub_batch=a.serve.sub_batch, queries=3, seed=0, workload=wl)
    ends = [f + lat for f, lat in zip(r.first_beat, r.latency)]
    base = next(x for x in res["best"] if x["role"] == "base")
    assert base["RM-large [4096] queries/s"] == pytest.approx(
        1e9 / ((ends[2] - ends[0]) / 2 * a.clock_ns))
    rec = load_accel(str(out / "configs" / "recommended.toml"))
    assert T.accel_area_mm2(rec) <= budget + 1e-9
    md = (out / "tune.md").read_text()
    assert "Should the preset change?" in md and "Against the roofline" in md
    for f in ("tune.csv", "path.csv", "best.csv", "cross.csv", "roofline.csv", "tune.png",
              "manifest.json", "configs/best-criteo-kaggle.toml"):
        assert (out / f).exists(), f


@pytest.mark.parametrize("bad, msg", [
    (["--budget-mm2", "1"], "budget_mm2 must be >="),
    (["--queries", "3", "--warmup", "3"], "warmup"),
    (["--knobs", "mshrs,colour"], "knobs must be one or more of"),
    (["--workloads", "nosuch"], "nosuch"),
    (["--accel", "tpu-like", "--queries", "2", "--warmup", "1", "--workloads", "uniform-1m"],
     "accel: the base accelerator cannot run"),
])
def test_tune_bad_input(tmp_path, bad, msg):
    out = tmp_path / "bad"
    r = subprocess.run(EXE + ["study", "tune", *bad, "-o", str(out)], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    assert msg in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
