"""cocotb testbench of the integrated RPAccel (harness :mod:`rpaccel.verif.accelbulk`).

Per scenario (``seed``, ``queries``): compile the queries, load by back door the command
memories, every sub-array's weights and biases, the embedding unit's static copies, the DRAM's
tables and the host's input beats; start; sleep until the last result beat; then check

* every query's ranked ids and scores against the golden model (:func:`run_query`), bit for bit;
* every stage's survivors (the top-k results of every query, in order) against the golden's;
* the cycle count (first host beat to the last result beat at the host) against the executor.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer

from rpaccel.isa import RTL_COUNTERS, queue_order
from rpaccel.perfmodel.compiler import compile_query, program_words
from rpaccel.perfmodel.executor import arrivals_from_gaps, execute
from rpaccel.perfmodel.gemm import pack_w
from rpaccel.perfmodel.query import (column_rows, embedding_rows, host_idle_cycles, host_stall_cycles,
                                     model_params, query_inputs, run_query, table_base)

from .accelbulk import AccelBuild
from .checker import Checker

PERIOD_NS = 10
#: Cycles the current scenario's backpressure stalls (set in ``stall_mem``; cleared by the next).
_STALLED: list[int] = []


def _row_word(seed: int, table: int, row: int, dim: int) -> int:
    v = embedding_rows(seed, [table], [row], dim)[0].astype(np.uint8)
    return int.from_bytes(v.tobytes(), "little")


def host_beats(build: AccelBuild, inputs) -> list[int]:
    """The host's input beats of the queries, in order (each candidate in its own beats:
    dense int8 bytes, then its sparse ids as little-endian int32)."""
    accel, pipe = build.accel, build.pipeline
    hb = accel.host_bytes_per_cycle
    item_bytes = pipe.record_bytes
    bpi = -(-item_bytes // hb)
    out = []
    for inp in inputs:
        for i in range(pipe.items[0]):
            rec = inp.dense[i].astype(np.int8).tobytes() + inp.sparse[i].astype("<i4").tobytes()
            rec = rec + bytes(bpi * hb - len(rec))
            out += [int.from_bytes(rec[b * hb:(b + 1) * hb], "little") for b in range(bpi)]
    return out


async def run_scenario(dut, build: AccelBuild, sc: dict) -> dict:
    accel, pipe = build.accel, build.pipeline
    seed, Q = int(sc["seed"]), int(sc.get("queries", 1))
    policy = sc.get("policy") or pipe.filter
    prog = compile_query(accel, pipe, build.sub_batch, policy, queries=Q)
    pl = prog.placement
    S = len(pipe.stages)
    emb = accel.embedding
    sub = accel.group_array(pl.split)
    top = dut.top
    dut.rst.value = 1
    dut.start.value = 0
    await ClockCycles(dut.clk, 3)
    t0 = time.perf_counter()
    words = program_words(prog)
    for q in queue_order(S):
        mem = getattr(top, f"cmdmem_{q}").mem
        for i, w in enumerate(words[q]):
            mem[i].value = w
        getattr(dut, f"n_{q}").value = len(words[q])
    params = model_params(pipe, seed)
    for s, st in enumerate(pipe.stages):
        first, g = pl.groups[s]
        for bi in range(g):
            wmem = (getattr(top.array, f"s{first + bi}_w_buf") if pl.split
                    else top.array.w_buf).mem
            bmem = getattr(top, f"bias{s}_{bi}").mem
            for li, (_, _, k, n) in enumerate(st.spec.layers()):
                for i, w in enumerate(pack_w(sub, params[s].weights[li].astype(np.int64))):
                    wmem[pl.wbase[s][li] + i].value = w
                b = params[s].biases[li].astype(np.int64)
                for nt in range(sub.n_tiles(n)):
                    chunk = b[nt * sub.cols:(nt + 1) * sub.cols]
                    word = sum((int(x) & 0xFFFFFFFF) << (32 * j) for j, x in enumerate(chunk))
                    bmem[pl.bbase[s][li] + nt].value = word
    for t in range(emb.tables):
        for r in range(emb.table_sizes[t]):
            w = _row_word(seed, t, r, emb.dim)
            dut.dram_mem.mem[emb.global_row(t, r)].value = w
            if r < emb.static_rows:
                for j in range(emb.lanes):
                    getattr(top.emb, f"static_buf{j}").mem[t * emb.static_rows + r].value = w
    feed = None
    if sc.get("workload"):                 # a workload's ids, as the executor's feed draws them
        from rpaccel.perfmodel.feed import WorkloadFeed
        from rpaccel.workload import load_workload

        feed = WorkloadFeed(load_workload(sc["workload"]), pipe, emb, seed)
    inputs = [query_inputs(pipe, column_rows(accel, pipe), seed, q, feed) for q in range(Q)]
    beats = host_beats(build, inputs)
    for i, w in enumerate(beats):
        dut.host_mem.mem[i].value = w
    idle = host_idle_cycles(len(beats), float(sc.get("idle", 0.0)), seed) \
        if sc.get("idle") else None
    arrivals = arrivals_from_gaps(sc["gaps"], Q) if sc.get("gaps") is not None else [0] * Q
    recv = [c.args for c in prog.commands if c.op == "RECV"]      # host-queue order
    beat_q = [a["q"] for a in recv for _ in range(a["beats"])]
    first_beat = [beat_q.index(q) for q in range(Q)]
    for i in range(len(beats)):
        dut.idle_mem.mem[i].value = int(idle[i]) if idle is not None else 0
        dut.arrive_mem.mem[i].value = arrivals[beat_q[i]]
    stall = host_stall_cycles(float(sc["backpressure"]), seed) if sc.get("backpressure") \
        else None
    # stall_mem outlives a scenario: clear what the previous one set, then set this one's
    for c in _STALLED:
        dut.stall_mem.mem[c].value = 0
    _STALLED.clear()
    if stall is not None:
        _STALLED.extend(int(c) for c in np.flatnonzero(stall))
        for c in _STALLED:
            dut.stall_mem.mem[c].value = 1
    dut.nbeats.value = len(beats)
    dut.nres.value = Q * pipe.k_out
    t_load = time.perf_counter() - t0
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    model = execute(prog, seed=seed, inputs=inputs, host_idle=idle, host_stall=stall,
                    arrivals=arrivals)
    t1 = time.perf_counter()
    await First(RisingEdge(dut.done), Timer(PERIOD_NS * (3 * model.cycles + 2000), "ns"))
    t_sim = time.perf_counter() - t1
    checker = Checker()
    rtl_cycles = int(dut.cycles.value) if int(dut.done.value) else -1
    cycles_ok = checker.check_equal("cycles (first host beat to last result beat)", rtl_cycles,
                                    model.cycles)
    # every query's latency, from its first host beat to its last result beat, on the RTL
    k = pipe.k_out
    latency_rtl = [int(dut.res_time_mem.mem[(q + 1) * k - 1].value)
                   - int(dut.in_time_mem.mem[first_beat[q]].value) for q in range(Q)] \
        if rtl_cycles >= 0 else [-1] * Q
    for q in range(Q):
        cycles_ok &= checker.check_equal(f"query {q} latency", latency_rtl[q],
                                         model.latency[q])
    gold = [run_query(accel, pipe, params, inp, seed=seed, sub_batch=build.sub_batch,
                      policy=policy) for inp in inputs]
    aw = accel.array.acc_width

    def signed(v: int, bits: int) -> int:
        v &= (1 << bits) - 1
        return v - (1 << bits) if v >> (bits - 1) else v

    got = []
    for i in range(Q * pipe.k_out):
        w = int(dut.res_mem.mem[i].value)
        got.append((w & 0xFFFF, signed(w >> 32, 32)))
    want = [(int(i), int(sc_)) for r in gold for i, sc_ in zip(r.ids, r.scores)]
    values_ok = checker.check_values("ranked result", got, want)
    surv = {}
    for s in range(S):
        n = Q * (pipe.items[s + 1] if s < S - 1 else pipe.k_out)
        mem = getattr(dut, f"surv{s}_mem").mem
        rtl = []
        for i in range(n):
            w = int(mem[i].value)
            rtl.append((w & 0xFFFF, signed(w >> 16, aw)))
        exp = []
        for r in gold:
            pos = {int(c): j for j, c in enumerate(r.stage_items[s])}
            exp += [(int(c), int(r.stage_scores[s][pos[int(c)]])) for c in r.survivors[s]]
        values_ok &= checker.check_values(f"stage {s} survivor", rtl, exp)
        surv[s] = [i for i, _ in rtl]
    values_match = values_ok and checker.first_mismatch is None
    # the RTL's event counters against the executor's counts (rpaccel.isa.RTL_COUNTERS)
    word = int(dut.counters.value)
    rtl_events = {n: (word >> (32 * i)) & 0xFFFFFFFF for i, n in enumerate(RTL_COUNTERS)}
    model_events = {n: model.events[n] for n in RTL_COUNTERS}
    counters_ok = True
    for n in RTL_COUNTERS:
        counters_ok &= checker.check_equal(f"event counter {n}", rtl_events[n], model_events[n])
    res = {"rtl_cycles": rtl_cycles, "model_cycles": model.cycles, "cycles_match": cycles_ok,
           "rtl_events": rtl_events, "model_events": model_events,
           "counters_match": counters_ok, "values_match": values_match,
           "first_mismatch": checker.first_mismatch, "queries": Q, "seed": seed,
           "policy": policy, "idle": float(sc.get("idle", 0.0)),
           "backpressure": float(sc.get("backpressure", 0.0)),
           "latency": model.latency, "latency_rtl": latency_rtl,
           "latency_model": model.latency, "arrival": arrivals,
           "response_rtl": [lat + int(dut.in_time_mem.mem[first_beat[q]].value) - arrivals[q]
                            for q, lat in enumerate(latency_rtl)],
           "response_model": model.response,
           "dynamic_hits": [p["dynamic_hits"] for p in model.per_query],
           "load_wall_s": t_load, "sim_wall_s": t_sim,
           "cycles_per_s": rtl_cycles / t_sim if t_sim > 0 and rtl_cycles > 0 else None}
    if sc.get("dump"):
        _dump(Path(sc["dump"]), build, prog, params, inputs, seed, got, surv, res)
    return res


def _dump(out: Path, build, prog, params, inputs, seed, got, surv, res) -> None:
    """Everything needed to recompute the answer with numpy (layout: README, "Dump")."""
    accel, pipe = build.accel, build.pipeline
    out.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for q, inp in enumerate(inputs):
        arrays[f"q{q}_dense"] = inp.dense
        arrays[f"q{q}_sparse"] = inp.sparse
    for s, st in enumerate(pipe.stages):
        m = st.spec
        base = table_base(pipe, s)
        for t in range(m.tables):
            n_rows = accel.embedding.table_sizes[base + t]
            arrays[f"s{s}_table{t}"] = embedding_rows(seed, np.full(n_rows, base + t),
                                                      np.arange(n_rows), m.dim)
        for li in range(len(m.layers())):
            arrays[f"s{s}_w{li}"] = params[s].weights[li]
            arrays[f"s{s}_b{li}"] = params[s].biases[li]
        arrays[f"s{s}_shifts"] = np.array(params[s].shifts)
        arrays[f"s{s}_rtl_survivors"] = np.array(surv[s])
    arrays["rtl_ids"] = np.array([i for i, _ in got])
    arrays["rtl_scores"] = np.array([x for _, x in got])
    np.savez(out / "accel.npz", **arrays)
    meta = {"unit": "accel", "build": build.to_dict(), "seed": seed,
            "queries": len(inputs), "acc_width": accel.array.acc_width,
            "sub_batch": prog.sub_batch, "filter": prog.policy,
            "items": pipe.items, "k_out": pipe.k_out,
            "stages": [{"tables": st.spec.tables, "pooling": list(st.spec.pooling),
                        "layers": len(st.spec.layers()),
                        "bottom_layers": len(st.spec.bottom) - 1} for st in pipe.stages],
            "rtl_cycles": res["rtl_cycles"], "model_cycles": res["model_cycles"]}
    (out / "accel.json").write_text(json.dumps(meta, indent=1))


@cocotb.test()
async def accel_scenarios(dut) -> None:
    import sched  # guard: must be the standard library's

    spec = json.loads(Path(os.environ["RPACCEL_SCENARIOS"]).read_text())
    build = AccelBuild.from_dict(spec["cfg"])
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    results = []
    for sc in spec["scenarios"]:
        t0 = time.perf_counter()
        res = await run_scenario(dut, build, sc)
        res["wall_s"] = time.perf_counter() - t0
        results.append({**sc, **res, "stdlib_sched": hasattr(sched, "scheduler")})
        dut._log.info("scenario %s: rtl %s model %s cycles_match=%s values_match=%s %s",
                      sc.get("name"), res["rtl_cycles"], res["model_cycles"], res["cycles_match"],
                      res["values_match"], res["first_mismatch"] or "")
    Path(spec["results"]).write_text(json.dumps(results, indent=1))
