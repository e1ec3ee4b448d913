"""The executor: runs a compiled program (:mod:`rpaccel.perfmodel.compiler`) at command
granularity and returns its cycles, breakdown, busy timeline and event counts.

It is a discrete-event model of the controller described in :mod:`rpaccel.isa`: every
queue issues its head command on the first cycle on which (1) the queue's previous command has
completed, (2) every token it pops is available, and (3) its unit is free (the shared embedding
unit: ties to the lowest stage). Commands are issued in order of that cycle (ties in queue
priority order, :func:`rpaccel.isa.queue_order`), so the embedding unit's tag state
evolves gather after gather as in the hardware. Each command's duration is its unit's proven
model: :func:`~rpaccel.perfmodel.gemm.gemm_cycles` for GEMMs, the non-blocking embedding unit's
exact kernel (:func:`~rpaccel.perfmodel.embcache.nb_gather`) on the gather's real lookups, the
top-k unit's contract, and the closed forms of the ISA for loads and the host link. No per-cycle
loop outside the embedding kernel.

The real lookups of stage s >= 1 depend on which candidates survived stage s - 1, so the
executor runs the golden forward pass (:func:`rpaccel.perfmodel.query.run_query`) of every stage
but the last.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rpaccel.accel import AccelConfig
from rpaccel.query import Pipeline, gather_beats
from rpaccel.config import ceil_div
from rpaccel.isa import (BUFFER_READ_LATENCY, GATHER_START, ITEM_READ_LATENCY, RTL_COUNTERS,
                         VECTOR_LATENCY, queue_order)

from .compiler import Program, compile_query
from .embcache import empty_lines, nb_gather
from .gemm import gemm_cycles, gemm_events
from .topk import topk_compares
from .query import QueryInputs, model_params, query_inputs, run_query

__all__ = ["execute", "ExecResult", "model_accel"]


@dataclass
class ExecResult:
    """Result of running a program. Cycles are clock cycles of the accelerator; ``cycles`` runs
    from the host's first beat (cycle 0) to the host's receipt of the last query's last result
    beat; ``latency[q]`` from query q's first host beat to its last result beat."""

    cycles: int
    latency: list[int]
    seconds: float
    timeline: list[dict[str, Any]]
    queues: dict[str, dict[str, int]]
    stages: list[dict[str, Any]]
    events: dict[str, int]
    embedding: dict[str, int]
    #: the workload the sparse ids came from: ``name``, ``kind``, ``folded_tables`` (tables
    #: larger than the accelerator's rows, folded: :mod:`rpaccel.perfmodel.feed`); ``None``:
    #: Zipf ranks over the accelerator's rows
    workload: dict[str, Any] | None = None

    def as_dict(self, timeline: bool = False) -> dict[str, Any]:
        d = {"cycles": self.cycles, "latency": self.latency, "seconds": self.seconds,
             "queues": self.queues, "stages": self.stages, "events": self.events,
             "embedding": self.embedding}
        if self.workload is not None:
            d["workload"] = self.workload
        if timeline:
            d["timeline"] = self.timeline
        return d

    def write_timeline(self, path: str | Path) -> None:
        """The busy timeline, one row per command (cycles: issue and done), as ``.json`` or
        CSV; written whole or not at all."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        if path.suffix == ".json":
            tmp.write_text(json.dumps(self.timeline))
        else:
            cols = ["cmd", "queue", "op", "q", "s", "sb", "layer", "issue", "done"]
            with tmp.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=cols)
                w.writeheader()
                w.writerows(self.timeline)
        tmp.replace(path)


def _lookups(prog: Program, inputs: list[QueryInputs], seed: int):
    """Per (query, stage, sub-batch): the gather's (tables, rows, beat sizes)."""
    pipe, pl = prog.pipeline, prog.placement
    lanes = prog.accel.embedding.lanes
    S = len(pipe.stages)
    params = model_params(pipe, seed) if S > 1 else None
    out: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    for q, inp in enumerate(inputs):
        if S > 1:
            res = run_query(prog.accel, pipe, params, inp, seed=seed, sub_batch=prog.sub_batch,
                            policy=prog.policy, stages=S - 1)
            reach = [np.arange(pipe.items[0])] + [res.survivors[s] for s in range(S - 1)]
        else:
            reach = [np.arange(pipe.items[0])]
        base = 0
        for s, st in enumerate(pipe.stages):
            T = st.spec.tables
            plan = pl.plans[s]
            per = gather_beats(T, lanes)
            for j in range(plan.sub_batches):
                ids = reach[s][j * plan.sub_batch:(j + 1) * plan.sub_batch]
                rows = inp.sparse[ids, :T].reshape(-1)
                tables = np.tile(np.arange(base, base + T), len(ids))
                stages = np.full(len(rows), pl.cache_stage[s], dtype=np.int64)
                out[(q, s, j)] = (tables, rows, stages, np.tile(per, len(ids)))
            base += T
    return out


def execute(prog: Program, *, seed: int = 0, inputs: list[QueryInputs] | None = None,
            timeline: bool = True, host_idle=None, host_stall=None, feed=None) -> ExecResult:
    """Run ``prog`` on the query inputs of ``seed`` (query q: :func:`query_inputs` with
    ``query=q``) or the given ``inputs``; see :class:`ExecResult`. ``host_idle[j]``: idle
    cycles the host leaves before presenting its j-th input beat (after beat j-1 transferred;
    beat 0 at cycle 0); default none (:func:`rpaccel.perfmodel.query.host_idle_cycles`).
    ``host_stall[c]``: the host takes no result beat on cycle c (backpressure,
    :func:`rpaccel.perfmodel.query.host_stall_cycles`); default always ready. ``feed``: the
    sparse ids of a workload (:class:`rpaccel.perfmodel.feed.WorkloadFeed`; default: the
    pipeline's workload, if it names one)."""
    sent, beat_no = -1, 0
    accel, pipe, pl = prog.accel, prog.pipeline, prog.placement
    emb, topk = accel.embedding, accel.topk
    eng = accel.group_array(pl.split)
    S = len(pipe.stages)
    if inputs is None:
        if feed is None and pipe.workload is not None:
            from .feed import WorkloadFeed

            feed = WorkloadFeed(pipe.workload, pipe, emb, seed)
        inputs = [query_inputs(pipe, emb.rows, seed, q, feed) for q in range(prog.queries)]
    looks = _lookups(prog, inputs, seed)
    # compiled kernel for big runs; plain Python below (numba's compile costs seconds)
    engine = "numba" if sum(len(v[1]) for v in looks.values()) > 20_000 else "python"
    order = queue_order(S)
    cmds = prog.commands
    queues: dict[str, list[int]] = {q: [] for q in order}
    for i, c in enumerate(cmds):
        queues[c.queue].append(i)
    head = {q: 0 for q in order}
    free = {q: 0 for q in order}                    # first cycle the queue may issue
    avail: dict[tuple[str, str], list[int]] = {}    # token availability cycles per (from, to)
    used: dict[tuple[str, str], int] = {}
    emb_free = 0
    lines = empty_lines(emb)
    gemm_memo: dict[tuple[int, int, int], tuple[int, dict[str, int]]] = {}
    qstat = {q: {"commands": 0, "busy": 0, "wait": 0} for q in order}
    stages = [{"gather": 0, "loada": 0, "gemm": 0, "topk": 0,
               "gemm_layers": [0] * len(st.spec.layers())} for st in pipe.stages]
    # the RTL's counters (rpaccel.isa.RTL_COUNTERS), then counts only the model keeps
    # (item_records: candidate records the gathers read; host bytes: the payload of the beats)
    ev = {**dict.fromkeys(RTL_COUNTERS, 0), "macs": 0, "pe_cycles": 0, "item_records": 0,
          "host_bytes_in": 0, "host_bytes_out": 0}
    ecount = {"static_hits": 0, "dynamic_hits": 0, "merged": 0, "misses": 0,
              "bank_conflict_stalls": 0, "victim_stalls": 0, "mshr_full_stalls": 0}
    tl: list[dict[str, Any]] = []
    start_q: dict[int, int] = {}
    end_q: dict[int, int] = {}
    pe = eng.rows * eng.cols
    left = len(cmds)
    while left:
        best = None
        for qn in order:
            h = head[qn]
            if h >= len(queues[qn]):
                continue
            c = cmds[queues[qn][h]]
            t = free[qn]
            ok = True
            for p, n in c.pop.items():
                if not n:
                    continue
                lst = avail.get((p, qn), [])
                k = used.get((p, qn), 0) + n - 1
                if k >= len(lst):
                    ok = False
                    break
                t = max(t, lst[k])
            if not ok:
                continue
            if c.op == "GATHER":
                t = max(t, emb_free)
            if best is None or t < best[0]:
                best = (t, qn)
        if best is None:
            raise RuntimeError("deadlock: no queue can issue (a compiler bug)")
        t, qn = best
        i = queues[qn][head[qn]]
        c = cmds[i]
        a = c.args
        nxt = None
        if c.op == "RECV":
            if host_idle is None:
                first, last = t, t + a["beats"] - 1
            else:
                # beat j is presented host_idle[j] cycles after beat j-1 transferred; it
                # transfers once presented while the RECV holds the link ready
                x = t - 1
                first = None
                for _ in range(a["beats"]):
                    x = max(x + 1, sent + 1 + int(host_idle[beat_no]))
                    sent = x
                    beat_no += 1
                    first = x if first is None else first
                last = x
            done = last + accel.host_latency
            nxt = last + 1
            ev["host_bytes_in"] += a["bytes"]
            ev["host_beats_in"] += a["beats"]
            start_q.setdefault(a["q"], first)
        elif c.op == "GATHER":
            tables, rows, stg, beats = looks[(a["q"], a["s"], a["sb"])]
            last, cnt, _ = nb_gather(emb, tables, rows, stg, beats, lines,
                                     start=t + GATHER_START, engine=engine)
            done = last
            emb_free = done + 1
            for k_ in ecount:
                ecount[k_] += cnt[k_]
            ev["lookups"] += len(rows)
            ev["item_records"] += a["items"]
            ev["dram_requests"] += cnt["misses"]
            ev["dram_beats"] += cnt["misses"] * emb.beats_per_row
            stages[a["s"]]["gather"] += done - t + 1
        elif c.op == "LOADA":
            lat = ITEM_READ_LATENCY if a["src"] == "items" else BUFFER_READ_LATENCY
            done = t + lat + a["words"] - 1
            ev["a_words"] += pl.groups[a["s"]][1] * a["words"]
            stages[a["s"]]["loada"] += done - t + 1
        elif c.op == "GEMM":
            key = (a["m"], a["k"], a["n"])
            if key not in gemm_memo:
                gemm_memo[key] = (gemm_cycles(eng, *key).total, gemm_events(eng, *key))
            dur, gev = gemm_memo[key]
            done = t + dur + VECTOR_LATENCY
            rows_tot = pl.plans[a["s"]].sub_batch
            g = pl.groups[a["s"]][1]
            nt = eng.n_tiles(a["n"])
            ev["macs"] += rows_tot * a["k"] * a["n"]
            ev["gemm_commands"] += g
            ev["c_beats"] += g * a["m"] * nt
            ev["pe_cycles"] += g * pe * dur
            # every sub-array of the group runs the GEMM on its chunk (padding rows included)
            for name, x in gev.items():
                ev[name] += g * x
            stages[a["s"]]["gemm"] += done - t + 1
            stages[a["s"]]["gemm_layers"][a["layer"]] += done - t + 1
        elif c.op == "TOPK":
            beats = ceil_div(a["n"], topk.lanes)
            # host sort (on_chip_filter = false): a copy of the scores, no selection
            done = t + beats + (a["k"] if a["last"] and not a["host"] else 0)
            ev["topk_items"] += a["n"]
            if not a["host"]:
                ev["topk_compares"] += topk_compares(topk, a["n"], a["k"] if a["last"] else 0)
            stages[a["s"]]["topk"] += done - t + 1
        elif c.op == "SEND":
            x = t + a["beats"] - 1
            if host_stall is not None:
                # beat i goes on the first cycle, from the previous one's next, the host takes it
                x = t - 1
                for _ in range(a["beats"]):
                    x += 1
                    while x < len(host_stall) and host_stall[x]:
                        x += 1
            done = x + accel.host_latency
            ev["host_bytes_out"] += a["bytes"]
            ev["host_beats_out"] += a["beats"]
            end_q[a["q"]] = done
        else:  # pragma: no cover - the compiler emits only the ops above
            raise RuntimeError(f"unknown op {c.op}")
        st = qstat[qn]
        st["commands"] += 1
        st["busy"] += (nxt if nxt is not None else done + 1) - t
        st["wait"] += t - free[qn]
        free[qn] = nxt if nxt is not None else done + 1
        for p in c.pop:
            if c.pop[p]:
                used[(p, qn)] = used.get((p, qn), 0) + c.pop[p]
        for to in c.push:
            avail.setdefault((qn, to), []).append(done + 1)
        head[qn] += 1
        left -= 1
        if timeline:
            tl.append({"cmd": i, "queue": qn, "op": c.op, **{k: a[k] for k in
                       ("q", "s", "sb", "layer") if k in a}, "issue": t, "done": done})
    cycles = max(end_q.values())
    lat = [end_q[q] - start_q[q] for q in range(prog.queries)]
    for s, st in enumerate(pipe.stages):
        stages[s].update({"model": pipe.stages[s].name or f"stage{s}",
                          "items": pipe.items[s],
                          "subarrays": pl.groups[s][1] if pl.split else 0,   # 0: whole array
                          "sub_batch": pl.plans[s].sub_batch,
                          "sub_batches": pl.plans[s].sub_batches})
    wl = None if feed is None else {"name": feed.workload.name, "kind": feed.workload.kind,
                                    "folded_tables": feed.folded}
    return ExecResult(cycles=cycles, latency=lat, seconds=accel.seconds(cycles), timeline=tl,
                      queues=qstat, stages=stages, events=ev, embedding=ecount, workload=wl)


def model_accel(accel: AccelConfig, pipeline: Pipeline, *, sub_batch: int | None = None,
                policy: str | None = None, seed: int = 0, queries: int = 1,
                timeline: bool = False, idle: float = 0.0,
                backpressure: float = 0.0, workload=None) -> ExecResult:
    """Compile and execute: the cycles of ``queries`` back-to-back queries (the API behind
    ``rpaccel model accel``); ``idle``: the probability of an idle cycle before a host beat
    (seeded by ``seed``, as ``rpaccel sim accel --idle``); ``backpressure``: the probability
    that the host takes no result beat on a cycle (``--backpressure``); ``workload``: the
    :class:`rpaccel.workload.Workload` the sparse ids come from (default: Zipf ranks over the
    accelerator's rows, :func:`rpaccel.perfmodel.query.query_inputs`)."""
    if workload is not None:
        pipeline = pipeline.with_workload(workload)
    prog = compile_query(accel, pipeline, sub_batch, policy, queries=queries)
    hi = None
    if idle:
        from .query import host_idle_cycles

        hi = host_idle_cycles(sum(c.args["beats"] for c in prog.commands if c.op == "RECV"),
                              idle, seed)
    hs = None
    if backpressure:
        from .query import host_stall_cycles

        hs = host_stall_cycles(backpressure, seed)
    return execute(prog, seed=seed, timeline=timeline, host_idle=hi, host_stall=hs)
