"""Embedding workloads: trace files, reuse profiles and generation, cache policies against
libcachesim (an independent simulator), workload presets and the feed into the executor."""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest

from rpaccel.perfmodel.feed import WorkloadFeed, workload_trace
from rpaccel.perfmodel.policies import (NEVER, POLICIES, StaticSet, cache_counts, fa_counts,
                                        next_use, static_set)
from rpaccel.perfmodel.reuse import (generate, ks_distance, lru_mrc, profile_trace,
                                     stack_distances)
from rpaccel.trace import Trace, from_embedding_bag, read_trace, write_trace
from rpaccel.workload import WORKLOAD_PRESETS, load_workload, workload_from_dict

SEED = 20261201


def _shapes():
    """Seeded traces of three shapes (name, trace)."""
    rng = np.random.default_rng(SEED)
    n = 12_000
    zipf = Trace(rng.integers(0, 3, n), rng.zipf(1.2, n) % 4000)
    unif = Trace(rng.integers(0, 2, n), rng.integers(0, 1500, n))
    gen = generate(profile_trace(zipf), n, seed=SEED)
    return [("zipf", zipf), ("uniform", unif), ("generated", gen)]


SHAPES = _shapes()


def _libcachesim_hits(trace: Trace, cls_name: str, cap: int) -> int:
    lcs = pytest.importorskip("libcachesim")
    keys = trace.keys()
    nxt = next_use(keys)
    nxt = np.where(nxt == NEVER, np.iinfo(np.int64).max, nxt)   # libcachesim's "never"
    cache = getattr(lcs, cls_name)(cap)
    hits = 0
    for i, k in enumerate(keys.tolist()):
        req = lcs.Request()
        req.obj_id, req.obj_size, req.next_access_vtime = k, 1, int(nxt[i])
        hits += bool(cache.get(req))
    return hits


@pytest.mark.parametrize("shape", [s for s, _ in SHAPES])
@pytest.mark.parametrize("policy,lcs_name", [("lru", "LRU"), ("fifo", "FIFO"), ("opt", "Belady")])
def test_policies_equal_libcachesim(shape, policy, lcs_name):
    """Fully associative hit counts equal libcachesim's exactly, on both of our engines."""
    tr = dict(SHAPES)[shape]
    for cap in (8, 150, 1200):
        ref = _libcachesim_hits(tr, lcs_name, cap)
        assert cache_counts(tr, policy, sets=1, ways=cap)["hits"] == ref, \
            f"set-assoc engine, {shape} {policy} cap {cap} (seed {SEED})"
        assert fa_counts(tr, policy, cap)["hits"] == ref, \
            f"fully associative engine, {shape} {policy} cap {cap} (seed {SEED})"


@pytest.mark.parametrize("shape", [s for s, _ in SHAPES])
def test_engines_agree_lfu_srrip_and_mrc(shape):
    """LFU and SRRIP (no independent simulator with our tie rules): both engines agree; the
    stack distances give LRU's hits at every capacity."""
    tr = dict(SHAPES)[shape]
    sd = stack_distances(tr.keys())
    for cap in (4, 64, 700):
        for pol in ("lfu", "srrip"):
            assert cache_counts(tr, pol, sets=1, ways=cap)["hits"] == \
                fa_counts(tr, pol, cap)["hits"], (shape, pol, cap)
        lru = fa_counts(tr, "lru", cap)["hits"]
        assert round((1 - lru_mrc(sd, [cap])[0]) * len(tr)) == lru
        assert fa_counts(tr, "opt", cap)["hits"] >= max(
            fa_counts(tr, p, cap)["hits"] for p in POLICIES)


def test_srrip_and_lfu_by_hand():
    """Two ways, fully associative, worked by hand.
    SRRIP (insert 2, hit 0, victim at 3 by least recent use, else age all):
      a b -> miss miss (a2 b2); a -> hit (a0 b2); c: none at 3, age -> a1 b3, evict b (a1 c2);
      b: none at 3, age -> a2 c3, evict c (a2 b2); a -> hit.  Hits: 2.
    LFU (ties by least recent use): a b a c -> c evicts b (freq 1 < a's 2); b evicts c (both
      at 1? c freq 1, a freq 2) -> evicts c; a hit.  Hits: 2 (a, a)."""
    tr = Trace(np.zeros(6, dtype=np.int64), np.array([0, 1, 0, 2, 1, 0]))
    assert cache_counts(tr, "srrip", sets=1, ways=2)["hits"] == 2
    assert cache_counts(tr, "lfu", sets=1, ways=2)["hits"] == 2
    assert cache_counts(tr, "lru", sets=1, ways=2)["hits"] == 1    # a; then c evicts b, b evicts a
    assert cache_counts(tr, "opt", sets=1, ways=2)["hits"] == 2


def test_set_associative_lru_matches_the_timed_model():
    """The policy model's LRU is the embedding unit's (rpaccel.perfmodel.embcache.hit_counts,
    proven against the RTL), static rows included, with a stage way partition."""
    from rpaccel.config import EmbCacheConfig
    from rpaccel.perfmodel.embcache import hit_counts

    rng = np.random.default_rng(SEED)
    n = 20_000
    t, r = rng.integers(0, 4, n), rng.zipf(1.1, n) % 4096
    st = rng.integers(0, 2, n)
    cfg = EmbCacheConfig(dim=4, tables=4, rows=4096, static_rows=16, sets=32, ways=6,
                         stage_ways=(2, 4))
    ref = hit_counts(cfg, t, r, st)
    ss = StaticSet({k: np.arange(16) for k in range(4)})
    got = cache_counts(Trace(t, r), "lru", sets=32, ways=6, rows=4096, static=ss, stages=st,
                       stage_ways=(2, 4))
    assert (got["static_hits"], got["dynamic_hits"], got["misses"]) == \
        (ref["static_hits"], ref["dynamic_hits"], ref["misses"])


def test_fifo_by_ordered_dict():
    """FIFO set-associative against a plain OrderedDict queue per set."""
    rng = np.random.default_rng(SEED + 1)
    tr = Trace(np.zeros(5000, dtype=np.int64), rng.zipf(1.3, 5000) % 300)
    sets, ways, hits = 4, 3, 0
    q = [OrderedDict() for _ in range(sets)]
    for k in tr.rows.tolist():
        s, tag = k % sets, k // sets
        if tag in q[s]:
            hits += 1
        else:
            q[s][tag] = None
            if len(q[s]) > ways:
                q[s].popitem(last=False)
    assert cache_counts(tr, "fifo", sets=sets, ways=ways, rows=512)["hits"] == hits


def test_stack_distances_brute_force():
    rng = np.random.default_rng(SEED)
    tr = Trace(rng.integers(0, 2, 3000), rng.integers(0, 200, 3000))
    stack, ref = [], []
    for k in tr.keys().tolist():
        if k in stack:
            i = stack.index(k)
            ref.append(i)
            stack.pop(i)
        else:
            ref.append(-1)
        stack.insert(0, k)
    assert stack_distances(tr.keys()).tolist() == ref


@pytest.mark.parametrize("shape", ["zipf", "uniform", "mixture", "workload"])
def test_generation_reproduces_the_profile(shape):
    """The regenerated trace's stack-distance CDF is within KS 0.02 of the profile's (a trace
    at least as long as the profiled one)."""
    rng = np.random.default_rng([SEED, len(shape)])
    n = 60_000
    if shape == "zipf":
        tr = Trace(rng.integers(0, 4, n), rng.zipf(1.1, n) % 50_000)
    elif shape == "uniform":
        tr = Trace(rng.integers(0, 4, n), rng.integers(0, 2_000, n))
    elif shape == "mixture":
        tr = Trace(np.zeros(n, dtype=np.int64), np.where(
            rng.random(n) < 0.5, rng.zipf(1.3, n) % 20_000, rng.integers(0, 40_000, n)))
    else:
        tr = workload_trace(load_workload("criteo-kaggle"), items=n // 26, seed=SEED)
    prof = profile_trace(tr)
    for length, seed in ((len(tr), 1), (3 * len(tr), 2)):
        gen = profile_trace(generate(prof, length, seed))
        ks = ks_distance(prof, gen)
        assert ks <= 0.02, f"{shape}: KS {ks:.4f} (length {length}, seed {seed}); reproduce: " \
                           f"SEED={SEED} pytest tests/test_workloads.py -k {shape}"
    assert generate(prof, 1000, 5).rows.tolist() == generate(prof, 1000, 5).rows.tolist()


def test_trace_files_round_trip(tmp_path, monkeypatch):
    import rpaccel.trace as trace_mod

    tr = Trace(np.array([0, 1, 1, 0]), np.array([5, 0, 3, 5]), np.array([0, 0, 1, 1]),
               np.array([1, 2, 1]), (8, 4))
    for ext in (".npz", ".parquet"):
        write_trace(tr, tmp_path / f"t{ext}")
        monkeypatch.setattr(trace_mod, "PARQUET_BATCH", 3)          # read in chunks
        back = read_trace(tmp_path / f"t{ext}")
        assert back.rows.tolist() == [5, 0, 3, 5] and back.tables.tolist() == [0, 1, 1, 0]
        assert back.query.tolist() == [0, 0, 1, 1] and back.lengths.tolist() == [1, 2, 1]
        assert back.cardinalities == (8, 4)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("cols,message", [
    ({"tables": [0, 0], "rows": [1, -2]}, "column 'rows': row 1: negative id -2"),
    ({"tables": [0, -1], "rows": [1, 2]}, "column 'tables': row 1: negative id -1"),
    ({"tables": [0, 0, 0], "rows": [1, 2]}, "column 'tables': has 3 entries but 'rows' has 2"),
    ({"tables": np.zeros(0, dtype=np.int64), "rows": np.zeros(0, dtype=np.int64)},
     "the trace is empty"),
    ({"tables": [0, 1], "rows": [3, 9], "cardinalities": [4, 9]},
     "column 'rows': row 1: id 9 beyond table 1's 9 rows"),
    ({"tables": [0, 1], "rows": [1.5, 2.0]}, "column 'rows': must hold integers"),
    ({"tables": [0], "rows": [1], "weights": [2]}, "unknown column(s) ['weights']"),
    ({"rows": [1]}, "missing column 'tables'"),
    ({"tables": [0, 0], "rows": [1, 2], "query": [1, 0]},
     "column 'query': row 1: query indices must not decrease"),
])
def test_trace_schema_errors(tmp_path, cols, message):
    p = tmp_path / "bad.npz"
    np.savez(p, **{k: np.asarray(v) for k, v in cols.items()})
    with pytest.raises(ValueError) as e:
        read_trace(p)
    assert message in str(e.value) and str(p) in str(e.value) and "\n" not in str(e.value)


def test_embedding_bag_conversion():
    # T = 2 tables, B = 2 items; table-major bags: t0:[1,2] [3]  t1:[7] [8,9]
    tr = from_embedding_bag([1, 2, 3, 7, 8, 9], [0, 2, 3, 4, 6], [[2, 1], [1, 2]])
    assert tr.rows.tolist() == [1, 2, 7, 3, 8, 9]
    assert tr.tables.tolist() == [0, 0, 1, 0, 1, 1]
    assert tr.query.tolist() == [0, 0, 0, 1, 1, 1]
    assert tr.lengths.tolist() == [2, 1, 1, 2]
    with pytest.raises(ValueError, match="does not agree"):
        from_embedding_bag([1, 2, 3], [0, 1, 3], [[1, 1]])


def test_presets():
    assert set(WORKLOAD_PRESETS) == {"uniform-1m", "criteo-kaggle", "deeprecinfra-rmc1",
                                     "deeprecinfra-rmc2", "deeprecinfra-rmc3", "criteo-sample",
                                     "criteo-reuse"}
    # the trace and reuse-profile presets find their files beside them (also when installed)
    assert len(load_workload("criteo-sample").trace) == 52_000
    assert len(load_workload("criteo-reuse").profile.table_shares) == 26
    ck = load_workload("criteo-kaggle")
    rows = [t.rows for t in ck.tables]
    # the published Criteo Kaggle cardinalities: 26 tables, largest 10,131,227, smallest 3
    assert len(rows) == 26 and max(rows) == 10_131_227 and min(rows) == 3
    assert sum(r <= 65_536 for r in rows) == 18           # 18 tables of at most 64K rows
    for m, (count, rows_, pool) in {1: (8, 4_000_000, 80), 2: (32, 500_000, 120),
                                    3: (10, 2_000_000, 20)}.items():
        w = load_workload(f"deeprecinfra-rmc{m}")
        assert len(w.tables) == count and w.pooled()
        assert {(t.rows, t.pooling) for t in w.tables} == {(rows_, pool)}
    u = load_workload("uniform-1m")
    assert u.repeat and u.ranked and u.table(25).rows == 1 << 20 and not u.pooled()
    for name in WORKLOAD_PRESETS:
        assert "source" in WORKLOAD_PRESETS[name].read_text()


@pytest.mark.parametrize("d,message", [
    ({"name": "x"}, "give exactly one of rows, model, table, trace, profile"),
    ({"name": "x", "rows": [10], "skew": float("nan")}, "skew must be a number"),
    ({"name": "x", "rows": [0]}, "table rows must be an integer"),
    ({"name": "x", "rows": [10], "pooling": 0}, "pooling must be an integer"),
    ({"name": "x", "rows": [10], "colour": 1}, "unknown key(s) ['colour']"),
])
def test_workload_file_errors(d, message):
    with pytest.raises(ValueError, match=None) as e:
        workload_from_dict(d, where="workload file w.toml")
    assert message in str(e.value) and "w.toml" in str(e.value)


def test_uniform_1m_is_the_earlier_workload():
    """--workload uniform-1m on a 1M-row accelerator gives the same ids, cycles and counts as
    no workload (the earlier figures reproduce)."""
    from rpaccel.accel import load_accel
    from rpaccel.perfmodel.executor import model_accel
    from rpaccel.query import load_pipeline

    accel, pipe = load_accel("rpaccel"), load_pipeline("tiny")
    a = model_accel(accel, pipe, seed=3, queries=2)
    b = model_accel(accel, pipe, seed=3, queries=2, workload=load_workload("uniform-1m"))
    assert (a.cycles, a.latency, a.embedding, a.events) == (b.cycles, b.latency, b.embedding,
                                                             b.events)
    assert b.workload == {"name": "uniform-1m", "kind": "synthetic", "folded_tables": 0}


def test_feed_static_set_by_profiling():
    """A scattered workload's hottest rows are found by profiling and renumbered into the
    static region by a bijection; tables larger than the accelerator fold above it."""
    from rpaccel.accel import load_accel
    from rpaccel.query import load_pipeline

    accel, pipe = load_accel("tiny"), load_pipeline("tiny")
    emb = accel.embedding
    T = pipe.sparse
    w = workload_from_dict({"name": "w", "table": [{"rows": 200, "skew": 1.2}] * T,
                            "source": "test"}, where="w")
    feed = WorkloadFeed(w, pipe.accel_program(), emb, seed=SEED)
    for t in range(T):
        hs, slot, disp, freed = feed.maps[t]
        assert len(hs) == emb.static_rows
        # ids 0..199 map one to one into 0..199 (no fold: 200 rows <= the tiny unit's?)
        col = np.arange(200)
        x = np.tile(col[:, None], (1, T))
        feed_ids = _apply(feed, x)[:, t]
        if 200 <= emb.rows:
            assert sorted(feed_ids.tolist()) == col.tolist()
        assert set(feed_ids[hs].tolist()) == set(range(emb.static_rows))
    assert feed.folded == (T if 200 > emb.rows else 0)
    ids = feed.sparse(0, np.random.default_rng(0))
    assert ids.min() >= 0 and ids.max() < emb.rows


def _apply(feed: WorkloadFeed, raw: np.ndarray) -> np.ndarray:
    """The feed's host map applied to given raw ids (its draw replaced)."""
    orig = feed.raw
    feed.raw = lambda q, rng: raw.copy()
    try:
        return feed.sparse(0, None)
    finally:
        feed.raw = orig


def test_pooled_workload_needs_the_models_pooling():
    from rpaccel.accel import load_accel
    from rpaccel.perfmodel.executor import model_accel
    from rpaccel.query import load_pipeline

    with pytest.raises(ValueError, match="table 0 pools 80 lookups per item, but the "
                                         "pipeline's model pools 1"):
        model_accel(load_accel("tiny"), load_pipeline("tiny"),
                    workload=load_workload("deeprecinfra-rmc1"))


def test_static_set_global_split():
    tr = Trace(np.array([0, 0, 0, 1, 1, 1, 1, 2]), np.array([5, 5, 6, 7, 7, 7, 8, 9]))
    g = static_set(tr, 2, split="global")
    assert {k: v.tolist() for k, v in g.rows.items()} == {0: [5], 1: [7]}
    p = static_set(tr, 1, split="per-table")
    assert {k: v.tolist() for k, v in p.rows.items()} == {0: [5], 1: [7], 2: [9]}


# -- command line ---------------------------------------------------------------------------------
def _run(capsys, *argv):
    from rpaccel.cli import main

    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_trace_and_cache(tmp_path, capsys):
    tr = workload_trace(load_workload("criteo-kaggle"), items=2000, seed=1)
    write_trace(tr, tmp_path / "t.npz")
    rc, out, _ = _run(capsys, "trace", "profile", str(tmp_path / "t.npz"), "-o",
                      str(tmp_path / "p.json"), "--json")
    assert rc == 0 and json.loads(out)["lookups"] == len(tr)
    rc, out, _ = _run(capsys, "trace", "generate", str(tmp_path / "p.json"), "--lookups",
                      "100000", "--seed", "4", "-o", str(tmp_path / "g.npz"), "--json")
    assert rc == 0 and json.loads(out)["ks_distance"] <= 0.02
    assert len(read_trace(tmp_path / "g.npz")) == 100_000
    rc, out, _ = _run(capsys, "model", "cache", "--trace", str(tmp_path / "g.npz"), "--policy",
                      "opt", "--sets", "1", "--ways", "1024", "--json")
    d = json.loads(out)
    assert rc == 0 and {"lookups", "hits", "static_hits", "dynamic_hits", "misses",
                        "hit_rate"} <= set(d)
    assert d["hits"] == fa_counts(read_trace(tmp_path / "g.npz"), "opt", 1024)["hits"]
    rc, out, _ = _run(capsys, "model", "cache", "--trace", str(tmp_path / "t.npz"), "--policy",
                      "lru", "--sets", "64", "--ways", "4", "--static-rows", "8", "--json")
    d = json.loads(out)
    assert rc == 0 and d["static_hits"] > 0 and d["hits"] == d["static_hits"] + d["dynamic_hits"]


def test_cli_bad_input(tmp_path, capsys):
    np.savez(tmp_path / "neg.npz", tables=np.array([0, 0]), rows=np.array([1, -1]))
    write_trace(Trace(np.array([0]), np.array([1])), tmp_path / "ok.npz")
    cases = [
        (["model", "cache", "--trace", str(tmp_path / "ok.npz"), "--policy", "lru", "--sets",
          "1", "--ways", "0"], "ways"),
        (["model", "cache", "--trace", str(tmp_path / "ok.npz"), "--policy", "belady",
          "--sets", "1", "--ways", "2"], "--policy"),
        (["model", "cache", "--trace", str(tmp_path / "neg.npz"), "--policy", "lru", "--sets",
          "1", "--ways", "2"], "column 'rows': row 1"),
        (["study", "cache", "-o", str(tmp_path / "s"), "--workload", "nosuch"], "--workload"),
        (["study", "cache", "-o", str(tmp_path / "s"), "--workload", "uniform-1m",
          "--policies", "lru,mru"], "policy"),
        (["trace", "generate", str(tmp_path / "nope.json"), "--lookups", "10", "-o",
          str(tmp_path / "g.npz")], "nope.json"),
        (["trace", "profile", str(tmp_path / "ok.npz"), "-o", str(tmp_path / "p.txt")],
         "--output"),
        (["model", "accel", "--config", "tiny", "--pipeline", "tiny", "--workload",
          "deeprecinfra-rmc2"], "pools"),
    ]
    for argv, word in cases:
        before = sorted(p.name for p in tmp_path.iterdir())
        rc, out, err = _run(capsys, *argv)
        assert rc == 2 and word in err and err.count("\n") == 1 and "Traceback" not in err, argv
        assert sorted(p.name for p in tmp_path.iterdir()) == before, argv


def test_study_cache_writes_its_folder(tmp_path, capsys):
    rc, out, _ = _run(capsys, "study", "cache", "-o", str(tmp_path / "s"), "--workload",
                      "criteo-kaggle", "--items", "1500", "--capacities", "64,512,4096",
                      "--json")
    d = json.loads(out)
    assert rc == 0 and d["capacities"] == [64, 512, 4096] and d["lru_opt_gap"] >= 0
    files = {p.name for p in (tmp_path / "s").iterdir()}
    assert {"miss_ratio.csv", "static_split.csv", "stage_split.csv", "cold_warm.csv",
            "cache.md", "miss_ratio.png", "static_split.png", "stage_split.png",
            "manifest.json"} <= files
    md = (tmp_path / "s" / "cache.md").read_text()
    assert "model-only" in md and "LRU is at most" in md
    for row in d["cold_warm"]:
        assert row["warm_hit_rate"] >= row["cold_hit_rate"] - 1e-9


def test_pipeline_names_its_workload(tmp_path, capsys):
    from rpaccel.query import load_pipeline

    from rpaccel.query import PIPELINE_PRESETS

    src = tmp_path / "p.toml"
    src.write_text('workload = "criteo-kaggle"\n' + PIPELINE_PRESETS["tiny"].read_text())
    p = load_pipeline(src)
    assert p.workload.name == "criteo-kaggle" and p.to_dict()["workload"] == "criteo-kaggle"
    assert p.accel_program().workload is p.workload
    with pytest.raises(ValueError, match="skew and a workload both"):
        load_pipeline("tiny").__class__(stages=p.stages, skew=1.1).with_workload(p.workload)
    rc, out, err = _run(capsys, "simulate", "examples/pipelines/tiny.toml", "--qps", "100",
                        "--queries", "200", "--workload", "criteo-kaggle", "--json")
    assert rc == 0 and json.loads(out)["workload"] == "criteo-kaggle", err
    rc, out, err = _run(capsys, "simulate", "examples/pipelines/tiny.toml", "--qps", "100",
                        "--queries", "200", "--workload", "deeprecinfra-rmc3")
    assert rc == 2 and "pools 20 lookups per item, but the pipeline's model pools 1" in err \
        and err.count("\n") == 1


def test_shipped_sample_trace(capsys):
    tr = read_trace("examples/traces/criteo-sample.npz")
    assert len(tr) == 52_000 and tr.n_tables == 26 and int(tr.query[-1]) == 19
    assert tr.table_rows() == tuple(t.rows for t in load_workload("criteo-kaggle").tables)
    rc, out, _ = _run(capsys, "model", "accel", "--config", "tiny", "--pipeline", "tiny",
                      "--workload", "examples/traces/criteo-sample.npz", "--json")
    d = json.loads(out)
    assert rc == 0 and d["workload"]["kind"] == "trace" and d["workload"]["folded_tables"] > 0


def test_placements_carry_the_workload():
    from rpaccel.sched.studies.search import rpaccel_placements

    wl = load_workload("criteo-kaggle")
    pipes = rpaccel_placements(["rm-small", "rm-large"], [[4096], [256]], workload=wl,
                               sub_batches=(256,))
    assert pipes and all(p.workload is wl for p in pipes)


def test_workload_is_scenario_data_not_a_build():
    """The sparse ids are data: a pipeline's workload does not make another RTL build (the
    matrix's tiny build runs a criteo-kaggle scenario, tests/test_accel_cocotb.py)."""
    from rpaccel.accel import load_accel
    from rpaccel.query import load_pipeline
    from rpaccel.verif.accelbulk import AccelBuild
    from rpaccel.verif.cases_accel import matrix_builds

    accel, pipe = load_accel("tiny"), load_pipeline("tiny")
    a = AccelBuild(accel, pipe, 32)
    b = AccelBuild(accel, pipe.with_workload(load_workload("criteo-kaggle")), 32)
    assert a.key() == b.key() and b.pipeline.workload is None
    tiny = [sc for label, _, scs in matrix_builds() if label == "tiny" for sc in scs]
    assert any(sc.get("workload") == "criteo-kaggle" for sc in tiny)
