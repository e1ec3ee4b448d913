"""DeepRecSys's side of the headlines: Pareto-tailed query sizes, DeepRecSched over a tail
sweep, and offload of large queries to an RPAccel (its power and QPS/W)."""

import json
import math

import numpy as np
import pytest

from rpaccel.cli import main
from rpaccel.sched.serving.workload import LOGNORMAL_MU, LOGNORMAL_SIGMA, sizes


def test_pareto_mixture_is_lognormal_body_and_pareto_tail():
    n, tail, alpha = 400_000, 0.1, 1.5
    s = sizes("pareto", n, 3, tail=tail, alpha=alpha, max_size=10 ** 9)
    body = sizes("lognormal", n, 3)               # the same generator's first draws
    x0 = math.exp(LOGNORMAL_MU + 1.645 * LOGNORMAL_SIGMA)
    differs = s != body
    # only tail draws differ from the lognormal body, and they are about `tail` of them
    assert abs(differs.mean() - tail) < 0.005
    # the tail is Pareto(alpha) from x0: P(X > k x0 | tail) = k^-alpha (truncation aside)
    t = s[differs].astype(float) + 0.5
    for k in (2.0, 4.0):
        share = (t > k * x0).sum() / (tail * n)
        assert abs(share - k ** -alpha) < 0.01, (k, share)
    clipped = sizes("pareto", 1000, 3, tail=tail, alpha=0.5)
    assert clipped.max() == 1024 and clipped.min() >= 1
    with pytest.raises(ValueError, match=r"size alpha must be in \(0, 100\]"):
        sizes("pareto", 10, 0, alpha=0)
    with pytest.raises(ValueError, match=r"size tail must be a share in \[0, 1\]"):
        sizes("pareto", 10, 0, tail=1.5)


def test_rpaccel_offload_power_adds_the_accelerators():
    from rpaccel.models import get_model
    from rpaccel.query import Pipeline, StageSpec
    from rpaccel.sched.cost.energy import default_table
    from rpaccel.sched.cost.power import pipeline_power
    from rpaccel.sched.platforms.hosts import get_platform
    from rpaccel.sched.serving.sim import simulate
    from rpaccel.sched.serving.workload import arrivals

    st = StageSpec("dlrm-rmc1", "cpu", 8, batch=256, gpu_threshold=200,
                   gpu_platform="rpaccel:rpaccel")
    pipe = Pipeline((st,))
    n = sizes("lognormal", 2000, 1)
    r = simulate(pipe, arrivals("poisson", 100, 2000, 1), n)
    got = pipeline_power(pipe, r.records, r.records["measured"], r.achieved_qps)
    m = np.asarray(r.records["items"])[r.records["measured"]]
    acc = get_platform("rpaccel:rpaccel")
    big = m[m >= 200]
    want = (8 * default_table().cpu_core_w + acc.static_w()
            + acc.energy_j(get_model("dlrm-rmc1"), big).sum() / len(m) * r.achieved_qps)
    assert len(big) > 0 and got["power_w"] == pytest.approx(want)


def test_study_deeprecsched_tails_and_accel(tmp_path, capsys):
    out = tmp_path / "drs"
    rc = main(["study", "deeprecsched", "-o", str(out), "--models", "dlrm-rmc1,din",
               "--tails", "0,0.5", "--accel", "rpaccel", "--queries", "200", "--json"])
    o, err = capsys.readouterr()
    assert rc == 0, err
    res = json.loads(o)
    for f in ("gains.csv", "configs.csv", "offload.csv", "report.md", "gain_vs_tail.png",
              "qps_per_w.png", "manifest.json"):
        assert (out / f).exists(), f
    rows = {(r["model"], r["tail"]): r for r in res["models"]}
    assert set(rows) == {(m, t) for m in ("dlrm-rmc1", "din")
                         for t in ("lognormal", "pareto a=0.5")}
    rmc1 = rows["dlrm-rmc1", "lognormal"]
    din = rows["din", "lognormal"]
    # RMC1 runs on the accelerator; DIN says why not, in one line
    assert rmc1["accel_qps"] >= rmc1["cpu_qps"] > 0 and rmc1["accel_note"] is None
    assert "accel_qps" not in din and "GEMM layers outside its MLPs" in din["accel_note"]
    # the report states the average gains and whether they reach DeepRecSys's 2x
    text = (out / "report.md").read_text()
    assert "DeepRecSys's 2x" in text and "Why:" in text and "CPU+RPAccel QPS/W" in text
    assert set(res["average_gain_vs_poor"]) == {"lognormal", "pareto a=0.5"}


@pytest.mark.parametrize("argv,msg", [
    (["--tails", "0,-1"], "tails must be 0 (lognormal) or Pareto indices in (0, 100], got -1"),
    (["--tails", "x"], "tails must be comma-separated numbers"),
    (["--accel", "gpu"], "--accel must be rpaccel or rpaccel:FILE, got 'gpu'"),
])
def test_study_deeprecsched_bad_input(tmp_path, capsys, argv, msg):
    rc = main(["study", "deeprecsched", "-o", str(tmp_path / "x"), "--models", "ncf", *argv])
    _, err = capsys.readouterr()
    assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
