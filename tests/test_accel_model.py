"""The integrated accelerator's contract, compiler and executor (no RTL)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from rpaccel.accel import accel_from_dict, load_accel
from rpaccel.query import (RECPIPE_RM, ModelSpec, Pipeline, StageSpec, load_pipeline,
                           pipeline_from_dict)
from rpaccel.perfmodel.compiler import compile_query
from rpaccel.perfmodel.executor import execute, model_accel
from rpaccel.perfmodel.gemm import gemm_cycles
from rpaccel.perfmodel.query import (embedding_rows, model_params, query_inputs, run_query,
                                     stage_scores, table_base)
from rpaccel.sched.quality.metrics import funnel

TINY = load_accel("tiny")
TINY_PIPE = load_pipeline("tiny")


def _tiny_dict():
    import tomllib

    from rpaccel.accel import PRESETS
    return tomllib.loads(PRESETS["tiny"].read_text())


# -- the golden model -------------------------------------------------------------------------
def _item_score(model: ModelSpec, params, dense, emb, acc_width: int) -> int:
    """Plain-integer reference of one candidate's score, loop by loop (no numpy algebra)."""
    def wrap(x):
        m = 1 << acc_width
        return ((x + (m >> 1)) % m) - (m >> 1)

    h = [int(v) for v in dense]
    layers = model.layers()
    nb = len(model.bottom) - 1
    for li, (_, _, k, n) in enumerate(layers):
        if li == nb:
            h = h + [int(v) for row in emb for v in row]
        w, b, sh = params.weights[li], params.biases[li], params.shifts[li]
        acc = [wrap(sum(h[i] * int(w[i, j]) for i in range(k)) + int(b[j])) for j in range(n)]
        if li == len(layers) - 1:
            return acc[0]
        h = [min(127, max(0, a) >> sh) for a in acc]


def test_golden_scores_match_a_plain_integer_reference():
    pipe, seed = TINY_PIPE, 3
    params = model_params(pipe, seed)
    inp = query_inputs(pipe, TINY.embedding.rows, seed)
    for s, st in enumerate(pipe.stages):
        m = st.model
        ids = np.arange(0, 128, 9)
        tabs = table_base(pipe, s) + np.arange(m.tables)
        emb = np.stack([embedding_rows(seed, tabs, inp.sparse[i, :m.tables], m.dim) for i in ids])
        got = stage_scores(m, params[s], inp.dense[ids], emb, TINY.array.acc_width)
        want = [_item_score(m, params[s], inp.dense[i], emb[n], TINY.array.acc_width)
                for n, i in enumerate(ids)]
        assert got.tolist() == want
        assert len(set(want)) > len(want) // 2        # scores spread, not saturated


def test_embedding_rows_first_d_elements_do_not_depend_on_dim():
    a = embedding_rows(5, [1, 2, 3], [7, 0, 255], 8)
    b = embedding_rows(5, [1, 2, 3], [7, 0, 255], 3)
    assert (a[:, :3] == b).all() and a.dtype == np.int8
    assert not (embedding_rows(6, [1], [7], 8) == a[:1]).all()


@pytest.mark.parametrize("dim", [4, 3, 32])
def test_lookup_rows_equal_embedding_rows(dim):
    """A stage's embedding rows read in place (the compiled kernel: specialised for dim 4 and
    32, general for 3; and the short numpy path) equal :func:`embedding_rows` on the same
    (table, row) pairs, hashed in short numpy chunks."""
    from rpaccel.perfmodel.query import lookup_rows

    seed = 17
    print(f"seed={seed}; reproduce: pytest tests/test_accel_model.py -k lookup_rows_equal")
    rng = np.random.default_rng(seed)
    sparse = rng.integers(0, 1 << 20, size=(600, 30))
    tables = [5 + 2 * t for t in range(26)]
    for ids in (np.arange(600), rng.permutation(600)[:300], np.array([4, 4, 0])):
        got = lookup_rows(3, sparse, ids, tables, dim)
        tabs = np.broadcast_to(np.array(tables), (len(ids), 26)).ravel()
        rows = sparse[ids, :26].ravel()
        want = np.concatenate([embedding_rows(3, tabs[i:i + 200], rows[i:i + 200], dim)
                               for i in range(0, len(rows), 200)])
        assert got.shape == (len(ids), 26, dim) and got.dtype == np.int8
        assert np.array_equal(got.reshape(-1, dim), want)
    with pytest.raises(ValueError, match=r"ids must be in \[0, 599\]"):
        lookup_rows(3, sparse, np.arange(599, 700), tables, dim)
    with pytest.raises(ValueError, match=r"sparse must be \(candidates, >= 26\)"):
        lookup_rows(3, sparse[:, :20], np.arange(10), tables, dim)


@pytest.mark.parametrize("policy,b", [("global", 32), ("per-sub-batch", 32), ("per-sub-batch", 8),
                                      ("global", 128)])
def test_golden_funnel_equals_the_quality_engine(policy, b):
    """Scores of every candidate under every stage's model, through the quality engine's
    funnel, give the accelerator golden model's ranked list."""
    pipe, seed = TINY_PIPE, 11
    params = model_params(pipe, seed)
    inp = query_inputs(pipe, TINY.embedding.rows, seed)
    res = run_query(TINY, pipe, params, inp, seed=seed, sub_batch=b, policy=policy)
    full = []
    for s, st in enumerate(pipe.stages):
        m = st.model
        ids = np.arange(pipe.items[0])
        sp = inp.sparse[:, :m.tables]
        tabs = table_base(pipe, s) + np.broadcast_to(np.arange(m.tables), sp.shape)
        emb = embedding_rows(seed, tabs.ravel(), sp.ravel(), m.dim).reshape(len(ids), m.tables, -1)
        full.append(stage_scores(m, params[s], inp.dense, emb, TINY.array.acc_width)[None, :])
    want = funnel(full, pipe.items, policy=policy, sub_batch=b, k_out=pipe.k_out)[0]
    assert res.ids.tolist() == want.tolist()
    assert list(res.scores) == sorted(res.scores, reverse=True)
    assert res.scores.tolist() == [int(full[-1][0, i]) for i in want]


# -- configs and placement: bad input -------------------------------------------------------------
@pytest.mark.parametrize("change,match", [
    (lambda d: d["array"].update(bogus=1), r"\[array\]: unknown key 'bogus'"),
    (lambda d: d.update(colour=1), r"unknown key 'colour'"),
    (lambda d: d["embedding"].update(lanes=1, mshrs=1), r"non-blocking unit"),
    (lambda d: d["topk"].update(k_max=0), r"k_max must be an integer in \[1, 1024\]"),
    (lambda d: d.pop("topk"), r"missing table \[topk\]"),
    (lambda d: d.update(clock_ns=-1), r"clock_ns must be a number"),
])
def test_bad_accel_configs(change, match):
    d = _tiny_dict()
    change(d)
    with pytest.raises(ValueError, match=match):
        accel_from_dict(d, "cfg.toml")


def _pipe(**kw) -> dict:
    d = {"k_out": 4, "stage": [
        {"items": 64, "subarrays": 1,
         "model": {"dense": 4, "bottom": [4, 8, 4], "tables": 2, "top": [12, 8, 1]}},
        {"items": 16, "subarrays": 2,
         "model": {"dense": 4, "bottom": [4, 8], "tables": 2, "top": [24, 4, 1]}}]}
    d.update(kw)
    return d


@pytest.mark.parametrize("change,match", [
    (lambda d: d["stage"][0]["model"].update(bottom=[5, 8, 4]), r"bottom\[0\] must equal model.dense"),
    (lambda d: d["stage"][0]["model"].update(top=[16, 8, 1]), r"top\[0\] must be \(tables \+ 1\) \* d"),
    (lambda d: d["stage"][0]["model"].update(top=[12, 8, 2]), r"top\[-1\] must be 1"),
    (lambda d: d["stage"][1].update(items=65), r"items\[1\] must be in \[1, 64\] \(a stage keeps at most what it receives"),
    (lambda d: d.update(k_out=17), r"k_out must be an integer in \[1, 16\]"),
    (lambda d: d["stage"][1].pop("subarrays"), r"missing key 'subarrays'"),
    (lambda d: d["stage"][0].update(color=1), r"stage\[0\]: unknown key 'color'"),
    (lambda d: d["stage"][0].update(model="rm-huge"), r"unknown model 'rm-huge'"),
    (lambda d: d.update(filter="random"), r"filter must be one of global, per-sub-batch"),
])
def test_bad_pipelines(change, match):
    d = _pipe()
    change(d)
    with pytest.raises(ValueError, match=match):
        pipeline_from_dict(d, "p.toml")


@pytest.mark.parametrize("change,kw,match", [
    (None, {"sub_batch": 24}, r"sub_batch 24 must divide stage\[0\].items=64"),
    (None, {"sub_batch": 16, "policy": "per-sub-batch", "pipe": {"k_out": 4, "stage": [
        {"items": 64, "subarrays": 1, "model": {"dense": 4, "bottom": [4, 4], "tables": 1,
                                                 "top": [8, 1]}},
        {"items": 10, "subarrays": 1, "model": {"dense": 4, "bottom": [4, 4], "tables": 1,
                                                 "top": [8, 1]}}]}},
     r"integral quota"),
    (lambda a: dataclasses.replace(a, topk=dataclasses.replace(a.topk, k_max=8)), {},
     r"stage\[1\].items = 16 exceeds topk.k_max=8"),
    (lambda a: dataclasses.replace(a, weight_bytes=64), {}, r"cannot be placed"),
    (None, {"pipe": _pipe(stage=[{**_pipe()["stage"][0], "subarrays": 3},
                                 _pipe()["stage"][1]])}, r"must sum to at most"),
    (lambda a: dataclasses.replace(a, embedding=dataclasses.replace(a.embedding, dim=2)), {},
     r"d=4 exceeds embedding.dim=2"),
    (lambda a: dataclasses.replace(a, embedding=dataclasses.replace(a.embedding, tables=3)), {},
     r"embedding.tables must be >= the stages' 4 tables"),
])
def test_placement_errors(change, kw, match):
    accel = TINY if change is None else change(TINY)
    pipe = pipeline_from_dict(kw.pop("pipe", _pipe()))
    with pytest.raises(ValueError, match=match):
        compile_query(accel, pipe, kw.get("sub_batch"), kw.get("policy"))


def test_presets_and_examples_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "examples"
    assert load_accel(str(root / "accelerators/tiny.toml")) == TINY
    assert load_pipeline(str(root / "pipelines/tiny.toml")) == TINY_PIPE
    assert load_pipeline("rm-large").stages[0].model == RECPIPE_RM["rm-large"]
    with pytest.raises(ValueError, match="neither a preset"):
        load_accel("nope")


# -- compiler ------------------------------------------------------------------------------------
@pytest.mark.parametrize("b,policy,queries", [(32, "global", 1), (8, "per-sub-batch", 3),
                                              (64, "global", 2), (16, "per-sub-batch", 5)])
def test_tokens_balance(b, policy, queries):
    """Every token a command pops is pushed by exactly one command, and vice versa."""
    prog = compile_query(TINY, TINY_PIPE, b, policy, queries=queries)
    pushed: dict[tuple[str, str], int] = {}
    popped: dict[tuple[str, str], int] = {}
    for c in prog.commands:
        for to in c.push:
            pushed[(c.queue, to)] = pushed.get((c.queue, to), 0) + 1
        for frm, n in c.pop.items():
            popped[(frm, c.queue)] = popped.get((frm, c.queue), 0) + n
    assert {k: v for k, v in pushed.items() if v} == {k: v for k, v in popped.items() if v}


def test_program_shape():
    prog = compile_query(TINY, TINY_PIPE, 32, "global")
    ops = [c.op for c in prog.commands]
    layers = [len(s.model.layers()) for s in TINY_PIPE.stages]
    assert ops.count("RECV") == 4 and ops.count("SEND") == 1
    assert ops.count("GEMM") == 4 * layers[0] + 1 * layers[1]
    assert ops.count("LOADA") == ops.count("GEMM")
    topk = [c for c in prog.commands if c.op == "TOPK"]
    assert [c.args["last"] for c in topk] == [False, False, False, True, True]
    assert [c.args["k"] for c in topk if c.args["last"]] == [32, 8]


# -- executor ------------------------------------------------------------------------------------
def _one_stage(sub_batch=None, static_all=False):
    pipe = pipeline_from_dict({"k_out": 4, "stage": [
        {"items": 16, "subarrays": 2,
         "model": {"dense": 5, "bottom": [5, 6, 4], "tables": 3, "top": [16, 6, 1]}}]})
    accel = TINY
    if static_all:
        accel = dataclasses.replace(TINY, embedding=dataclasses.replace(
            TINY.embedding, static_rows=TINY.embedding.rows))
    return accel, pipe


def test_executor_equals_the_isa_rules_by_hand():
    """One stage, one sub-batch, every lookup a static hit: the serial chain of the ISA's
    cycle rules, written out by hand."""
    accel, pipe = _one_stage(static_all=True)
    r = model_accel(accel, pipe, seed=2, timeline=True)
    eng = accel.array.subarray
    L, W = accel.host_latency, accel.host_bytes_per_cycle
    recv = 16 * -(-(5 + 4 * 3) // W) - 1 + L           # RECV done: 2 beats per candidate
    # gather: 16 candidates x 1 beat (3 tables <= 4 lanes), all static: accepted one per cycle
    # from recv + 1 + 3, the last responds 3 cycles after its acceptance
    gather = recv + 1 + 3 + 15 + 3
    rows = 8                                             # 16 candidates over 2 sub-arrays
    t = recv + 1
    shapes = [(5, 6), (6, 4), (16, 6), (6, 1)]
    for li, (k, n) in enumerate(shapes):
        lat = 2 if li == 0 else 1
        if li == 2:
            t = max(t, gather + 1)
        t = t + lat + rows * eng.k_tiles(k) - 1 + 1      # LOADA done + 1
        t = t + gemm_cycles(eng, rows, k, n).total + 1 + 1   # GEMM done + 1
    topk = t + (-(-16 // accel.topk.lanes)) + 4          # TOPK done
    send = topk + 1 + 4 * -(-8 // W) - 1 + L              # one beat per result
    assert r.cycles == send
    g = [x for x in r.timeline if x["op"] == "GATHER"][0]
    assert g["done"] == gather


def test_executor_counts_every_mac_and_lookup():
    for cfg, name in ((TINY, "tiny"), (load_accel("rpaccel"), "s-l")):
        pipe = load_pipeline(name)
        r = model_accel(cfg, pipe, seed=1)
        assert r.events["macs"] == sum(n * s.model.macs_per_item()
                                       for n, s in zip(pipe.items, pipe.stages))
        assert r.events["lookups"] == sum(n * s.model.tables
                                          for n, s in zip(pipe.items, pipe.stages))
        e = r.embedding
        assert e["static_hits"] + e["dynamic_hits"] + e["merged"] + e["misses"] == \
            r.events["lookups"]


def test_sub_batch_pipelining_overlaps_stages():
    """Per-sub-batch filtering lets stage 1 start while stage 0 still computes; global makes it
    wait for stage 0's last filter."""
    for policy in ("per-sub-batch", "global"):
        r = model_accel(TINY, TINY_PIPE, sub_batch=8, policy=policy, seed=4, timeline=True)
        tl = r.timeline
        last_x0 = max(x["done"] for x in tl if x["queue"] == "x0")
        first_x1 = min(x["issue"] for x in tl if x["queue"] == "x1")
        last_f0 = max(x["done"] for x in tl if x["queue"] == "f0")
        if policy == "global":
            assert first_x1 > last_f0
        else:
            assert first_x1 < last_x0


def test_back_to_back_queries_and_determinism():
    accel, pipe = _one_stage()
    one = model_accel(accel, pipe, seed=5)
    three = model_accel(accel, pipe, seed=5, queries=3)
    assert three.latency[0] == one.cycles
    assert three.cycles < 3 * one.cycles                 # the next query overlaps
    again = model_accel(accel, pipe, seed=5, queries=3)
    assert again.as_dict(timeline=True) == three.as_dict(timeline=True)


def test_cli_model_accel_and_compile(tmp_path):
    exe = [sys.executable, "-m", "rpaccel.cli"]
    out = subprocess.run(exe + ["model", "accel", "--config", "tiny", "--pipeline", "tiny",
                                "--json", "--timeline", str(tmp_path / "t.csv")],
                         capture_output=True, text=True, check=True)
    d = json.loads(out.stdout)
    r = model_accel(TINY, TINY_PIPE, seed=0)
    assert d["cycles"] == r.cycles and d["seconds"] == pytest.approx(r.cycles * 8e-9)
    assert (tmp_path / "t.csv").read_text().count("\n") == len(compile_query(
        TINY, TINY_PIPE).commands) + 1
    out = subprocess.run(exe + ["compile", "--config", "tiny", "--pipeline", "tiny", "--json"],
                         capture_output=True, text=True, check=True)
    assert len(json.loads(out.stdout)["commands"]) == len(compile_query(TINY, TINY_PIPE).commands)
    bad = subprocess.run(exe + ["model", "accel", "--config", "tiny", "--pipeline", "tiny",
                                "--sub-batch", "24", "--timeline", str(tmp_path / "u.csv")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "sub_batch 24" in bad.stderr
    assert not (tmp_path / "u.csv").exists()


def test_embedding_rows_compiled_equals_numpy():
    """The compiled hash of long inputs gives the numpy form's bytes (seeded; reproduce with
    seed 11)."""
    rng = np.random.default_rng(11)
    t = rng.integers(0, 64, 20_000)
    r = rng.integers(0, 1 << 24, 20_000)
    for dim in (1, 4, 16, 32):
        long = embedding_rows(9, t, r, dim)                       # compiled (> 4096 rows)
        parts = np.concatenate([embedding_rows(9, t[i:i + 4000], r[i:i + 4000], dim)
                                for i in range(0, 20_000, 4000)])  # numpy
        assert long.dtype == np.int8 and (long == parts).all()


@pytest.mark.parametrize("pipe", ["tiny", "s-l", "rm-large"])
def test_float32_forward_equals_the_integer_one(pipe):
    """The float32 forward pass (every layer's sums exact below 2**24) gives the integer form's
    scores bit for bit (the integer form runs when activations are traced), on random dense
    features and embeddings at the int8 extremes and in between (seeded). 300 candidates put
    the wider layers' activations through the compiled kernel and the narrower ones through
    numpy (both checked to occur)."""
    from rpaccel.perfmodel import query as Q
    from rpaccel.perfmodel.query import _f32_exact

    widths = {w.shape[1] * 300 >= Q._ACT_KERNEL_MIN
              for w in model_params(load_pipeline(pipe), seed=3)[0].weights[:-1]}
    assert pipe == "tiny" or widths == {True, False}

    p = load_pipeline(pipe)
    acc = load_accel("rpaccel" if pipe != "tiny" else "tiny").array.acc_width
    params = model_params(p, seed=3)
    rng = np.random.default_rng(2026)
    print(f"seed=2026 pipeline={pipe}")
    for s, st in enumerate(p.stages):
        m = st.spec
        assert all(_f32_exact(w.shape[0], b, acc)
                   for w, b in zip(params[s].weights, params[s].biases))
        for lo, hi in [(-128, 128), (-128, -127), (127, 128)]:
            dense = rng.integers(lo, hi, size=(300, m.dense)).astype(np.int8)
            emb = rng.integers(lo, hi, size=(300, m.tables, m.dim)).astype(np.int8)
            fast = stage_scores(m, params[s], dense, emb, acc)
            slow = stage_scores(m, params[s], dense, emb, acc, trace=[])
            assert fast.dtype == slow.dtype == np.int64 and (fast == slow).all()
    # a layer whose sums could leave float32's exact range takes the integer path
    assert not _f32_exact(1024, np.zeros(4, np.int32), 32)
    assert not _f32_exact(16, np.zeros(4, np.int32), 16)


@pytest.mark.parametrize("items, workload", [(4096, None), (4095, None), (1025, None),
                                             (1025, "criteo-kaggle"), (4096, "criteo-reuse")])
def test_inputs_without_dense_features_have_the_same_sparse_ids(items, workload):
    """``query_inputs(..., dense=False)`` skips the dense draws (a one-stage pipeline's timing
    needs none) and gives the same sparse ids, for even and odd numbers of dense values (13
    features per item), Zipf ranks and a workload's draws (which read the generator after the
    dense features the same way)."""
    from rpaccel.accel import load_accel
    from rpaccel.perfmodel.feed import WorkloadFeed
    from rpaccel.perfmodel.query import column_rows
    from rpaccel.workload import load_workload

    import dataclasses

    accel = load_accel("rpaccel")
    pipe = load_pipeline("rm-large").accel_program()
    pipe = dataclasses.replace(pipe, stages=(dataclasses.replace(pipe.stages[0], items=items),))
    assert pipe.dense == 13
    feed = None
    if workload is not None:
        pipe = pipe.with_workload(load_workload(workload))
        feed = WorkloadFeed(pipe.workload, pipe, accel.embedding, 3)
    for q in (0, 5):
        full = query_inputs(pipe, column_rows(accel, pipe), 3, q, feed)
        lean = query_inputs(pipe, column_rows(accel, pipe), 3, q, feed, dense=False)
        assert lean.dense is None and full.dense.shape == (items, 13)
        assert (lean.sparse == full.sparse).all(), (items, workload, q)
    # the skip leaves the generator as numpy's draws do, its buffered 32-bit half included
    from rpaccel.perfmodel.query import skip_int8_draws

    for k in (0, 1, 2, items * 13):
        a, b = np.random.default_rng([3, k]), np.random.default_rng([3, k])
        a.integers(-128, 128, size=k, dtype=np.int64)
        skip_int8_draws(b, k)
        sa, sb = a.bit_generator.state, b.bit_generator.state
        assert (sa["state"], sa["has_uint32"]) == (sb["state"], sb["has_uint32"]), k
        assert (a.integers(0, 1000, size=9) == b.integers(0, 1000, size=9)).all(), k


@pytest.mark.parametrize("rows, skew", [(1 << 20, 1.0), (65536, 0.6), (1 << 22, 1.6)])
def test_zipf_bucketed_search_equals_searchsorted(rows, skew):
    """The compiled bucketed search of the Zipf sampler returns numpy's ``searchsorted(cdf, u,
    "right")`` exactly: random keys, every bucket edge, keys equal to CDF entries and their
    neighbours, and the largest float below 1 (seeded). The last case has buckets long enough
    to be bisected, not counted."""
    from rpaccel.perfmodel._querykern import bucket_search
    from rpaccel.perfmodel.query import ZIPF_BUCKETS, _zipf_cdf, _zipf_starts

    cdf, starts = _zipf_cdf(rows, skew), _zipf_starts(rows, skew)
    if skew > 1.5:
        from rpaccel.perfmodel._querykern import _COUNT_MAX

        assert np.diff(starts).max() > _COUNT_MAX
    rng = np.random.default_rng(11)
    print(f"seed=11 rows={rows} skew={skew}")
    picks = cdf[rng.integers(0, rows - 1, size=20_000)]
    edges = rng.integers(0, ZIPF_BUCKETS, size=50_000) / ZIPF_BUCKETS
    u = np.concatenate([rng.random(50_000), edges, np.nextafter(edges, 0),
                        picks, np.nextafter(picks, 0), np.nextafter(picks, 1)[picks < 1],
                        cdf[:1000], [np.nextafter(1.0, 0), 0.0]])
    u = u[u < 1]
    want = np.searchsorted(cdf, u, side="right")
    assert (bucket_search(cdf, starts, u, rows) == want).all()         # cap rows: no cap
    for cap in (rows - 1, 3, rows // 4):
        assert (bucket_search(cdf, starts, u, cap) == np.minimum(want, cap)).all(), cap
    assert (want > rows // 4).any()                     # the caps were exercised
    # and the sampler's rows are the ones the plain search gives
    from rpaccel.perfmodel.query import _zipf_rows

    a = _zipf_rows(np.random.default_rng(5), 50_000, rows, skew)
    b = np.minimum(np.searchsorted(cdf, np.random.default_rng(5).random(50_000), side="right"),
                   rows - 1)
    assert (a == b).all()
