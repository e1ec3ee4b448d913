"""cocotb testbench of the top-k filter: driver / monitor / model / checker.

The scenario file (``RPACCEL_SCENARIOS``) lists scenarios of back-to-back queries. The driver
sends every beat of every query with seeded idle cycles; the sink applies seeded backpressure; the
monitor records each result beat and its cycle. The checker compares every query's result with
the golden :func:`rpaccel.perfmodel.topk` and every input and result beat's transfer cycle with
:func:`rpaccel.perfmodel.topk_timeline` driven by the same pause generator and the recorded
ready cycles.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from rpaccel.config import TopkConfig
from rpaccel.perfmodel import topk, topk_timeline
from rpaccel.perfmodel.topk import query_beats

from .streams import Pauser, StreamDriver, StreamMonitor, StreamSink

PERIOD_NS = 10


def make_query(cfg: TopkConfig, n: int, dist: str, rng: np.random.Generator):
    lo, hi = cfg.score_range
    if dist == "uniform":
        s = rng.integers(lo, hi, size=n, endpoint=True)
    elif dist == "equal":
        s = np.full(n, rng.integers(lo, hi, endpoint=True))
    elif dist == "increasing":
        s = np.sort(rng.choice(np.arange(lo, hi + 1), size=n, replace=n > hi - lo + 1))
    elif dist == "decreasing":
        s = np.sort(rng.choice(np.arange(lo, hi + 1), size=n, replace=n > hi - lo + 1))[::-1]
    elif dist == "duplicates":
        s = rng.choice(rng.integers(lo, hi, size=3, endpoint=True), size=n)
    elif dist == "extreme":
        s = rng.choice(np.array([lo, hi]), size=n)
    else:
        raise ValueError(f"dist must be one of uniform/equal/increasing/decreasing/duplicates/"
                         f"extreme, got {dist!r}")
    ids = rng.permutation(n)
    return s.astype(np.int64), ids.astype(np.int64)


def item_bits(cfg: TopkConfig) -> int:
    return cfg.score_width + cfg.id_width + 1


def beats_of(cfg: TopkConfig, scores, ids, k: int) -> list[int]:
    sw, iw, L = cfg.score_width, cfg.id_width, cfg.lanes
    ib = item_bits(cfg)
    n = len(scores)
    out = []
    nb = query_beats(cfg, n)
    for b in range(nb):
        v = 0
        for j in range(L):
            t = b * L + j
            if t < n:
                it = (int(scores[t]) & ((1 << sw) - 1)) | (int(ids[t]) << sw) | (1 << (sw + iw))
                v |= it << (j * ib)
        v |= k << (L * ib)
        if b == nb - 1:
            v |= 1 << (L * ib + cfg.k_bits)
        out.append(v)
    return out


def decode_out(cfg: TopkConfig, p: int) -> tuple[int, int, int, int]:
    sw, iw = cfg.score_width, cfg.id_width
    s = p & ((1 << sw) - 1)
    if cfg.signed_scores and s >> (sw - 1):
        s -= 1 << sw
    return s, (p >> sw) & ((1 << iw) - 1), (p >> (sw + iw)) & 1, (p >> (sw + iw + 1)) & 1


def get_cycle() -> int:
    from cocotb.utils import get_sim_time

    return int(round(get_sim_time("ns") / PERIOD_NS))


async def run_scenario(dut, cfg: TopkConfig, sc: dict) -> dict:
    seed = sc["seed"]
    rng = np.random.default_rng(seed)
    queries = [(q["n"], q["k"], q.get("dist", "uniform")) for q in sc["queries"]]
    data = [make_query(cfg, n, d, rng) for n, _, d in queries]
    idle, bp = sc.get("idle", 0.0), sc.get("backpressure", 0.0)
    drv = StreamDriver(dut, "i", dut.clk, PERIOD_NS, Pauser(idle, seed * 2 + 1))
    sink = StreamSink(dut, "o", dut.clk, PERIOD_NS, Pauser(bp, seed * 2 + 2))
    mon = StreamMonitor(dut, "o", dut.clk, PERIOD_NS)
    tasks = [cocotb.start_soon(sink.run()), cocotb.start_soon(mon.run())]
    beats = [b for (n, k, _), (s, i) in zip(queries, data) for b in beats_of(cfg, s, i, k)]
    n_results = sum(max(1, min(k, n)) for n, k, _ in queries)
    t0 = time.perf_counter()
    start = get_cycle() + 1
    in_cycles = await drv.send(beats)
    for _ in range(100 + 4 * (n_results + len(beats))):
        if len(mon.beats) >= n_results:
            break
        await RisingEdge(dut.clk)
    await ClockCycles(dut.clk, 2)
    wall = time.perf_counter() - t0
    for t in tasks:
        t.cancel()

    ready_set = set(mon.ready_cycles)
    model = topk_timeline(cfg, [(n, k) for n, k, _ in queries], start=start,
                          pause=Pauser(idle, seed * 2 + 1), ready=lambda c: c in ready_set)
    exp_in = [c for q in model for c in q.in_cycles]
    exp_out = [c for q in model for c in q.out_cycles]
    got_out = [b.cycle for b in mon.beats]
    first = None
    cycles_ok = True
    if in_cycles != exp_in:
        cycles_ok = False
        d = next((j for j, (g, e) in enumerate(zip(in_cycles, exp_in)) if g != e), len(exp_in))
        first = f"input beat {d}: RTL cycle {in_cycles[d] if d < len(in_cycles) else None}, model {exp_in[d] if d < len(exp_in) else None}"
    elif got_out != exp_out:
        cycles_ok = False
        d = next((j for j, (g, e) in enumerate(zip(got_out, exp_out)) if g != e), min(len(got_out), len(exp_out)))
        first = f"result beat {d}: RTL cycle {got_out[d] if d < len(got_out) else None}, model {exp_out[d] if d < len(exp_out) else None}"

    values_ok = len(mon.beats) == n_results
    if not values_ok and first is None:
        first = f"{len(mon.beats)} result beats, expected {n_results}"
    outs = [decode_out(cfg, b.payload) for b in mon.beats]
    rtl_results = []
    pos = 0
    for qi, ((n, k, _), (s, i)) in enumerate(zip(queries, data)):
        r = max(1, min(k, n))
        got = outs[pos:pos + r]
        pos += r
        gs, gi = topk(s, i, k, id_width=cfg.id_width)
        if n == 0:
            ok = len(got) == 1 and got[0][3] == 1 and got[0][2] == 1
            rtl_results.append({"scores": [], "ids": []})
        else:
            ok = (len(got) == r and [g[0] for g in got] == gs.tolist()
                  and [g[1] for g in got] == gi.tolist()
                  and [g[2] for g in got] == [0] * (r - 1) + [1] and all(g[3] == 0 for g in got))
            rtl_results.append({"scores": [g[0] for g in got], "ids": [g[1] for g in got]})
        if not ok:
            values_ok = False
            if first is None:
                first = f"query {qi} (n={n}, k={k}): RTL {got[:4]}..., golden {list(zip(gs.tolist(), gi.tolist()))[:4]}..."
    first_in = in_cycles[0] if in_cycles else 0
    rtl_cycles = (got_out[-1] - first_in) if got_out else -1
    model_cycles = exp_out[-1] - exp_in[0]
    return {"rtl_cycles": rtl_cycles, "model_cycles": model_cycles, "cycles_match": cycles_ok,
            "values_match": values_ok, "first_mismatch": first, "items": sum(n for n, _, _ in queries),
            "wall_s": wall, "inputs": data, "rtl_results": rtl_results}


@cocotb.test()
async def topk_scenarios(dut) -> None:
    import sched  # guard: must be the standard library's

    spec = json.loads(Path(os.environ["RPACCEL_SCENARIOS"]).read_text())
    cfg = TopkConfig(**spec["cfg"])
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    results = []
    for sc in spec["scenarios"]:
        dut.rst.value = 1
        dut.i__valid.value = 0
        dut.o__ready.value = 0
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        await RisingEdge(dut.clk)
        res = await run_scenario(dut, cfg, sc)
        data = res.pop("inputs")
        rtl = res.pop("rtl_results")
        if sc.get("dump"):
            d = Path(sc["dump"])
            d.mkdir(parents=True, exist_ok=True)
            (d / "topk.json").write_text(json.dumps({
                "unit": "topk", "cfg": cfg.to_dict(), "seed": sc["seed"],
                "queries": [{"n": q["n"], "k": q["k"], "scores": s.tolist(), "ids": i.tolist(),
                             "rtl_scores": r["scores"], "rtl_ids": r["ids"]}
                            for q, (s, i), r in zip(sc["queries"], data, rtl)]}, indent=1))
        results.append({**{k: v for k, v in sc.items() if k != "queries"},
                        "n_queries": len(sc["queries"]), **res,
                        "stdlib_sched": hasattr(sched, "scheduler")})
        dut._log.info("scenario %s: rtl %s model %s cycles_match=%s values_match=%s %s",
                      sc.get("name"), res["rtl_cycles"], res["model_cycles"],
                      res["cycles_match"], res["values_match"], res["first_mismatch"] or "")
    Path(spec["results"]).write_text(json.dumps(results, indent=1))
