"""cocotb testbench of the embedding cache: driver / DRAM model / monitor / model / checker.

Per scenario: reset (the cache clears its tag store), preload the static cache through ``pre``,
then send the request trace with seeded idle cycles while a sink applies seeded backpressure.
The DRAM model answers every ``mem_req`` on cycle t with beat j on ``t + L + j*I``. The checker
compares every response's vector with the backing table, its hit/static flags with the policy
model, its transfer cycle with :func:`rpaccel.perfmodel.embcache_timeline`, every DRAM request's
cycle, and the hardware counters with the model's counts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from rpaccel.config import EmbCacheConfig
from rpaccel.perfmodel.embcache import HIT, MISS, STATIC, embcache_timeline, make_trace

from .checker import Checker
from .streams import Pauser, StreamDriver, StreamMonitor, StreamSink

PERIOD_NS = 10


def get_cycle() -> int:
    from cocotb.utils import get_sim_time

    return int(round(get_sim_time("ns") / PERIOD_NS))


def req_word(cfg: EmbCacheConfig, table: int, row: int, stage: int, tag: int) -> int:
    return cfg.req_layout.pack({"table": table, "row": row, "stage": stage, "tag": tag})


async def dram_model(dut, cfg: EmbCacheConfig, table: np.ndarray, requests: list) -> None:
    """Fixed-latency, bandwidth-limited DRAM: always ready; beat j at t + L + j*I."""
    sched: dict[int, int] = {}
    mask = (1 << cfg.mem_bits) - 1
    dut.mem_req__ready.value = 1
    dut.mem_resp__valid.value = 0
    while True:
        await RisingEdge(dut.clk)
        c = get_cycle() + 1
        beat = sched.pop(c, None)
        dut.mem_resp__valid.value = beat is not None
        if beat is not None:
            dut.mem_resp__payload.value = beat
        await ReadOnly()
        if dut.mem_req__valid.value:
            addr = int(dut.mem_req__payload.value)
            requests.append((c, addr))
            word = int(table[addr])
            for j in range(cfg.beats_per_row):
                sched[c + cfg.dram_latency + j * cfg.dram_interval] = (word >> (j * cfg.mem_bits)) & mask


async def run_scenario(dut, cfg: EmbCacheConfig, sc: dict) -> dict:
    seed = sc["seed"]
    t, r, s = make_trace(cfg, sc.get("trace", "zipf"), sc["lookups"], seed, sc.get("skew", 1.0))
    rng = np.random.default_rng([seed, 1])
    # backing store: tables * rows random rows (Python ints of row_bits)
    n_all = cfg.tables * cfg.rows
    words = [int.from_bytes(rng.bytes(cfg.row_bytes), "little") & ((1 << cfg.row_bits) - 1)
             for _ in range(n_all)]
    table = np.array(words, dtype=object)
    n = len(r)
    tags = rng.integers(0, 1 << cfg.tag_width, size=n)

    dut.rst.value = 1
    dut.req__valid.value = 0
    dut.pre__valid.value = 0
    dut.resp__ready.value = 0
    dut.mem_resp__valid.value = 0
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    ready_from = get_cycle() + 1 + cfg.clear_cycles      # the tag-store clear after reset
    await RisingEdge(dut.clk)
    pre = StreamDriver(dut, "pre", dut.clk, PERIOD_NS)
    await pre.send([words[tb * cfg.rows + row] for tb in range(cfg.tables)
                    for row in range(cfg.static_rows)])

    idle, bp = sc.get("idle", 0.0), sc.get("backpressure", 0.0)
    drv = StreamDriver(dut, "req", dut.clk, PERIOD_NS, Pauser(idle, seed * 2 + 1))
    sink = StreamSink(dut, "resp", dut.clk, PERIOD_NS, Pauser(bp, seed * 2 + 2))
    mon = StreamMonitor(dut, "resp", dut.clk, PERIOD_NS)
    mem_reqs: list = []
    tasks = [cocotb.start_soon(sink.run()), cocotb.start_soon(mon.run()),
             cocotb.start_soon(dram_model(dut, cfg, table, mem_reqs))]
    start = get_cycle() + 1
    accepted = await drv.send([req_word(cfg, int(a), int(b), int(c), int(d))
                               for a, b, c, d in zip(t, r, s, tags)])
    for _ in range(100 + 4 * n * (cfg.dram_latency + cfg.beats_per_row * cfg.dram_interval + 4)):
        if len(mon.beats) >= n:
            break
        await RisingEdge(dut.clk)
    await ClockCycles(dut.clk, 2)
    for task in tasks:
        task.cancel()

    ready_set = set(mon.ready_cycles)
    model = embcache_timeline(cfg, zip(t.tolist(), r.tolist(), s.tolist()), start=start,
                              ready_from=ready_from,
                              pause=Pauser(idle, seed * 2 + 1), ready=lambda c: c in ready_set)
    checker = Checker()
    got_resp = [b.cycle for b in mon.beats]
    exp_mem = [(m.mem_request, int(t[i]) * cfg.rows + int(r[i])) for i, m in enumerate(model)
               if m.kind == MISS]
    cycles_ok = (checker.check_cycles("request", accepted, [m.accept for m in model])
                 and checker.check_cycles("response", got_resp, [m.respond for m in model])
                 and checker.check_cycles("DRAM request", [c for c, _ in mem_reqs],
                                          [c for c, _ in exp_mem]))
    fields = [cfg.resp_layout.unpack(b.payload) for b in mon.beats]
    kinds = [STATIC if f["static"] else (HIT if f["hit"] else MISS) for f in fields]
    vecs = [f["data"] for f in fields]
    want = [{"data": words[int(t[i]) * cfg.rows + int(r[i])], "tag": int(tags[i]),
             "kind": model[i].kind} for i in range(n)]
    values_ok = checker.check_values(
        "response", [{"data": f["data"], "tag": f["tag"], "kind": k} for f, k in zip(fields, kinds)],
        want, got_resp)
    values_ok &= checker.check_values("DRAM request address", [a for _, a in mem_reqs],
                                      [a for _, a in exp_mem], [c for c, _ in mem_reqs])
    counts = [sum(1 for m in model if m.kind == k) for k in (STATIC, HIT, MISS)]
    hw = [int(dut.hits_static.value), int(dut.hits_dynamic.value), int(dut.misses.value)]
    values_ok &= checker.check_equal("counters static/dynamic/miss", hw, counts)
    values_ok &= checker.check_equal("mem_bytes counter", int(dut.mem_bytes.value),
                                     counts[2] * cfg.row_bytes)
    rtl_cycles = (got_resp[-1] - accepted[0]) if got_resp and accepted else -1
    return {"rtl_cycles": rtl_cycles, "model_cycles": model[-1].respond - model[0].accept,
            "cycles_match": cycles_ok, "values_match": values_ok,
            "first_mismatch": checker.first_mismatch,
            "hits": counts[0] + counts[1], "misses": counts[2], "static_hits": counts[0],
            "dynamic_hits": counts[1], "hw_counters": hw, "lookups": n,
            "dump": {"tables": t.tolist(), "rows": r.tolist(), "stages": s.tolist(),
                     "tags": tags.tolist(), "rtl_kinds": kinds,
                     "rtl_vectors": [hex(v) for v in vecs]}}


@cocotb.test()
async def embcache_scenarios(dut) -> None:
    import sched  # guard: must be the standard library's

    spec = json.loads(Path(os.environ["RPACCEL_SCENARIOS"]).read_text())
    d = dict(spec["cfg"])
    d["stage_ways"] = tuple(d["stage_ways"])
    cfg = EmbCacheConfig(**d)
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    results = []
    for sc in spec["scenarios"]:
        res = await run_scenario(dut, cfg, sc)
        dump = res.pop("dump")
        if sc.get("dump"):
            out = Path(sc["dump"])
            out.mkdir(parents=True, exist_ok=True)
            (out / "embcache.json").write_text(json.dumps({"unit": "embcache", "cfg": cfg.to_dict(),
                                                          "seed": sc["seed"], **dump}))
        results.append({**sc, **res, "stdlib_sched": hasattr(sched, "scheduler")})
        dut._log.info("scenario %s: rtl %s model %s cycles_match=%s values_match=%s %s",
                      sc.get("name"), res["rtl_cycles"], res["model_cycles"], res["cycles_match"],
                      res["values_match"], res["first_mismatch"] or "")
    Path(spec["results"]).write_text(json.dumps(results, indent=1))
