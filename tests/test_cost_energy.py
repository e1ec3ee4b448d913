"""Energy and the area roll-up: the energy table's strict loading, SRAM energy by macro size,
a query's energy from the executor's counts, power and QPS per watt in study rows, and the
roll-up of the rpaccel / tpu-like presets."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rpaccel.accel import load_accel
from rpaccel.query import load_pipeline
from rpaccel.area import CELLS_PER_EXTRA_SUBARRAY, TECHNOLOGIES, rollup
from rpaccel.perfmodel import model_accel
from rpaccel.query import place
from rpaccel.sched.cost.energy import load_energy, query_energy, static_w

EXE = [sys.executable, "-m", "rpaccel.cli"]
GOOD = __import__("pathlib").Path(__import__("rpaccel").__file__).with_name(
    "presets").joinpath("energy-45nm.toml").read_text()


def test_table_has_a_source_for_every_number():
    t = load_energy("45nm")
    assert t.action_pj["mac_int8"] == 0.3 and t.action_pj["dram_byte"] == 325.0
    for k in (*t.action_pj, "sram", "static", "cpu_core_w", "gpu_w"):
        assert t.sources[k].strip(), k
    # Horowitz's three points, and log-linear between them
    assert [t.sram_pj_per_byte(c) for c in (8192, 32768, 1 << 20)] == [1.25, 2.5, 12.5]
    mid = t.sram_pj_per_byte(16384)
    assert mid == pytest.approx(1.875)
    caps = [1 << i for i in range(10, 26)]
    e = [t.sram_pj_per_byte(c) for c in caps]
    assert e == sorted(e)


@pytest.mark.parametrize("edit, msg", [
    (("mac_int8 = { pj = 0.3,", "mac_int8 = { pj = -0.3,"), "mac_int8.pj must be a number >= 0"),
    (('vector_op = { pj = 0.2, source = "Horowitz 2014: bias add + shift/ReLU, two 32-bit '
      'adds (0.1 pJ each)" }\n', ""), "missing entry 'vector_op'"),
    (("[static]", "[static]\nspeed = 1"), "unknown key 'speed'"),
    (("points = [[8192, 1.25], [32768, 2.5]", "points = [[32768, 1.25], [8192, 2.5]"),
     "capacities must increase"),
    (('source = "Horowitz 2014: 10 / 20', 'source = "" #'), "source must name"),
])
def test_bad_tables(tmp_path, edit, msg):
    assert edit[0] in GOOD
    f = tmp_path / "e.toml"
    f.write_text(GOOD.replace(*edit))
    with pytest.raises(ValueError, match=msg):
        load_energy(f)
    r = subprocess.run(EXE + ["cost", "energy", "--config", "tiny", "--pipeline", "tiny",
                              "--energy", str(f)], capture_output=True, text=True)
    assert r.returncode == 2 and msg.split("'")[0] in r.stderr and r.stderr.count("\n") == 1


def test_query_energy_from_counts():
    """The MACs the executor counts are the pipeline's own (items x sum of K x N per stage); the
    MAC energy prices the array's PE MACs (every PE of a sub-array for every streamed row of
    every tile, padding included), and each component is its count times the table."""
    a, p = load_accel("tiny"), load_pipeline("tiny")
    r = model_accel(a, p, seed=3)
    macs = sum(n * sum(k * m for _, _, k, m in st.model.layers())
               for n, st in zip(p.items, p.stages))
    assert r.events["macs"] == macs
    pl = place(a, p)
    eng = a.group_array(True)
    pe_macs = beats = 0
    for s, st in enumerate(p.stages):
        rows = pl.plans[s].sub_batches * pl.groups[s][1] * pl.chunk_rows[s]
        assert rows >= p.items[s]
        pe_macs += rows * sum(-(-k // eng.rows) * -(-n // eng.cols) for _, _, k, n in
                              st.model.layers()) * eng.rows * eng.cols
        beats += rows * sum(-(-n // eng.cols) for _, _, _, n in st.model.layers())
    assert pe_macs > macs
    t = load_energy("45nm")
    e = query_energy(a, r.events, r.embedding, t)
    assert e["mac"] == pytest.approx(pe_macs * 0.3)
    # every C beat (one row of one N tile) goes through cols lanes of bias + shift + ReLU
    assert r.events["c_beats"] == beats
    assert e["vector"] == pytest.approx(beats * eng.cols * 0.2)
    assert e["dram"] == pytest.approx(r.embedding["misses"] * a.embedding.row_bytes * 325.0)
    assert e["total_pj"] == pytest.approx(sum(v for k, v in e.items() if k != "total_pj"))
    out = json.loads(subprocess.run(EXE + ["cost", "energy", "--config", "tiny", "--pipeline",
                                           "tiny", "--seed", "3", "--json"],
                                    capture_output=True, text=True).stdout)
    assert out["cycles"] == r.cycles and out["energy_pj"]["mac"] == pytest.approx(pe_macs * 0.3)


def test_rollup_of_the_presets():
    t = TECHNOLOGIES["recpipe-12nm"]
    rp, tpu = rollup(load_accel("rpaccel")), rollup(load_accel("tpu-like"))
    # the array: 16 of our 32x32 engine (calibrated on RecPipe's MMU), plus 3 sub-array
    # overheads for the 2x2 split
    arr = rp["components"]["systolic array"]["um2"]
    assert arr == pytest.approx(16 * 506_891.6 + 3 * CELLS_PER_EXTRA_SUBARRAY * t.um2_per_cell)
    assert tpu["components"]["systolic array"]["um2"] == pytest.approx(16 * 506_891.6)
    # SRAM by capacity: 4 weight memories of 512 KiB on rpaccel, one on tpu-like
    w = rp["components"]["weight SRAM"]
    assert w["bytes"] == 4 * 524_288 and w["um2"] == pytest.approx(
        4 * 524_288 * 8 * 183_290 / (256 * 1024 * 8))
    assert tpu["components"]["weight SRAM"]["bytes"] == 524_288
    # without a synthesis, the filters at 125,946 cells per 256 entries (our k_max 256 x 1 filter)
    f = rp["components"]["filter units"]
    assert f["cells"] == 4 * round(125_946 / 256 * 1024 * 8)
    assert f["um2"] == pytest.approx(f["cells"] * t.um2_per_cell)
    assert rp["total_mm2"] > tpu["total_mm2"]
    assert static_w(load_accel("rpaccel")) == pytest.approx(3.61e-3 * rp["total_mm2"])


def test_power_and_qps_per_watt_in_study_rows():
    from rpaccel.sched.serving.sim import check_pipeline

    def sched_pipeline(f):
        return check_pipeline(load_pipeline(f))
    from rpaccel.sched.studies.search import load_sweep

    root = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples"
    rows = load_sweep([sched_pipeline(root / "pipelines/sl-cpu.toml"), sched_pipeline(
        root / "pipelines/s-l.toml"), sched_pipeline(root / "pipelines/rm-large-accel.toml")], [100.0],
        queries=500, progress=False)
    cpu, rp, art = rows
    assert cpu["power_w"] == pytest.approx(32 * 7.3)          # 16 + 16 cores at 205 W / 28
    assert cpu["qps_per_w"] == pytest.approx(cpu["achieved_qps"] / cpu["power_w"])
    p = load_accel("rpaccel")
    ex = model_accel(p, load_pipeline("s-l"))
    dyn = query_energy(p, ex.events, ex.embedding, load_energy("45nm"),
                       item_bytes=13 + 4 * 26)["total_pj"] * 1e-12
    assert rp["power_w"] == pytest.approx(static_w(p) + dyn * rp["achieved_qps"])
    assert art["power_w"] is None and art["qps_per_w"] is None   # no energy model
    assert np.isfinite(rp["qps_per_w"]) and rp["qps_per_w"] > 10 * cpu["qps_per_w"]


@pytest.mark.verify
@pytest.mark.xdist_group("synth")
def test_cost_area_accel_cli():
    """`rpaccel cost area --accel tiny`: the filters synthesised at the config, one per
    sub-array; the embedding unit (16 sets) fitted from its 2- and 4-set syntheses, keeping the
    part that does not grow with the sets; every SRAM component. Opt-in (``make verify``: three
    Yosys syntheses, about two CPU-minutes); ``make test`` synthesises a small GEMM engine
    (``test_cli.py``)."""
    from rpaccel.config import TopkConfig
    from rpaccel.verif.synth import synth_stats

    r = subprocess.run(EXE + ["cost", "area", "--accel", "tiny", "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    a = load_accel("tiny")
    assert d["recpipe_mm2"] is None
    c = d["components"]
    tk = TopkConfig(k_max=a.topk.k_max, lanes=a.topk.lanes, score_width=a.topk.score_width,
                    id_width=a.topk.id_width, signed_scores=True)
    fcells = synth_stats("topk", tk)["cells"]
    assert c["filter units"]["cells"] == 4 * fcells
    emb = a.embedding
    assert emb.sets == 16
    c2, c4 = (synth_stats("embcache", __import__("dataclasses").replace(emb, sets=s))["cells"]
              for s in (2, 4))
    # cells = fixed + per_set x sets through the two points; fixed = 2 x c2 - c4
    assert c4 > c2 and c["embedding unit logic"]["cells"] == 2 * c2 - c4
    assert "2 / 4 sets synthesised" in c["embedding unit logic"]["how"]
    assert d["total_mm2"] == pytest.approx(rollup(a, filter_cells=fcells,
                                                  embedding_cells=2 * c2 - c4)["total_mm2"])


def test_cost_area_accel_rollup_and_bad_combinations():
    """Without synthesis: a filter's cells count once per sub-array, a platform without an
    on-chip filter says so, and `cost area` needs exactly one of --unit and --accel (exit 2)."""
    tpu = rollup(load_accel("tpu-like"))
    assert tpu["components"]["filter units"]["how"] == "none (no on-chip filter)"
    for bad in (["--unit", "gemm", "--accel", "rpaccel"], []):
        r = subprocess.run(EXE + ["cost", "area", *bad], capture_output=True, text=True)
        assert r.returncode == 2 and "exactly one of --unit UNIT or --accel CONFIG" in r.stderr
    # a filter's cells are added per sub-array
    r4 = rollup(load_accel("rpaccel"), filter_cells=1000)
    assert r4["components"]["filter units"]["cells"] == 4000
