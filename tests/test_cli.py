"""The `rpaccel` command line: outputs, JSON keys, exit codes, one-line errors, no partial files."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

RPACCEL = [sys.executable, "-m", "rpaccel.cli"]
SMALL = ["--rows", "2", "--cols", "3", "--max-m", "256", "--max-k", "512", "--max-n", "512"]


def run(*args, cwd=None):
    return subprocess.run([*RPACCEL, *args], capture_output=True, text=True, cwd=cwd)


def test_model_json_matches_api():
    from rpaccel.config import GemmConfig
    from rpaccel.perfmodel import gemm_cycles

    # hand-computed in test_perfmodel_gemm
    for buffering, ports, total in [("1", "1", 189), ("2", "1", 117), ("2", "2", 94)]:
        p = run("model", "gemm", "--rows", "4", "--cols", "4", "--m", "8", "--k", "9", "--n", "10",
                "--buffering", buffering, "--c-ports", ports, "--json")
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["model_cycles"] == total
        cfg = GemmConfig(rows=4, cols=4, weight_buffering=int(buffering), c_read_ports=int(ports))
        assert out["breakdown"] == gemm_cycles(cfg, 8, 9, 10).as_dict()
    p = run("model", "gemm", "--rows", "4", "--cols", "4", "--m", "1", "--k", "1", "--n", "1",
            "--buffering", "3")
    assert p.returncode == 2 and "weight_buffering must be an integer in [1, 2], got 3" in p.stderr


def test_model_text():
    p = run("model", "gemm", "--rows", "3", "--cols", "8", "--m", "1", "--k", "1", "--n", "1")
    assert p.returncode == 0 and "total cycles" in p.stdout and "weight loading" in p.stdout


@pytest.mark.parametrize("args, needle", [
    (["model", "gemm", "--rows", "0", "--cols", "4", "--m", "1", "--k", "1", "--n", "1"],
     "rows must be an integer in [1, 256], got 0"),
    (["model", "gemm", "--rows", "2", "--cols", "2", "--m", "0", "--k", "1", "--n", "1"],
     "m must be an integer in [1, 4096], got 0"),
    (["model", "gemm", "--rows", "2", "--cols", "2", "--m", "1", "--k", "513", "--n", "1"],
     "k must be an integer in [1, 512], got 513"),
    (["model", "gemm", "--rows", "2", "--cols", "2", "--m", "1", "--k", "1", "--n", "1.5"],
     "argument --n: invalid int value: '1.5'"),
    (["model", "gemm", "--rows", "2", "--cols", "2", "--in-width", "1", "--m", "1", "--k", "1",
      "--n", "1"], "in_width must be an integer in [2, 32], got 1"),
    (["model", "gemm", "--rows", "2", "--cols", "2", "--in-width", "16", "--acc-width", "24",
      "--m", "1", "--k", "1", "--n", "1"], "acc_width must be an integer in [32, 64], got 24"),
    (["sim", "gemm", *SMALL, "--m", "1", "--k", "1", "--n", "1", "--seed", "-1"],
     "seed must be an integer in [0, "),
    (["sim", "gemm", *SMALL, "--m", "1", "--k", "1", "--n", "1", "--backpressure", "1.5"],
     "--backpressure must be in [0, 1), got 1.5"),
    (["model", "gemm", "--rows", "2"], "the following arguments are required"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_one_line_exit_2(args, needle):
    p = run(*args)
    assert p.returncode == 2
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rpaccel: error: "), p.stderr
    assert needle in lines[0]
    assert "Traceback" not in p.stderr


def test_verilog_writes_file_and_bad_input_writes_nothing(tmp_path):
    out = tmp_path / "g.v"
    p = run("verilog", "gemm", "--rows", "2", "--cols", "3", "-o", str(out))
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert "module rpaccel_gemm(" in text and "module rpaccel_sram" in text
    bad = tmp_path / "bad.v"
    p = run("verilog", "gemm", "--rows", "0", "--cols", "3", "-o", str(bad))
    assert p.returncode == 2 and not bad.exists() and list(tmp_path.iterdir()) == [out]


@pytest.mark.xdist_group("2x3")
def test_sim_json_and_dump(tmp_path):
    seed = 4242
    dump = tmp_path / "dump"
    p = run("sim", "gemm", *SMALL, "--m", "6", "--k", "7", "--n", "11", "--seed", str(seed),
            "--json", "--dump", str(dump), "--idle", "0.2", "--backpressure", "0.3")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for key in ("rtl_cycles", "model_cycles", "cycles_match", "values_match", "seed"):
        assert key in out
    assert out["seed"] == seed and out["cycles_match"] and out["values_match"]
    assert out["rtl_cycles"] == out["model_cycles"]
    # Independent check of the hardware's answer from the dumped files.
    a, w, c = (np.load(dump / f) for f in ("a.npy", "w.npy", "c_rtl.npy"))
    assert a.shape == (6, 7) and w.shape == (7, 11)
    assert (c == a.astype(np.int64) @ w.astype(np.int64)).all()   # 8-bit ops: no 32-bit wrap
    meta = json.loads((dump / "config.json").read_text())
    assert meta["cfg"]["rows"] == 2 and meta["seed"] == seed


@pytest.mark.xdist_group("2x3")
def test_sim_text_and_waves(tmp_path):
    vcd = tmp_path / "w.vcd"
    p = run("sim", "gemm", *SMALL, "--m", "2", "--k", "3", "--n", "4", "--waves", str(vcd))
    assert p.returncode == 0, p.stderr
    assert "PASS" in p.stdout and "RTL cycles" in p.stdout
    head = vcd.read_text()[:20000]
    assert "$var" in head and "c_out__valid" in head


def test_topk_model_and_bad_input():
    p = run("model", "topk", "--k-max", "8", "--lanes", "4", "--n", "10", "--k", "8", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["one_query_cycles"] == 2 + 8    # 3 input beats, 8 results
    for args, needle in [(["--n", "5", "--k", "0"], "k must be an integer in [1, 8], got 0"),
                         (["--n", "-1", "--k", "2"], "n must be an integer in [0, 65536], got -1")]:
        p = run("model", "topk", "--k-max", "8", *args)
        assert p.returncode == 2 and p.stderr.strip() == f"rpaccel: error: {needle}"
    p = run("model", "topk", "--k-max", "8", "--lanes", "0", "--n", "1", "--k", "1")
    assert p.returncode == 2 and "lanes must be an integer in [1, 16], got 0" in p.stderr


@pytest.mark.xdist_group("topk-k8_l2")
def test_topk_sim_json_and_dump(tmp_path):
    dump = tmp_path / "d"
    p = run("sim", "topk", "--k-max", "8", "--lanes", "2", "--score-width", "8", "--id-width",
            "12", "--n", "40", "--k", "5", "--queries", "3", "--seed", "9", "--json",
            "--dump", str(dump), "--idle", "0.2", "--backpressure", "0.3")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["cycles_match"] and out["values_match"] and out["rtl_cycles"] == out["model_cycles"]
    d = json.loads((dump / "topk.json").read_text())
    for q in d["queries"]:   # independent check of the dumped hardware answer
        ref = sorted(zip(q["scores"], q["ids"]), key=lambda t: (-t[0], t[1]))[:5]
        assert list(zip(q["rtl_scores"], q["rtl_ids"])) == ref


def test_model_stage_artifact():
    p = run("model", "stage", "--platform", "recpipe-artifact:hc1", "--model", "rm-large",
            "--items", "4096", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert round(out["total_cycles"], 1) == 261343.0 and round(out["total_s"] * 1e3, 4) == 2.0907


@pytest.mark.parametrize("args, needle", [
    (["model", "stage", "--platform", "tpu", "--model", "rm-large", "--items", "1"],
     "unknown platform 'tpu'"),
    (["model", "stage", "--platform", "cpu", "--model", "rm-huge", "--items", "1"],
     "unknown model 'rm-huge'"),
    (["simulate", "examples/pipelines/sl-cpu.toml", "--qps", "0", "--queries", "10"], "qps must be > 0"),
    (["simulate", "examples/pipelines/sl-cpu.toml", "--qps", "10", "--queries", "0"],
     "queries must be an integer"),
    (["simulate", "missing.toml", "--qps", "10", "--queries", "10"], "pipeline file missing.toml"),
])
def test_sched_bad_input(args, needle):
    root = Path(__file__).resolve().parents[1]
    p = run(*args, cwd=root)
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], p.stderr


@pytest.mark.parametrize("example", ["rm-large-accel", "sl-cpu", "sml-gpu-cpu-accel"])
def test_simulate_examples_json_and_records(example, tmp_path):
    root = Path(__file__).resolve().parents[1]
    rec = tmp_path / "r.csv"
    p = run("simulate", str(root / "examples" / "pipelines" / f"{example}.toml"), "--qps", "80", "--queries",
            "2000", "--seed", "4", "--json", "--records", str(rec))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for key in ("mean_s", "p50_s", "p95_s", "p99_s", "achieved_qps", "utilization", "saturated"):
        assert key in out
    assert out["p50_s"] <= out["p95_s"] <= out["p99_s"] and not out["saturated"]
    lines = rec.read_text().splitlines()
    assert len(lines) == 2001 and lines[0].startswith("query,arrival_s,items")


EC = ["--dim", "8", "--rows", "256", "--static-rows", "8", "--sets", "4", "--ways", "2",
      "--dram-latency", "5"]


def test_embcache_model_json_matches_api():
    from rpaccel.config import EmbCacheConfig
    from rpaccel.perfmodel.embcache import hit_counts, make_trace

    p = run("model", "embcache", *EC, "--lookups", "500", "--skew", "1.1", "--seed", "3", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    cfg = EmbCacheConfig(dim=8, rows=256, static_rows=8, sets=4, ways=2, dram_latency=5)
    c = hit_counts(cfg, *make_trace(cfg, "zipf", 500, 3, 1.1))
    assert (out["hits"], out["misses"], out["static_hits"]) == (c["hits"], c["misses"], c["static_hits"])


@pytest.mark.parametrize("args, needle", [
    (["--dim", "8", "--static-rows", "8", "--sets", "0", "--ways", "2"], "sets must be an integer in [1, 1048576], got 0"),
    (["--dim", "8", "--static-rows", "8", "--sets", "4", "--ways", "0"], "ways must be an integer in [1, 16], got 0"),
    (["--dim", "8", "--static-rows", "8", "--sets", "6", "--ways", "2"], "sets must be a power of two"),
    (["--dim", "8", "--rows", "256", "--static-rows", "999", "--sets", "4", "--ways", "2"],
     "static_rows must be an integer in [0, 256], got 999"),
])
def test_embcache_bad_config(args, needle):
    p = run("model", "embcache", *args, "--lookups", "10")
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rpaccel: error: ") and needle in lines[0]


def test_embcache_bad_trace():
    p = run("model", "embcache", *EC, "--lookups", "10", "--skew", "-0.5")
    assert p.returncode == 2 and "skew must be a number >= 0, got -0.5" in p.stderr


@pytest.mark.xdist_group("embcache-d8_s8_4x2")
def test_embcache_sim_json_and_dump(tmp_path):
    dump = tmp_path / "d"
    p = run("sim", "embcache", *EC, "--lookups", "150", "--skew", "1.0", "--seed", "5", "--json",
            "--dump", str(dump), "--idle", "0.2", "--backpressure", "0.3")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for key in ("rtl_cycles", "model_cycles", "cycles_match", "values_match", "seed", "hits", "misses"):
        assert key in out
    assert out["cycles_match"] and out["values_match"] and out["hits"] + out["misses"] == 150
    d = json.loads((dump / "embcache.json").read_text())
    assert len(d["rtl_kinds"]) == 150 and len(d["rtl_vectors"]) == 150
    assert sum(k != 2 for k in d["rtl_kinds"]) == out["hits"]


NB = [*EC, "--lanes", "2", "--mshrs", "2", "--rob-beats", "4"]     # the matrix's nb_l2_m2


@pytest.mark.parametrize("args, needle", [
    (["--lanes", "0"], "lanes must be an integer in [1, 16], got 0"),
    (["--lanes", "17"], "lanes must be an integer in [1, 16], got 17"),
    (["--mshrs", "0"], "mshrs must be an integer in [1, 64], got 0"),
    (["--mshrs", "65"], "mshrs must be an integer in [1, 64], got 65"),
    (["--dram-interval", "0"], "dram_interval must be an integer in [1, 1000], got 0"),
    (["--dram-outstanding", "0"], "dram_outstanding must be an integer in [1, 1024], got 0"),
])
def test_embcache_nonblocking_bad_config(args, needle):
    for cmd in ("model", "sim"):
        p = run(cmd, "embcache", *EC, *args, "--lookups", "10")
        assert p.returncode == 2 and p.stdout == ""
        assert p.stderr.strip() == f"rpaccel: error: {needle}"


def test_embcache_nonblocking_rtl_limit():
    p = run("sim", "embcache", "--dim", "8", "--lanes", "2", "--sets", "1024", "--ways", "8",
            "--lookups", "10")
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [
        "rpaccel: error: sets x ways must be <= 1024 for the non-blocking RTL (its tags are "
        "registers), got 1024 x 8; the perf model has no limit"]


@pytest.mark.xdist_group("embcache-nb_l2_m2")
def test_embcache_nonblocking_sim_and_model():
    """Same-row bursts on 2 lanes / 2 MSHRs: RTL = model, merges counted, and the model command
    gives the simulation's count (no stalls)."""
    p = run("sim", "embcache", *NB, "--trace", "bursts", "--lookups", "90", "--seed", "4", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["cycles_match"] and out["values_match"]
    assert out["merged"] > 0 and out["hits"] + out["merged"] + out["misses"] == 90
    assert out["lookups_per_cycle"] == round(90 / out["rtl_cycles"], 6)
    m = run("model", "embcache", *NB, "--trace", "bursts", "--lookups", "90", "--seed", "4",
            "--json")
    mo = json.loads(m.stdout)
    assert (mo["model_cycles"], mo["merged"], mo["misses"]) == (out["rtl_cycles"], out["merged"],
                                                                 out["misses"])


def test_study_embcache_plot(tmp_path):
    p = run("study", "embcache", "--lookups", "20000", "--capacities", "64,256,1024",
            "--skews", "0.8,1.2", "--rows", "4096", "-o", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr
    files = sorted(x.name for x in (tmp_path / "o").iterdir())
    assert files == ["hit_rate_vs_capacity.csv", "hit_rate_vs_capacity.png", "manifest.json",
                     "per_stage_split.csv", "static_dynamic_split.csv"]
    rows = (tmp_path / "o" / "hit_rate_vs_capacity.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 3


def test_simulate_single_query_json_is_strict():
    root = Path(__file__).resolve().parents[1]
    p = run("simulate", str(root / "examples/pipelines/sl-cpu.toml"), "--qps", "10", "--queries", "1", "--json")
    assert p.returncode == 0, p.stderr

    def reject(c):
        raise AssertionError(f"non-JSON constant {c}")
    out = json.loads(p.stdout, parse_constant=reject)
    assert out["achieved_qps"] is None and out["offered_qps"] is None and not out["saturated"]


@pytest.mark.parametrize("args, needle", [
    (["verify", "--configs", "0", "--scenarios", "1"], "configs must be an integer in [1, 100000], got 0"),
    (["verify", "--configs", "1", "--scenarios", "0"], "scenarios must be an integer in [1, 100000], got 0"),
    (["verify", "--units", "gemm,mmu", "--configs", "1", "--scenarios", "1"], "unknown unit 'mmu'"),
    (["sim", "embcache", "--dim", "4", "--rows", "64", "--static-rows", "2", "--lookups", "70",
      "--trace", "all_miss"], "lookups must be <= 62 for an all-miss trace"),
])
def test_verify_and_sim_bad_input(args, needle):
    p = run(*args)
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rpaccel: error: ") and needle in lines[0], p.stderr


def test_verilog_every_unit(tmp_path):
    """Every registered unit has a `verilog` command; units with SRAM macros get the model too."""
    for unit, flags, sram in [("topk", ["--k-max", "4"], False),
                              ("embcache", ["--dim", "4", "--rows", "64"], True)]:
        out = tmp_path / f"{unit}.v"
        p = run("verilog", unit, *flags, "-o", str(out))
        assert p.returncode == 0, p.stderr
        text = out.read_text()
        assert f"module rpaccel_{unit}(" in text and ("module rpaccel_sram" in text) == sram


def test_output_paths_that_are_folders_are_rejected(tmp_path):
    for args, flag in [(["verilog", "topk", "--k-max", "4", "-o", str(tmp_path)], "--output"),
                       (["sim", "topk", "--k-max", "4", "--n", "3", "--k", "1", "--waves",
                         str(tmp_path)], "--waves"),
                       (["calibrate", "cpu", "-o", str(tmp_path)], "--output")]:
        p = run(*args)
        assert p.returncode == 2 and p.stderr.strip() == \
            f"rpaccel: error: {flag} {tmp_path} is a directory; give a file name"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.xdist_group("synth")
def test_cost_area_counts_cells_and_srams():
    """Yosys cell counts of a small GEMM engine; its SRAM macros are the config's buffers."""
    from rpaccel.config import GemmConfig

    flags = ["--rows", "2", "--cols", "2", "--max-m", "8", "--max-k", "4", "--max-n", "4"]
    p = run("cost", "area", "--unit", "gemm", *flags, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    cfg = GemmConfig(rows=2, cols=2, max_m=8, max_k=4, max_n=4)
    want = {"a_buf": (cfg.a_word_bits, cfg.a_words), "w_buf": (cfg.a_word_bits, cfg.w_words),
            "c_buf": (cfg.c_word_bits, cfg.c_words)}
    assert {s["instance"]: (s["width"], s["depth"]) for s in out["sram"]} == want
    assert out["sram_bits"] == sum(w * d for w, d in want.values())
    # two C read ports (the default): the second drains results under compute
    assert {s["instance"]: s["ports"] for s in out["sram"]} == {"a_buf": "1R1W", "w_buf": "1R1W",
                                                                 "c_buf": "2R1W"}
    # 4 PEs, each with two 8-bit weight registers, an 8-bit activation and a 32-bit partial sum
    assert out["flip_flops"] >= 4 * (2 * 8 + 8 + 32)
    # area in RecPipe's 12 nm: MMU 32x32 = 506,891.6 um^2 over our 32x32 engine's 914,129 cells,
    # 256 KB SRAM = 183,290 um^2 (RECPIPE.md section 2)
    want = out["cells"] * 506_891.6 / 914_129 + out["sram_bits"] * 183_290 / (256 * 1024 * 8)
    assert out["area"]["technology"] == "recpipe-12nm"
    assert out["area"]["total_um2"] == pytest.approx(want, abs=0.2)
    assert out["cells"] == out["logic"] + out["flip_flops"] + out["muxes"] > 0
    for args, needle in [(["--unit", "mmu"], "invalid choice: 'mmu'"),
                         (["--unit", "gemm", "--rows", "0", "--cols", "2"],
                          "rows must be an integer in [1, 256], got 0"),
                         (["--unit", "gemm", "--rows", "2", "--cols", "2", "--tech", "tsmc5"],
                          "unknown technology 'tsmc5'; known: ['recpipe-12nm']")]:
        p = run("cost", "area", *args)
        assert p.returncode == 2 and needle in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_model_gemm_split_and_bad_input():
    p = run("model", "gemm", "--rows", "8", "--cols", "8", "--split", "2x2", "--mkn", "8,9,10",
            "--mkn", "1,1,1", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["model_cycles"] == 94 and out["split"] == [2, 2]
    assert [s.get("model_cycles") for s in out["subarrays"]] == [94, 15, None, None]
    for args, needle in [
        (["--split", "3x1", "--m", "1", "--k", "1", "--n", "1"],
         "split must be GRxGC with GR dividing rows=8 and GC dividing cols=8, got 3x1"),
        (["--split", "2x2", *["--mkn", "1,1,1"] * 5], "--mkn given 5 times; the 2x2 split has 4 sub-arrays"),
        (["--split", "2x2", "--mkn", "1,1,600"], "n must be an integer in [1, 512], got 600"),
        (["--buffering", "0", "--m", "1", "--k", "1", "--n", "1"], "weight_buffering must be an integer in [1, 2], got 0"),
        (["--mkn", "1,1"], "--mkn must be M,K,N"),
    ]:
        p = run("model", "gemm", "--rows", "8", "--cols", "8", *args)
        assert p.returncode == 2 and p.stdout == "", (args, p.stdout)
        assert p.stderr.strip() == f"rpaccel: error: {needle}" if needle.startswith("split") else needle in p.stderr
    for args, needle in [(["--split", "2x2", *["--mkn", "1,1,1"] * 5], "the 2x2 split has 4 sub-arrays"),
                         (["--mkn", "1,1,1", "--mkn", "1,1,1"], "--mkn given 2 times; the 1x1 split has 1 sub-array"),
                         (["--split", "2x2", "--whole", "--mkn", "1,1,1", "--mkn", "1,1,1"],
                          "--mkn more than once needs split mode"),
                         (["--whole", "--m", "1", "--k", "1", "--n", "1"], "--whole needs a --split grid")]:
        p = run("sim", "gemm", "--rows", "8", "--cols", "8", *args)
        assert p.returncode == 2 and needle in p.stderr and p.stdout == "", p.stderr


@pytest.mark.xdist_group("4x4_s2x2")
def test_sim_split_json_and_dump(tmp_path):
    """Split mode on the RTL: four concurrent GEMMs, per-sub-array cycles, and a dump that
    recomputes every sub-array's answer with numpy."""
    dump = tmp_path / "d"
    shapes = ["5,7,3", "1,1,1", "9,4,6", "2,5,1"]
    p = run("sim", "gemm", "--rows", "4", "--cols", "4", "--max-m", "64", "--max-k", "64",
            "--max-n", "64", "--split", "2x2", *[a for s in shapes for a in ("--mkn", s)],
            "--seed", "11", "--backpressure", "0.3", "--json", "--dump", str(dump))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["cycles_match"] and out["values_match"] and out["seed"] == 11
    assert [s["rtl_cycles"] == s["model_cycles"] for s in out["subarrays"]] == [True] * 4
    assert out["rtl_cycles"] == max(s["rtl_cycles"] for s in out["subarrays"])
    meta = json.loads((dump / "config.json").read_text())
    assert meta["acc_width"] == 32 and meta["split"] == [2, 2]
    for i, s in enumerate(shapes):
        m, k, n = map(int, s.split(","))
        a, w, c = (np.load(dump / f"{x}{i}.npy") for x in ("a", "w", "c_rtl"))
        assert a.shape == (m, k) and w.shape == (k, n)
        assert (c == a.astype(np.int64) @ w.astype(np.int64)).all()


def test_every_command_has_an_example_that_parses():
    """Every command's --help ends with an example line, and the example parses."""
    import shlex

    from rpaccel.cli import build_parser
    from rpaccel.cli.examples import EXAMPLES, commands

    parser = build_parser()
    names = [n for n, _ in commands(parser)]
    assert sorted(names) == sorted(EXAMPLES), set(names) ^ set(EXAMPLES)
    for name, sp in commands(parser):
        assert f"example:\n  {EXAMPLES[name]}" in sp.format_help(), name
        argv = shlex.split(EXAMPLES[name])[1:]
        assert argv[:len(name.split())] == name.split(), name
        args, _ = parser.parse_known_args(argv)
        assert args.handler is not None


def test_version_and_closed_pipe():
    """`rpaccel --version` prints the version; `rpaccel ... | head -1` prints one line and
    exits 0 with nothing on stderr (no BrokenPipeError traceback)."""
    import rpaccel

    v = run("--version")
    assert v.returncode == 0 and v.stdout.strip() == f"rpaccel {rpaccel.__version__}"
    p = subprocess.run(["bash", "-o", "pipefail", "-c",
                        f"{sys.executable} -m rpaccel.cli model accel --config tiny --pipeline "
                        "tiny | head -1"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "" and p.stdout.count("\n") == 1, p.stderr


def test_every_command_takes_json(tmp_path):
    """Every command has --json; a study's JSON names its folder's files and its summary."""
    from rpaccel.cli import build_parser
    from rpaccel.cli.examples import commands

    lacking = [n for n, sp in commands(build_parser())
               if not any("--json" in a.option_strings for a in sp._actions)]
    assert lacking == []
    root = Path(__file__).resolve().parents[1]
    p = run("study", "load", str(root / "examples/pipelines/sl-cpu.toml"), "--qps", "50",
            "--queries", "200", "-o", str(tmp_path / "s"), "--json")
    d = json.loads(p.stdout)
    assert d["output"] == str(tmp_path / "s") and "results.csv" in d["files"]
    assert d["rows"][0]["qps"] == 50.0 and d["rows"][0]["saturated"] is False
    v = json.loads(run("verilog", "topk", "--k-max", "8", "-o", str(tmp_path / "t.v"),
                       "--json").stdout)
    assert v["top"] == "rpaccel_topk" and (tmp_path / "t.v").stat().st_size > 100
