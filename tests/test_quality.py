"""The quality engine: funnels by hand and against a per-query reference (ties included), the
metrics by hand, the synthetic generator's determinism and structure, and bad input."""

import numpy as np
import pytest

from rpaccel.sched.quality.metrics import SyntheticParams, funnel, metrics, synthetic


def _reference(scores, items, policy="global", sub_batch=None, k_out=4):
    """Plain-Python funnel, one query at a time: sort by (-score, index)."""
    out = []
    for q in range(scores[0].shape[0]):
        cand = list(range(scores[0].shape[1]))
        for s, sc in enumerate(scores):
            key = lambda i: (-float(np.float32(sc[q, i])), i)      # noqa: E731
            last = s == len(scores) - 1
            keep = k_out if last else items[s + 1]
            if last or policy == "global":
                cand = sorted(cand, key=key)[:keep]
            else:
                b = min(sub_batch, items[s])
                quota = keep * b // items[s]
                cand = [i for j in range(0, len(cand), b)
                        for i in sorted(cand[j:j + b], key=key)[:quota]]
        out.append(cand)
    return np.array(out)


def test_funnel_by_hand():
    """8 candidates, stage 0 keeps 4, stage 1 returns 2. Global: stage 0's best 4 by its score
    are 5 (9), 0 and 2 (7, tie: lower index first), 7 (6); stage 1 ranks them 2, 7. Per
    sub-batch of 4 (quota 2): {0..3} keeps 0, 2; {4..7} keeps 5, 7; stage 1 ranks 2, 7 as well;
    with stage-1 scores favouring 1 and 6 nothing changes, since they were filtered out."""
    s0 = np.array([[7, 1, 7, 3, 0, 9, 2, 6]])
    s1 = np.array([[0, 9, 5, 1, 1, 2, 9, 4]])
    assert funnel([s0, s1], [8, 4], k_out=2).tolist() == [[2, 7]]
    assert funnel([s0, s1], [8, 4], policy="per-sub-batch", sub_batch=4, k_out=2).tolist() == [[2, 7]]
    # stage 0 alone, ties to the lower index
    assert funnel([s0], [8], k_out=4).tolist() == [[5, 0, 2, 7]]
    # per-sub-batch changes the result when the best items crowd one sub-batch
    s0 = np.array([[9, 8, 7, 6, 0, 1, 2, 3]])
    s1 = np.zeros((1, 8), dtype=np.int64)
    assert funnel([s0, s1], [8, 4], k_out=4).tolist() == [[0, 1, 2, 3]]
    assert funnel([s0, s1], [8, 4], policy="per-sub-batch", sub_batch=4,
                  k_out=4).tolist() == [[0, 1, 6, 7]]


@pytest.mark.parametrize("policy, sub_batch", [("global", None), ("per-sub-batch", 8),
                                               ("per-sub-batch", 16)])
def test_funnel_equals_reference_with_ties(policy, sub_batch):
    rng = np.random.default_rng(5)
    print("seed=5")
    for _ in range(5):
        scores = [rng.integers(0, 6, size=(7, 64)), rng.normal(size=(7, 64)).astype(np.float32),
                  rng.integers(-3, 3, size=(7, 64))]
        items = [64, 32, 16]
        got = funnel(scores, items, policy=policy, sub_batch=sub_batch, k_out=8)
        assert got.tolist() == _reference(scores, items, policy, sub_batch, 8).tolist()


def test_metrics_by_hand():
    """Ranked labels 1, 0, 1, 1: RecPipe NDCG@4 = (1 + 1/2 + 1/log2 5) / (1 + 1/log2 3 + 1/2 +
    1/log2 5); with 3 positives among the candidates the standard IDCG@4 has three ones."""
    labels = np.array([[1, 0, 1, 1, 0, 0]])
    ranked = np.array([[0, 1, 2, 3]])
    m = metrics(labels, ranked, ks=(4,), reference=np.array([[0, 2, 3, 4]]))
    d = 1 / np.log2(np.arange(4) + 2)
    assert m["ndcg@4"] == pytest.approx((d[0] + d[2] + d[3]) / d.sum())
    assert m["ndcg_std@4"] == pytest.approx((d[0] + d[2] + d[3]) / d[:3].sum())
    assert m["recall@4"] == 1.0 and m["hr@4"] == 1.0 and m["overlap@4"] == 0.75


def test_synthetic_is_seeded_and_nested():
    p = SyntheticParams(threshold=0.5, label_noise=0.5, noise={"s": 0.9, "l": 0.3})
    a = synthetic(3, 100, ["s", "l"], p, seed=4)
    b = synthetic(3, 100, ["l"], p, seed=4)
    assert (a[0] == b[0]).all() and (a[1][1] == b[1][0]).all()      # same queries, same model
    c = synthetic(3, 100, ["s", "l"], p, seed=5)
    assert not (a[1][0] == c[1][0]).all()
    # the cheaper model's score is the best model's plus its own error
    p0 = SyntheticParams(threshold=0.5, label_noise=0.5, noise={"s": 0.3, "l": 0.3})
    x = synthetic(2, 50, ["s", "l"], p0, seed=1)[1]
    assert (x[0] == x[1]).all()


@pytest.mark.parametrize("kwargs, msg", [
    ({"items": [8, 16]}, r"items\[1\] must be in \[1, 8\]"),
    ({"items": [4]}, r"items\[0\] must be the candidate count 8"),
    ({"items": [8, 4], "policy": "best"}, "policy must be 'global' or 'per-sub-batch'"),
    ({"items": [8, 3], "policy": "per-sub-batch", "sub_batch": 4}, "integral quota"),
    ({"items": [8, 4], "policy": "per-sub-batch", "sub_batch": 3}, "sub-batch 3 must divide"),
    ({"items": [8, 4], "k_out": 5}, r"k_out must be in \[1, 4\]"),
])
def test_funnel_bad_input(kwargs, msg):
    s = np.zeros((1, 8))
    items = kwargs.pop("items")
    with pytest.raises(ValueError, match=msg):
        funnel([s] * len(items), items, **{"k_out": 1, **kwargs})


def test_metrics_bad_k():
    with pytest.raises(ValueError, match=r"k must be in \[1, 4\]"):
        metrics(np.zeros((1, 8)), np.zeros((1, 4), dtype=np.int64), ks=(8,))


def test_default_params_reproduce_recpipe_table():
    """The shipped generator parameters (fitted by `rpaccel quality calibrate`) reproduce every
    published point (17 NDCG@64 values, 3 error rates) within 0.01 on fresh queries (another seed
    than the fit's)."""
    from rpaccel.sched.quality.metrics import DEFAULT_PARAMS, calibration_residuals

    res = calibration_residuals(DEFAULT_PARAMS, queries=1000, seed=123)
    for r in res:
        print(r["pipeline"], r["items"], round(r["recpipe"], 4), round(r["ours"], 4))
    assert len(res) == 20
    assert max(abs(r["residual"]) for r in res) <= 0.01


def test_quality_calibrate_cli():
    import json
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "rpaccel.cli", "quality", "calibrate"]
    p = subprocess.run([*cmd, "--queries", "30", "--max-evals", "2", "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert len(out["points"]) == 20 and set(out["params"]) == {"threshold", "label_noise", "noise"}
    assert out["max_abs_residual"] == max(abs(r["residual"]) for r in out["points"])
    for args, needle in [(["--queries", "0"], "queries must be an integer in [1, 100000], got 0"),
                         (["--max-evals", "0"], "max_evals must be an integer in [1, 10000], got 0")]:
        p = subprocess.run([*cmd, *args], capture_output=True, text=True)
        assert p.returncode == 2 and p.stdout == "" and p.stderr.strip() == f"rpaccel: error: {needle}"


def test_quality_cli_pipeline():
    """`rpaccel quality --pipeline` on the S->L example: the issue's JSON keys, the size classes,
    and bad input (unknown data source, a non-integral per-sub-batch quota) as one-line errors."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    pipe = str(Path(__file__).resolve().parents[1] / "examples" / "pipelines/sl-cpu.toml")
    cmd = [sys.executable, "-m", "rpaccel.cli", "quality", "--pipeline", pipe, "--queries", "60"]
    p = subprocess.run([*cmd, "--seed", "3", "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for key in ("ndcg@4", "ndcg@8", "ndcg@16", "ndcg@32", "ndcg@64", "recall@64", "queries", "seed"):
        assert key in out
    assert out["queries"] == 60 and out["seed"] == 3 and out["size_classes"] == ["rm-small", "rm-large"]
    assert 0.8 < out["ndcg@64"] <= 1.0
    for args, needle in [(["--data", "criteo"],
                          "--data must be one of ['synthetic', 'movielens'] or a .npz/.parquet "
                          "file, got 'criteo'"),
                         (["--filter", "per-sub-batch", "--sub-batch", "300"],
                          "stage 0: sub-batch 300 must divide items[0]=4096"),
                         (["--queries", "0"], "queries must be an integer in [1, 100000], got 0")]:
        p = subprocess.run([*cmd, *args], capture_output=True, text=True)
        assert p.returncode == 2 and p.stdout == ""
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"rpaccel: error: {needle}")


def test_size_class_rule():
    from rpaccel.sched.quality.metrics import size_class

    assert [size_class(m) for m in ("rm-small", "rm-med", "rm-large", "din", "ncf")] == [
        "rm-small", "rm-med", "rm-large", "rm-med", "rm-large"]


def test_movielens_path_small_subset():
    """MovieLens-100K (from the recbole wheel's text files) end to end on 120 users: every query
    has its 10 held-out positives among 256 candidates; the trained models rank them far above
    chance (recall@64 of a random ranking is 64/256 = 0.25); same seed, same result."""
    from rpaccel.sched.quality.movielens import movielens_data
    from rpaccel.sched.quality.metrics import pipeline_quality

    labels, scores = movielens_data(256, ["rm-small", "rm-large"], queries=120, seed=0)
    assert labels.shape == (120, 256) and (labels.sum(axis=1) == 10).all()
    assert len(scores) == 2 and scores[0].shape == (120, 256)
    a = pipeline_quality(["rm-small", "rm-large"], [256, 64], queries=120, data="movielens")
    b = pipeline_quality(["rm-small", "rm-large"], [256, 64], queries=120, data="movielens")
    assert a == b and a["queries"] == 120
    print({k: round(v, 4) for k, v in a.items() if isinstance(v, float)})
    assert a["recall@64"] > 0.4
    with pytest.raises(ValueError, match=r"first stage's items must be in \[1, 1682\]"):
        movielens_data(4096, ["rm-large"], queries=5)


def _byo(tmp_path, q=3, n=8, **over):
    rng = np.random.default_rng(9)
    cols = {"query": np.repeat(np.arange(q), n), "item": np.tile(np.arange(n)[::-1], q),
            "label": rng.integers(0, 2, q * n), "score_rm-small": rng.normal(size=q * n),
            "score_rm-large": rng.normal(size=q * n)}
    cols.update(over)
    path = tmp_path / "data.npz"
    np.savez(path, **cols)
    return path, cols


def test_bring_your_own_file(tmp_path):
    """An NPZ file of (query, item, label, score per model): candidates ordered by item (the
    file's rows are reversed here), metrics equal to the funnel on the same arrays; Parquet
    the same; malformed files name the row and the column."""
    from rpaccel.sched.quality.metrics import pipeline_quality
    from rpaccel.sched.quality.files import load_quality_file

    path, cols = _byo(tmp_path)
    labels, (s, l) = load_quality_file(path, ["rm-small", "rm-large"], 8)
    order = np.lexsort((cols["item"], cols["query"]))
    assert (labels == cols["label"][order].reshape(3, 8)).all()
    assert (l == cols["score_rm-large"][order].reshape(3, 8)).all()
    got = pipeline_quality(["rm-small", "rm-large"], [8, 4], data=str(path))
    want = metrics(labels, funnel([s, l], [8, 4], k_out=4), reference=funnel([l], [8], k_out=4),
                   ks=(4,))
    assert {k: got[k] for k in want} == want
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({k: v for k, v in cols.items()}), tmp_path / "data.parquet")
    assert pipeline_quality(["rm-small", "rm-large"], [8, 4],
                            data=str(tmp_path / "data.parquet"))["ndcg@4"] == got["ndcg@4"]
    for over, msg in [({"label": np.full(24, 2)}, r"row 0, column 'label': must be 0 or 1, got 2"),
                      ({"score_rm-large": np.r_[np.zeros(5), np.nan, np.zeros(18)]},
                       r"row 5, column 'score_rm-large': must be a finite number"),
                      ({"query": np.r_[np.zeros(9, int), np.ones(15, int)],
                        "item": np.arange(24)}, r"query 0 has 9 rows, expected 8"),
                      ({"item": np.zeros(24, int)}, r"column 'item': item 0 repeats in query 0")]:
        bad, _ = _byo(tmp_path, **over)
        with pytest.raises(ValueError, match=msg):
            load_quality_file(bad, ["rm-small", "rm-large"], 8)
    np.savez(tmp_path / "x.npz", query=np.zeros(8, int))
    with pytest.raises(ValueError, match=r"missing column 'item'"):
        load_quality_file(tmp_path / "x.npz", ["rm-small"], 8)


def test_study_recpipe_writes_its_tables(tmp_path):
    """`rpaccel study recpipe` on a small budget: every file, one quality row per funnel and
    filter policy, the iso-quality threshold mapped onto our data (RM-large alone passes, RM-small
    alone does not), and one best-per-class row per platform and throughput class."""
    import csv
    import json
    import subprocess
    import sys

    out = tmp_path / "dse"
    cmd = [sys.executable, "-m", "rpaccel.cli", "study", "recpipe", "--qps", "66.7,2000",
           "--queries", "200", "--quality-queries", "200"]
    p = subprocess.run([*cmd, "-o", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    for f in ("results.csv", "quality.csv", "best_per_class.csv", "pareto_quality_p95.csv",
              "pareto_qps_p95.csv", "quality_vs_p95.png", "p95_vs_qps_iso_quality.png",
              "manifest.json"):
        assert (out / f).stat().st_size > 0, f
    rd = lambda f: list(csv.DictReader((out / f).read_text().splitlines()))    # noqa: E731
    q = {(r["funnel"], r["filter"]): r for r in rd("quality.csv")}
    assert q[("rm-large [4096]", "global")]["iso_quality"] == "True"
    assert q[("rm-small [4096]", "global")]["iso_quality"] == "False"
    best = rd("best_per_class.csv")
    assert {(r["platform"], r["class"]) for r in best} == {
        (p, c) for p in ("cpu", "cpu+gpu", "recpipe-artifact", "rpaccel", "tpu-like")
        for c in ("low", "medium", "high")}
    res = rd("results.csv")
    # RPAccel placements join only the quality of their own filter policy; tpu-like runs
    # one-stage funnels only
    rp = [r for r in res if r["platform"] == "rpaccel"]
    assert rp and all((" per-sub-batch" in r["placement"]) == r["filter"].startswith("per-sub")
                      for r in rp if "->" in r["funnel"])
    assert {r["funnel"] for r in res if r["platform"] == "tpu-like"} == {
        "rm-small [4096]", "rm-med [4096]", "rm-large [4096]"}
    assert json.loads((out / "manifest.json").read_text())["config"]["sla_ms"] == 500.0
    p = subprocess.run([*cmd, "--iso-ndcg", "1.5", "-o", str(tmp_path / "bad")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.strip() == "rpaccel: error: iso_ndcg must be in (0, 1], got 1.5"
    assert not (tmp_path / "bad").exists()
