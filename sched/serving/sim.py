"""At-scale discrete-event simulation of multi-stage recommendation pipelines, in simulated time.

A pipeline (:class:`rpaccel.query.Pipeline`) is a list of stages. Each stage runs one model on a pool of identical engines
fed by one FIFO queue. Items shrink stage by stage: a stage keeps its best ``items`` (at most the
items it received) for the next. The host sorts between stages on platforms without on-chip
filtering; the sort is a pure delay (RecPipe runs one sort process per stage beside the engines).

DeepRecSys engine semantics: with ``batch = B`` a query of n items is split into ceil(n/B) pieces
(B items each, the remainder last), queued back to back and served by whichever engines are free;
with ``gpu_threshold = G`` a query of n >= G items goes whole to the stage's GPU pool (FIFO, one
query at a time per GPU engine). A query's stage completion is its last piece's completion; its
latency is the last stage's completion minus its arrival. Dispatch is to an idle engine (no
per-engine prefetch buffers).

Stages are simulated one after another: a FIFO pool's schedule depends only on its arrivals, so
this is exact. Each pool is an event loop over its jobs in arrival order with a heap of engine
free times (O(log c) per job).
"""

from __future__ import annotations

import csv
import heapq
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rpaccel.models import Model
from rpaccel.outputs import atomic_file
from rpaccel.query import ACCEL_MODES, STAGE_LIMITS, Pipeline, StageSpec

from rpaccel.sched.platforms.hosts import Platform, get_platform
from rpaccel.sched.serving.group import accel_group
from rpaccel.sched.serving.workload import arrivals

__all__ = ["SimResult", "simulate", "simulate_stream", "stream_group", "check_pipeline", "max_qps_under_sla", "memory_estimate",
           "bytes_per_query", "check_memory", "machine_memory",
           "fifo_pool", "pipeline_capacity_qps", "STAGE_LIMITS"]


def check_pipeline(pipeline: Pipeline) -> Pipeline:
    """Check what a simulation needs beyond the pipeline's own rules (a one-line
    ``ValueError``): every platform exists, and every accelerator group can be placed on its
    accelerator (:meth:`rpaccel.sched.platforms.hosts.accelplat.AccelGroup.check`), and the
    pipeline's workload can feed them (one lookup per item and table, enough tables). Returns
    the pipeline."""
    for s, st in enumerate(pipeline.stages):
        if st.platform is None:
            raise ValueError(f"stage[{s}]: missing key 'platform' (where the stage runs: cpu, "
                             f"gpu, recpipe-artifact:hcN, rpaccel:PRESET, ...)")
        try:
            get_platform(st.platform)
            if st.gpu_threshold is not None:
                get_platform(st.gpu_platform)
        except ValueError as e:
            raise ValueError(f"stage[{s}]: {e}") from None
    for g in pipeline.groups():
        grp = accel_group(pipeline, tuple(g))
        grp.check()
        if pipeline.workload is not None:
            wide = grp.pipeline.widest_stage.spec
            pipeline.workload.check_accel(wide.pooling)
            pipeline.workload.check_tables(wide.tables, grp.where)
    return pipeline


#: Peak bytes a simulation holds per query: a fixed part and a part per stage (per-query
#: arrays, the pools' work lists and the records), and per batch piece of a split stage.
#: Measured with ``/usr/bin/time -f %M`` between 1M and 3M queries (2026-12-02): 225 B for one
#: stage, 226 B for two CPU stages, 146 B for an accelerator group, 274 B for three stages;
#: the constants bound every measurement from above.
MEMORY_BYTES_FIXED = 190
MEMORY_BYTES_PER_STAGE = 40
MEMORY_BYTES_PER_PIECE = 48
#: The default limit: this fraction of the machine's memory.
MEMORY_FRACTION = 0.5


def machine_memory() -> int:
    """This machine's physical memory in bytes."""
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def bytes_per_query(stages: int) -> int:
    """Peak bytes per query of a simulation of ``stages`` stages none split into pieces."""
    return MEMORY_BYTES_FIXED + MEMORY_BYTES_PER_STAGE * stages


def memory_estimate(pipeline: Pipeline, queries: int, mean_items: float | None = None) -> int:
    """Peak bytes :func:`simulate` needs for ``queries`` queries of ``pipeline`` (an upper
    bound, see :data:`MEMORY_BYTES_FIXED`); ``mean_items``: the mean query size, for stages
    split into batch pieces (default: the first stage's items)."""
    per = bytes_per_query(len(pipeline.stages))
    n = mean_items if mean_items is not None else (pipeline.stages[0].items or 1)
    for st in pipeline.stages:
        if st.batch:
            per += MEMORY_BYTES_PER_PIECE * math.ceil(n / st.batch)
        if st.items is not None:
            n = min(n, st.items)
    return int(per * queries)


def check_memory(need: int, what: str, limit_gb: float | None = None, *,
                 advice: str = "run fewer queries per simulation (several seeds) or raise "
                               "--memory-limit-gb") -> int:
    """Refuse (one-line ``ValueError``) a run that needs ``need`` bytes (``what``: the flags
    that set it, e.g. ``--queries 100,000,000``) over the limit: ``limit_gb`` (the
    ``--memory-limit-gb`` flag) or :data:`MEMORY_FRACTION` of the machine's memory. Returns
    ``need``."""
    if limit_gb is not None and not (isinstance(limit_gb, (int, float))
                                     and math.isfinite(limit_gb) and limit_gb > 0):
        raise ValueError(f"--memory-limit-gb must be a finite number > 0, got {limit_gb}")
    limit = (limit_gb * 1e9 if limit_gb is not None
             else MEMORY_FRACTION * machine_memory())
    if need > limit:
        src = (f"--memory-limit-gb {limit_gb:g}" if limit_gb is not None else
               f"the default limit, {MEMORY_FRACTION:.0%} of this machine's "
               f"{machine_memory() / 1e9:.1f} GB")
        raise ValueError(f"{what} needs about {need / 1e9:.1f} GB, over {src}; {advice}")
    return need


def fifo_pool(arrive: Sequence[float], service: Sequence[float], engines: int) -> np.ndarray:
    """End times of jobs served FIFO (in the given order) by ``engines`` identical servers."""
    heap = [0.0] * engines
    ends = []
    push = ends.append
    replace = heapq.heapreplace
    for a, s in zip(arrive, service):
        t = heap[0]
        e = (a if a > t else t) + s
        replace(heap, e)
        push(e)
    return np.asarray(ends, dtype=np.float64)


@dataclass
class SimResult:
    """Latencies in seconds. ``records`` holds one row per query (all queries, warm-up flagged)."""

    mean_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    offered_qps: float | None      # None for a single arrival instant
    achieved_qps: float | None     # None when the measured completions span no time
    utilization: dict[str, float]
    saturated: bool
    queries: int
    measured: int
    records: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    def summary(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("mean_s", "p50_s", "p95_s", "p99_s", "offered_qps",
                                           "achieved_qps", "utilization", "saturated", "queries",
                                           "measured")}
        return d

    def write_records(self, path: str | Path) -> None:
        """Per-query records as CSV (``.csv``) or Parquet (``.parquet``, needs pyarrow)."""
        p = Path(path)
        cols = list(self.records)
        if p.suffix == ".parquet":
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError:
                raise ValueError("Parquet output needs pyarrow (pip install pyarrow); "
                                 "use a .csv path instead") from None
            with atomic_file(p) as tmp:
                pq.write_table(pa.table({c: self.records[c] for c in cols}), tmp)
            return
        if p.suffix != ".csv":
            raise ValueError(f"records path must end in .csv or .parquet, got {p.name}")
        with atomic_file(p) as tmp, open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            w.writerows(zip(*(self.records[c].tolist() for c in cols)))


def stage_items(pipeline: Pipeline, sizes: np.ndarray):
    """``(stage index, stage, items per query)`` for every stage: a later stage ranks at most
    its ``items`` (the best of what the previous stage kept)."""
    n = np.asarray(sizes, dtype=np.int64)
    for si, st in enumerate(pipeline.stages):
        if si > 0 and st.items is not None:
            n = np.minimum(n, st.items)
        yield si, st, n


def gpu_offload(stage: StageSpec, n_items: np.ndarray) -> np.ndarray:
    """Queries that go whole to the stage's GPU pool (``n >= gpu_threshold``)."""
    if stage.gpu_threshold is None:
        return np.zeros(len(n_items), bool)
    return n_items >= stage.gpu_threshold


def batch_pieces(n_items: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DeepRecSys's split: a query of n items becomes ceil(n/B) pieces, B items each and the
    remainder last. Returns (piece sizes, pieces per query, index of each query's first piece)."""
    n = np.asarray(n_items, dtype=np.int64)
    pieces = (n + batch - 1) // batch
    first = np.concatenate(([0], np.cumsum(pieces)[:-1])).astype(np.int64)
    k = np.arange(int(pieces.sum())) - np.repeat(first, pieces)
    sz = np.where(k < np.repeat(pieces, pieces) - 1, batch,
                  np.repeat(n - (pieces - 1) * batch, pieces))
    return sz, pieces, first


def _stage_jobs(stage: StageSpec, arrive: np.ndarray, n_items: np.ndarray, model: Model,
                plat: Platform, gpu: Platform | None):
    """Run one stage; return per-query completion times and pool busy time per pool name."""
    q = len(arrive)
    to_gpu = gpu_offload(stage, n_items)
    done = np.empty(q)
    busy = {}
    order = np.argsort(arrive, kind="stable")
    # GPU pool: whole queries.
    if to_gpu.any():
        idx = order[to_gpu[order]]
        svc = np.asarray(gpu.service_time(model, n_items[idx]), dtype=np.float64)
        done[idx] = fifo_pool(arrive[idx].tolist(), svc.tolist(), stage.gpu_engines)
        busy["gpu"] = float(svc.sum())
    idx = order[~to_gpu[order]]
    if len(idx):
        n = n_items[idx]
        if stage.batch is None:
            svc = np.asarray(plat.service_time(model, n), dtype=np.float64)
            done[idx] = fifo_pool(arrive[idx].tolist(), svc.tolist(), stage.engines)
            busy["engines"] = float(svc.sum())
        else:
            sz, pieces, first = batch_pieces(n, stage.batch)
            svc = np.asarray(plat.service_time(model, sz), dtype=np.float64)
            ends = fifo_pool(np.repeat(arrive[idx], pieces).tolist(), svc.tolist(), stage.engines)
            done[idx] = np.maximum.reduceat(ends, first)
            busy["engines"] = float(svc.sum())
    return done, busy


def _group_jobs(pipeline: Pipeline, g: list[int], arrive: np.ndarray, n_items: np.ndarray):
    """Run an accelerator group (see :func:`rpaccel.sched.platforms.rpaccel.rigid_pool`): completion
    times, each stage's completion times, and busy seconds per resource name."""
    from rpaccel.sched.platforms.rpaccel import rigid_pool

    st0 = pipeline.stages[g[0]]
    grp = accel_group(pipeline, tuple(g))
    inv, first, end, stage_end, latency, busy = grp.profiles(n_items)
    order = np.argsort(arrive, kind="stable")
    start = np.empty(len(arrive))
    start[order], _ = rigid_pool(arrive[order], inv[order], first, end, st0.engines)
    done = start + latency[inv]
    stage_done = [start + stage_end[inv, k] for k in range(len(g))]
    tot = busy[inv].sum(axis=0)
    out = {}
    span = f"stage{g[0]}" if len(g) == 1 else f"stage{g[0]}-{g[-1]}"
    for r, b in zip(grp.resources, tot):
        if r.startswith("x"):
            name = f"stage{g[int(r[1:])]}:{st0.platform_name}"
        else:
            name = f"{span}:{st0.platform_name}:{r}"
        out[name] = float(b)
    return done, stage_done, out


class _ExactGroup:
    """An accelerator group in exact mode: every query runs on one of the group's ``engines``
    stateful accelerators (:class:`rpaccel.perfmodel.stateful.StatefulAccel`, each warm
    across its queries) at its arrival cycle (rounded to the nearest cycle, counted from the
    first arrival ``t0``), picked by the stage's ``dispatch`` (round-robin; join-shortest-queue:
    fewest unfinished queries; least-work-left: least no-contention service left; ties to the
    lowest-numbered); query i's inputs are those of ``seed`` and index i. Queries are submitted
    in arrival order; a finished query is reported once and forgotten, so the state stays
    bounded however many queries run."""

    def __init__(self, pipeline: Pipeline, g: list[int], size: int, seed: int, t0: float
                 ) -> None:
        from rpaccel.perfmodel.stateful import StatefulAccel

        st0 = pipeline.stages[g[0]]
        self.grp = grp = accel_group(pipeline, tuple(g))
        prog, sb = grp.program(size)
        self.clock = grp.accel.clock_ns * 1e-9
        self.E = st0.engines
        self.accs = [StatefulAccel(grp.accel, prog, sub_batch=sb, seed=seed)
                     for _ in range(self.E)]
        self.service = grp.profile(size)["latency"]      # no-contention cycles of one query
        self.dispatch = st0.dispatch or "round-robin"
        self.t0 = t0
        self.S = len(g)
        self.g, self.st0 = g, st0
        self.local: list[dict[int, int]] = [{} for _ in range(self.E)]   # engine: local -> i
        self.n = 0
        self.last_cycle = 0

    def submit(self, i: int, arrival_s: float) -> int:
        """Query ``i`` arriving at ``arrival_s``; returns the accelerator it runs on."""
        c = int(round((arrival_s - self.t0) / self.clock))
        E = self.E
        if self.dispatch == "round-robin" or E == 1:
            e = self.n % E
        else:
            loads = []
            for k, acc in enumerate(self.accs):
                left = acc.unfinished(c)
                if self.dispatch == "join-shortest-queue":
                    loads.append((len(left), k))
                else:
                    sv = self.service
                    work = sum(sv if fb is None or fb > c else max(0, sv - (c - fb))
                               for _, fb in left)
                    loads.append((work, k))
            e = min(loads)[1]
        self.local[e][self.accs[e].submit(c, index=int(i))] = int(i)
        self.n += 1
        self.last_cycle = c
        return e

    def finished(self, until_last: bool = True):
        """``(i, end_s, [stage ends_s])`` of every query finished by the last arrival's cycle
        (all queries: ``until_last`` False, which runs the accelerators to the end)."""
        for e, acc in enumerate(self.accs):
            for ql in acc.finished(self.last_cycle if until_last else None):
                o = acc.outcome(ql)
                ends = [self.t0 + acc.stage_done(ql, k) * self.clock for k in range(self.S)]
                acc.forget(ql)
                yield self.local[e].pop(ql), self.t0 + o.end * self.clock, ends

    def busy(self) -> dict[str, float]:
        """Busy seconds per resource name (as :func:`_group_jobs`)."""
        busy: dict[str, float] = {}
        for acc in self.accs:
            for qn, b in acc.busy().items():
                key = "emb" if qn.startswith("g") else qn
                busy[key] = busy.get(key, 0.0) + b * self.clock
        out = {}
        g, st0 = self.g, self.st0
        span = f"stage{g[0]}" if len(g) == 1 else f"stage{g[0]}-{g[-1]}"
        for r in self.grp.resources:
            b = busy.get(r, 0.0)
            if r.startswith("x"):
                name = f"stage{g[int(r[1:])]}:{st0.platform_name}"
            else:
                name = f"{span}:{st0.platform_name}:{r}"
            out[name] = float(b)
        return out


def _exact_size(pipeline: Pipeline, g: list[int], n_items: np.ndarray) -> int:
    sizes = np.unique(n_items)
    if len(sizes) != 1:
        raise ValueError(f"{accel_group(pipeline, tuple(g)).where}: exact mode runs one query "
                         f"size per accelerator group (got {len(sizes)} sizes); use --size "
                         f"fixed or --accel-mode profile")
    return int(sizes[0])


def _group_jobs_exact(pipeline: Pipeline, g: list[int], arrive: np.ndarray,
                      n_items: np.ndarray, seed: int, progress: bool = False):
    """An accelerator group in exact mode (:class:`_ExactGroup`). Outputs as
    :func:`_group_jobs`, plus the accelerator each query ran on."""
    n0 = _exact_size(pipeline, g, n_items)
    q_total = len(arrive)
    order = np.argsort(arrive, kind="stable")
    t0 = float(arrive[order[0]]) if q_total else 0.0
    grp = _ExactGroup(pipeline, g, n0, seed, t0)
    engine_of = np.empty(q_total, dtype=np.int64)
    end = np.empty(q_total)
    stage_end = [np.empty(q_total) for _ in g]

    def collect(until_last: bool) -> None:
        for i, e_s, ends in grp.finished(until_last):
            end[i] = e_s
            for k, x in enumerate(ends):
                stage_end[k][i] = x

    it = order
    if progress:
        from tqdm import tqdm

        it = tqdm(order, desc=f"exact {grp.grp.where}", unit="query", leave=False)
    for n, i in enumerate(it):
        engine_of[i] = grp.submit(int(i), float(arrive[i]))
        if n % 64 == 63:
            collect(True)
    collect(False)
    return end, stage_end, grp.busy(), engine_of


def simulate(pipeline: Pipeline, arrive: np.ndarray, sizes: np.ndarray, *,
             warmup: int | None = None, accel_mode: str | None = None, seed: int = 0,
             progress: bool = False) -> SimResult:
    """Simulate ``len(arrive)`` queries; ``sizes`` are the first stage's items per query.

    ``warmup``: queries (by arrival order) left out of the metrics; default 10 % (at most 1000).
    ``accel_mode``: how every accelerator group is timed (:data:`rpaccel.query.ACCEL_MODES`;
    default: each group's first stage's ``accel_mode``, else ``profile``); ``seed``: the query
    inputs of exact mode (query i: seed and index i).
    """
    if accel_mode is not None and accel_mode not in ACCEL_MODES:
        raise ValueError(f"accel-mode must be one of {list(ACCEL_MODES)}, got {accel_mode!r}")
    arrive = np.asarray(arrive, dtype=np.float64)
    n0 = np.asarray(sizes, dtype=np.int64)
    q = len(arrive)
    if q < 1 or len(n0) != q:
        raise ValueError(f"need as many sizes as arrivals (>= 1), got {len(n0)} and {q}")
    if np.any(n0 < 1):
        raise ValueError("query sizes must be >= 1")
    if warmup is None:
        warmup = min(1000, q // 10)
    if not 0 <= warmup < q:
        raise ValueError(f"warmup must be in [0, {q - 1}], got {warmup}")
    t = arrive.copy()
    util_busy: dict[str, float] = {}
    engines: dict[str, int] = {}
    rec: dict[str, np.ndarray] = {"query": np.arange(q), "arrival_s": arrive, "items": n0}
    groups = {g[0]: g for g in pipeline.groups()}
    skip = {i for g in groups.values() for i in g[1:]}
    for si, st, n in stage_items(pipeline, n0):
        if si in skip:
            continue
        if si in groups:
            g = groups[si]
            mode = accel_mode or st.accel_mode or "profile"
            if mode == "exact":
                t, stage_done, busy, eng = _group_jobs_exact(pipeline, g, t, n, seed, progress)
                rec[f"stage{g[0]}_engine"] = eng
            else:
                if st.dispatch is not None:
                    raise ValueError(f"stage[{si}]: dispatch applies in exact mode only (the "
                                     "profile mode queues at the group: the first free "
                                     "accelerator takes the next query)")
                t, stage_done, busy = _group_jobs(pipeline, g, t, n)
            for name, b in busy.items():
                util_busy[name] = util_busy.get(name, 0.0) + b
                engines[name] = st.engines
            gp = get_platform(st.platform)
            if not gp.on_chip_filter:         # the host sorts the scores (one-stage groups)
                t = t + np.asarray(gp.sort_time(n), dtype=np.float64)
                stage_done = [*stage_done[:-1], t.copy()]
            for i, d in zip(g, stage_done):
                rec[f"stage{i}_done_s"] = d
            continue
        model, plat = st.catalog, get_platform(st.platform)
        gpu = get_platform(st.gpu_platform) if st.gpu_threshold is not None else None
        done, busy = _stage_jobs(st, t, n, model, plat, gpu)
        for pool, b in busy.items():
            name = f"stage{si}:{st.platform_name}" if pool == "engines" else f"stage{si}:{st.gpu_platform}"
            util_busy[name] = util_busy.get(name, 0.0) + b
            engines[name] = st.engines if pool == "engines" else st.gpu_engines
        sort = 0.0 if plat.on_chip_filter else np.asarray(plat.sort_time(n), dtype=np.float64)
        t = done + sort
        rec[f"stage{si}_done_s"] = t.copy()
    latency = t - arrive
    rec["latency_s"] = latency
    m = np.arange(q) >= warmup
    rec["measured"] = m
    ends = t[m]
    return _result(latency[m], util_busy, engines, float(arrive.min()), float(arrive.max()),
                   float(t.max()), float(ends.min()), float(ends.max()), q, rec)


def _result(lat: np.ndarray, busy: dict[str, float], engines: dict[str, int], arr_lo: float,
            arr_hi: float, end_max: float, m_end_lo: float, m_end_hi: float, q: int,
            records: dict) -> SimResult:
    """A run's :class:`SimResult` from its measured latencies ``lat``, busy seconds and
    engines per pool, first and last arrival, last completion, the measured queries' first and
    last completion, and the query count (what :func:`simulate` and :func:`simulate_stream`
    both reduce their runs to)."""
    span = end_max - arr_lo if q > 1 else end_max
    util = {k: b / (engines[k] * span) if span > 0 else 0.0 for k, b in busy.items()}
    arr_span = arr_hi - arr_lo
    offered = (q - 1) / arr_span if arr_span > 0 else None
    # DeepRecSys's measured QPS: measured queries / span of their completion times.
    achieved = len(lat) / (m_end_hi - m_end_lo) if m_end_hi > m_end_lo else None
    # Saturation: a pool's offered work exceeds its capacity over the arrival span, or latency
    # keeps growing through the run (last quarter's mean > 2x the second quarter's).
    # (with every query arriving at once there is no rate to judge: only growth counts)
    rho = max((b / (engines[k] * arr_span) if arr_span > 0 else 0.0) for k, b in busy.items())
    quarters = np.array_split(lat, 4) if len(lat) >= 8 else [lat]
    growing = (len(quarters) == 4 and quarters[3].mean() > 2 * quarters[1].mean()
               and quarters[3].mean() > quarters[2].mean() > quarters[1].mean())
    return SimResult(mean_s=float(lat.mean()), p50_s=float(np.percentile(lat, 50)),
                     p95_s=float(np.percentile(lat, 95)), p99_s=float(np.percentile(lat, 99)),
                     offered_qps=offered, achieved_qps=achieved, utilization=util,
                     saturated=bool(rho >= 1.0 or growing), queries=q, measured=len(lat),
                     records=records)


def stream_group(pipeline: Pipeline, accel_mode: str | None = None) -> list[int] | None:
    """The stages of ``pipeline`` if they form one accelerator group timed in exact mode (the
    case :func:`simulate_stream` runs), else None."""
    groups = pipeline.groups()
    if len(groups) != 1 or len(groups[0]) != len(pipeline.stages):
        return None
    g = list(groups[0])
    st = pipeline.stages[g[0]]
    if not (st.platform or "").startswith("rpaccel:"):
        return None
    return g if (accel_mode or st.accel_mode or "profile") == "exact" else None


#: Bytes :func:`simulate_stream` holds per query: the measured latencies (for exact
#: percentiles); everything else is bounded (arrivals in chunks, finished queries forgotten,
#: each accelerator's consumed tokens dropped every 4,096). Measured (``/usr/bin/time -f %M``,
#: 2026-12-02, tiny pipeline): 214.2 MB at 20,000 queries, 220.5 MB at 200,000.
STREAM_BYTES_PER_QUERY = 8


def simulate_stream(pipeline: Pipeline, arrival: str, qps: float, queries: int, size: int, *,
                    warmup: int | None = None, accel_mode: str | None = None, seed: int = 0,
                    progress: bool = False, chunk: int = 1 << 16) -> SimResult:
    """:func:`simulate` of ``queries`` queries of ``size`` items arriving as
    :func:`~rpaccel.sched.serving.workload.arrivals` ``(arrival, qps, queries, seed)`` on a
    pipeline that is one accelerator group in exact mode (:func:`stream_group`), in bounded
    memory: arrivals are drawn ``chunk`` at a time, each finished query is folded into the
    statistics and forgotten, and only the measured latencies are kept
    (:data:`STREAM_BYTES_PER_QUERY`). The result is the same as :func:`simulate`'s, number for
    number (tested), without per-query records."""
    from rpaccel.sched.serving.workload import arrival_chunks

    if accel_mode is not None and accel_mode not in ACCEL_MODES:
        raise ValueError(f"accel-mode must be one of {list(ACCEL_MODES)}, got {accel_mode!r}")
    g = stream_group(pipeline, accel_mode)
    if g is None:
        raise ValueError("simulate_stream runs a pipeline that is one accelerator group in "
                         "exact mode (use simulate)")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"query size must be an integer >= 1, got {size!r}")
    q = queries
    if warmup is None:
        warmup = min(1000, q // 10)
    if not 0 <= warmup < q:
        raise ValueError(f"warmup must be in [0, {q - 1}], got {warmup}")
    gp = get_platform(pipeline.stages[g[0]].platform)    # the host sorts (as simulate)
    sort = 0.0 if gp.on_chip_filter else float(np.asarray(gp.sort_time(np.array([size])))[0])
    arrive_at: dict[int, float] = {}            # queries submitted and not finished
    lat = np.empty(q - warmup)                  # measured latencies, by query index
    t_max = -math.inf
    ends_min, ends_max = math.inf, -math.inf
    first = last = 0.0
    grp = None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=q, desc="exact (streamed)", unit="query", leave=False)

    def fold(until_last: bool) -> None:
        nonlocal t_max, ends_min, ends_max
        for i, e_s, _ in grp.finished(until_last):
            t = e_s + sort
            a = arrive_at.pop(i)
            if t > t_max:
                t_max = t
            if i >= warmup:
                lat[i - warmup] = t - a
                ends_min, ends_max = min(ends_min, t), max(ends_max, t)

    i = 0
    for times in arrival_chunks(arrival, qps, q, seed, chunk=chunk):
        if grp is None:
            first = float(times[0])
            grp = _ExactGroup(pipeline, g, size, seed, first)
        for a in times.tolist():
            arrive_at[i] = a
            grp.submit(i, a)
            i += 1
            if i % 64 == 0:
                fold(True)
        last = float(times[-1])
        if bar is not None:
            bar.update(len(times))
    fold(False)
    if bar is not None:
        bar.close()
    busy = grp.busy()
    engines = {k: pipeline.stages[g[0]].engines for k in busy}
    return _result(lat, busy, engines, first, last, t_max, ends_min, ends_max, q, {})


def max_qps_under_sla(pipeline: Pipeline, sla_s: float, *, sizes: np.ndarray,
                      arrival: str = "poisson", seed: int = 0, percentile: float = 95.0,
                      iters: int = 24, hi: float | None = None
                      ) -> tuple[float, SimResult | None]:
    """Highest arrival rate whose latency percentile meets ``sla_s`` (and is not saturated).

    Bisection in QPS with common random numbers (the same seed at every rate, also the query
    inputs' in exact mode); the upper bracket is ``hi``, by default the pipeline's capacity
    (engines / mean busy time per query, tightest pool).
    """
    if not isinstance(sla_s, (int, float)) or not sla_s > 0:
        raise ValueError(f"sla must be > 0 seconds, got {sla_s!r}")
    if not 0 < percentile < 100:
        raise ValueError(f"percentile must be in (0, 100), got {percentile}")
    q = len(sizes)
    if hi is None:
        hi = min(pipeline_capacity_qps(pipeline, sizes), 1e9)
    elif not hi > 0:
        raise ValueError(f"hi must be a rate > 0 queries/s, got {hi!r}")
    lo, best = 0.0, None
    for _ in range(iters):
        mid = (lo + hi) / 2
        r = simulate(pipeline, arrivals(arrival, mid, q, seed), sizes, seed=seed)
        lat = r.records["latency_s"][r.records["measured"]]
        ok = (not r.saturated) and float(np.percentile(lat, percentile)) <= sla_s
        if ok:
            lo, best = mid, r
        else:
            hi = mid
    return lo, best


def pipeline_capacity_qps(pipeline: Pipeline, sizes: np.ndarray) -> float:
    """Upper bound on sustainable QPS: engines / mean busy seconds per query, tightest pool."""
    cap = math.inf
    groups = {g[0]: g for g in pipeline.groups()}
    skip = {i for g in groups.values() for i in g[1:]}
    for si, st, n in stage_items(pipeline, sizes):
        if si in skip:
            continue
        if si in groups:
            inv, *_, busy = accel_group(pipeline, tuple(groups[si])).profiles(n)
            work = busy[inv].sum(axis=0).max()
            cap = min(cap, st.engines * len(n) / float(work))
            continue
        model, plat = st.catalog, get_platform(st.platform)
        to_gpu = gpu_offload(st, n)
        if (~to_gpu).any():
            nn = n[~to_gpu]
            work = plat.service_time(model, batch_pieces(nn, st.batch)[0] if st.batch else nn)
            cap = min(cap, st.engines * len(n) / float(np.sum(work)))
        if to_gpu.any():
            work = get_platform(st.gpu_platform).service_time(model, n[to_gpu])
            cap = min(cap, st.gpu_engines * len(n) / float(np.sum(work)))
    return cap
