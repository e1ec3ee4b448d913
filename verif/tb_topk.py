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
from rpaccel.perfmodel.topk import topk_compares

from .cases_topk import make_query  # noqa: F401  (the testbenches and the CLI share it)
from .checker import Checker
from .streams import Pauser, StreamDriver, StreamMonitor, StreamSink

PERIOD_NS = 10


def beats_of(cfg: TopkConfig, scores, ids, k: int) -> list[int]:
    """A query's input beats, packed through the contract's ``i`` layout: ``lanes`` item slots
    per beat, ``k`` on every beat, ``last`` on the final one."""
    lay, L, n = cfg.in_layout, cfg.lanes, len(scores)
    nb = cfg.query_beats(n)
    return [lay.pack({"items": [{"score": int(scores[t]), "id": int(ids[t]), "v": 1}
                                for t in range(b * L, min(n, (b + 1) * L))],
                      "k": k, "last": int(b == nb - 1)})
            for b in range(nb)]


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
    n_results = sum(cfg.result_beats(n, k) for n, k, _ in queries)
    t0 = time.perf_counter()
    start = get_cycle() + 1
    compares0 = int(dut.compares.value)
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
    checker = Checker()
    cycles_ok = (checker.check_cycles("input beat", in_cycles, exp_in)
                 and checker.check_cycles("result beat", got_out, exp_out))

    outs = [cfg.out_layout.unpack(b.payload) for b in mon.beats]
    expected, rtl_results = [], []
    pos = 0
    for (n, k, _), (s, i) in zip(queries, data):
        r = cfg.result_beats(n, k)
        got = outs[pos:pos + r]
        pos += r
        if n == 0:
            expected.append({"score": 0, "id": 0, "last": 1, "empty": 1})
            rtl_results.append({"scores": [], "ids": []})
            continue
        gs, gi = topk(s, i, k, id_width=cfg.id_width)
        expected += [{"score": a, "id": b, "last": int(j == r - 1), "empty": 0}
                     for j, (a, b) in enumerate(zip(gs.tolist(), gi.tolist()))]
        rtl_results.append({"scores": [g["score"] for g in got], "ids": [g["id"] for g in got]})
    values_ok = checker.check_values("result beat", outs, expected, got_out)
    # the event counter: comparisons of every item inserted and every result merged
    want = sum(topk_compares(cfg, n, min(k, n)) for n, k, _ in queries)
    counters_ok = checker.check_equal("compares counter over the scenario",
                                      (int(dut.compares.value) - compares0) % (1 << 32), want)
    first_in = in_cycles[0] if in_cycles else 0
    rtl_cycles = (got_out[-1] - first_in) if got_out else -1
    model_cycles = exp_out[-1] - exp_in[0]
    return {"rtl_cycles": rtl_cycles, "model_cycles": model_cycles, "cycles_match": cycles_ok,
            "values_match": values_ok, "counters_match": counters_ok,
            "first_mismatch": checker.first_mismatch, "items": sum(n for n, _, _ in queries),
            "wall_s": wall, "inputs": data, "rtl_results": rtl_results}


async def run_filter_spec(dut, unit: str, cfg_cls, run_scenario) -> None:
    """Run every scenario of the spec file (``RPACCEL_SCENARIOS``) on a streaming filter:
    reset, ``run_scenario(dut, cfg, sc)``, optional dump, and the results file. Shared by the
    exact (``topk``) and the histogram (``histk``) filters' testbenches."""
    import sched  # guard: must be the standard library's

    spec = json.loads(Path(os.environ["RPACCEL_SCENARIOS"]).read_text())
    cfg = cfg_cls(**spec["cfg"])
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
            (d / f"{unit}.json").write_text(json.dumps({
                "unit": unit, "cfg": cfg.to_dict(), "seed": sc["seed"],
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


@cocotb.test()
async def topk_scenarios(dut) -> None:
    await run_filter_spec(dut, "topk", TopkConfig, run_scenario)
