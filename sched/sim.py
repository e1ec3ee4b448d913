"""At-scale discrete-event simulation of multi-stage recommendation pipelines, in simulated time.

A pipeline is a list of :class:`Stage`. Each stage runs one model on a pool of identical engines
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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rpaccel.config import check_int

from .datafile import load_data
from .models import Model, get_model
from .platforms import Platform, get_platform
from .workload import arrivals

__all__ = ["Stage", "Pipeline", "SimResult", "simulate", "load_pipeline", "pipeline_from_dict",
           "max_qps_under_sla", "fifo_pool", "pipeline_capacity_qps"]


#: Upper bounds of a stage's integer fields (lower bound 1 for all), shared with the CLI.
STAGE_LIMITS = {"engines": 4096, "items": 1 << 24, "batch": 1 << 24, "gpu_threshold": 1 << 24,
                "gpu_engines": 4096}


@dataclass(frozen=True, slots=True)
class Stage:
    """One pipeline stage. ``items``: items this stage ranks (the first stage's default query size).

    ``batch``: split queries into pieces of at most this many items (CPU data parallelism).
    ``gpu_threshold``: queries with at least this many items go whole to ``gpu_engines`` engines
    of ``gpu_platform``.
    """

    model: str
    platform: str
    engines: int
    items: int | None = None
    batch: int | None = None
    gpu_threshold: int | None = None
    gpu_engines: int = 1
    gpu_platform: str = "gpu"
    subarrays: int | None = None
    sub_batch: int | None = None
    filter: str | None = None
    k_out: int | None = None

    def __post_init__(self) -> None:
        get_model(self.model)
        get_platform(self.platform)
        for name, hi in STAGE_LIMITS.items():
            v = getattr(self, name)
            if v is not None:
                check_int(f"stage {name}", v, 1, hi)
        if self.gpu_threshold is not None:
            get_platform(self.gpu_platform)
        if self.subarrays is not None:
            check_int("stage subarrays", self.subarrays, 0, 64)
        for name in ("sub_batch", "k_out"):
            if getattr(self, name) is not None:
                check_int(f"stage {name}", getattr(self, name), 1, 1 << 16)
        if self.filter is not None and self.filter not in ("global", "per-sub-batch"):
            raise ValueError(f"stage filter must be 'global' or 'per-sub-batch', got "
                             f"{self.filter!r}")
        if not self.platform.startswith("rpaccel:"):
            for name in ("subarrays", "sub_batch", "filter", "k_out"):
                if getattr(self, name) is not None:
                    raise ValueError(f"stage {name} is for rpaccel:... platforms (stages on one "
                                     f"accelerator), not {self.platform}")
        elif self.subarrays is None:
            for name in ("sub_batch", "filter", "k_out"):
                if getattr(self, name) is not None:
                    raise ValueError(f"stage {name} needs 'subarrays' (the stage's sub-arrays "
                                     f"on its accelerator)")
        elif self.batch is not None or self.gpu_threshold is not None:
            raise ValueError("stage batch / gpu_threshold do not apply to a stage placed on an "
                             "accelerator's sub-arrays")

    @property
    def on_accel(self) -> bool:
        """Placed on sub-arrays of an ``rpaccel:`` accelerator (part of an accelerator group)."""
        return self.subarrays is not None


@dataclass(frozen=True, slots=True)
class Pipeline:
    stages: tuple[Stage, ...]
    name: str = "pipeline"

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("pipeline needs at least one stage")
        for g in accel_groups(self):
            _check_group(self, g)


def accel_groups(pipeline: Pipeline) -> list[list[int]]:
    """Stage indices of every accelerator group: a maximal run of consecutive stages placed on
    sub-arrays (``subarrays``) of the same ``rpaccel:`` platform. Each group is one accelerator
    running a multi-stage program: the stages' survivors stay on chip, and with sub-batch
    pipelining the stages overlap on their own sub-arrays."""
    out: list[list[int]] = []
    for i, st in enumerate(pipeline.stages):
        if not st.on_accel:
            continue
        if out and out[-1][-1] == i - 1 and pipeline.stages[i - 1].platform == st.platform:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def _check_group(pipeline: Pipeline, g: list[int]) -> None:
    sts = [pipeline.stages[i] for i in g]
    first = sts[0]
    for i, st in zip(g[1:], sts[1:]):
        if st.engines != first.engines:
            raise ValueError(f"stage[{i}].engines must equal stage[{g[0]}]'s ({first.engines}): "
                             f"the stages share one accelerator per engine")
        for name in ("sub_batch", "filter"):
            if getattr(st, name) is not None:
                raise ValueError(f"stage[{i}].{name}: set it on stage[{g[0]}], the first stage "
                                 f"of its accelerator group")
        if st.items is None:
            raise ValueError(f"stage[{i}].items is needed (a later stage on an accelerator)")
    for i, st in zip(g[:-1], sts[:-1]):
        if st.k_out is not None:
            raise ValueError(f"stage[{i}].k_out: set it on stage[{g[-1]}], the last stage of its "
                             f"accelerator group")
    if first.items is None and g[0] == 0:
        return                   # checked per query size when simulated
    from .accelplat import group_pipeline

    plat = get_platform(first.platform)
    n0 = first.items if first.items is not None else sts[1].items if len(sts) > 1 else 1
    try:
        if first.sub_batch is not None and first.sub_batch <= n0:
            for i, st in zip(g, sts):
                n = st.items or n0
                if n % min(first.sub_batch, n):
                    raise ValueError(f"stage[{g[0]}].sub_batch={first.sub_batch} must divide "
                                     f"stage[{i}].items={n} (or exceed it)")
        gp, b = group_pipeline(plat.accel, group_specs(pipeline, g), [s.items or n0 for s in sts],
                               first.sub_batch, first.filter or "global", sts[-1].k_out, n0)
        from rpaccel.perfmodel.compiler import place

        place(plat.accel, gp, b, first.filter or "global")
    except ValueError as e:
        raise ValueError(f"accelerator group stage[{g[0]}..{g[-1]}] on {first.platform}: {e}"
                         ) from None


def group_specs(pipeline: Pipeline, g: list[int]) -> list:
    from .accelplat import model_spec

    out = []
    for i in g:
        m = get_model(pipeline.stages[i].model)
        out.append((m.name, model_spec(m), pipeline.stages[i].subarrays))
    return out


_STAGE_KEYS = {f.name for f in fields(Stage)}


def pipeline_from_dict(d: dict, where: str = "pipeline") -> Pipeline:
    if not isinstance(d, dict):
        raise ValueError(f"{where}: must be a table/object")
    unknown = sorted(set(d) - {"name", "stage"})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: ['name', 'stage']")
    stages = d.get("stage")
    if not isinstance(stages, list) or not stages:
        raise ValueError(f"{where}: needs a non-empty list 'stage'")
    out = []
    for i, s in enumerate(stages):
        if not isinstance(s, dict):
            raise ValueError(f"{where}: stage[{i}] must be a table/object")
        bad = sorted(set(s) - _STAGE_KEYS)
        if bad:
            raise ValueError(f"{where}: stage[{i}]: unknown key(s) {bad}; allowed: {sorted(_STAGE_KEYS)}")
        missing = [k for k in ("model", "platform", "engines") if k not in s]
        if missing:
            raise ValueError(f"{where}: stage[{i}]: missing {missing}")
        try:
            out.append(Stage(**s))
        except ValueError as e:
            raise ValueError(f"{where}: stage[{i}]: {e}") from None
    return Pipeline(tuple(out), name=d.get("name", "pipeline"))


def load_pipeline(path: str | Path) -> Pipeline:
    """Load a pipeline from TOML (``[[stage]]`` tables) or JSON (``{"stage": [...]}``)."""

    return pipeline_from_dict(load_data(path, "pipeline"), where=f"pipeline file {path}")


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
            tmp = p.with_suffix(".parquet.tmp")
            pq.write_table(pa.table({c: self.records[c] for c in cols}), tmp)
            tmp.replace(p)
            return
        if p.suffix != ".csv":
            raise ValueError(f"records path must end in .csv or .parquet, got {p.name}")
        tmp = p.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            w.writerows(zip(*(self.records[c].tolist() for c in cols)))
        tmp.replace(p)


def stage_items(pipeline: Pipeline, sizes: np.ndarray):
    """``(stage index, stage, items per query)`` for every stage: a later stage ranks at most
    its ``items`` (the best of what the previous stage kept)."""
    n = np.asarray(sizes, dtype=np.int64)
    for si, st in enumerate(pipeline.stages):
        if si > 0 and st.items is not None:
            n = np.minimum(n, st.items)
        yield si, st, n


def gpu_offload(stage: Stage, n_items: np.ndarray) -> np.ndarray:
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


def _stage_jobs(stage: Stage, arrive: np.ndarray, n_items: np.ndarray, model: Model,
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


def group_profiles(pipeline: Pipeline, g: list[int], n_items: np.ndarray):
    """No-contention profiles of an accelerator group for the distinct first-stage sizes:
    ``(profile index per query, first, end, stage_end, latency, busy)`` in seconds."""
    from .accelplat import group_pipeline, group_profile

    first_st = pipeline.stages[g[0]]
    accel = get_platform(first_st.platform).accel
    clock = accel.clock_ns * 1e-9
    uniq, inv = np.unique(np.asarray(n_items, dtype=np.int64), return_inverse=True)
    specs = group_specs(pipeline, g)
    items = [pipeline.stages[i].items or int(uniq.max()) for i in g]
    profs = []
    for n in uniq.tolist():
        try:
            gp, b = group_pipeline(accel, specs, items, first_st.sub_batch,
                                   first_st.filter or "global", pipeline.stages[g[-1]].k_out, n)
            profs.append(group_profile(accel, gp, b))
        except ValueError as e:
            raise ValueError(f"accelerator group stage[{g[0]}..{g[-1]}], a query of {n} items: "
                             f"{e}") from None
    first = np.array([[x * clock if x >= 0 else -1.0 for x in p["first"]] for p in profs])
    end = np.array([[x * clock for x in p["end"]] for p in profs])
    stage_end = np.array([p["stage_end"] for p in profs], dtype=np.float64) * clock
    latency = np.array([p["latency"] for p in profs], dtype=np.float64) * clock
    busy = np.array([p["busy"] for p in profs], dtype=np.float64) * clock
    return inv, first, end, stage_end, latency, busy, profs[0]["resources"]


def _group_jobs(pipeline: Pipeline, g: list[int], arrive: np.ndarray, n_items: np.ndarray):
    """Run an accelerator group (see :func:`rpaccel.sched.accelplat.rigid_pool`): completion
    times, each stage's completion times, and busy seconds per resource name."""
    from .accelplat import rigid_pool

    st0 = pipeline.stages[g[0]]
    inv, first, end, stage_end, latency, busy, res = group_profiles(pipeline, g, n_items)
    order = np.argsort(arrive, kind="stable")
    start = np.empty(len(arrive))
    start[order], _ = rigid_pool(arrive[order], inv[order], first, end, st0.engines)
    done = start + latency[inv]
    stage_done = [start + stage_end[inv, k] for k in range(len(g))]
    tot = busy[inv].sum(axis=0)
    out = {}
    span = f"stage{g[0]}" if len(g) == 1 else f"stage{g[0]}-{g[-1]}"
    for r, b in zip(res, tot):
        if r.startswith("x"):
            name = f"stage{g[int(r[1:])]}:{st0.platform}"
        else:
            name = f"{span}:{st0.platform}:{r}"
        out[name] = float(b)
    return done, stage_done, out


def simulate(pipeline: Pipeline, arrive: np.ndarray, sizes: np.ndarray, *,
             warmup: int | None = None) -> SimResult:
    """Simulate ``len(arrive)`` queries; ``sizes`` are the first stage's items per query.

    ``warmup``: queries (by arrival order) left out of the metrics; default 10 % (at most 1000).
    """
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
    groups = {g[0]: g for g in accel_groups(pipeline)}
    skip = {i for g in groups.values() for i in g[1:]}
    for si, st, n in stage_items(pipeline, n0):
        if si in skip:
            continue
        if si in groups:
            g = groups[si]
            t, stage_done, busy = _group_jobs(pipeline, g, t, n)
            for name, b in busy.items():
                util_busy[name] = util_busy.get(name, 0.0) + b
                engines[name] = st.engines
            for i, d in zip(g, stage_done):
                rec[f"stage{i}_done_s"] = d
            continue
        model, plat = get_model(st.model), get_platform(st.platform)
        gpu = get_platform(st.gpu_platform) if st.gpu_threshold is not None else None
        done, busy = _stage_jobs(st, t, n, model, plat, gpu)
        for pool, b in busy.items():
            name = f"stage{si}:{st.platform}" if pool == "engines" else f"stage{si}:{st.gpu_platform}"
            util_busy[name] = util_busy.get(name, 0.0) + b
            engines[name] = st.engines if pool == "engines" else st.gpu_engines
        sort = 0.0 if plat.on_chip_filter else np.asarray(plat.sort_time(n), dtype=np.float64)
        t = done + sort
        rec[f"stage{si}_done_s"] = t.copy()
    latency = t - arrive
    rec["latency_s"] = latency
    m = np.arange(q) >= warmup
    lat = latency[m]
    span = float(t.max() - arrive.min()) if q > 1 else float(t.max())
    util = {k: b / (engines[k] * span) if span > 0 else 0.0 for k, b in util_busy.items()}
    arr_span = float(arrive.max() - arrive.min())
    offered = (q - 1) / arr_span if arr_span > 0 else None
    # DeepRecSys's measured QPS: measured queries / span of their completion times.
    ends = t[m]
    achieved = len(ends) / float(ends.max() - ends.min()) if ends.max() > ends.min() else None
    # Saturation: a pool's offered work exceeds its capacity over the arrival span, or latency
    # keeps growing through the run (last quarter's mean > 2x the second quarter's).
    # (with every query arriving at once there is no rate to judge: only growth counts)
    rho = max((b / (engines[k] * arr_span) if arr_span > 0 else 0.0)
              for k, b in util_busy.items())
    quarters = np.array_split(lat, 4) if len(lat) >= 8 else [lat]
    growing = (len(quarters) == 4 and quarters[3].mean() > 2 * quarters[1].mean()
               and quarters[3].mean() > quarters[2].mean() > quarters[1].mean())
    rec["measured"] = m
    return SimResult(mean_s=float(lat.mean()), p50_s=float(np.percentile(lat, 50)),
                     p95_s=float(np.percentile(lat, 95)), p99_s=float(np.percentile(lat, 99)),
                     offered_qps=offered, achieved_qps=achieved, utilization=util,
                     saturated=bool(rho >= 1.0 or growing), queries=q, measured=int(m.sum()),
                     records=rec)


def max_qps_under_sla(pipeline: Pipeline, sla_s: float, *, sizes: np.ndarray,
                      arrival: str = "poisson", seed: int = 0, percentile: float = 95.0,
                      iters: int = 24) -> tuple[float, SimResult | None]:
    """Highest arrival rate whose latency percentile meets ``sla_s`` (and is not saturated).

    Bisection in QPS with common random numbers (the same seed at every rate); the upper bracket
    starts at the pipeline's capacity (engines / mean busy time per query, tightest pool).
    """
    if not isinstance(sla_s, (int, float)) or not sla_s > 0:
        raise ValueError(f"sla must be > 0 seconds, got {sla_s!r}")
    if not 0 < percentile < 100:
        raise ValueError(f"percentile must be in (0, 100), got {percentile}")
    q = len(sizes)
    cap = min(pipeline_capacity_qps(pipeline, sizes), 1e9)
    lo, hi, best = 0.0, cap, None
    for _ in range(iters):
        mid = (lo + hi) / 2
        r = simulate(pipeline, arrivals(arrival, mid, q, seed), sizes)
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
    groups = {g[0]: g for g in accel_groups(pipeline)}
    skip = {i for g in groups.values() for i in g[1:]}
    for si, st, n in stage_items(pipeline, sizes):
        if si in skip:
            continue
        if si in groups:
            inv, *_, busy, _ = group_profiles(pipeline, groups[si], n)
            work = busy[inv].sum(axis=0).max()
            cap = min(cap, st.engines * len(n) / float(work))
            continue
        model, plat = get_model(st.model), get_platform(st.platform)
        to_gpu = gpu_offload(st, n)
        if (~to_gpu).any():
            nn = n[~to_gpu]
            work = plat.service_time(model, batch_pieces(nn, st.batch)[0] if st.batch else nn)
            cap = min(cap, st.engines * len(n) / float(np.sum(work)))
        if to_gpu.any():
            work = get_platform(st.gpu_platform).service_time(model, n[to_gpu])
            cap = min(cap, st.gpu_engines * len(n) / float(np.sum(work)))
    return cap
