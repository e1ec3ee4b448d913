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
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from rpaccel.config import EmbCacheConfig
from rpaccel.perfmodel.embcache import (HIT, MERGED, MISS, STATIC, Lookup, embcache_timeline,
                                        make_trace, nb_timeline, pause_counts)

from .checker import Checker
from .streams import Pauser, StreamDriver, StreamMonitor, StreamSink

PERIOD_NS = 10


def get_cycle() -> int:
    from cocotb.utils import get_sim_time

    return int(round(get_sim_time("ns") / PERIOD_NS))


def req_word(cfg: EmbCacheConfig, table: int, row: int, stage: int, tag: int) -> int:
    return cfg.req_layout.pack({"table": table, "row": row, "stage": stage, "tag": tag})


async def dram_model(dut, cfg: EmbCacheConfig, table: np.ndarray, requests: list) -> None:
    """The DRAM of :class:`EmbCacheConfig`'s docstring, the perf model's rules: request i,
    accepted on q_i, delivers its first beat on ``max(q_i + L, previous last beat + I)`` and the
    rest I apart; ``mem_req.ready`` is low while ``dram_outstanding`` requests are in flight."""
    sched: dict[int, int] = {}
    lasts: list[int] = []                  # last-beat cycle of every request in flight
    prev_last = -(1 << 62)
    mask = (1 << cfg.mem_bits) - 1
    dut.mem_resp__valid.value = 0
    dut.mem_req__ready.value = 1
    while True:
        await RisingEdge(dut.clk)
        c = get_cycle() + 1
        lasts = [x for x in lasts if x >= c]
        ready = len(lasts) < cfg.dram_outstanding
        dut.mem_req__ready.value = ready
        beat = sched.pop(c, None)
        dut.mem_resp__valid.value = beat is not None
        if beat is not None:
            dut.mem_resp__payload.value = beat
        await ReadOnly()
        if dut.mem_req__valid.value and ready:
            addr = int(dut.mem_req__payload.value)
            requests.append((c, addr))
            word = int(table[addr])
            d0 = max(c + cfg.dram_latency, prev_last + cfg.dram_interval)
            for j in range(cfg.beats_per_row):
                sched[d0 + j * cfg.dram_interval] = (word >> (j * cfg.mem_bits)) & mask
            prev_last = d0 + (cfg.beats_per_row - 1) * cfg.dram_interval
            lasts.append(prev_last)


def scenario_data(cfg: EmbCacheConfig, sc: dict):
    """A scenario's seeded trace ``(tables, rows, stages)``, backing store (every table row, a
    Python int of ``row_bits``) and request tags."""
    seed = sc["seed"]
    t, r, s = make_trace(cfg, sc.get("trace", "zipf"), sc["lookups"], seed, sc.get("skew", 1.0))
    rng = np.random.default_rng([seed, 1])
    words_all = [int.from_bytes(rng.bytes(cfg.row_bytes), "little") & ((1 << cfg.row_bits) - 1)
                 for _ in range(cfg.total_rows)]
    tags = rng.integers(0, 1 << cfg.tag_width, size=len(r))
    return t, r, s, words_all, tags


def static_word(cfg: EmbCacheConfig, words_all: list[int], table: int, row: int) -> int:
    """Static-buffer word ``table * static_rows + row``: the table's row, or 0 past a table
    smaller than ``static_rows`` (never read: its rows are all below its size)."""
    return words_all[cfg.global_row(table, row)] if row < cfg.table_sizes[table] else 0


def request_words(cfg: EmbCacheConfig, t, r, s, tags) -> list[int]:
    """Request payloads: one lookup each (blocking), or ``lanes`` slots per beat in trace order,
    the last beat's unused slots invalid (non-blocking)."""
    if cfg.blocking:
        return [req_word(cfg, int(a), int(b), int(c), int(d)) for a, b, c, d in zip(t, r, s, tags)]
    n, L = len(r), cfg.lanes
    words = []
    for b in range(-(-n // L)):
        sl = [{"valid": 1, "table": int(t[i]), "row": int(r[i]), "stage": int(s[i]),
               "tag": int(tags[i])} for i in range(b * L, min(n, (b + 1) * L))]
        sl += [{"valid": 0}] * (L - len(sl))
        words.append(cfg.req_layout.pack({"slots": sl}))
    return words


async def run_scenario(dut, cfg: EmbCacheConfig, sc: dict) -> dict:
    seed = sc["seed"]
    t, r, s, words_all, tags = scenario_data(cfg, sc)
    table = np.array(words_all, dtype=object)
    n = len(r)

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
    await pre.send([static_word(cfg, words_all, tb, row) for tb in range(cfg.tables)
                    for row in range(cfg.static_rows)])

    idle, bp = sc.get("idle", 0.0), sc.get("backpressure", 0.0)
    drv = StreamDriver(dut, "req", dut.clk, PERIOD_NS, Pauser(idle, seed * 2 + 1))
    sink = StreamSink(dut, "resp", dut.clk, PERIOD_NS, Pauser(bp, seed * 2 + 2))
    mon = StreamMonitor(dut, "resp", dut.clk, PERIOD_NS)
    mem_reqs: list = []
    tasks = [cocotb.start_soon(sink.run()), cocotb.start_soon(mon.run()),
             cocotb.start_soon(dram_model(dut, cfg, table, mem_reqs))]
    start = get_cycle() + 1
    L = cfg.lanes
    nbeats = -(-n // L)
    accepted_beats = await drv.send(request_words(cfg, t, r, s, tags))
    for _ in range(100 + 4 * n * (cfg.dram_latency + cfg.beats_per_row * cfg.dram_interval + 4)):
        if len(mon.beats) >= nbeats:
            break
        await RisingEdge(dut.clk)
    await ClockCycles(dut.clk, 2)
    for task in tasks:
        task.cancel()

    ready_set = set(mon.ready_cycles)
    pause = Pauser(idle, seed * 2 + 1)
    checker = Checker()
    got_beats = [b.cycle for b in mon.beats]
    if cfg.blocking:
        model = embcache_timeline(cfg, zip(t.tolist(), r.tolist(), s.tolist()), start=start,
                                  ready_from=ready_from, pause=pause,
                                  ready=lambda c: c in ready_set)
        fields = [cfg.resp_layout.unpack(b.payload) for b in mon.beats]
        want_counts = [sum(1 for x in model if x.kind == k) for k in (STATIC, HIT, MISS)]
        extra_hw, extra_model = [], []
    else:
        idle_beats = pause_counts(pause, nbeats)
        # past the monitored window (the RTL finished earlier than the model: a mismatch the
        # checker reports), the model sees ready high
        seen = max(ready_set, default=0)
        tl = nb_timeline(cfg, t, r, s, start=start, ready_from=max(start, ready_from),
                         idle=idle_beats, ready=lambda c: c in ready_set or c > seen)
        model = [Lookup(int(a), int(k), int(x), None if q < 0 else int(q), int(lk))
                 for a, k, x, q, lk in zip(tl.accept, tl.kind, tl.respond, tl.mem_request,
                                           tl.lookup)]
        all_slots = [x for b in mon.beats for x in cfg.resp_layout.unpack(b.payload)["slots"]]
        fields = all_slots[:n]
        want_counts = [tl.counters[k] for k in ("static_hits", "dynamic_hits", "misses")]
        extra_hw = [int(getattr(dut, name).value) for name in cfg.nonblocking_counters]
        extra_model = [tl.counters[k] for k in ("merged", "bank_conflict_stalls",
                                                "victim_stalls", "mshr_full_stalls")]
    accepted = [accepted_beats[i // L] for i in range(n) if i // L < len(accepted_beats)]
    got_resp = [got_beats[i // L] for i in range(n) if i // L < len(got_beats)]
    exp_mem = [(x.mem_request, cfg.global_row(int(t[i]), int(r[i]))) for i, x in enumerate(model)
               if x.kind == MISS]
    cycles_ok = (checker.check_cycles("request", accepted, [x.accept for x in model])
                 and checker.check_cycles("response", got_resp, [x.respond for x in model])
                 and checker.check_cycles("DRAM request", [c for c, _ in mem_reqs],
                                          [c for c, _ in exp_mem]))
    if cfg.blocking:
        kinds = [STATIC if f["static"] else (HIT if f["hit"] else MISS) for f in fields]
    else:
        kinds = [STATIC if f["static"] else MERGED if f["merged"] else HIT if f["hit"] else MISS
                 for f in fields]
        pad = all_slots[n:]
        checker.check_equal("valid bits of the response slots",
                            [f["valid"] for f in fields] + [x["valid"] for x in pad],
                            [1] * len(fields) + [0] * len(pad))
    vecs = [f["data"] for f in fields]
    want = [{"data": words_all[cfg.global_row(int(t[i]), int(r[i]))], "tag": int(tags[i]),
             "kind": model[i].kind} for i in range(n)]
    values_ok = checker.check_values(
        "response", [{"data": f["data"], "tag": f["tag"], "kind": k} for f, k in zip(fields, kinds)],
        want, got_resp)
    values_ok &= checker.check_values("DRAM request address", [a for _, a in mem_reqs],
                                      [a for _, a in exp_mem], [c for c, _ in mem_reqs])
    hw = [int(dut.hits_static.value), int(dut.hits_dynamic.value), int(dut.misses.value)]
    values_ok &= checker.check_equal("counters static/dynamic/miss", hw, want_counts)
    values_ok &= checker.check_equal("mem_bytes counter", int(dut.mem_bytes.value),
                                     want_counts[2] * cfg.row_bytes)
    values_ok &= checker.check_equal("counters merged/bank/victim/MSHR stalls", extra_hw,
                                     extra_model)
    values_ok &= checker.first_mismatch is None
    rtl_cycles = (got_resp[-1] - accepted[0]) if got_resp and accepted else -1
    counts = want_counts
    return {"rtl_cycles": rtl_cycles, "model_cycles": model[-1].respond - model[0].accept,
            "cycles_match": cycles_ok, "values_match": values_ok,
            "first_mismatch": checker.first_mismatch,
            "hits": counts[0] + counts[1], "misses": counts[2], "static_hits": counts[0],
            "dynamic_hits": counts[1], "hw_counters": hw + extra_hw, "lookups": n,
            "merged": extra_model[0] if extra_model else 0,
            "dump": {"tables": t.tolist(), "rows": r.tolist(), "stages": s.tolist(),
                     "tags": tags.tolist(), "rtl_kinds": kinds,
                     "rtl_vectors": [hex(v) for v in vecs]}}


async def run_bulk_scenario(dut, cfg: EmbCacheConfig, sc: dict) -> dict:
    """Bulk mode (:mod:`rpaccel.verif.embbulk`): back-door load the trace, the DRAM rows and the
    static copies, start, sleep until ``done``, read the responses back and check them and the
    cycle count (requests back to back, responses always ready) against the model."""
    from cocotb.triggers import First, Timer

    from rpaccel.perfmodel.embcache import embcache_cycles

    t, r, s, words_all, tags = scenario_data(cfg, sc)
    n, L = len(r), cfg.lanes
    nbeats = -(-n // L)
    dut.rst.value = 1
    dut.start.value = 0
    dut.nbeats.value = nbeats
    await ClockCycles(dut.clk, 3)
    t0 = time.perf_counter()
    for b, w in enumerate(request_words(cfg, t, r, s, tags)):
        dut.trace_mem.mem[b].value = w
    for g, w in enumerate(words_all):
        dut.dram_mem.mem[g].value = w
    for j in range(L):
        mem = getattr(dut.unit, f"static_buf{j}").mem
        for tb in range(cfg.tables):
            for row in range(cfg.static_rows):
                mem[tb * cfg.static_rows + row].value = static_word(cfg, words_all, tb, row)
    t_load = time.perf_counter() - t0
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    tl = nb_timeline(cfg, t, r, s)
    want_cycles = int(tl.respond[-1] - tl.accept[0])
    t1 = time.perf_counter()
    await First(RisingEdge(dut.done), Timer(PERIOD_NS * (4 * want_cycles + 1000), "ns"))
    t_sim = time.perf_counter() - t1
    checker = Checker()
    rtl_cycles = int(dut.cycles.value) if int(dut.done.value) else -1
    cycles_ok = checker.check_equal("cycles (first acceptance to last response)", rtl_cycles,
                                    want_cycles)
    cycles_ok &= checker.check_equal("fast model cycles", embcache_cycles(cfg, t, r, s)["cycles"],
                                     want_cycles)
    fields = [x for b in range(nbeats)
              for x in cfg.resp_layout.unpack(int(dut.resp_mem.mem[b].value))["slots"]][:n]
    kinds = [STATIC if f["static"] else MERGED if f["merged"] else HIT if f["hit"] else MISS
             for f in fields]
    want = [{"data": words_all[cfg.global_row(int(t[i]), int(r[i]))], "tag": int(tags[i]),
             "kind": int(tl.kind[i])} for i in range(n)]
    values_ok = checker.check_values(
        "response", [{"data": f["data"], "tag": f["tag"], "kind": k} for f, k in zip(fields, kinds)],
        want)
    want_counts = [tl.counters[k] for k in ("static_hits", "dynamic_hits", "misses")]
    hw = [int(dut.unit.hits_static.value), int(dut.unit.hits_dynamic.value),
          int(dut.unit.misses.value)]
    values_ok &= checker.check_equal("counters static/dynamic/miss", hw, want_counts)
    return {"rtl_cycles": rtl_cycles, "model_cycles": want_cycles, "cycles_match": cycles_ok,
            "values_match": values_ok and checker.first_mismatch is None,
            "first_mismatch": checker.first_mismatch, "lookups": n,
            "hits": want_counts[0] + want_counts[1], "misses": want_counts[2],
            "static_hits": want_counts[0], "dynamic_hits": want_counts[1],
            "merged": tl.counters["merged"], "hw_counters": hw, "load_wall_s": t_load,
            "sim_wall_s": t_sim, "lookups_per_s": n / t_sim if t_sim > 0 else None,
            "dump": {"tables": t.tolist(), "rows": r.tolist(), "stages": s.tolist(),
                     "tags": tags.tolist(), "rtl_kinds": kinds,
                     "rtl_vectors": [hex(f["data"]) for f in fields]}}


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
        t0 = time.perf_counter()
        runner = run_bulk_scenario if sc.get("mode") == "bulk" else run_scenario
        res = await runner(dut, cfg, sc)
        res["wall_s"] = time.perf_counter() - t0
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
