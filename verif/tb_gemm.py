"""cocotb testbench of the GEMM engine: driver / monitor / model / checker.

Scenarios come from the JSON file named by ``RPACCEL_SCENARIOS`` (written by
:func:`rpaccel.verif.run.run_unit`); results go to the file it names in ``results``.

Two modes:

``stream``
    Operands are loaded through ``a_in``/``w_in`` by :class:`StreamDriver`s with seeded idle
    cycles; the command goes in through ``cmd``; results are taken from ``c_out`` by a
    :class:`StreamSink` with seeded backpressure and recorded by a :class:`StreamMonitor`. The
    checker compares every result value with the golden model and every beat's transfer cycle with
    the perf model (:func:`rpaccel.perfmodel.output_beat_cycles` given the cycles ``ready`` was high).
``bulk``
    Python stays out of the per-cycle loop: operands are written straight into the SRAM macros
    (back door), ``c_out.ready`` is tied high, the testbench sleeps until ``done`` rises, then
    reads the engine's ``cycles`` counter and the C buffer (back door). Used for speed.
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

from rpaccel.config import GemmConfig
from rpaccel.perfmodel import (gemm, gemm_cycles, output_beat_cycles, pack_a, pack_w,
                               random_operands, unpack_c)

from .checker import Checker
from .streams import Pauser, StreamDriver, StreamMonitor, StreamSink

PERIOD_NS = 10


class GemmModel:
    """Transaction-level model: expected values (golden) and expected timing (perf model)."""

    def __init__(self, cfg: GemmConfig, a: np.ndarray, w: np.ndarray) -> None:
        self.cfg = cfg
        self.m, self.k = a.shape
        self.n = w.shape[1]
        self.c = gemm(cfg, a, w)
        self.cycles = gemm_cycles(cfg, self.m, self.k, self.n)

    def beats(self) -> list[list[int]]:
        """Expected ``c_out`` data per beat (N-tile major, zero-padded to ``cols``)."""
        cols = self.cfg.cols
        nt = self.cfg.n_tiles(self.n)
        pad = np.zeros((self.m, nt * cols), dtype=np.int64)
        pad[:, :self.n] = self.c
        return [pad[i, t * cols:(t + 1) * cols].tolist() for t in range(nt) for i in range(self.m)]


async def reset(dut) -> None:
    dut.rst.value = 1
    for name in ("a_in", "w_in", "cmd"):
        getattr(dut, f"{name}__valid").value = 0
    dut.c_out__ready.value = 0
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


async def run_stream(dut, cfg: GemmConfig, sc: dict, a, w) -> dict:
    model = GemmModel(cfg, a, w)
    checker = Checker()
    seed = sc["seed"]
    idle, bp = sc.get("idle", 0.0), sc.get("backpressure", 0.0)
    a_drv = StreamDriver(dut, "a_in", dut.clk, PERIOD_NS, Pauser(idle, seed * 4 + 1))
    w_drv = StreamDriver(dut, "w_in", dut.clk, PERIOD_NS, Pauser(idle, seed * 4 + 2))
    c_drv = StreamDriver(dut, "cmd", dut.clk, PERIOD_NS, Pauser(idle, seed * 4 + 3))
    sink = StreamSink(dut, "c_out", dut.clk, PERIOD_NS, Pauser(bp, seed * 4 + 4))
    mon = StreamMonitor(dut, "c_out", dut.clk, PERIOD_NS)
    tasks = [cocotb.start_soon(sink.run()), cocotb.start_soon(mon.run())]

    t_load0 = get_cycle()
    loads = [cocotb.start_soon(a_drv.send(pack_a(cfg, a))),
             cocotb.start_soon(w_drv.send(pack_w(cfg, w)))]
    for t in loads:
        await t
    load_cycles = get_cycle() - t_load0
    (t_cmd,) = await c_drv.send([cfg.cmd_word(model.m, model.k, model.n)])

    limit = 4 * model.cycles.total + 10_000
    done = RisingEdge(dut.done)
    await First(done, ClockCycles(dut.clk, limit))
    await ClockCycles(dut.clk, 2)
    for t in tasks:
        t.cancel()

    beats = mon.beats
    got = [b.cycle - t_cmd for b in beats]
    ready_rel = [c - t_cmd for c in mon.ready_cycles if c > t_cmd]
    try:
        expected = output_beat_cycles(model.cycles, ready_rel)
    except ValueError as e:
        expected = []
        checker.fail(str(e))
    cycles_ok = checker.check_cycles("c_out beat", got, expected)
    fields = [cfg.c_out_layout.unpack(b.payload) for b in beats]
    values_ok = checker.check_values("c_out beat", [f["data"] for f in fields], model.beats(), got)
    lasts = [f["last"] for f in fields]
    values_ok &= checker.check_values("c_out last flag", lasts, [0] * (model.cycles.beats - 1) + [1],
                                      got)
    c_rtl = None
    if len(fields) == model.cycles.beats:
        c_rtl = unpack_c(cfg, [b.payload for b in beats], model.m, model.n)
    rtl_cycles = got[-1] if got else -1
    hw_cycles = int(dut.cycles.value)
    cycles_ok &= checker.check_equal("cycles counter vs monitored last beat", hw_cycles, rtl_cycles)
    return {
        "rtl_cycles": rtl_cycles, "hw_counter": hw_cycles,
        "model_cycles": expected[-1] if expected else -1,
        "model_stall_free_cycles": model.cycles.total,
        "stall_cycles": (expected[-1] - model.cycles.total) if expected else -1,
        "cycles_match": cycles_ok, "values_match": values_ok,
        "first_mismatch": checker.first_mismatch,
        "load_cycles": load_cycles,
        "load_stalls": a_drv.stalls + w_drv.stalls + c_drv.stalls,
        "beats": len(beats), "c_rtl": c_rtl,
    }


def get_cycle() -> int:
    from cocotb.utils import get_sim_time

    return int(round(get_sim_time("ns") / PERIOD_NS))


async def run_bulk(dut, cfg: GemmConfig, sc: dict, a, w) -> dict:
    model = GemmModel(cfg, a, w)
    checker = Checker()
    t0 = time.perf_counter()
    for mem, words in ((dut.a_buf.mem, pack_a(cfg, a)), (dut.w_buf.mem, pack_w(cfg, w))):
        for i, v in enumerate(words):
            mem[i].value = v
    t_load = time.perf_counter() - t0
    dut.c_out__ready.value = 1
    dut.cmd__payload.value = cfg.cmd_word(model.m, model.k, model.n)
    dut.cmd__valid.value = 1
    await RisingEdge(dut.clk)
    dut.cmd__valid.value = 0
    t1 = time.perf_counter()
    await First(RisingEdge(dut.done), Timer(PERIOD_NS * (2 * model.cycles.total + 1000), "ns"))
    t_sim = time.perf_counter() - t1
    hw_cycles = int(dut.cycles.value)
    t2 = time.perf_counter()
    mem = dut.c_buf.mem
    words = [int(mem[i].value) for i in range(model.cycles.beats)]
    c_rtl = unpack_c(cfg, words, model.m, model.n)
    t_read = time.perf_counter() - t2
    values_ok = checker.check_values("C row", c_rtl.tolist(), model.c.tolist())
    cycles_ok = checker.check_equal("cycles counter", hw_cycles, model.cycles.total)
    return {
        "rtl_cycles": hw_cycles, "hw_counter": hw_cycles, "model_cycles": model.cycles.total,
        "model_stall_free_cycles": model.cycles.total, "stall_cycles": 0,
        "cycles_match": cycles_ok, "values_match": values_ok,
        "first_mismatch": checker.first_mismatch, "beats": model.cycles.beats,
        "load_wall_s": t_load, "sim_wall_s": t_sim, "readback_wall_s": t_read,
        "sim_cycles_per_s": hw_cycles / t_sim if t_sim > 0 else None, "c_rtl": c_rtl,
    }


@cocotb.test()
async def gemm_scenarios(dut) -> None:
    """Run every scenario of the spec file; write one result record per scenario."""
    import sched  # the standard library's, never rpaccel's folder (guard)

    spec = json.loads(Path(os.environ["RPACCEL_SCENARIOS"]).read_text())
    cfg = GemmConfig(**spec["cfg"])
    results = []
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    for sc in spec["scenarios"]:
        m, k, n = sc["m"], sc["k"], sc["n"]
        a, w = random_operands(cfg, m, k, n, sc["seed"], sc.get("dist", "uniform"))
        await reset(dut)
        t0 = time.perf_counter()
        runner = run_bulk if sc.get("mode", "stream") == "bulk" else run_stream
        res = await runner(dut, cfg, sc, a, w)
        res["wall_s"] = time.perf_counter() - t0
        c_rtl = res.pop("c_rtl")
        if sc.get("dump"):
            d = Path(sc["dump"])
            d.mkdir(parents=True, exist_ok=True)
            np.save(d / "a.npy", a)
            np.save(d / "w.npy", w)
            if c_rtl is not None:
                np.save(d / "c_rtl.npy", c_rtl)
            (d / "config.json").write_text(json.dumps(
                {"unit": "gemm", "cfg": cfg.to_dict(), "m": m, "k": k, "n": n,
                 "seed": sc["seed"], "dist": sc.get("dist", "uniform")}, indent=2))
        results.append({**sc, **res, "stdlib_sched": hasattr(sched, "scheduler")})
        dut._log.info("scenario %s: rtl %s model %s cycles_match=%s values_match=%s",
                      sc.get("name"), res["rtl_cycles"], res["model_cycles"],
                      res["cycles_match"], res["values_match"])
    Path(spec["results"]).write_text(json.dumps(results, indent=1))
