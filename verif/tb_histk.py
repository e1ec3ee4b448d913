"""cocotb testbench of the histogram (approximate) top-k filter: driver / monitor / model /
checker, as the exact filter's (:mod:`rpaccel.verif.tb_topk`).

Every query's result beats must be exactly the golden :func:`rpaccel.perfmodel.histk`'s items
(arrival order, ``last`` on the final one), and every input and result beat's transfer cycle
:func:`rpaccel.perfmodel.histk_timeline`'s under the same seeded idle and backpressure.
"""

from __future__ import annotations

import time

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge

from rpaccel.config import HistkConfig
from rpaccel.perfmodel.histk import histk, histk_timeline

from .checker import Checker
from .streams import Pauser, StreamDriver, StreamMonitor, StreamSink
from .tb_topk import PERIOD_NS, get_cycle, make_query, run_filter_spec


def beats_of(cfg: HistkConfig, scores, ids, k: int) -> list[int]:
    lay, n = cfg.in_layout, len(scores)
    return [lay.pack({"score": int(scores[t]), "id": int(ids[t]), "k": k,
                      "last": int(t == n - 1)}) for t in range(n)]


async def run_scenario(dut, cfg: HistkConfig, sc: dict) -> dict:
    seed = sc["seed"]
    rng = np.random.default_rng(seed)
    queries = [(q["n"], q["k"], q.get("dist", "uniform")) for q in sc["queries"]]
    data = [make_query(cfg, n, d, rng) for n, _, d in queries]
    idle, bp = sc.get("idle", 0.0), sc.get("backpressure", 0.0)
    drv = StreamDriver(dut, "i", dut.clk, PERIOD_NS, Pauser(idle, seed * 2 + 1))
    sink = StreamSink(dut, "o", dut.clk, PERIOD_NS, Pauser(bp, seed * 2 + 2))
    mon = StreamMonitor(dut, "o", dut.clk, PERIOD_NS)
    tasks = [cocotb.start_soon(sink.run()), cocotb.start_soon(mon.run())]
    golden = [histk(cfg, s, k) for (_, k, _), (s, _) in zip(queries, data)]
    beats = [b for (n, k, _), (s, i) in zip(queries, data) for b in beats_of(cfg, s, i, k)]
    n_results = sum(g.count for g in golden)
    t0 = time.perf_counter()
    start = get_cycle() + 1
    in_cycles = await drv.send(beats)
    for _ in range(100 + 4 * (n_results + len(beats)) + 64 * len(queries)):
        if len(mon.beats) >= n_results:
            break
        await RisingEdge(dut.clk)
    await ClockCycles(dut.clk, 2)
    wall = time.perf_counter() - t0
    for t in tasks:
        t.cancel()

    ready_set = set(mon.ready_cycles)
    # after the monitor stopped the sink counts as ready, so a result beat the RTL never gave
    # still ends the model's timeline (and shows as a mismatch instead of a hang)
    seen = max(ready_set, default=start)
    model = histk_timeline(cfg, [(s, k) for (_, k, _), (s, _) in zip(queries, data)],
                           start=start, pause=Pauser(idle, seed * 2 + 1),
                           ready=lambda c: c in ready_set or c > seen)
    exp_in = [c for q in model for c in q.in_cycles]
    exp_out = [c for q in model for c in q.out_cycles]
    got_out = [b.cycle for b in mon.beats]
    checker = Checker()
    cycles_ok = (checker.check_cycles("input beat", in_cycles, exp_in)
                 and checker.check_cycles("result beat", got_out, exp_out))
    outs = [cfg.out_layout.unpack(b.payload) for b in mon.beats]
    expected, rtl_results = [], []
    pos = 0
    for g, (s, i) in zip(golden, data):
        expected += [{"score": int(s[j]), "id": int(i[j]), "last": int(t == g.count - 1)}
                     for t, j in enumerate(g.index.tolist())]
        got = outs[pos:pos + g.count]
        pos += g.count
        rtl_results.append({"scores": [x["score"] for x in got], "ids": [x["id"] for x in got]})
    values_ok = checker.check_values("result beat", outs, expected, got_out)
    rtl_cycles = (got_out[-1] - in_cycles[0]) if got_out and in_cycles else -1
    return {"rtl_cycles": rtl_cycles, "model_cycles": exp_out[-1] - exp_in[0],
            "cycles_match": cycles_ok, "values_match": values_ok,
            "first_mismatch": checker.first_mismatch, "items": sum(n for n, _, _ in queries),
            "returned": n_results, "wall_s": wall, "inputs": data, "rtl_results": rtl_results,
            "thresholds": [g.threshold for g in golden]}


@cocotb.test()
async def histk_scenarios(dut) -> None:
    await run_filter_spec(dut, "histk", HistkConfig, run_scenario)
