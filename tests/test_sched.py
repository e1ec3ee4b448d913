"""System-study core: catalog, platforms (artifact model to the printed digit), workloads and the
simulator against closed-form queueing results."""

import math

import numpy as np
import pytest

from rpaccel.models import CATALOG, get_model, model_from_dict
from rpaccel.sched.platforms.hosts import CpuCore, Gpu, GpuTable, RecPipeArtifactAccel, get_platform
from rpaccel.query import Pipeline, StageSpec as Stage
from rpaccel.query import load_pipeline as _load
from rpaccel.sched.serving.sim import check_pipeline, fifo_pool, simulate
from rpaccel.sched.serving.workload import arrivals, sizes


def load_pipeline(f):
    """A pipeline file, checked for simulation (as `rpaccel simulate` loads it)."""
    return check_pipeline(_load(f))


# ---- models ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, macs, emb_bytes", [
    ("dlrm-rmc1", 100_416, 81_920), ("dlrm-rmc2", 319_552, 983_040),
    ("dlrm-rmc3", 3_203_328, 25_600), ("wnd", 2_064_640, 3_456), ("mt-wnd", 2_621_440, 5_504),
    ("ncf", 147_456, 1_024), ("din", 41_888, 1_536), ("dien", 785_440, 5_504),
])
def test_deeprecinfra_per_item_work(name, macs, emb_bytes):
    """MACs and embedding bytes per item as DEEPRECSYS.md section 1 computes them."""
    m = CATALOG[name]
    assert m.macs_per_item == macs and m.emb_bytes_per_item == emb_bytes
    assert m.flops_per_item == 2 * macs


def test_recpipe_models():
    large = CATALOG["rm-large"]
    assert large.top_mlp == (864, 96, 1) and large.lookups_per_item == 26
    assert large.emb_bytes_per_item == 4 * 32 * 26
    # RecPipe's MACs/item column (180,832) excludes the 27*dim top input layer
    assert large.macs_per_item - 864 * 96 == 180_832


def test_model_loading_rejects_unknown_keys(tmp_path):
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['tabels'\]"):
        model_from_dict({"name": "x", "tables": [], "tabels": []})
    f = tmp_path / "m.toml"
    f.write_text('name = "tiny"\nbottom_mlp = [4, 2]\n[[tables]]\ncount = 2\nrows = 10\ndim = 8\n')
    m = get_model(str(f))
    assert m.emb_bytes_per_item == 2 * 8 * 4 and m.macs_per_item == 8
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        get_model("nope")


# ---- platforms ------------------------------------------------------------------------------
def test_artifact_rm_large_hc1_breakdown():
    acc = RecPipeArtifactAccel("hc1")
    c = {k: float(v) for k, v in acc.cycles(CATALOG["rm-large"], 4096).items()}
    assert c["pcie_in"] == 17_000 and c["emb_sram"] == 106_496 and c["sort"] == 32
    assert round(c["emb_dram"], 1) == 24_895.5
    assert round(c["total"], 1) == 261_343.0
    assert round(float(acc.service_time(CATALOG["rm-large"], 4096)) * 1e3, 7) == 2.0907438


# RECPIPE.md section 4.2, every printed value (ms, 4 decimals)
TABLE = {
    ("rm-small", 128): (0.0992, 0.1060, 0.1380, 0.5793),
    ("rm-small", 512): (0.1328, 0.1497, 0.2372, 1.3162),
    ("rm-small", 4096): (0.4466, 0.5573, 1.1632, 8.1947),
    ("rm-med", 128): (0.1219, 0.1457, 0.2562, 1.9280),
    ("rm-med", 512): (0.2017, 0.2625, 0.5583, 4.7260),
    ("rm-med", 4096): (0.9462, 1.3534, 3.3787, 30.8404),
    ("rm-large", 128): (0.2181, 0.4250, 1.1181, 10.8964),
    ("rm-large", 512): (0.3994, 0.8371, 2.3340, 18.9470),
    ("rm-large", 1024): (0.6410, 1.3866, 3.9551, 29.6812),
    ("rm-large", 2048): (1.1242, 2.4856, 7.1975, 51.1497),
    ("rm-large", 4096): (2.0907, 4.6835, 13.6822, 94.0865),
    ("rm-large", 8192): (4.0238, 9.0794, 26.6516, 179.9603),
    ("rm-large", 12288): (5.9568, 13.4753, 39.6210, 265.8340),
}


@pytest.mark.parametrize("key", list(TABLE))
def test_artifact_per_stage_table(key):
    model, items = key
    for hc, want in zip(("hc1", "hc4", "hc16", "hc64"), TABLE[key]):
        got = float(RecPipeArtifactAccel(hc).service_time(CATALOG[model], items)) * 1e3
        assert round(got, 4) == want, (model, items, hc)


def test_artifact_pipeline_examples():
    hc4 = RecPipeArtifactAccel("hc4")
    s = lambda m, n: float(hc4.service_time(CATALOG[m], n)) * 1e3
    assert round(s("rm-small", 4096) + s("rm-large", 512), 4) == 1.3944
    assert round(s("rm-small", 4096) + s("rm-med", 512) + s("rm-large", 128), 4) == 1.2448
    hc1 = RecPipeArtifactAccel("hc1")
    got = [round(float(hc1.service_time(CATALOG["rm-large"], n)) * 1e3, 4)
           for n in (6140, 8192, 10240, 12288)]
    assert got == [3.0554, 4.0238, 4.9903, 5.9568]


@pytest.mark.parametrize("name, inference_ms", [("rm-small", 23.8), ("rm-med", 26.5),
                                                ("rm-large", 47.5)])
def test_cpu_within_15_percent_of_recpipe(name, inference_ms):
    b = CpuCore().breakdown(CATALOG[name], 4096)
    assert abs(b["inference_s"] * 1e3 - inference_ms) <= 0.15 * inference_ms
    assert 5.1 * 0.85 <= b["preprocess_s"] * 1e3 <= 5.4 * 1.15
    assert 1.3 * 0.85 <= b["sort_s"] * 1e3 <= 1.4 * 1.15


def test_gpu_recpipe_figures_and_shape():
    g, cpu = Gpu(), CpuCore()
    assert abs(g.breakdown(CATALOG["rm-small"], 4096)["inference_s"] * 1e3 - 4.7) < 0.7
    assert abs(g.breakdown(CATALOG["rm-large"], 4096)["inference_s"] * 1e3 - 6.2) < 0.93
    for m in CATALOG.values():   # DeepRecSys: slower than a CPU core at batch 1, faster at 1024
        assert g.service_time(m, 1) > cpu.service_time(m, 1), m.name
        assert g.service_time(m, 1024) < cpu.service_time(m, 1024), m.name


def test_gpu_table_log4_interpolation():
    t = GpuTable({"wnd": [1, 2, 3, 4, 5, 6]})
    m = CATALOG["wnd"]
    assert t.service_time(m, 2) == pytest.approx(1.5)       # (t1 + t4) / 2
    assert t.service_time(m, 32) == pytest.approx(3.5)      # (t16 + t64) / 2
    assert t.service_time(m, 512) == pytest.approx(5.5)
    assert t.service_time(m, 10_000) == pytest.approx(6.0)  # clamped


def test_platform_names():
    assert get_platform("recpipe-artifact:hc16").hc.array == 32
    with pytest.raises(ValueError, match="unknown platform 'tpu'"):
        get_platform("tpu")
    with pytest.raises(ValueError, match="unknown hardconf 'hc2'"):
        get_platform("recpipe-artifact:hc2")


# ---- workloads ------------------------------------------------------------------------------
def test_size_postprocessing_and_lognormal():
    s = sizes("lognormal", 400_000, 7, mu=5.1, sigma=0.2)
    assert abs(np.median(s) - 164) <= 1 and abs(np.percentile(s, 95) - 227.5) <= 2
    n = sizes("normal", 1000, 1, mean=165, sd=10_000)
    assert n.min() >= 1 and n.max() <= 1024


def test_arrival_statistics():
    seed = 11
    print(f"seed={seed}")
    a = arrivals("poisson", 100.0, 200_000, seed)
    g = np.diff(a)
    assert abs(g.mean() - 0.01) < 2e-4 and abs(g.std() / g.mean() - 1) < 0.02
    ms = np.diff(arrivals("poisson-ms", 100.0, 200_000, seed)) * 1e3
    assert np.allclose(ms, np.round(ms)) and abs(ms.std() / ms.mean() - 1 / math.sqrt(10)) < 0.02
    assert np.allclose(np.diff(arrivals("constant", 50.0, 10)), 0.02)


def test_workload_bad_input(tmp_path):
    with pytest.raises(ValueError, match="qps must be a number > 0"):
        arrivals("poisson", -1.0, 10)
    with pytest.raises(ValueError, match="arrival must be one of"):
        arrivals("bursty", 1.0, 10)
    f = tmp_path / "arr.txt"
    f.write_text("0.1\n0.2\nabc\n")
    with pytest.raises(ValueError, match=r"line 3: not a number"):
        arrivals("file", 1.0, 3, path=str(f))


# ---- simulator --------------------------------------------------------------------------------
def test_fifo_pool_hand_case():
    # 2 engines: jobs at t=0 (3 s), 0 (1 s), 0.5 (1 s), 2 (1 s)
    ends = fifo_pool([0, 0, 0.5, 2], [3, 1, 1, 1], 2)
    assert ends.tolist() == [3, 1, 2, 3]


def test_mmc_mean_wait_matches_erlang_c():
    seed = 3
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    lam, mu, c, n = 3.0, 1.0, 4, 400_000
    arr = np.cumsum(rng.exponential(1 / lam, n))
    svc = rng.exponential(1 / mu, n)
    wait = (fifo_pool(arr.tolist(), svc.tolist(), c) - svc - arr)[n // 10:]
    a, rho = lam / mu, lam / (c * mu)
    s = sum(a**k / math.factorial(k) for k in range(c))
    pc = (a**c / math.factorial(c)) / ((1 - rho) * s + a**c / math.factorial(c))
    wq = pc / (c * mu - lam)
    assert abs(wait.mean() - wq) / wq < 0.05


def test_md1_through_simulate():
    """Deterministic service (a platform), Poisson arrivals, one engine: Pollaczek-Khinchine."""
    st = Stage("rm-large", "recpipe-artifact:hc1", 1, items=4096)
    d = float(RecPipeArtifactAccel("hc1").service_time(CATALOG["rm-large"], 4096))
    rho = 0.7
    n = 200_000
    r = simulate(Pipeline((st,)), arrivals("poisson", rho / d, n, 5), sizes("fixed", n, mean=4096))
    wq = rho * d / (2 * (1 - rho))
    assert abs((r.mean_s - d) - wq) / wq < 0.05
    assert not r.saturated and abs(r.utilization["stage0:recpipe-artifact:hc1"] - rho) < 0.02


def test_split_and_offload():
    # one CPU engine, batch 64: a 165-item query -> pieces 64, 64, 37 served back to back
    st = Stage("wnd", "cpu", 1, batch=64)
    cpu = CpuCore()
    m = CATALOG["wnd"]
    r = simulate(Pipeline((st,)), np.array([0.0]), np.array([165]), warmup=0)
    want = 2 * float(cpu.service_time(m, 64)) + float(cpu.service_time(m, 37)) + float(cpu.sort_time(165))
    assert r.records["latency_s"][0] == pytest.approx(want)
    # threshold 165: 165 goes whole to the GPU, 164 stays on the CPU
    st = Stage("wnd", "cpu", 4, batch=64, gpu_threshold=165)
    r = simulate(Pipeline((st,)), np.array([0.0, 0.0]), np.array([165, 164]), warmup=0)
    g = Gpu()
    assert r.records["stage0_done_s"][0] == pytest.approx(
        float(g.service_time(m, 165)) + float(cpu.sort_time(165)))


def test_overload_reported_saturated():
    st = Stage("rm-large", "cpu", 2, items=4096)
    d = float(CpuCore().service_time(CATALOG["rm-large"], 4096))
    r = simulate(Pipeline((st,)), arrivals("poisson", 3 / d, 5000, 1), sizes("fixed", 5000, mean=4096))
    assert r.saturated


def test_deterministic():
    p = Pipeline((Stage("rm-small", "cpu", 8, items=4096), Stage("rm-large", "cpu", 8, items=512)))
    a, s = arrivals("poisson", 150, 3000, 9), sizes("fixed", 3000, mean=4096)
    assert simulate(p, a, s).summary() == simulate(p, a, s).summary()


def test_pipeline_file_errors(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('[[stage]]\nmodel = "rm-large"\nplatform = "cpu"\nengines = 0\n')
    with pytest.raises(ValueError, match=r"stage\[0\]: stage engines must be an integer in \[1, 4096\], got 0"):
        load_pipeline(f)
    f.write_text('[[stage]]\nmodel = "rm-large"\nplatform = "cpu"\nengines = 4097\n')
    with pytest.raises(ValueError, match=r"stage engines must be an integer in \[1, 4096\], got 4097"):
        load_pipeline(f)
    f.write_text('[[stage]]\nmodel = "rm-large"\nplatfrom = "cpu"\nengines = 1\n')
    with pytest.raises(ValueError, match=r"unknown key 'platfrom'"):
        load_pipeline(f)
    f.write_text('[[stage]\n')
    with pytest.raises(ValueError, match="pipeline file"):
        load_pipeline(f)


def test_achieved_qps_and_latency_aggregation_reference():
    # DEEPRECSYS.md check 12: pieces of one query arriving at 0 s end at 10, 14, 12 ms -> 14 ms.
    # Here: one query of 3 pieces on 3 engines, the largest piece defines the latency.
    st = Stage("wnd", "cpu", 3, batch=64)
    cpu = CpuCore()
    r = simulate(Pipeline((st,)), np.array([0.0]), np.array([150]), warmup=0)
    want = max(float(cpu.service_time(CATALOG["wnd"], 64)), float(cpu.service_time(CATALOG["wnd"], 22)))
    assert r.records["latency_s"][0] == pytest.approx(want + float(cpu.sort_time(150)))
    # check 13: measured queries / span of their completion times
    st = Stage("rm-large", "recpipe-artifact:hc1", 1, items=4096)
    n = 2049
    r = simulate(Pipeline((st,)), np.arange(n) * 0.01, np.full(n, 4096), warmup=1)
    assert r.achieved_qps == pytest.approx(2048 / 20.47)


def test_size_file_and_gpu_table_platform(tmp_path):
    f = tmp_path / "sizes.txt"
    f.write_text("# percentile table\n10\n20\n\n30\n")
    s = sizes("file", 3000, 1, path=str(f))
    assert set(np.unique(s)) == {10, 20, 30}
    g = get_platform("gpu-table")
    m = CATALOG["dien"]
    assert float(g.service_time(m, 64)) == pytest.approx(float(Gpu().service_time(m, 64)))
    # between table points the log4 interpolation is used, not the analytic model
    mid = 0.5 * (float(Gpu().service_time(m, 64)) + float(Gpu().service_time(m, 256)))
    assert float(g.service_time(m, 128)) == pytest.approx(mid)
    t = tmp_path / "t.json"
    t.write_text('{"wnd": [1, 2, 3]}')
    with pytest.raises(ValueError, match="need 6 positive times"):
        get_platform(f"gpu-table:{t}")


def test_records_csv_and_parquet(tmp_path):
    p = Pipeline((Stage("rm-small", "cpu", 2, items=4096),))
    r = simulate(p, arrivals("poisson", 20, 300, 2), sizes("fixed", 300, mean=4096))
    r.write_records(tmp_path / "r.csv")
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert len(rows) == 301 and rows[0].split(",")[:3] == ["query", "arrival_s", "items"]
    pq = pytest.importorskip("pyarrow.parquet")
    r.write_records(tmp_path / "r.parquet")
    t = pq.read_table(tmp_path / "r.parquet")
    assert t.num_rows == 300 and np.allclose(t.column("latency_s").to_numpy(), r.records["latency_s"])
    with pytest.raises(ValueError, match="must end in .csv or .parquet"):
        r.write_records(tmp_path / "r.txt")


def test_dot_interaction_macs():
    import dataclasses

    large = CATALOG["rm-large"]
    dot = dataclasses.replace(large, interaction="dot", top_mlp=(351 + 32, 96, 1))
    # DLRM dot interaction over 27 vectors of dim 32: 351 pairs x 32 MACs
    assert dot.interaction_macs == 351 * 32
    with pytest.raises(ValueError, match="interaction must be 'cat' or 'dot'"):
        dataclasses.replace(large, interaction="sum")
