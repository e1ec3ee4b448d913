"""Pooled (multi-hot) embedding gathers and per-table rows: the pooling rule, the golden model's
wiring of ids to tables, the address map, the compiler's beats, the counters, energy, the
DeepRecInfra models on `rpaccel`, and the bad-input rules. The RTL co-verification of the
pooled build is in the accelerator matrix (tests/test_accel_cocotb.py, build `tiny-pooled`)."""

import itertools

import numpy as np
import pytest

from rpaccel.accel import load_accel
from rpaccel.cli import main
from rpaccel.config import EmbCacheConfig
from rpaccel.models import CATALOG
from rpaccel.query import (MAX_POOLING, ModelSpec, load_pipeline, model_spec, place,
                           pool_acc_bits)

POOLED = "tiny-pooled"


def _run(capsys, argv):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_pool_accumulator_never_overflows():
    # L int8 values sum to [-128 L, 127 L]; a signed b-bit register holds [-2^(b-1), 2^(b-1) - 1]
    for L in range(1, MAX_POOLING + 1):
        b = pool_acc_bits(L)
        assert -128 * L >= -(1 << (b - 1)) and 127 * L <= (1 << (b - 1)) - 1, L
        assert b == 8 or -128 * L < -(1 << (b - 2)), f"{L}: one bit fewer would do"


def test_pool_rows_is_a_saturating_sum():
    from rpaccel.perfmodel.query import pool_rows

    rng = np.random.default_rng(3)
    pooling = (1, 3, 8, 2)
    emb = rng.integers(-128, 128, size=(5, sum(pooling), 6)).astype(np.int8)
    got = pool_rows(emb, pooling)
    for i, t, e in itertools.product(range(5), range(len(pooling)), range(6)):
        lo = sum(pooling[:t])
        s = sum(int(emb[i, lo + j, e]) for j in range(pooling[t]))
        assert got[i, t, e] == max(-128, min(127, s))
    assert (got[:, 0] == emb[:, 0]).all()          # pooling 1 is the row itself
    assert (np.abs(got.astype(int)) == 128).any() or (got == 127).any()   # saturation seen


def test_golden_pools_each_tables_own_ids():
    """Stage 0's scores from the golden model equal a direct computation: item i's table t sums
    the rows of its ids ``sparse[i, off_t .. off_t + L_t)`` of unit table ``t``."""
    from rpaccel.perfmodel.query import (column_rows, embedding_rows, model_params,
                                         query_inputs, run_query, stage_scores)

    accel, pipe = load_accel(POOLED), load_pipeline(POOLED).accel_program()
    seed = 4
    inp = query_inputs(pipe, column_rows(accel, pipe), seed)
    params = model_params(pipe, seed)
    res = run_query(accel, pipe, params, inp, seed=seed)
    m = pipe.stages[0].spec
    emb = np.zeros((pipe.items[0], m.tables, m.dim), dtype=np.int64)
    for i in range(pipe.items[0]):
        k = 0
        for t, L in enumerate(m.pooling):
            acc = np.zeros(m.dim, dtype=np.int64)
            for _ in range(L):
                acc += embedding_rows(seed, [t], [int(inp.sparse[i, k])], m.dim)[0]
                k += 1
            emb[i, t] = np.clip(acc, -128, 127)
    want = stage_scores(m, params[0], inp.dense, emb.astype(np.int8), accel.array.acc_width)
    assert (res.stage_scores[0] == want).all()
    # ids stay inside the smallest table that reads their column
    rows = column_rows(accel, pipe)
    assert (inp.sparse < np.array(rows)[None, :]).all()
    assert min(rows) < accel.embedding.rows


def test_per_table_rows_pack_the_address_map():
    cfg = EmbCacheConfig(dim=4, tables=3, rows=8, table_rows=(3, 5, 2), static_rows=1, sets=4,
                         ways=2)
    assert cfg.table_bases == (0, 3, 8) and cfg.total_rows == 10 and cfg.addr_bits == 4
    assert [cfg.global_row(t, r) for t, r in [(0, 2), (1, 0), (2, 1)]] == [2, 3, 9]
    uni = EmbCacheConfig(dim=4, tables=3, rows=8, static_rows=1, sets=4, ways=2)
    assert uni.global_row(2, 5) == 21 and uni.addr_bits == 5 and "table_rows" not in uni.to_dict()
    with pytest.raises(ValueError, match=r"table_rows\[1\] must be an integer in 1..rows=8"):
        EmbCacheConfig(dim=4, tables=2, rows=8, static_rows=1, table_rows=(3, 9))
    with pytest.raises(ValueError, match="one entry per table"):
        EmbCacheConfig(dim=4, tables=2, rows=8, static_rows=1, table_rows=(3,))


def test_cache_policy_with_per_table_rows_matches_reference():
    """The compiled hit-rate kernel and the step-by-step reference agree on a packed map, and
    the packing moves lookups to other sets than the uniform map does."""
    from rpaccel.perfmodel.embcache import hit_counts

    cfg = EmbCacheConfig(dim=4, tables=4, rows=64, table_rows=(64, 5, 33, 17), static_rows=2,
                         sets=8, ways=2)
    rng = np.random.default_rng(11)
    t = rng.integers(0, 4, size=3000)
    r = rng.integers(0, 64, size=3000) % np.array(cfg.table_sizes)[t]
    a = hit_counts(cfg, t, r, engine="numba")
    b = hit_counts(cfg, t, r, engine="python")
    assert a == b and a["misses"] > 0
    uni = EmbCacheConfig(dim=4, tables=4, rows=64, static_rows=2, sets=8, ways=2)
    assert hit_counts(uni, t, r, engine="python") != a
    with pytest.raises(ValueError, match="below their table's rows"):
        hit_counts(cfg, [1], [5])


def test_gathers_present_sum_of_pooling_lookups():
    from rpaccel.perfmodel.compiler import compile_query
    from rpaccel.perfmodel.executor import model_accel

    accel, pipe = load_accel(POOLED), load_pipeline(POOLED)
    prog = compile_query(accel, pipe.accel_program(), 16, "global")
    lanes = accel.embedding.lanes
    g = [c.args for c in prog.commands if c.op == "GATHER"]
    # stage 0: 1 + 3 + 8 = 12 ids -> 3 beats of 4 lanes; stage 1: 3 + 1 + 8 + 2 = 14 -> 4 beats
    assert {a["s"]: a["beats"] // a["items"] for a in g} == {0: 3, 1: 4} and lanes == 4
    r = model_accel(accel, pipe, seed=0)
    assert r.events["lookups"] == 64 * 12 + 16 * 14
    assert r.events["pooled_outputs"] == 64 * 3 + 16 * 4
    # each record carries its 14 ids: 6 + 4 * 14 = 62 bytes, 4 beats of 16 bytes per item
    assert r.events["host_bytes_in"] == 64 * 62 and r.events["host_beats_in"] == 64 * 4


def test_pooling_energy_is_the_extra_rows_summed():
    from rpaccel.perfmodel.executor import model_accel
    from rpaccel.sched.cost.energy import default_table, query_energy

    t = default_table()
    accel, pipe = load_accel(POOLED), load_pipeline(POOLED)
    r = model_accel(accel, pipe, seed=0)
    e = query_energy(accel, r.events, r.embedding, t)
    assert e["pooling"] == pytest.approx((992 - 256) * 8 * t.action_pj["vector_op"])
    one = model_accel(load_accel("tiny"), load_pipeline("tiny"), seed=0)
    assert query_energy(load_accel("tiny"), one.events, one.embedding, t)["pooling"] == 0


def test_deeprecinfra_dlrms_keep_their_pooling():
    assert model_spec(CATALOG["dlrm-rmc1"]).pooling == (80,) * 8
    assert model_spec(CATALOG["dlrm-rmc2"]).pooling == (120,) * 32
    spec3 = model_spec(CATALOG["dlrm-rmc3"])
    assert spec3.pooling == (20,) * 10 and spec3.lookups == 200
    with pytest.raises(ValueError, match="has GEMM layers outside its MLPs"):
        model_spec(CATALOG["dien"])


def test_rmc1_answers_on_the_rpaccel_preset(capsys):
    import json

    rc, out, err = _run(capsys, ["model", "stage", "--platform", "rpaccel:rpaccel", "--model",
                                 "dlrm-rmc1", "--items", "256", "--json"])
    assert rc == 0, err
    d = json.loads(out)
    assert d["lookups"] == 256 * 8 * 80 and d["gather_cycles"] > d["gemm_cycles"]
    rc, out, err = _run(capsys, ["model", "stage", "--platform", "rpaccel:rpaccel", "--model",
                                 "din", "--items", "256"])
    assert rc == 2 and "cannot run on an rpaccel platform" in err and len(err.splitlines()) == 1


def _pipe(tmp_path, pooling, tables=3):
    top = (tables + 1) * 4
    p = tmp_path / "p.toml"
    p.write_text(f'k_out = 4\n[[stage]]\nitems = 16\nsubarrays = 0\nmodel = {{ dense = 6, '
                 f'bottom = [6, 4], tables = {tables}, top = [{top}, 1], pooling = {pooling} }}\n')
    return str(p)


@pytest.mark.parametrize("config,pooling,tables,msg", [
    ("tiny-pooled", "[1, 0, 3]", 3,
     "model.pooling entries (lookups per table) must be an integer in [1, 256], got 0"),
    ("tiny", "[1, 3, 8]", 3, "max_pooling = 1 (pooling disabled)"),
    ("tiny-pooled", "[1, 9, 2]", 3, "stage[0].model.pooling = 9 lookups per table exceeds "
                                    "max_pooling = 8: allowed 1..8"),
    ("tiny-pooled", "[8, 8, 8, 2]", 4, "26 lookups per item exceed the gather engine's id buffer "
                                       "(max_lookups = 24)"),
])
def test_bad_pooling_is_one_line_exit_2(tmp_path, capsys, config, pooling, tables, msg):
    rc, out, err = _run(capsys, ["model", "accel", "--config", config, "--pipeline",
                                 _pipe(tmp_path, pooling, tables)])
    assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    assert out == ""


def test_table_rows_that_do_not_fit_the_row_address(tmp_path, capsys):
    from rpaccel.accel import PRESETS

    text = PRESETS[POOLED].read_text().replace("table_rows = [256,", "table_rows = [300,")
    f = tmp_path / "a.toml"
    f.write_text(text)
    rc, _, err = _run(capsys, ["model", "accel", "--config", str(f), "--pipeline", POOLED])
    assert rc == 2 and "table_rows[0] must be an integer in 1..rows=256 (the row address is 8 " \
                       "bits), got 300" in err


def test_item_memory_slot_bounds_long_records():
    """RMC2's 15,616-byte records: the dim-64 file's slot (8,192 x 525 bytes) holds 275."""
    from rpaccel.query import Pipeline, StageSpec

    accel = load_accel("examples/accelerators/rpaccel-dlrm.toml")
    spec = model_spec(CATALOG["dlrm-rmc2"])
    ok = Pipeline(stages=(StageSpec(model=spec, items=256, subarrays=4),), k_out=64)
    place(accel, ok, 256)
    big = Pipeline(stages=(StageSpec(model=spec, items=512, subarrays=4),), k_out=64)
    with pytest.raises(ValueError, match="allowed 1..275 items"):
        place(accel, big, 256)


def test_one_hot_spec_is_unchanged():
    m = ModelSpec(dense=4, bottom=(4, 4), tables=2, top=(12, 1))
    assert m.pooling == (1, 1) and not m.pooled and m.lookups == 2
    assert "pooling" not in m.to_dict()
    assert ModelSpec(dense=4, bottom=(4, 4), tables=2, top=(12, 1), pooling=3).pooling == (3, 3)


def _pooled_workload(pooling, pooling_max=None):
    from rpaccel.workload import workload_from_dict

    tabs = [{"rows": r, "pooling": p, "skew": 1.1} for r, p in zip([300, 64, 1000, 16], pooling)]
    if pooling_max:
        tabs[2]["pooling_max"] = pooling_max
    return workload_from_dict({"name": "pooled", "table": tabs}, where="test workload")


def test_a_pooled_workload_feeds_a_pooled_pipeline():
    """The widest stage (stage 1: pooling 3, 1, 8, 2) names the columns: each is a draw of its
    table, folded into the accelerator's rows of the column (tables of 8..256 rows)."""
    from rpaccel.perfmodel.executor import model_accel
    from rpaccel.perfmodel.feed import WorkloadFeed
    from rpaccel.perfmodel.query import column_rows

    accel = load_accel(POOLED)
    pipe = load_pipeline(POOLED).accel_program().with_workload(_pooled_workload([3, 1, 8, 2]))
    assert pipe.widest_stage is pipe.stages[1]
    feed = WorkloadFeed(pipe.workload, pipe, accel.embedding, 5)
    assert feed.col_table == [0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3]
    ids = feed.sparse(0, np.random.default_rng(1))
    assert ids.shape == (64, 14) and (ids >= 0).all()
    assert (ids < np.array(column_rows(accel, pipe))[None, :]).all()
    # the 1,000-row table folds into its columns' rows, so no column is constant
    assert feed.folded >= 1 and all(len(set(ids[:, c])) > 1 for c in range(14))
    r = model_accel(accel, pipe, seed=5)
    assert r.events["lookups"] == 64 * 12 + 16 * 14


@pytest.mark.parametrize("pooling,pmax,msg", [
    ([3, 1, 4, 2], None, "table 2 pools 4 lookups per item, but the pipeline's model pools 8"),
    ([3, 1, 8, 2], 12, "table 2 pools 8..12 lookups per item"),
])
def test_a_workload_pooling_otherwise_is_refused(pooling, pmax, msg):
    from rpaccel.perfmodel.executor import model_accel

    pipe = load_pipeline(POOLED).accel_program().with_workload(_pooled_workload(pooling, pmax))
    with pytest.raises(ValueError, match=msg):
        model_accel(load_accel(POOLED), pipe, seed=0)
