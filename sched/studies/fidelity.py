"""The fidelity ladder: from the RecPipe artifact's formula to rpaccel's RTL-exact executor,
one named switch at a time (``rpaccel study fidelity``).

Rung 0 is the ``artifact`` preset (every :class:`~rpaccel.accel.Fidelity` switch on the
artifact's side, hardconf_1's hardware); each later rung changes one thing, and the last is the
``rpaccel-sb256`` preset exactly (checked: the ``rpaccel`` hardware, sub-batches of 256). Up to the sub-batch rung every stage of a funnel is a
separate invocation of the whole accelerator, its times added, as the artifact adds its stage
times; the split-array rung runs the funnel as one program with each stage on its own sub-arrays
(the ``s-l`` pipeline preset) and a one-stage query on the ``serve.subarrays`` sub-arrays.

Two serving rungs follow on that preset (:data:`SERVING_RUNGS`), measured on a
stream of :data:`STREAM` queries (seed 0, query i's own inputs) on one stateful accelerator
(:class:`rpaccel.perfmodel.stateful.StatefulAccel`); each reports the mean over the stream's
second half:

* **warm cache across queries**: arrivals far enough apart that queries never overlap (twice
  one query's cycles), so the dynamic cache and the weights carry over: a query's latency,
  first host beat to last result beat;
* **exact contention**: Poisson arrivals at :data:`CONTENTION_LOAD` of one query per
  no-contention latency, so queries overlap and queue (at most two in flight): a query's
  response, arrival to last result beat, queueing included.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from rpaccel.accel import AccelConfig, load_accel
from rpaccel.query import Pipeline, load_pipeline

from rpaccel.sched.platforms.rpaccel import RPAccelPlatform, run_executor, stage_pipeline

__all__ = ["RUNGS", "SERVING_RUNGS", "ladder", "ladder_configs", "WORKLOADS", "STREAM",
           "CONTENTION_LOAD", "stream_cycles"]


def _fid(**kw) -> Callable[[AccelConfig], AccelConfig]:
    return lambda a: dataclasses.replace(a, fidelity=dataclasses.replace(a.fidelity, **kw))


def _arr(**kw) -> Callable[[AccelConfig], AccelConfig]:
    return lambda a: dataclasses.replace(a, array=dataclasses.replace(a.array, **kw))


def _emb(**kw) -> Callable[[AccelConfig], AccelConfig]:
    return lambda a: dataclasses.replace(a, embedding=dataclasses.replace(a.embedding, **kw))


def _serve(**kw) -> Callable[[AccelConfig], AccelConfig]:
    return lambda a: dataclasses.replace(a, serve=dataclasses.replace(a.serve, **kw))


def _both(*fs) -> Callable[[AccelConfig], AccelConfig]:
    def f(a: AccelConfig) -> AccelConfig:
        for g in fs:
            a = g(a)
        return a
    return f


#: The ladder's top: the ``rpaccel`` hardware serving in sub-batches of 256 (the pipeline
#: presets' sub-batch; the ``rpaccel`` preset serves one-stage queries in 1,024).
_RP = load_accel("rpaccel-sb256")

#: (name, what changes, transform). Applied in order to the ``artifact`` preset.
RUNGS: list[tuple[str, str, Callable[[AccelConfig], AccelConfig]]] = [
    ("artifact", "RecPipe artifact's RecPipeAccelModel.py (hardconf_1)", lambda a: a),
    ("exact GEMM schedule", "fidelity.gemm: tiles x (in + out + B) -> gemm_cycles (fill, "
     "drain, output beats)", _fid(gemm="exact")),
    ("weights resident", "fidelity.weights: re-fetched from DRAM per query -> preloaded",
     _fid(weights="resident")),
    ("double-buffered weights", "array.weight_buffering: 1 -> 2", _arr(weight_buffering=2)),
    ("results drain under compute", "array.c_read_ports: 1 -> 2: a second C-buffer read port "
     "streams every result row out as soon as it is final", _arr(c_read_ports=2)),
    ("int8 data", "fidelity.data: 4-byte FP32 -> 1-byte int8 embeddings", _fid(data="int8")),
    ("trace-driven cache hits", "fidelity.hits: fixed 0.5 miss rate -> the dynamic cache on "
     "the query's Zipf trace", _fid(hits="trace")),
    ("static hot set", f"embedding.static_rows: 0 -> {_RP.embedding.static_rows} profiled "
     "hot rows per table", _emb(static_rows=_RP.embedding.static_rows)),
    ("embedding unit (lanes, MSHRs)", "fidelity.embedding: DRAM + SRAM formula -> the "
     "non-blocking unit's exact model", _fid(embedding="exact")),
    ("on-chip top-k unit", "fidelity.topk: B/128 -> ceil(B/lanes) + k", _fid(topk="exact")),
    ("host link", "fidelity.host: PCIe constants as kilo-cycles -> bytes / link width + "
     "latency", _fid(host="exact")),
    ("command-level schedule", "fidelity.schedule: phases in series -> the executor (the "
     "bottom MLP beside the gather, command latencies)", _fid(schedule="exact")),
    ("sub-batch pipelining", f"serve.sub_batch: whole query -> {_RP.serve.sub_batch} "
     f"(array.max_m {_RP.array.max_m})", _both(_serve(sub_batch=_RP.serve.sub_batch),
                                                _arr(max_m=_RP.array.max_m))),
    ("split arrays", f"array.split 1x1 -> {_RP.array.split[0]}x{_RP.array.split[1]}: stages on "
     f"their own sub-arrays, survivors on chip", _both(
         _arr(split=_RP.array.split), _serve(subarrays=_RP.serve.subarrays))),
]

#: The serving rungs after the last hardware rung (name, what changes); module docstring.
SERVING_RUNGS: list[tuple[str, str]] = [
    ("warm cache across queries", "every query from a cold cache -> the cache, weights and "
     "static set carried across a stream of queries (mean latency of its second half)"),
    ("exact contention", "one query alone -> Poisson arrivals at 80 % of one query per "
     "no-contention latency, overlapping and queueing on one accelerator (mean response, "
     "queueing included)"),
]
#: Queries per serving-rung stream (the first half warms the accelerator).
STREAM = 16
#: The contention rung's load: arrivals per no-contention query latency.
CONTENTION_LOAD = 0.8

#: The ladder's workloads: (label, pipeline preset).
WORKLOADS = [("RM-large [4096]", "rm-large"), ("S->L [4096, 512]", "s-l")]


def ladder_configs() -> list[AccelConfig]:
    """The accelerator config of every rung; the last equals the ``rpaccel-sb256`` preset."""
    a = load_accel("artifact")
    out = []
    for _, _, f in RUNGS:
        a = f(a)
        out.append(a)
    # the gather engine's pooling capacity is the preset's: the ladder's one-hot RecPipe models
    # do not use it (no rung's figure depends on it)
    last = dataclasses.replace(out[-1], name=_RP.name, max_pooling=_RP.max_pooling,
                               max_lookups=_RP.max_lookups)
    out[-1] = last
    if last != _RP:
        raise RuntimeError(f"the fidelity ladder does not end at the {_RP.name} preset")
    return out


def _cycles(accel: AccelConfig, pipe: Pipeline, split: bool) -> float:
    """A query's cycles on one rung: the whole funnel as one program on split arrays, else each
    stage as its own invocation (``k_out`` = what the next stage ranks), times added."""
    if split and len(pipe.stages) > 1:
        sb = accel.serve.sub_batch or None
        return float(run_executor(accel, pipe, sb or pipe.items[0]).cycles)
    tot = 0.0
    for s, st in enumerate(pipe.stages):
        k = pipe.items[s + 1] if s + 1 < len(pipe.stages) else pipe.k_out
        a = dataclasses.replace(accel, serve=dataclasses.replace(
            accel.serve, k_out=k, subarrays=accel.serve.subarrays if split else 0))
        tot += RPAccelPlatform(a, "rung").cycles(st.catalog, st.items)["cycles"]
    return tot


def _program(accel: AccelConfig, pipe: Pipeline) -> tuple[Pipeline, int | None]:
    """The top rung's query as one accelerator program (as :func:`_cycles` runs it)."""
    if len(pipe.stages) > 1:
        return pipe, accel.serve.sub_batch or None
    (st,) = pipe.stages
    a = dataclasses.replace(accel, serve=dataclasses.replace(accel.serve, k_out=pipe.k_out))
    from rpaccel.query import model_spec

    return stage_pipeline(a, model_spec(st.catalog), st.items, st.catalog.name)


def stream_cycles(accel: AccelConfig, pipe: Pipeline) -> dict[str, float]:
    """The serving rungs of one workload (module docstring): ``single`` (query 0 alone),
    ``warm`` (mean latency of the warm stream's second half) and ``contention`` (mean response
    of the loaded stream's second half), in cycles."""
    import numpy as np

    from rpaccel.perfmodel.stateful import StatefulAccel

    prog, b = _program(accel, pipe)
    warm = StatefulAccel(accel, prog, sub_batch=b, seed=0)
    warm.submit(0)
    single = warm.outcome(0).latency
    for i in range(1, STREAM):
        warm.submit(i * 2 * single)
    half = range(STREAM // 2, STREAM)
    loaded = StatefulAccel(accel, prog, sub_batch=b, seed=0)
    gaps = np.random.default_rng(0).exponential(single / CONTENTION_LOAD, STREAM - 1)
    t = 0
    loaded.submit(0)
    for g in gaps:
        t += int(round(g))
        loaded.submit(t)
    return {"single": float(single),
            "warm": float(np.mean([warm.outcome(i).latency for i in half])),
            "contention": float(np.mean([loaded.outcome(i).response for i in half]))}


def ladder(progress: Any = None) -> list[dict[str, Any]]:
    """One row per rung: cycles and milliseconds of each workload, and each switch's effect
    (change against the previous rung, cycles and percent)."""
    cfgs = ladder_configs()
    pipes = [(label, load_pipeline(p)) for label, p in WORKLOADS]
    rows, prev = [], {}
    for i, ((name, what, _), a) in enumerate(zip(RUNGS, cfgs)):
        split = a.array.split != (1, 1)
        row: dict[str, Any] = {"step": i, "switch": name, "change": what}
        for label, pipe in pipes:
            c = _cycles(a, pipe, split)
            row[f"{label} cycles"] = round(c, 1)
            row[f"{label} ms"] = round(a.seconds(c) * 1e3, 4)
            d = c - prev[label] if label in prev else 0.0
            row[f"{label} effect cycles"] = round(d, 1)
            row[f"{label} effect %"] = round(100 * d / prev[label], 2) if label in prev else 0.0
            prev[label] = c
        rows.append(row)
        if progress is not None:
            progress.update(1)
    top = cfgs[-1]
    served = {label: stream_cycles(top, pipe) for label, pipe in pipes}
    for label, _ in pipes:                      # the stream starts where the ladder ended
        if served[label]["single"] != prev[label]:
            raise RuntimeError(f"{label}: the serving rungs' first query ({served[label]['single']}"
                               f" cycles) is not the last rung's ({prev[label]})")
    for j, (name, what) in enumerate(SERVING_RUNGS):
        row = {"step": len(RUNGS) + j, "switch": name, "change": what}
        for label, _ in pipes:
            c = served[label][("warm", "contention")[j]]
            row[f"{label} cycles"] = round(c, 1)
            row[f"{label} ms"] = round(top.seconds(c) * 1e3, 4)
            d = c - prev[label]
            row[f"{label} effect cycles"] = round(d, 1)
            row[f"{label} effect %"] = round(100 * d / prev[label], 2)
            prev[label] = c
        rows.append(row)
        if progress is not None:
            progress.update(1)
    return rows
