"""Streams of queries on one accelerator: arrival cycles in the executor, the stateful
accelerator (warm across queries, the two-queries-in-flight limit, save/restore) against the
executor, and the bad-input rules of --gaps. The RTL side: tests/test_accel_cocotb.py."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from rpaccel.accel import accel_from_dict, load_accel
from rpaccel.perfmodel.executor import arrivals_from_gaps, check_arrivals, model_accel
from rpaccel.perfmodel.stateful import StatefulAccel
from rpaccel.query import load_pipeline, pipeline_from_dict

SEED = 20261201
CYCLE = 8e-9          # the tiny preset's clock period (seconds)


def _cases():
    """(label, accel, pipeline): the tiny preset (2 stages) and the matrix's 1- and 3-stage
    builds (model only)."""
    from rpaccel.verif.cases_accel import MATRIX

    out = [("tiny", load_accel("tiny"), load_pipeline("tiny"))]
    for label, a, p, _b, _ in MATRIX:
        if label in ("m4s2-mono-miss-l1", "m8s4-3stage-items4"):
            out.append((label, accel_from_dict(a), pipeline_from_dict(p)))
    return out


CASES = _cases()


@pytest.mark.parametrize("label", [c[0] for c in CASES])
@pytest.mark.parametrize("policy", ["global", "per-sub-batch"])
def test_stateful_equals_the_executor(label, policy):
    """Submitting queries one by one gives the executor's results for the same arrivals:
    back to back (= today's model_accel(queries=Q)) and random seeded gaps."""
    _, accel, pipe = next(c for c in CASES if c[0] == label)
    rng = np.random.default_rng([SEED, len(label)])
    for gaps in ([0, 0, 0], rng.choice([0, 300, 3000, 30000], size=4).tolist()):
        arr = arrivals_from_gaps(gaps, len(gaps) + 1)
        ref = model_accel(accel, pipe, policy=policy, seed=7, queries=len(arr), arrivals=arr)
        st = StatefulAccel(accel, pipe, policy=policy, seed=7, kernel="python")
        outs = []
        for x in arr:
            outs.append(st.submit(x))
        r = st.result()
        msg = f"{label} {policy} gaps {gaps} (SEED={SEED})"
        assert (r.cycles, r.latency, r.events, r.embedding) == \
            (ref.cycles, ref.latency, ref.events, ref.embedding), msg
        assert [st.outcome(q).latency for q in outs] == ref.latency, msg
        assert [st.outcome(q).response for q in outs] == ref.response, msg


@pytest.mark.parametrize("label", [c[0] for c in CASES])
def test_compiled_scheduler_equals_the_python_one(label, monkeypatch):
    """The compiled command scheduler (``_execkern``) and compiled embedding kernel (called
    directly: ``ev_gather``) against the Python scheduler and cycle kernel, the reference, on
    one seeded stream: every query's outcome, stage done cycles, the queries finished and
    unfinished at cycles mid-stream, busy cycles, a save/restore in the middle, the whole
    result; rings that start at 2 entries, so every growth path runs."""
    import rpaccel.perfmodel.executor as ex

    _, accel, pipe = next(c for c in CASES if c[0] == label)
    seed = SEED + len(label)
    gaps = np.random.default_rng(seed).choice([0, 0, 1, 200, 3000, 30000], size=11).tolist()
    arr = arrivals_from_gaps(gaps, len(gaps) + 1)

    def run(compiled: bool):
        kernel = "numba" if compiled else "python"
        st = StatefulAccel(accel, pipe, seed=7, kernel=kernel, compiled=compiled)
        seen = []
        for i, x in enumerate(arr):
            st.submit(x)
            seen += [st.finished(x + 500), st.unfinished(x + 100), st.busy()]
            if i == len(arr) // 2:
                saved = st.save()
                st = StatefulAccel(accel, pipe, seed=7, kernel=kernel, compiled=compiled)
                st.restore(saved)
        seen += [st.outcome(q) for q in range(len(arr))]
        seen += [st.stage_done(q, s) for q in range(len(arr)) for s in range(len(pipe.stages))]
        return seen, st.busy(), st.result().as_dict(), st._engine.compiled

    ref = run(False)
    monkeypatch.setattr(ex, "_QUEUE_CAP", 2)
    monkeypatch.setattr(ex, "_LINK_CAP", 2)
    got = run(True)
    msg = f"{label} gaps {gaps}: pytest tests/test_streams.py -k compiled_scheduler"
    assert (ref[3], got[3]) == (False, True)
    assert got[:3] == ref[:3], msg


def test_back_to_back_is_the_earlier_executor():
    """Three queries at cycle 0 on the tiny preset: the latencies the executor gave before it
    took arrivals (README: 12,395 cycles for one query; RTL-proven matrix)."""
    st = StatefulAccel(load_accel("tiny"), load_pipeline("tiny"))
    for _ in range(3):
        st.submit(0)
    r = st.result()
    assert (r.cycles, r.latency) == (31_955, [12_395, 21_919, 19_559])


def test_two_queries_in_flight():
    """Back to back, query 2's first beat waits for query 0's last result beat (the item
    memory's two slots); query 1's does not."""
    st = StatefulAccel(load_accel("tiny"), load_pipeline("tiny"))
    for _ in range(3):
        st.submit(0)
    o = [st.outcome(q) for q in range(3)]
    assert o[1].first_beat < o[0].end
    assert o[2].first_beat > o[0].end
    assert o[2].response > o[2].latency                  # it queued at the link


def test_warm_cache_and_save_restore():
    """A warm accelerator hits more than a cold one on the same query; a saved state replays
    identically."""
    accel, pipe = load_accel("tiny"), load_pipeline("tiny")
    cold = StatefulAccel(accel, pipe, seed=1)
    cold.submit(0)
    warm = StatefulAccel(accel, pipe, seed=1)
    for a in (0, 20_000, 40_000):
        warm.submit(a)
    saved = warm.save()
    warm.submit(60_000)
    a = warm.outcome(3)
    warm.restore(saved)
    warm.submit(60_000)
    assert warm.outcome(3) == a
    again = StatefulAccel(accel, pipe, seed=1)
    again.restore(saved)
    again.submit(60_000)
    assert again.outcome(3) == a
    # every counter too, restored twice over, equals one uninterrupted run
    straight = StatefulAccel(accel, pipe, seed=1)
    for x in (0, 20_000, 40_000, 60_000):
        straight.submit(x)
    busy, result = straight.busy(), straight.result().as_dict()   # busy: so far (to 60,000)
    for _ in range(2):
        warm.restore(saved)
        warm.submit(60_000)
        assert warm.busy() == busy
        assert warm.result().as_dict() == result
    # and through pickle (a copy sent to another process), with its compiled kernels
    warm.restore(saved)
    sent = pickle.loads(pickle.dumps(warm))
    sent.submit(60_000)
    assert sent.busy() == busy and sent.result().as_dict() == result
    # query 0 again on the warm accelerator: more dynamic hits than on the cold one
    w = StatefulAccel(accel, pipe, seed=1)
    w.submit(0)
    w.submit(20_000, inputs=_inputs(pipe, accel, 1, 0))
    assert w.outcome(1).dynamic_hits > cold.outcome(0).dynamic_hits


def _inputs(pipe, accel, seed, q):
    from rpaccel.perfmodel.query import query_inputs

    return query_inputs(pipe.accel_program(), accel.embedding.rows, seed, q)


@pytest.mark.parametrize("arrivals,message", [
    ([0, 5, 3], "arrivals must not decrease"),
    ([2, 5], "arrivals[0] must be 0"),
    ([0, 1.5], "arrivals[1] must be an integer"),
    ([0], "one cycle per query (2)"),
])
def test_arrival_rules(arrivals, message):
    with pytest.raises(ValueError, match=None) as e:
        check_arrivals(arrivals, 2 if len(arrivals) != 3 else 3)
    assert message in str(e.value)
    st = StatefulAccel(load_accel("tiny"), load_pipeline("tiny"))
    st.submit(10)
    with pytest.raises(ValueError, match="arrivals never decrease"):
        st.submit(5)


def _run(capsys, *argv):
    from rpaccel.cli import main

    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_model_accel_gaps(capsys):
    rc, out, _ = _run(capsys, "model", "accel", "--config", "tiny", "--pipeline", "tiny",
                      "--queries", "3", "--gaps", "0,50000", "--json")
    d = json.loads(out)
    assert rc == 0 and d["arrival"] == [0, 0, 50000] and len(d["per_query"]) == 3
    assert d["response"][2] == d["latency"][2]
    for gaps, word in (("0,-1", "--gaps[1]"), ("0,x", "--gaps[1]"), ("1,2,3", "queries - 1"),
                       ("0", "queries - 1"), ("0.5,1", "--gaps[0]")):
        rc, out, err = _run(capsys, "model", "accel", "--config", "tiny", "--pipeline", "tiny",
                            "--queries", "3", "--gaps", gaps)
        assert rc == 2 and word in err and err.count("\n") == 1, (gaps, err)


# -- serving: the accelerator in the loop ---------------------------------------------------------
def _tiny_system(**stage0):
    import dataclasses

    p = load_pipeline("examples/pipelines/tiny.toml")
    rest = {"engines": stage0["engines"]} if "engines" in stage0 else {}
    st = (dataclasses.replace(p.stages[0], **stage0),) + tuple(
        dataclasses.replace(x, **rest) for x in p.stages[1:])
    return dataclasses.replace(p, stages=st)


def _direct(p, arrive, seed, engines_of=None):
    """Exact-mode latencies recomputed on StatefulAccel directly (engine per query given); an
    arrival is rounded to the nearest cycle, so latencies agree within a cycle."""
    from rpaccel.sched.serving.group import accel_group

    grp = accel_group(p, (0, 1))
    prog, sb = grp.program(p.stages[0].items)
    clock = grp.accel.clock_ns * 1e-9
    engines_of = engines_of or [0] * len(arrive)
    accs = {}
    lat = []
    for i, a in enumerate(arrive):
        e = engines_of[i]
        acc = accs.setdefault(e, StatefulAccel(grp.accel, prog, sub_batch=sb, seed=seed))
        c = int(round((a - arrive[0]) / clock))
        acc.submit(c, index=i)
        lat.append((e, acc.queries - 1, c))
    return [(accs[e].outcome(ql).end - c) * clock for e, ql, c in lat]


def test_exact_mode_is_the_stateful_accelerator():
    from rpaccel.sched.serving.sim import simulate
    from rpaccel.sched.serving.workload import arrivals

    p = _tiny_system()
    n0 = p.stages[0].items
    one = [simulate(p, [0.0], [n0], warmup=0, accel_mode=m).records["latency_s"][0]
           for m in ("profile", "exact")]
    assert one[0] == pytest.approx(one[1], rel=1e-12)      # cold, alone: the same query
    a = arrivals("poisson", 7000, 40, 3)
    r = simulate(p, a, [n0] * 40, warmup=0, accel_mode="exact", seed=3)
    assert r.records["latency_s"] == pytest.approx(_direct(p, list(a), 3), abs=CYCLE)
    prof = simulate(p, a, [n0] * 40, warmup=0, accel_mode="profile")
    assert r.p50_s != prof.p50_s or r.p95_s != prof.p95_s   # warm cache, exact contention


def test_dispatch_policies():
    from rpaccel.sched.serving.sim import simulate

    a = [i * 1e-3 for i in range(12)]                     # 1 ms apart: every accelerator idle
    n0 = _tiny_system().stages[0].items
    lat, eng = {}, {}
    for d in ("round-robin", "join-shortest-queue", "least-work-left"):
        p = _tiny_system(engines=2, dispatch=d)
        r = simulate(p, a, [n0] * 12, warmup=0, accel_mode="exact", seed=1)
        lat[d], eng[d] = list(r.records["latency_s"]), list(r.records["stage0_engine"])
    # idle accelerators: JSQ and LWL take the lowest-numbered one (one warm accelerator);
    # round-robin alternates (two accelerators, each warm on every other query)
    assert eng["join-shortest-queue"] == eng["least-work-left"] == [0] * 12
    assert eng["round-robin"] == [i % 2 for i in range(12)]
    single = _direct(_tiny_system(), a, 1)
    assert lat["join-shortest-queue"] == pytest.approx(single, abs=CYCLE)
    assert lat["least-work-left"] == pytest.approx(single, abs=CYCLE)
    assert lat["round-robin"] == pytest.approx(
        _direct(_tiny_system(engines=2), a, 1, [i % 2 for i in range(12)]), abs=CYCLE)
    # a burst (all at once): JSQ spreads the queries over both accelerators
    b = simulate(_tiny_system(engines=2, dispatch="join-shortest-queue"), [0.0] * 6,
                 [n0] * 6, warmup=0, accel_mode="exact").records["stage0_engine"]
    assert list(b) == [0, 1, 0, 1, 0, 1]


def test_exact_mode_bad_input(capsys):
    from rpaccel.sched.serving.sim import simulate

    p = _tiny_system(dispatch="least-work-left")
    n0 = p.stages[0].items
    with pytest.raises(ValueError, match="dispatch applies in exact mode only"):
        simulate(p, [0.0, 1e-3], [n0, n0], warmup=0)
    with pytest.raises(ValueError, match="one query size per accelerator group"):
        simulate(_tiny_system(), [0.0, 1e-3], [n0, n0 // 2], warmup=0, accel_mode="exact")
    with pytest.raises(ValueError, match="accel_mode must be one of"):
        _tiny_system(accel_mode="fast")
    with pytest.raises(ValueError, match="dispatch must be one of"):
        _tiny_system(dispatch="random")
    rc, out, err = _run(capsys, "simulate", "examples/pipelines/tiny.toml", "--qps", "100",
                        "--queries", "10", "--accel-mode", "fast")
    assert rc == 2 and "--accel-mode" in err and err.count("\n") == 1
    rc, out, err = _run(capsys, "simulate", "examples/pipelines/tiny.toml", "--qps", "5000",
                        "--queries", "50", "--accel-mode", "exact", "--json")
    d = json.loads(out)
    assert rc == 0 and d["accel_mode"] == "exact" and d["simulated_queries_per_s"] > 0


def test_modes_study(tmp_path, capsys):
    rc, out, err = _run(capsys, "study", "modes", "-o", str(tmp_path / "m"), "--pipelines",
                        "tiny", "--accels", "tiny", "--queries", "40", "--loads", "0.3,0.8",
                        "--json")
    assert rc == 0, err
    rows = json.loads(out)["rows"]
    assert [r["load"] for r in rows] == [0.3, 0.8]
    for r in rows:
        assert r["exact_p50_ms"] <= r["exact_p95_ms"] <= r["exact_p99_ms"]
        assert r["p95_error_pct"] == pytest.approx(
            (r["profile_p95_ms"] - r["exact_p95_ms"]) / r["exact_p95_ms"] * 100)
    assert {"modes.csv", "modes.md", "modes.png", "manifest.json"} <= \
        {p.name for p in (tmp_path / "m").iterdir()}
    rc, out, err = _run(capsys, "study", "modes", "-o", str(tmp_path / "n"), "--loads", "1.5")
    assert rc == 2 and "loads" in err and not (tmp_path / "n").exists()


def test_studies_take_accel_mode(tmp_path, capsys):
    """`study load --accel-mode exact`: each point is the same simulation as `simulate
    --accel-mode exact` (the same p95); profile mode gives its own figure."""
    import csv
    import json

    from rpaccel.cli import main

    f = "examples/pipelines/tiny.toml"
    assert main(["study", "load", f, "--qps", "3000", "--queries", "60", "--accel-mode",
                 "exact", "-o", str(tmp_path / "x")]) == 0
    capsys.readouterr()
    with open(tmp_path / "x" / "results.csv") as fh:
        (row,) = list(csv.DictReader(fh))
    assert main(["simulate", f, "--qps", "3000", "--queries", "60", "--accel-mode", "exact",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert float(row["p95_s"]) == d["p95_s"]
    man = json.loads((tmp_path / "x" / "manifest.json").read_text())
    assert man["config"]["accel_mode"] == "exact"
    rc = main(["study", "load", f, "--qps", "3000", "--accel-mode", "fast", "-o",
               str(tmp_path / "y")])
    assert rc == 2 and "accel" in capsys.readouterr().err and not (tmp_path / "y").exists()


def test_stateful_stream_beyond_the_rtl_arrival_bound():
    """A serving simulation's stream runs past 2**31 cycles (17 s at 8 ns): the model takes
    it, and a query far out behaves as the same query early (the accelerator idle before
    both)."""
    from rpaccel.accel import load_accel
    from rpaccel.perfmodel.executor import MAX_ARRIVAL
    from rpaccel.perfmodel.stateful import StatefulAccel
    from rpaccel.query import load_pipeline

    a, p = load_accel("tiny"), load_pipeline("tiny")
    near, far = StatefulAccel(a, p, seed=2), StatefulAccel(a, p, seed=2)
    for acc, t0 in ((near, 0), (far, 3 * MAX_ARRIVAL)):
        acc.submit(t0)
        acc.submit(t0 + 100_000)
    for q in (0, 1):
        assert far.outcome(q).latency == near.outcome(q).latency
        assert far.outcome(q).end - far.outcome(q).arrival == \
            near.outcome(q).end - near.outcome(q).arrival
    with pytest.raises(ValueError, match="arrivals never decrease"):
        far.submit(5)


@pytest.mark.parametrize("kind,qps,q,warmup,chunk,stage0", [
    ("poisson", 5000, 300, None, 64, {}),
    ("poisson-ms", 9000, 200, 7, 50, {"engines": 2, "dispatch": "join-shortest-queue"}),
    ("constant", 12000, 150, 0, 1 << 16, {"engines": 2, "dispatch": "least-work-left"}),
])
def test_streamed_simulation_equals_the_recorded_one(kind, qps, q, warmup, chunk, stage0):
    """`simulate_stream` (arrivals in chunks, finished queries forgotten, no records) gives
    `simulate`'s summary number for number; its chunked arrivals are `arrivals`'."""
    from rpaccel.sched.serving.sim import simulate, simulate_stream, stream_group
    from rpaccel.sched.serving.workload import arrival_chunks, arrivals

    p = _tiny_system(**stage0)
    n0 = p.stages[0].items
    assert stream_group(p, "exact") == [0, 1] and stream_group(p, "profile") is None
    a = arrivals(kind, qps, q, 4)
    assert np.array_equal(np.concatenate(list(arrival_chunks(kind, qps, q, 4, chunk=chunk))), a)
    want = simulate(p, a, [n0] * q, warmup=warmup, accel_mode="exact", seed=4).summary()
    got = simulate_stream(p, kind, qps, q, n0, warmup=warmup, accel_mode="exact", seed=4,
                          chunk=chunk).summary()
    assert got == want


def test_streamed_simulation_bad_input():
    from rpaccel.sched.serving.sim import simulate_stream
    from rpaccel.sched.serving.workload import arrival_chunks

    p = _tiny_system()
    n0 = p.stages[0].items
    with pytest.raises(ValueError, match="one accelerator group in exact mode"):
        simulate_stream(p, "poisson", 100.0, 10, n0, accel_mode="profile")
    with pytest.raises(ValueError, match="accel-mode must be one of"):
        simulate_stream(p, "poisson", 100.0, 10, n0, accel_mode="fast")
    with pytest.raises(ValueError, match=r"warmup must be in \[0, 9\]"):
        simulate_stream(p, "poisson", 100.0, 10, n0, warmup=10, accel_mode="exact")
    with pytest.raises(ValueError, match="arrival must be one of"):
        next(arrival_chunks("file", 100.0, 10))
    with pytest.raises(ValueError, match="qps must be a number > 0"):
        next(arrival_chunks("poisson", -1.0, 10))


@pytest.mark.parametrize("flags,message", [
    (["--warmup", "10"], "warmup must be in [0, 9], got 10"),
    (["--size-mean", "100.5"], "size mean must be an integer >= 1 for fixed sizes, got 100.5"),
])
def test_streamed_simulate_cli_bad_input(capsys, flags, message):
    """The streamed path (exact mode, one accelerator group, no --records) keeps the CLI's
    rules: one line, exit 2, nothing printed on stdout."""
    rc, out, err = _run(capsys, "simulate", "examples/pipelines/tiny.toml", "--qps", "100",
                        "--queries", "10", "--accel-mode", "exact", *flags, "--json")
    assert rc == 2 and out == "" and message in err and err.count("\n") == 1
