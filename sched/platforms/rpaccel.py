"""RPAccel as a system-study platform: ``rpaccel:PRESET`` or ``rpaccel:FILE.toml``.

The service time of a query comes from the accelerator config's :class:`~rpaccel.accel.
Fidelity` switches:

* **all exact** (the ``rpaccel`` and ``tpu-like`` presets): the executor
  (:func:`rpaccel.perfmodel.executor.model_accel`) on the compiled program, the model proven
  cycle for cycle against the RTL top. Its embedding gathers run the exact cache model on the
  query's own Zipf lookups (``serve.skew``, the config's table size; the static hot set holds
  each table's most frequent rows, ids being ranked by frequency), so hit rates come from the
  cache policy, not a fixed miss rate. A query starts with a cold dynamic cache (what the RTL
  runs after reset).
* **otherwise** (the ``artifact`` preset and the fidelity ladder's rungs): the phases of one
  query are timed one by one and added in series, each by the artifact's formula or by
  rpaccel's exact unit model as its switch says (:func:`serial_cycles`).

A one-stage query of n items is compiled as one stage on ``serve.subarrays`` sub-arrays (0: the
whole array in monolithic mode), in sub-batches of ``serve.sub_batch`` items (0 or >= n: one sub-batch); n is padded up to a multiple of the
sub-batch (the host pads the last sub-batch, the hardware computes it whole), and a query of
more items than a query slot of the item memory holds (``max_items``, fewer for long records:
:meth:`~rpaccel.accel.AccelConfig.slot_items`) runs as several back-to-back passes, their
cycles added. It returns ``min(serve.k_out, n)`` results. The query inputs are those of seed 0 (deterministic).

Results are cached per distinct (config, model, items): a simulation of a million queries calls
the executor once per distinct query size.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rpaccel.accel import PRESETS, AccelConfig, load_accel
from rpaccel.config import ceil_div
from rpaccel.models import Model
from rpaccel.query import (ModelSpec, Pipeline, StageSpec, gather_beats, host_beats, model_spec,
                           pad_to_sub_batch, record_bytes, split_mode)
from rpaccel.sched.platforms.base import Platform, _items, artifact_host_sort_s, artifact_terms

__all__ = ["RPAccelPlatform", "serial_cycles", "stage_pipeline", "run_executor",
           "accel_platform", "group_profile", "rigid_pool"]


def stage_pipeline(accel: AccelConfig, spec: ModelSpec, n: int, name: str = ""
                   ) -> tuple[Pipeline, int]:
    """The one-stage accelerator pipeline of an n-item query (padded, see the module docstring;
    ``n <= max_items``) and its sub-batch size."""
    b = accel.serve.sub_batch
    b = n if b == 0 or b >= n else b
    n_pad = pad_to_sub_batch(n, b)
    pipe = Pipeline(stages=(StageSpec(model=spec, items=n_pad, subarrays=accel.serve.subarrays,
                                      name=name),), k_out=min(accel.serve.k_out, n),
                    sub_batch=b, skew=accel.serve.skew, name=f"{name or 'model'} [{n}]")
    return pipe, b


@lru_cache(maxsize=4096)
def run_executor(accel: AccelConfig, pipe: Pipeline, sub_batch: int, queries: int = 1):
    """The executor's result for ``queries`` back-to-back queries (seed 0), cached."""
    from rpaccel.perfmodel.executor import model_accel

    return model_accel(accel, pipe, sub_batch=sub_batch, seed=0, queries=queries,
                       timeline=True)


def _lookups(accel: AccelConfig, pipe: Pipeline, spec: ModelSpec, n: int):
    from rpaccel.perfmodel.query import column_rows, query_inputs

    emb = accel.embedding
    L = spec.lookups
    feed = None
    if pipe.workload is not None:
        from rpaccel.perfmodel.feed import WorkloadFeed

        feed = WorkloadFeed(pipe.workload, pipe, emb, 0)
    sparse = query_inputs(pipe, column_rows(accel, pipe), 0, 0, feed).sparse[:n, :L]
    lanes = emb.lanes
    per = gather_beats(L, lanes)
    return (np.tile(np.array(spec.lookup_tables(), dtype=np.int64), n), sparse.reshape(-1),
            np.zeros(n * L, dtype=np.int64), np.tile(per, n))


def serial_cycles(accel: AccelConfig, spec: ModelSpec, n: int, k_out: int,
                  pipe: Pipeline | None = None) -> dict[str, float]:
    """One query's phases in series (cycles, fractional where the artifact's formulas are), each
    by its fidelity switch: ``host_in``, ``embedding`` (with ``emb_dram``/``emb_sram`` under
    the formula), ``weight_load``, ``compute``, ``topk``, ``host_out``, ``total``; and the
    embedding ``miss_rate`` used. On the whole (monolithic) array."""
    from rpaccel.perfmodel.embcache import empty_lines, nb_gather
    from rpaccel.perfmodel.gemm import gemm_cycles

    f, emb = accel.fidelity, accel.embedding
    eng = accel.group_array(False)
    if pipe is None:
        pipe = Pipeline(stages=(StageSpec(model=spec, items=n, subarrays=0),), k_out=k_out,
                        skew=accel.serve.skew)
    out: dict[str, float] = {}
    miss = f.fixed_miss_rate
    gather = None
    if f.hits == "trace" or f.embedding == "exact":
        t, r, st, beats = _lookups(accel, pipe, spec, n)
        last, cnt, _ = nb_gather(emb, t, r, st, beats, empty_lines(emb), start=0,
                                 engine="numba" if len(r) > 20_000 else "python")
        gather = last + 1
        if f.hits == "trace":
            miss = cnt["misses"] / len(r)
    layers = [(k, nn) for _, _, k, nn in spec.layers()]
    art = artifact_terms(layers, spec.dim, spec.lookups, np.float64(n), rows=eng.rows,
                         cols=eng.cols, dram_gib_s=f.dram_gib_s, dram_latency=emb.dram_latency,
                         clock_ns=accel.clock_ns, weight_sram_bytes=f.weight_sram_bytes,
                         element_bytes=4 if f.data == "fp32" else 1, miss_rate=miss,
                         sram_bytes_per_cycle=f.sram_bytes_per_cycle,
                         on_chip_filter=accel.on_chip_filter)
    art = {k: float(v) for k, v in art.items()}
    item_bytes = record_bytes(spec.dense, spec.lookups)
    if f.host == "formula":
        out["host_in"] = art["pcie_in"]
    else:
        out["host_in"] = n * host_beats(item_bytes, accel.host_bytes_per_cycle) + accel.host_latency
    if f.embedding == "formula":
        out["emb_dram"], out["emb_sram"] = art["emb_dram"], art["emb_sram"]
        out["embedding"] = art["emb_dram"] + art["emb_sram"]
    else:
        out["embedding"] = float(gather)
    out["weight_load"] = art["weight_load"] if f.weights == "refetch" else 0.0
    if f.gemm == "formula":
        out["compute"] = art["compute"]
    else:
        c = 0
        for k, nn in layers:
            for m0 in range(0, n, eng.max_m):
                c += gemm_cycles(eng, min(eng.max_m, n - m0), k, nn).total
        out["compute"] = float(c)
    if f.topk == "formula":
        out["topk"] = art["sort"]
    else:
        out["topk"] = float(ceil_div(n, accel.topk.lanes)
                            + (k_out if accel.on_chip_filter else 0))
    sent = k_out if accel.on_chip_filter else n
    if f.host == "formula":
        out["host_out"] = art["pcie_out"]
    else:
        out["host_out"] = float(sent * host_beats(accel.result_bytes(), accel.host_bytes_per_cycle)
                                + accel.host_latency)
    out["total"] = sum(out[k] for k in ("host_in", "embedding", "weight_load", "compute", "topk",
                                        "host_out"))
    out["miss_rate"] = float(miss)
    return out


class RPAccelPlatform(Platform):
    """``rpaccel:PRESET`` / ``rpaccel:FILE.toml`` (see the module docstring)."""

    def __init__(self, accel: AccelConfig, name: str) -> None:
        self.accel, self.name = accel, name
        self.on_chip_filter = accel.on_chip_filter
        self._memo: dict[tuple[ModelSpec, int], dict[str, Any]] = {}

    @property
    def fidelity(self) -> str:
        f = self.accel.fidelity
        if f.executor:
            return "executor (cycle-exact against the RTL top)"
        return "serial phases (" + ", ".join(f"{sw}={getattr(f, sw)}" for sw in
                                              ("gemm", "weights", "data", "hits", "embedding",
                                               "topk", "host")) + ")"

    def _one(self, spec: ModelSpec, n: int, name: str) -> dict[str, Any]:
        """Cycles and breakdown of one pass of n <= max_items items."""
        a = self.accel
        pipe, b = stage_pipeline(a, spec, n, name)
        if a.fidelity.executor:
            r = run_executor(a, pipe, b)
            st = r.stages[0]
            return {"cycles": r.cycles, "sub_batch": b, "items_padded": pipe.items[0],
                    "gather_cycles": st["gather"], "gemm_cycles": st["gemm"],
                    "loada_cycles": st["loada"], "topk_cycles": st["topk"],
                    **{f"emb_{k}": v for k, v in r.embedding.items()},
                    "lookups": r.events["lookups"],
                    "energy_pj": _energy_pj(a, r, pipe)}
        c = serial_cycles(a, spec, pipe.items[0], pipe.k_out, pipe)
        return {"cycles": c.pop("total"), "sub_batch": pipe.items[0],
                "items_padded": pipe.items[0], **{f"{k}_cycles" if k != "miss_rate" else k: v
                                                  for k, v in c.items()}}

    def cycles(self, model: Model, n: int) -> dict[str, Any]:
        """Cycles of an n-item query and their breakdown (cached per model and n)."""
        spec = model_spec(model)
        key = (spec, int(n))
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        a = self.accel
        cap = a.slot_items(record_bytes(spec.dense, spec.lookups))
        b = a.serve.sub_batch
        if 0 < b < cap:
            cap = cap // b * b
        n = int(n)
        if n < 1:
            res = {"cycles": 0, "passes": 0}
        else:
            passes = [cap] * (n // cap) + ([n % cap] if n % cap else [])
            parts = [self._one(spec, p, model.name) for p in passes]
            res = dict(parts[0]) if len(parts) == 1 else {
                "cycles": sum(p["cycles"] for p in parts),
                "energy_pj": None if any(p.get("energy_pj") is None for p in parts)
                else sum(p["energy_pj"] for p in parts)}
            res["passes"] = len(parts)
        self._memo[key] = res
        return res

    def energy_j(self, model: Model, n_items: Any) -> Any:
        """Dynamic energy of each query (joules; the executor's counts x the energy table,
        :mod:`rpaccel.sched.cost.energy`); NaN when the fidelity switches are not all exact (the
        serial phases count no events)."""
        n = np.asarray(n_items, dtype=np.int64)
        uniq, inv = np.unique(n, return_inverse=True)
        e = np.array([np.nan if (x := self.cycles(model, int(u)).get("energy_pj")) is None
                      else x * 1e-12 for u in uniq], dtype=np.float64)
        return e[inv].reshape(n.shape)

    def static_w(self) -> float:
        """Static power of one accelerator (W): :func:`rpaccel.sched.cost.energy.static_w`."""
        from rpaccel.sched.cost.energy import static_w

        return static_w(self.accel)

    def service_time(self, model: Model, n_items: Any) -> Any:
        n = _items(n_items)
        if n.ndim == 0:
            return self.cycles(model, int(n))["cycles"] * self.accel.clock_ns * 1e-9
        uniq, inv = np.unique(n.astype(np.int64), return_inverse=True)
        t = np.array([self.cycles(model, int(u))["cycles"] for u in uniq], dtype=np.float64)
        return (t * self.accel.clock_ns * 1e-9)[inv].reshape(n.shape)

    def sort_time(self, n_items: Any) -> Any:
        if self.on_chip_filter:
            return np.zeros_like(_items(n_items))
        return artifact_host_sort_s(n_items)

    def breakdown(self, model: Model, n_items: int) -> dict[str, Any]:
        c = dict(self.cycles(model, n_items))
        cyc = c.pop("cycles")
        out = {"cycles": cyc, "total_s": cyc * self.accel.clock_ns * 1e-9,
               "clock_ns": self.accel.clock_ns, **c}
        if not self.on_chip_filter:
            out["host_sort_s"] = float(self.sort_time(n_items))
        return out


def _energy_pj(accel: AccelConfig, r, pipe: Pipeline) -> float:
    """Dynamic energy (pJ) of an executor run: its counts x the default energy table."""
    from rpaccel.sched.cost.energy import default_table, query_energy

    return query_energy(accel, r.events, r.embedding, default_table(),
                        split=split_mode(accel, pipe), item_bytes=pipe.record_bytes)["total_pj"]


def accel_platform(arg: str) -> RPAccelPlatform:
    """``rpaccel:PRESET`` (one of :data:`rpaccel.accel.PRESETS`) or ``rpaccel:FILE.toml``."""
    if arg not in PRESETS and not arg.endswith(".toml"):
        raise ValueError(f"platform rpaccel:{arg}: unknown preset (known: "
                         f"{', '.join(PRESETS)}) and not a .toml file")
    if arg not in PRESETS and not Path(arg).is_file():
        raise ValueError(f"platform rpaccel:{arg}: no such file")
    return RPAccelPlatform(load_accel(arg), f"rpaccel:{arg}")


# -- several stages on one accelerator (an accelerator group of a sched pipeline) -------------
#: The accelerator's resources in a group's occupancy profile: the host link in, the embedding
#: unit (every stage's gathers), each stage's MLP engine (its sub-array group) and filter unit,
#: and the host link out.
def _resources(S: int) -> list[str]:
    return ["host", "emb", *(f"x{s}" for s in range(S)), *(f"f{s}" for s in range(S)), "out"]


def group_profile(accel: AccelConfig, pipe: Pipeline, sub_batch: int) -> dict[str, Any]:
    """One query's occupancy of the accelerator's resources with no contention (cycles from
    its first host beat): per resource its first issue and the end of its last use (the cycle
    after; -1 if unused), each stage's completion (its last filter command done + 1), and the
    latency (to the host's receipt of the last result beat). From the executor's timeline."""
    r = run_executor(accel, pipe, sub_batch)
    S = len(pipe.stages)
    res = _resources(S)
    first = {k: -1 for k in res}
    end = {k: -1 for k in res}
    for c in r.timeline:
        qn = c["queue"]
        key = "emb" if qn.startswith("g") else qn
        stop = c["done"] + 1
        if c["op"] in ("RECV", "SEND"):      # the link is busy for the beats, not the latency
            stop = c["done"] - accel.host_latency + 1
        if first[key] < 0:
            first[key] = c["issue"]
        end[key] = max(end[key], stop)
    stage_end = [max(c["done"] + 1 for c in r.timeline if c["queue"] == f"f{s}")
                 for s in range(S)]
    stage_end[-1] = r.latency[0]
    busy = {k: r.queues[k]["busy"] for k in r.queues}
    busy["emb"] = sum(busy.pop(f"g{s}") for s in range(S))
    return {"first": [first[k] for k in res], "end": [end[k] for k in res],
            "stage_end": stage_end, "latency": r.latency[0], "busy": [busy[k] for k in res],
            "resources": res, "energy_pj": _energy_pj(accel, r, pipe)}


def rigid_pool(arrive: np.ndarray, prof: np.ndarray, first: np.ndarray, end: np.ndarray,
               engines: int) -> tuple[np.ndarray, np.ndarray]:
    """Start times of queries (in the given order, FIFO) on ``engines`` identical accelerators:
    query q starts at the earliest time >= its arrival at which, on some accelerator, each
    resource it uses is free when its no-contention profile ``prof[q]`` first uses it
    (``first[p, r]`` seconds after the start, -1 unused); the resource is then busy until
    ``end[p, r]`` after the start. Returns (start times, accelerator index)."""
    from rpaccel.sched.serving._rigid import rigid_kernel

    return rigid_kernel(np.ascontiguousarray(arrive, dtype=np.float64),
                        np.ascontiguousarray(prof, dtype=np.int64),
                        np.ascontiguousarray(first, dtype=np.float64),
                        np.ascontiguousarray(end, dtype=np.float64), int(engines))
