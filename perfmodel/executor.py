"""The executor: runs a compiled program (:mod:`rpaccel.perfmodel.compiler`) at command
granularity and returns its cycles, breakdown, busy timeline and event counts.

It is a discrete-event model of the controller described in :mod:`rpaccel.isa`: every
queue issues its head command on the first cycle on which (1) the queue's previous command has
completed, (2) every token it pops is available, and (3) its unit is free (the shared embedding
unit: ties to the lowest stage). Commands are issued in order of that cycle (ties in queue
priority order, :func:`rpaccel.isa.queue_order`), so the embedding unit's tag state
evolves gather after gather as in the hardware. Each command's duration is its unit's proven
model: :func:`~rpaccel.perfmodel.gemm.gemm_cycles` for GEMMs, the non-blocking embedding unit's
exact kernel (:func:`~rpaccel.perfmodel.embcache.ev_gather`, compiled, on a dynamic cache;
else :func:`~rpaccel.perfmodel.embcache.nb_gather`) on the gather's real lookups, the
top-k unit's contract, and the closed forms of the ISA for loads and the host link. No per-cycle
loop outside the embedding kernel.

The real lookups of stage s >= 1 depend on which candidates survived stage s - 1, so the
executor runs the golden forward pass (:func:`rpaccel.perfmodel.query.run_query`) of every stage
but the last.
"""

from __future__ import annotations

import csv
import functools
import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rpaccel.accel import AccelConfig
from rpaccel.query import Pipeline, gather_beats
from rpaccel.config import ceil_div
from rpaccel.isa import (BUFFER_READ_LATENCY, GATHER_START, ITEM_READ_LATENCY, RTL_COUNTERS,
                         VECTOR_LATENCY, queue_order)

from .compiler import Program, compile_query
from .embcache import _COUNTER_NAMES, empty_lines, ev_gatherer, global_rows, nb_gather
from .gemm import gemm_cycles, gemm_events
from .topk import topk_compares
from .query import QueryInputs, column_rows, model_params, query_inputs, run_query

__all__ = ["execute", "ExecResult", "model_accel", "check_arrivals", "arrivals_from_gaps",
           "MAX_ARRIVAL"]


@dataclass
class ExecResult:
    """Result of running a program. Cycles are clock cycles of the accelerator; ``cycles`` runs
    from the host's first beat (cycle 0) to the host's receipt of the last query's last result
    beat; ``latency[q]`` from query q's first host beat to its last result beat;
    ``arrival[q]`` the cycle query q arrived (the host presents none of its beats before; all 0:
    back to back) and ``response[q]`` from its arrival to its last result beat (queueing
    included); ``per_query[q]`` its embedding hits and misses."""

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
    arrival: list[int] = field(default_factory=list)
    per_query: list[dict[str, int]] = field(default_factory=list)

    @property
    def response(self) -> list[int]:
        return [lat + first - a for lat, first, a in
                zip(self.latency, self.first_beat, self.arrival)]

    #: cycle of each query's first host beat
    first_beat: list[int] = field(default_factory=list)

    def as_dict(self, timeline: bool = False) -> dict[str, Any]:
        d = {"cycles": self.cycles, "latency": self.latency, "arrival": self.arrival,
             "response": self.response, "seconds": self.seconds,
             "queues": self.queues, "stages": self.stages, "events": self.events,
             "embedding": self.embedding, "per_query": self.per_query}
        if self.workload is not None:
            d["workload"] = self.workload
        if timeline:
            d["timeline"] = self.timeline
        return d

    def write_timeline(self, path: str | Path) -> None:
        """The busy timeline, one row per command (cycles: issue and done), as ``.json`` or
        CSV; written whole or not at all."""
        from rpaccel.outputs import atomic_file

        with atomic_file(path) as tmp:
            if tmp.suffix == ".json":
                tmp.write_text(json.dumps(self.timeline))
            else:
                cols = ["cmd", "queue", "op", "q", "s", "sb", "layer", "issue", "done"]
                with tmp.open("w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=cols)
                    w.writeheader()
                    w.writerows(self.timeline)


def _query_lookups(prog: Program, q: int, inp: QueryInputs, seed: int, params) -> dict:
    """Query q's gathers: per (q, stage, sub-batch) the (tables, rows, stages, beat sizes) and,
    for the compiled kernel, the global rows and the beats' first lookups."""
    pipe, pl = prog.pipeline, prog.placement
    emb = prog.accel.embedding
    lanes = emb.lanes
    S = len(pipe.stages)
    out: dict[tuple[int, int, int], tuple[np.ndarray, ...]] = {}
    if S > 1:
        res = run_query(prog.accel, pipe, params, inp, seed=seed, sub_batch=prog.sub_batch,
                        policy=prog.policy, stages=S - 1)
        reach = [np.arange(pipe.items[0])] + [res.survivors[s] for s in range(S - 1)]
    else:
        reach = [np.arange(pipe.items[0])]
    base = 0
    for s, st in enumerate(pipe.stages):
        m = st.spec
        L = m.lookups
        plan = pl.plans[s]
        tabs = tuple(base + t for t in m.lookup_tables())
        # the stage's rows and global rows at once; each sub-batch's are views of them
        ids = reach[s]
        rows2 = inp.sparse[:len(ids), :L] if s == 0 else inp.sparse[ids, :L]
        rows_all = np.ascontiguousarray(rows2).reshape(-1)
        grow_all = global_rows(emb, np.array(tabs, dtype=np.int64)[None, :], rows2).reshape(-1)
        for j in range(plan.sub_batches):
            n = len(ids[j * plan.sub_batch:(j + 1) * plan.sub_batch])
            lo, hi = j * plan.sub_batch * L, (j * plan.sub_batch + n) * L
            tables, stages, beats, beat_lo = _gather_shape(tabs, lanes, n, pl.cache_stage[s])
            out[(q, s, j)] = (tables, rows_all[lo:hi], stages, beats, grow_all[lo:hi], beat_lo)
        base += m.tables
    return out


@functools.lru_cache(maxsize=64)
def _gather_shape(tabs: tuple[int, ...], lanes: int, n: int, cache_stage: int
                  ) -> tuple[np.ndarray, ...]:
    """What a gather of ``n`` items reading tables ``tabs`` always has, whatever its rows: per
    lookup its table and cache stage, its beat sizes and the beats' first lookups (the prefix
    sums from 0). Shared by every such gather of every query (only read)."""
    beats = np.tile(gather_beats(len(tabs), lanes), n)
    beat_lo = np.zeros(len(beats) + 1, dtype=np.int64)
    np.cumsum(beats, out=beat_lo[1:])
    return (np.tile(np.array(tabs, dtype=np.int64), n),
            np.full(n * len(tabs), cache_stage, dtype=np.int64), beats, beat_lo)


def _lookups(prog: Program, inputs: list[QueryInputs], seed: int):
    """Per (query, stage, sub-batch): the gather's (tables, rows, stages, beat sizes)."""
    params = model_params(prog.pipeline, seed) if len(prog.pipeline.stages) > 1 else None
    out: dict = {}
    for q, inp in enumerate(inputs):
        out.update(_query_lookups(prog, q, inp, seed, params))
    return out


#: Initial capacities of the compiled scheduler's rings (commands queued per queue, tokens held
#: per link); each doubles when full.
_QUEUE_CAP, _LINK_CAP = 512, 256


class _Plan:
    """What issuing one command always does (:meth:`_Engine._plan`): ``dur`` (done - issue,
    None where it depends on the run: RECV, GATHER, a SEND under backpressure), the links
    it pops tokens from (with counts) and pushes one to, the queues whose candidate cycle it
    changes, and its fixed counts ``incs`` ((counter dict, key, amount)): added at once for a
    command issued once, else counted in ``issued`` and added by :meth:`_Engine.fold`."""

    __slots__ = ("cmd", "dur", "pops", "push", "dirty", "incs", "issued")

    def __init__(self, cmd, dur, pops, push, dirty, incs) -> None:
        self.cmd, self.dur, self.pops, self.push, self.dirty, self.incs = (cmd, dur, pops, push,
                                                                          dirty, incs)
        self.issued = 0


class _Engine:
    """The executor's state: the command queues (in order, token-linked), the embedding unit's
    tags and DRAM/MSHR state, the link, and every counter. Commands are added query by query
    (:meth:`add`); :meth:`advance` issues them in time order, the earliest issuable command
    first (ties in queue priority order), up to a cycle bound; the outcome is the same whatever
    the bound (a command issued at t is decided by commands issued before t only)."""

    def __init__(self, prog: Program, *, timeline: bool, host_idle, host_stall,
                 engine: str, compiled: bool = False) -> None:
        self.prog = prog
        accel, pipe, pl = prog.accel, prog.pipeline, prog.placement
        self.accel, self.pipe, self.pl = accel, pipe, pl
        self.emb, self.topk = accel.embedding, accel.topk
        self.eng = accel.group_array(pl.split)
        self.pe = self.eng.rows * self.eng.cols
        self.host_idle, self.host_stall = host_idle, host_stall
        self.kernel = engine
        self.timeline = timeline
        self.order = queue_order(len(pipe.stages))
        # per queue, its commands not yet issued (with their number in submission order)
        self.queues: dict[str, deque] = {q: deque() for q in self.order}
        self.n_cmds = 0
        self.free = {q: 0 for q in self.order}           # first cycle the queue may issue
        self.avail: dict[tuple[str, str], list[int]] = {}   # token availability per link
        self.used: dict[tuple[str, str], int] = {}
        self.emb_free = 0
        self.lines = empty_lines(self.emb)
        self._evg = self._bind_lookup_kernel()
        self.gemm_memo: dict[tuple[int, int, int], tuple[int, dict[str, int]]] = {}
        self.qstat = {q: {"commands": 0, "busy": 0, "wait": 0} for q in self.order}
        self.stages = [{"gather": 0, "loada": 0, "gemm": 0, "topk": 0,
                        "gemm_layers": [0] * len(st.spec.layers())} for st in pipe.stages]
        # the RTL's counters (rpaccel.isa.RTL_COUNTERS), then counts only the model keeps
        # (item_records: candidate records the gathers read; host bytes: the beats' payload)
        self.ev = {**dict.fromkeys(RTL_COUNTERS, 0), "macs": 0, "pe_cycles": 0,
                   "item_records": 0, "host_bytes_in": 0, "host_bytes_out": 0}
        self.ecount = {"static_hits": 0, "dynamic_hits": 0, "merged": 0, "misses": 0,
                       "bank_conflict_stalls": 0, "victim_stalls": 0, "mshr_full_stalls": 0}
        self.tl: list[dict[str, Any]] = []
        self.start_q: dict[int, int] = {}
        self.end_q: dict[int, int] = {}
        self.per_q: dict[int, dict[str, int]] = {}
        self.stage_done: dict[tuple[int, int], int] = {}     # (query, stage): last filter done
        self.arrival: dict[int, int] = {}
        self.looks: dict = {}
        self.sent, self.beat_no = -1, 0
        self.left = 0
        self._cand: dict[str, int | None] = dict.fromkeys(self.order)
        self._dirty: set[str] = set(self.order)
        self._gather_queues: set[str] = set()     # the queues holding GATHERs
        self._plans: dict[int, _Plan] = {}        # by id(command) (a plan keeps its command)
        # the compiled scheduler (_execkern): only without a timeline, host idle cycles or
        # backpressure, and for commands queued again (add's ``query``)
        self.compiled = compiled and not timeline and host_idle is None and host_stall is None
        if self.compiled:
            self._compiled_init()

    def add(self, commands, looks: dict, arrivals: dict[int, int],
            query: int | None = None) -> None:
        """Queue commands (of whole queries), their gathers' lookups and arrival cycles.
        ``query``: the query all the commands belong to (default: each command's ``q``
        argument), so one query's commands can be queued again for a later query."""
        if self.compiled:
            if query is None:  # pragma: no cover - only the stateful accelerator compiles
                raise RuntimeError("the compiled scheduler queues a query's commands again: "
                                   "add(..., query=q)")
            self._compiled_add(commands, query, arrivals[query])
        else:
            self._add_queues(commands, query)
        self.looks.update(looks)
        for q, x in arrivals.items():
            self.arrival[q] = x
            self.per_q[q] = {"lookups": 0, "static_hits": 0, "dynamic_hits": 0, "misses": 0}

    def _add_queues(self, commands, query: int | None) -> None:
        for c in commands:
            # (number, command, query, whether the command will be queued again)
            self.queues[c.queue].append((self.n_cmds, c, c.args["q"] if query is None
                                         else query, query is not None))
            self.n_cmds += 1
            if c.op == "GATHER":
                self._gather_queues.add(c.queue)
        self.left += len(commands)
        self._dirty.update(self.order)

    def _plan(self, c) -> _Plan:
        """:meth:`_make_plan`, kept by ``id(c)``."""
        plan = self._make_plan(c)
        self._plans[id(c)] = plan
        return plan

    def _make_plan(self, c) -> _Plan:
        """What issuing ``c`` always does, whenever it issues: its tokens, its duration where
        that is fixed, and the counts it adds. Kept while ``c`` is queued, and after it issued
        only if it will be queued again (:meth:`add`'s ``query``), so a long one-shot run
        holds no plan per command."""
        accel, pl, ev, a = self.accel, self.pl, self.ev, c.args
        qn = c.queue
        st = self.qstat[qn]
        incs: list = [(st, "commands", 1)]
        dur = None
        if c.op == "RECV":
            incs += [(ev, "host_bytes_in", a["bytes"]), (ev, "host_beats_in", a["beats"])]
        elif c.op == "GATHER":
            incs += [(ev, "pooled_outputs", a["items"] * a["tables"]),
                     (ev, "item_records", a["items"])]
        elif c.op == "LOADA":
            lat = ITEM_READ_LATENCY if a["src"] == "items" else BUFFER_READ_LATENCY
            dur = lat + a["words"] - 1
            incs += [(ev, "a_words", pl.groups[a["s"]][1] * a["words"]),
                     (self.stages[a["s"]], "loada", dur + 1)]
        elif c.op == "GEMM":
            key = (a["m"], a["k"], a["n"])
            if key not in self.gemm_memo:
                self.gemm_memo[key] = (gemm_cycles(self.eng, *key).total,
                                       gemm_events(self.eng, *key))
            g_dur, gev = self.gemm_memo[key]
            dur = g_dur + VECTOR_LATENCY
            g = pl.groups[a["s"]][1]
            nt = self.eng.n_tiles(a["n"])
            incs += [(ev, "macs", pl.plans[a["s"]].sub_batch * a["k"] * a["n"]),
                     (ev, "gemm_commands", g), (ev, "c_beats", g * a["m"] * nt),
                     (ev, "pe_cycles", g * self.pe * g_dur)]
            # every sub-array of the group runs the GEMM on its chunk (padding rows included)
            incs += [(ev, name, g * x) for name, x in gev.items()]
            incs += [(self.stages[a["s"]], "gemm", dur + 1),
                     (self.stages[a["s"]]["gemm_layers"], a["layer"], dur + 1)]
        elif c.op == "TOPK":
            # host sort (on_chip_filter = false): a copy of the scores, no selection
            dur = ceil_div(a["n"], self.topk.lanes) + (a["k"] if a["last"] and not a["host"]
                                                       else 0)
            incs += [(ev, "topk_items", a["n"]), (self.stages[a["s"]], "topk", dur + 1)]
            if not a["host"]:
                incs.append((ev, "topk_compares",
                             topk_compares(self.topk, a["n"], a["k"] if a["last"] else 0)))
        elif c.op == "SEND":
            if self.host_stall is None:
                dur = a["beats"] - 1 + accel.host_latency
            incs += [(ev, "host_bytes_out", a["bytes"]), (ev, "host_beats_out", a["beats"])]
        else:  # pragma: no cover - the compiler emits only the ops above
            raise RuntimeError(f"unknown op {c.op}")
        if dur is not None and c.op != "RECV":
            incs.append((st, "busy", dur + 1))
        pops = tuple(((p, qn), n) for p, n in c.pop.items() if n)
        return _Plan(c, dur, pops, tuple((qn, to) for to in c.push), frozenset({qn, *c.push}),
                     tuple(incs))

    def _bind_lookup_kernel(self):
        """The exact lookup kernel bound to this cache (:func:`ev_gatherer`) where gathers run
        on it (the compiled engine, a dynamic non-blocking cache), else None."""
        if self.kernel == "numba" and self.emb.dynamic and not self.emb.blocking:
            return ev_gatherer(self.emb)
        return None

    def __getstate__(self) -> dict:
        """A copy (:meth:`StatefulAccel.save`, pickling) carries the counters folded and no
        plans: plans are found by their commands' identities, which a copy changes, so the
        copy rebuilds them as it issues. It looks the compiled lookup kernel up again."""
        self.fold()
        return {**self.__dict__, "_plans": {}, "_evg": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._evg = self._bind_lookup_kernel()
        if self.compiled:                       # the compiled scheduler's identity maps
            self._tid = {id(c): i for i, c in enumerate(self._tcmds)}
            self._lists = {id(v[0]): v for v in self._lists.values()}

    def fold(self) -> None:
        """Add the fixed counts of every command issued so far into the counters (``ev``,
        ``stages``, ``qstat``); issuing only counts how often each command issued."""
        for p in self._plans.values():
            if p.issued:
                n = p.issued
                for d, k, v in p.incs:
                    d[k] += n * v
                p.issued = 0
        if self.compiled:
            from . import _execkern as K

            for tid in np.flatnonzero(self._issued).tolist():
                n = int(self._issued[tid])
                for d, k, v in self._tplans[tid].incs:
                    d[k] += n * v
            self._issued[:] = 0
            for qi, qn in enumerate(self.order):
                st = self.qstat[qn]
                st["wait"] += int(self._qs[qi, K.Q_WAIT])
                st["busy"] += int(self._qs[qi, K.Q_BUSY])
            self._qs[:, K.Q_WAIT] = 0
            self._qs[:, K.Q_BUSY] = 0

    # -- the compiled scheduler (rpaccel.perfmodel._execkern) ------------------------------
    def _compiled_init(self) -> None:
        from . import _execkern as K

        nq = len(self.order)
        self._sc = np.zeros(K.S_COLS, dtype=np.int64)
        self._sc[K.S_PEND_QUEUE] = -1
        self._sc[K.S_HOST_LATENCY] = self.accel.host_latency
        self._qs = np.zeros((nq, K.Q_COLS), dtype=np.int64)
        self._qs[:, K.Q_CAND] = K.NONE
        self._qs[:, K.Q_DIRTY] = 1
        self._ent = np.zeros((nq, _QUEUE_CAP, 3), dtype=np.int64)
        self._link_id: dict[tuple[str, str], int] = {}
        self._lbuf = np.zeros((0, _LINK_CAP), dtype=np.int64)
        self._ls = np.zeros((0, 2), dtype=np.int64)   # per link: next token, tokens held
        self._log = np.zeros((256, 4), dtype=np.int64)
        # templates: every distinct command queued, its table row and plan
        self._tcmds: list = []
        self._tplans: list[_Plan] = []
        self._tid: dict[int, int] = {}
        self._trows: list[list[int]] = []
        self._tpop_rows: list[list[int]] = []
        self._tpush_rows: list[list[int]] = []
        self._issued = np.zeros(0, dtype=np.int64)
        self._tables_stale = True
        self._lists: dict[int, tuple] = {}            # by id(command list): its entries

    def _link(self, link: tuple[str, str]) -> int:
        i = self._link_id.get(link)
        if i is None:
            i = self._link_id[link] = len(self._link_id)
            self._lbuf = np.vstack([self._lbuf, np.zeros((1, self._lbuf.shape[1]), np.int64)])
            self._ls = np.vstack([self._ls, np.zeros((1, 2), np.int64)])
        return i

    def _template(self, c) -> int:
        from . import _execkern as K

        tid = self._tid.get(id(c))
        if tid is not None:
            return tid
        plan = self._make_plan(c)
        tid = self._tid[id(c)] = len(self._tcmds)
        self._tcmds.append(c)
        self._tplans.append(plan)
        qidx = self.order.index
        row = [0] * K.T_COLS
        row[K.T_QUEUE] = qidx(c.queue)
        row[K.T_OP] = K.OPS[c.op]
        row[K.T_DUR] = -1 if plan.dur is None else plan.dur
        row[K.T_S] = c.args.get("s", 0)
        row[K.T_BEATS] = c.args["beats"] if c.op == "RECV" else 0
        row[K.T_POP_LO] = len(self._tpop_rows)
        self._tpop_rows += [[self._link(link), n] for link, n in plan.pops]
        row[K.T_POP_HI] = len(self._tpop_rows)
        row[K.T_PUSH_LO] = len(self._tpush_rows)
        self._tpush_rows += [[self._link(link), qidx(link[1])] for link in plan.push]
        row[K.T_PUSH_HI] = len(self._tpush_rows)
        self._trows.append(row)
        self._tables_stale = True
        if c.op == "GATHER":
            self._qs[qidx(c.queue), K.Q_GATHERS] = 1
        return tid

    def _compiled_add(self, commands, q: int, arrival: int) -> None:
        from . import _execkern as K

        ent = self._lists.get(id(commands))
        if ent is None or ent[0] is not commands:
            tids = np.array([self._template(c) for c in commands], dtype=np.int64)
            qof = np.array([self.order.index(c.queue) for c in commands], dtype=np.int64)
            ent = (commands, [(qi, tids[qof == qi]) for qi in range(len(self.order))
                              if (qof == qi).any()])
            self._lists[id(commands)] = ent
        qs = self._qs
        for qi, tids in ent[1]:
            k = len(tids)
            head, count = int(qs[qi, K.Q_HEAD]), int(qs[qi, K.Q_COUNT])
            cap = self._ent.shape[1]
            if count + k > cap:                 # grow: the entries in order from slot 0
                new_cap = max(2 * cap, count + k)
                grown = np.zeros((len(self.order), new_cap, 3), dtype=np.int64)
                for j in range(len(self.order)):
                    h, n = int(qs[j, K.Q_HEAD]), int(qs[j, K.Q_COUNT])
                    grown[j, :n] = self._ent[j, (h + np.arange(n)) % cap]
                    qs[j, K.Q_HEAD] = 0
                self._ent, cap, head = grown, new_cap, 0
            pos = (head + count + np.arange(k)) % cap
            self._ent[qi, pos, K.E_TID] = tids
            self._ent[qi, pos, K.E_QUERY] = q
            self._ent[qi, pos, K.E_ARRIVAL] = arrival
            qs[qi, K.Q_COUNT] = count + k
        qs[:, K.Q_DIRTY] = 1
        self._sc[K.S_LEFT] += len(commands)

    def _compiled_advance(self, until: int | None) -> None:
        from . import _execkern as K

        sc = self._sc
        while True:
            if self._tables_stale:
                self._tt = np.array(self._trows, dtype=np.int64).reshape(-1, K.T_COLS)
                self._tpop = np.array(self._tpop_rows, dtype=np.int64).reshape(-1, 2)
                self._tpush = np.array(self._tpush_rows, dtype=np.int64).reshape(-1, 2)
                self._issued = np.concatenate([self._issued, np.zeros(
                    len(self._trows) - len(self._issued), dtype=np.int64)])
                self._tables_stale = False
            r = K.advance(sc, self._qs, self._ent, self._tt, self._tpop, self._tpush, self._lbuf,
                          self._ls, self._issued, self._log, -1 if until is None else until)
            n = int(sc[K.S_LOG_N])
            if n:
                start, stage_done, end = self.start_q, self.stage_done, self.end_q
                for kind, q, s, x in self._log[:n].tolist():
                    if kind == K.LOG_START:
                        start.setdefault(q, x)
                    elif kind == K.LOG_STAGE:
                        stage_done[(q, s)] = max(stage_done.get((q, s), 0), x)
                    else:
                        end[q] = x
                sc[K.S_LOG_N] = 0
            if r == K.STOP_GATHER:
                qi, t = int(sc[K.S_PEND_QUEUE]), int(sc[K.S_PEND_T])
                sc[K.S_PEND_DONE] = self._gather(t, self.order[qi],
                                                 self._tcmds[int(sc[K.S_OUT_TID])].args,
                                                 int(sc[K.S_OUT_QUERY]))
            elif r == K.STOP_GROW_LINK:
                lb, ls = self._lbuf, self._ls
                cap = lb.shape[1]
                grown = np.zeros((lb.shape[0], 2 * cap), dtype=np.int64)
                for j in range(lb.shape[0]):
                    grown[j, :ls[j, 1]] = lb[j, (ls[j, 0] + np.arange(ls[j, 1])) % cap]
                    ls[j, 0] = 0
                self._lbuf = grown
            elif r == K.STOP_DEADLOCK:
                raise RuntimeError("deadlock: no queue can issue (a compiler bug)")
            elif r != K.STOP_LOG_FULL:
                return

    def _candidate(self, qn: str) -> int | None:
        """The cycle queue ``qn``'s head command can issue on, or None (empty, or a token it
        pops has not been pushed yet)."""
        q = self.queues[qn]
        if not q:
            return None
        c = q[0][1]
        plan = self._plans.get(id(c))
        if plan is None or plan.cmd is not c:
            plan = self._plan(c)
        t = self.free[qn]
        avail, used = self.avail, self.used
        for link, n in plan.pops:
            lst = avail.get(link)
            k = used.get(link, 0) + n - 1
            if lst is None or k >= len(lst):
                return None
            if lst[k] > t:
                t = lst[k]
        if c.op == "GATHER" and self.emb_free > t:
            t = self.emb_free
        return t

    def advance(self, until: int | None = None) -> None:
        """Issue every command that can issue before cycle ``until`` (all: ``None``).

        A queue's candidate cycle (:meth:`_candidate`) depends only on its head command, its
        ``free`` cycle, the tokens pushed to it and used by it, and (a GATHER) the embedding
        unit's free cycle; it is recomputed only when one of these changed (``_dirty``; the
        embedding unit's free cycle: only queues holding GATHERs)."""
        if self.compiled:
            self._compiled_advance(until)
            return
        cand, dirty, order = self._cand, self._dirty, self.order
        while self.left:
            if dirty:
                for qn in dirty:
                    cand[qn] = self._candidate(qn)
                dirty.clear()
            best_t, best_q = None, None
            for qn in order:                       # ties: the first queue in priority order
                t = cand[qn]
                if t is not None and (best_t is None or t < best_t):
                    best_t, best_q = t, qn
            if best_t is None:
                if until is None:
                    raise RuntimeError("deadlock: no queue can issue (a compiler bug)")
                return
            if until is not None and best_t >= until:
                return
            self._issue(best_t, best_q)

    def _issue(self, t: int, qn: str) -> None:
        i, c, q, again = self.queues[qn].popleft()
        plan = self._plans.get(id(c))
        if plan is None or plan.cmd is not c:
            plan = self._plan(c)
        if again:                               # counted now, added when read (fold)
            plan.issued += 1
        else:                                   # issued once: added now, the plan dropped
            for d, k, v in plan.incs:
                d[k] += v
            del self._plans[id(c)]
        a = c.args
        nxt = None
        dur = plan.dur
        if dur is not None:                     # LOADA, GEMM, TOPK; SEND without stalls
            done = t + dur
            if c.op == "TOPK":
                key = (q, a["s"])
                self.stage_done[key] = max(self.stage_done.get(key, 0), done)
            elif c.op == "SEND":
                self.end_q[q] = done
        elif c.op == "GATHER":
            done = self._gather(t, qn, a, q)
        elif c.op == "RECV":
            arrive = self.arrival[q]
            if self.host_idle is None:
                first = max(t, arrive)
                last = first + a["beats"] - 1
            else:
                # beat j is presented host_idle[j] cycles after beat j-1 transferred (and not
                # before its query arrives); it transfers once presented while the RECV holds
                # the link ready
                x = t - 1
                first = None
                for _ in range(a["beats"]):
                    x = max(x + 1, self.sent + 1 + int(self.host_idle[self.beat_no]), arrive)
                    self.sent = x
                    self.beat_no += 1
                    first = x if first is None else first
                last = x
            done = last + self.accel.host_latency
            nxt = last + 1
            # the link is busy from the first beat
            self.qstat[qn]["busy"] += nxt - first
            self.start_q.setdefault(q, first)
        else:                                   # SEND under host backpressure
            # beat i goes on the first cycle, from the previous one's next, the host takes it
            x = t - 1
            for _ in range(a["beats"]):
                x += 1
                while x < len(self.host_stall) and self.host_stall[x]:
                    x += 1
            done = x + self.accel.host_latency
            self.end_q[q] = done
            self.qstat[qn]["busy"] += done + 1 - t
        free = self.free
        self.qstat[qn]["wait"] += t - free[qn]
        free[qn] = nxt if nxt is not None else done + 1
        avail, used = self.avail, self.used
        for link, n in plan.pops:
            u = used[link] = used.get(link, 0) + n
            if u >= 4096:                      # forget consumed tokens (bounded memory)
                del avail[link][:u]
                used[link] = 0
        for link in plan.push:
            lst = avail.get(link)
            if lst is None:
                avail[link] = [done + 1]
            else:
                lst.append(done + 1)
        self._dirty.update(plan.dirty)
        if c.op == "GATHER":                   # the embedding unit's free cycle moved
            self._dirty.update(self._gather_queues)
        self.left -= 1
        if self.timeline:
            self.tl.append({"cmd": i, "queue": qn, "op": c.op, "q": q,
                            **{k: a[k] for k in ("s", "sb", "layer") if k in a}, "issue": t,
                            "done": done})

    def _gather(self, t: int, qn: str, a: dict, q: int) -> int:
        """Run the GATHER of query ``q`` issued at ``t`` from queue ``qn`` (operands ``a``) on
        the embedding unit; its counts; returns its done cycle."""
        tables, rows, stg, beats, grow, beat_lo = self.looks.pop((q, a["s"], a["sb"]))
        emb = self.emb
        if self._evg is not None:
            done, arr = self._evg(grow, rows, stg, beat_lo, self.lines, t + GATHER_START)
            cnt = dict(zip(_COUNTER_NAMES, arr.tolist()))
        else:
            done, cnt, _ = nb_gather(emb, tables, rows, stg, beats, self.lines,
                                     start=t + GATHER_START, engine=self.kernel, checked=True)
        self.emb_free = done + 1
        ec = self.ecount
        for k_ in ec:
            ec[k_] += cnt[k_]
        pq = self.per_q[q]
        pq["lookups"] += len(rows)
        for k_ in ("static_hits", "dynamic_hits", "misses"):
            pq[k_] += cnt[k_]
        ev = self.ev
        ev["lookups"] += len(rows)
        ev["dram_requests"] += cnt["misses"]
        ev["dram_beats"] += cnt["misses"] * emb.beats_per_row
        self.stages[a["s"]]["gather"] += done - t + 1
        self.qstat[qn]["busy"] += done + 1 - t
        return done

    def result(self, queries: list[int], feed=None) -> ExecResult:
        """The :class:`ExecResult` of the given (finished) queries."""
        self.fold()
        pipe, pl = self.pipe, self.pl
        cycles = max(self.end_q[q] for q in queries)
        lat = [self.end_q[q] - self.start_q[q] for q in queries]
        stages = [dict(st) for st in self.stages]
        for s, st in enumerate(pipe.stages):
            stages[s].update({"model": st.name or f"stage{s}", "items": pipe.items[s],
                              "subarrays": pl.groups[s][1] if pl.split else 0,  # 0: whole
                              "sub_batch": pl.plans[s].sub_batch,
                              "sub_batches": pl.plans[s].sub_batches})
        wl = None if feed is None else {"name": feed.workload.name,
                                        "kind": feed.workload.kind,
                                        "folded_tables": feed.folded}
        return ExecResult(cycles=cycles, latency=lat, seconds=self.accel.seconds(cycles),
                          timeline=self.tl, queues=self.qstat, stages=stages, events=self.ev,
                          embedding=self.ecount, workload=wl,
                          arrival=[self.arrival[q] for q in queries],
                          per_query=[self.per_q[q] for q in queries],
                          first_beat=[self.start_q[q] for q in queries])


def execute(prog: Program, *, seed: int = 0, inputs: list[QueryInputs] | None = None,
            timeline: bool = True, host_idle=None, host_stall=None, feed=None,
            arrivals=None) -> ExecResult:
    """Run ``prog`` on the query inputs of ``seed`` (query q: :func:`query_inputs` with
    ``query=q``) or the given ``inputs``; see :class:`ExecResult`. ``host_idle[j]``: idle
    cycles the host leaves before presenting its j-th input beat (after beat j-1 transferred;
    beat 0 at cycle 0); default none (:func:`rpaccel.perfmodel.query.host_idle_cycles`).
    ``host_stall[c]``: the host takes no result beat on cycle c (backpressure,
    :func:`rpaccel.perfmodel.query.host_stall_cycles`); default always ready. ``feed``: the
    sparse ids of a workload (:class:`rpaccel.perfmodel.feed.WorkloadFeed`; default: the
    pipeline's workload, if it names one). ``arrivals[q]``: the cycle query q arrives (the
    host presents none of its beats before; :func:`check_arrivals`); default all 0."""
    arr = check_arrivals(arrivals, prog.queries)
    pipe, emb = prog.pipeline, prog.accel.embedding
    if inputs is None:
        if feed is None and pipe.workload is not None:
            from .feed import WorkloadFeed

            feed = WorkloadFeed(pipe.workload, pipe, emb, seed)
        inputs = [query_inputs(pipe, column_rows(prog.accel, pipe), seed, q, feed)
                  for q in range(prog.queries)]
    looks = _lookups(prog, inputs, seed)
    # compiled kernel for big runs; plain Python below (numba's compile costs seconds)
    kernel = "numba" if sum(len(v[1]) for v in looks.values()) > 20_000 else "python"
    e = _Engine(prog, timeline=timeline, host_idle=host_idle, host_stall=host_stall,
                engine=kernel)
    e.add(prog.commands, looks, dict(enumerate(arr)))
    e.advance()
    return e.result(list(range(prog.queries)), feed)


#: The latest arrival cycle a stream may name (the RTL harness's 32-bit arrival memory).
MAX_ARRIVAL = (1 << 31) - 1


def check_arrivals(arrivals, queries: int) -> list[int]:
    """Arrival cycles of ``queries`` queries: integers, the first 0 (cycle 0 is query 0's first
    beat), never decreasing, at most :data:`MAX_ARRIVAL`; ``None``: all 0 (back to back)."""
    if arrivals is None:
        return [0] * queries
    arr = list(arrivals)
    if len(arr) != queries:
        raise ValueError(f"arrivals must name one cycle per query ({queries}), got {len(arr)}")
    for q, x in enumerate(arr):
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
            raise ValueError(f"arrivals[{q}] must be an integer cycle, got {x!r}")
        if not 0 <= x <= MAX_ARRIVAL:
            raise ValueError(f"arrivals[{q}] must be in 0..{MAX_ARRIVAL}, got {x}")
        if q and x < arr[q - 1]:
            raise ValueError(f"arrivals must not decrease: arrivals[{q}]={x} < "
                             f"arrivals[{q - 1}]={arr[q - 1]}")
    if arr and arr[0] != 0:
        raise ValueError(f"arrivals[0] must be 0 (cycle 0 is the first query's first beat), "
                         f"got {arr[0]}")
    return [int(x) for x in arr]


def arrivals_from_gaps(gaps, queries: int) -> list[int]:
    """Arrival cycles from the gaps between consecutive arrivals (``queries - 1`` of them, each
    an integer >= 0; query 0 arrives at cycle 0)."""
    g = list(gaps)
    if len(g) != queries - 1:
        raise ValueError(f"gaps must give queries - 1 = {queries - 1} gaps between consecutive "
                         f"arrivals, got {len(g)}")
    out = [0]
    for i, x in enumerate(g):
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0:
            raise ValueError(f"gaps[{i}] must be an integer >= 0 (cycles), got {x!r}")
        out.append(out[-1] + int(x))
    return check_arrivals(out, queries)


def model_accel(accel: AccelConfig, pipeline: Pipeline, *, sub_batch: int | None = None,
                policy: str | None = None, seed: int = 0, queries: int = 1,
                timeline: bool = False, idle: float = 0.0,
                backpressure: float = 0.0, workload=None, arrivals=None) -> ExecResult:
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
    return execute(prog, seed=seed, timeline=timeline, host_idle=hi, host_stall=hs,
                   arrivals=arrivals)
