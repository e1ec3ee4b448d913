"""The integrated RPAccel: the co-verification matrix and the random campaign's generator.

Each matrix entry is one RTL build (the top is generated for an accelerator, a placed pipeline,
a sub-batch size and a filter policy) and its scenarios (seeds and back-to-back query counts).
Together they cover: arrays 4x4 split 2x2 and 8x8 split 2x2 / 4x4, the whole array
(monolithic) and sub-array groups; 1-, 2- and 3-stage pipelines of tiny models (D 4..13, T 2..6,
d 4..8, layers of 4..32, items 32..512, k_out 4..16); sub-batch = items and items / 4; both
filter policies; embedding lanes 1 and 4; caches that hit (static rows, skew) and that miss
(no static rows, a small dynamic cache, uniform ids); several back-to-back queries; a host that
idles between beats and takes results with backpressure; pooled gathers (pooling 1, 2, 3 and 8)
over tables of different sizes.
"""

from __future__ import annotations

import copy

import numpy as np

from rpaccel.accel import accel_from_dict, load_accel
from rpaccel.query import load_pipeline, pipeline_from_dict

from .seeds import scenario_seed

__all__ = ["MATRIX", "VERIFY_ONLY", "CLI_SHARED", "matrix_builds", "random_build", "MIDSIZE",
           "midsize_build"]


def _accel(rows: int, split: int, *, lanes: int = 4, mshrs: int = 8, static_rows: int = 8,
           sets: int = 16, ways: int = 4, tables: int = 16, max_m: int = 64,
           k_max: int = 64, tk_lanes: int = 2, weight_bytes: int = 4096) -> dict:
    return {"name": f"m{rows}s{split}l{lanes}", "clock_ns": 8.0, "host_latency": 6,
            "host_bytes_per_cycle": 16, "weight_bytes": weight_bytes, "max_items": 512,
            "array": {"rows": rows, "cols": rows, "split": [split, split], "max_m": max_m,
                      "max_k": 64, "max_n": 64},
            "embedding": {"dim": 8, "tables": tables, "rows": 128, "static_rows": static_rows,
                          "sets": sets, "ways": ways, "mem_bits": 32, "dram_latency": 10,
                          "dram_interval": 1, "lanes": lanes, "mshrs": mshrs, "rob_beats": 8},
            "topk": {"k_max": k_max, "lanes": tk_lanes}}


def _model(D: int, bottom: list[int], T: int, top_hidden: list[int]) -> dict:
    d = bottom[-1]
    return {"dense": D, "bottom": [D, *bottom], "tables": T,
            "top": [(T + 1) * d, *top_hidden, 1]}


P1 = {"name": "one stage, whole array", "k_out": 16, "skew": 1.2, "stage": [
    {"items": 64, "subarrays": 0, "model": _model(13, [16, 8], 6, [32])}]}
P1G = {"name": "one stage, 2 sub-arrays", "k_out": 8, "skew": 1.2, "stage": [
    {"items": 64, "subarrays": 2, "model": _model(13, [16, 8], 6, [32])}]}
P3 = {"name": "3 stages", "k_out": 4, "skew": 1.1, "stage": [
    {"items": 256, "subarrays": 4, "model": _model(4, [4], 2, [8])},
    {"items": 64, "subarrays": 4, "model": _model(4, [8, 4], 3, [12])},
    {"items": 16, "subarrays": 8, "model": _model(4, [12, 8], 5, [16])}]}
#: P3's funnel on four 2x2 sub-arrays (1, 1 and 2 per stage): three stages in ``make test`` on a
#: build 60 % the size of the sixteen-sub-array one (``make verify`` runs that one)
P3S = {"name": "3 stages, 4 sub-arrays", "k_out": 4, "skew": 1.1, "stage": [
    {"items": 256, "subarrays": 1, "model": _model(4, [4], 2, [8])},
    {"items": 64, "subarrays": 1, "model": _model(4, [8, 4], 3, [12])},
    {"items": 16, "subarrays": 2, "model": _model(4, [12, 8], 5, [16])}]}
P4 = {"name": "2 stages, 512 items", "k_out": 8, "skew": 1.0, "stage": [
    {"items": 512, "subarrays": 1, "model": _model(5, [8, 4], 2, [8])},
    {"items": 128, "subarrays": 3, "model": _model(5, [16, 8], 3, [16])}]}

#: (label, accelerator (dict or preset), pipeline (dict or preset), sub-batch,
#:  [(seed-name, queries, policy[, host idle probability[, host backpressure]][, extra])]);
#:  ``extra``: a dict of scenario keys, ``workload`` (a preset name or a file: the sparse ids,
#:  rpaccel.perfmodel.feed) and ``gaps`` (a stream: cycles between arrivals). The first is
#:  the shipped tiny
#:  preset (`rpaccel sim accel
#: --config tiny --pipeline tiny` reuses its build).
MATRIX: list[tuple[str, dict | str, dict | str, int, list[tuple[str, int, str]]]] = [
    ("tiny", "tiny", "tiny", 32,
     [("a", 1, "global"), ("b", 3, "global"), ("d", 2, "global", 0.4, 0.5),
      ("c", 2, "per-sub-batch"), ("w", 2, "per-sub-batch", {"workload": "criteo-kaggle"}),
      # a warm stream: the second query arrives mid-way through the first (overlap), the third
      # right after (queues behind the two-query limit), the fourth long after (idle link)
      ("s", 4, "global", {"gaps": [4000, 0, 40000]})]),
    ("m4s2-mono-miss-l1", _accel(4, 2, lanes=1, mshrs=4, static_rows=0, sets=4, ways=2), P1, 64,
     [("a", 2, "global")]),
    ("m4s2-group-items4", _accel(4, 2), P1G, 16, [("a", 2, "global")]),
    ("m8s2-512", _accel(8, 2, max_m=128, k_max=128), P4, 128,
     [("a", 2, "per-sub-batch"), ("b", 1, "global")]),
    ("m8s4-3stage-items4", _accel(8, 4), P3, 64,
     [("b", 1, "global", 0.2), ("s", 3, "per-sub-batch", {"gaps": [1500, 20000]})]),
    ("m4s2-3stage", _accel(4, 2), P3S, 64,
     [("b", 1, "global", 0.2), ("s", 3, "per-sub-batch", {"gaps": [1500, 20000]})]),
    ("m8s4-3stage-items", _accel(8, 4, max_m=128), P3, 256, [("a", 1, "per-sub-batch")]),
    # pooled gathers: pooling 1, 3, 8 (stage 0) and 3, 1, 8, 2 (stage 1) over tables of 8..256
    # rows; a warm stream (the second query overlaps the first)
    ("tiny-pooled", "tiny-pooled", "tiny-pooled", 16,
     [("a", 1, "global"), ("c", 2, "per-sub-batch", {"gaps": [2500]})]),
]

#: Matrix builds whose RTL simulation or build takes minutes (512 first-stage items; a 256-item
#: sub-batch over three stages; sixteen sub-arrays, the suite's longest build): co-verified by
#: ``make verify``, linted by ``make lint`` (``make test`` runs three stages on four sub-arrays,
#: ``m4s2-3stage``).
VERIFY_ONLY = frozenset({"m8s2-512", "m8s4-3stage-items", "m8s4-3stage-items4"})

#: Matrix builds that `rpaccel sim accel --config X --pipeline X` reuses (the shipped presets),
#: in the tests' one "accel-tiny" worker group.
CLI_SHARED = frozenset({"tiny", "tiny-pooled"})


#: The mid-size proof (``make verify``): a 32x32 array split 2x2 (four 16x16 sub-arrays), a
#: 1,024-line dynamic cache (256 sets x 4 ways) behind 16 static rows per table, 1,024
#: first-stage items in sub-batches of 256, two stages, co-verified on a warm stream of four
#: queries (the second overlaps the first, the third queues behind the two in flight, the
#: fourth arrives long after).
MIDSIZE_ACCEL = {**_accel(32, 2, lanes=4, mshrs=16, static_rows=16, sets=256, ways=4,
                          max_m=256, k_max=128, tk_lanes=2, weight_bytes=16384),
                 "name": "mid32", "max_items": 1024, "host_bytes_per_cycle": 32}
MIDSIZE_ACCEL["embedding"] = {**MIDSIZE_ACCEL["embedding"], "rows": 4096}
MIDSIZE_PIPE = {"name": "mid-size 2 stages", "k_out": 16, "skew": 1.0, "sub_batch": 256,
                "stage": [{"items": 1024, "subarrays": 2, "model": _model(13, [16, 8], 6, [32])},
                          {"items": 128, "subarrays": 2,
                           "model": _model(13, [32, 16, 8], 6, [32, 16])}]}
MIDSIZE = ("mid32", MIDSIZE_ACCEL, MIDSIZE_PIPE, 256,
           [("s", 4, "global", {"gaps": [8_000, 0, 300_000]})])


def midsize_build():
    """``(label, AccelBuild, scenarios)`` of the mid-size proof."""
    return _builds([MIDSIZE])[0]


def matrix_builds():
    """``(label, AccelBuild, scenarios)`` of every matrix entry."""
    return _builds(MATRIX)


def _builds(entries):
    from .accelbulk import AccelBuild

    out = []
    for label, a, p, b, scs in entries:
        accel = load_accel(a) if isinstance(a, str) else accel_from_dict(a)
        pipe = load_pipeline(p) if isinstance(p, str) else pipeline_from_dict(p)
        build = AccelBuild(accel, pipe, b)
        build.placement                          # fits (raises otherwise)
        scen = []
        for n, q, pol, *x in scs:
            extra = x.pop() if x and isinstance(x[-1], dict) else {}
            idle, bp = (x + [0.0, 0.0])[:2]
            scen.append({"name": f"{n}-q{q}-{pol}" + (f"-idle{idle}" if idle else "")
                         + (f"-bp{bp}" if bp else "") + "".join(f"-{k}" for k in extra),
                         "seed": scenario_seed("accel", label, n), "queries": q, "policy": pol,
                         **({"idle": idle} if idle else {}),
                         **({"backpressure": bp} if bp else {}), **extra})
        out.append((label, build, scen))
    return out


def random_build(seed: int):
    """A random tiny accelerator and pipeline (1..3 stages) that fits, with its options (half
    of them with pooled tables, pooling 1..8, over tables of 8..128 rows); the campaign's
    generator. Returns ``(AccelBuild, scenario)``."""
    from .accelbulk import AccelBuild

    rng = np.random.default_rng([seed, 11])
    for _ in range(100):
        rows = int(rng.choice([4, 8]))
        split = 2
        S = int(rng.integers(1, 4))
        a = _accel(rows, split, lanes=int(rng.choice([1, 2, 4])), mshrs=int(rng.choice([2, 4, 8])),
                   static_rows=int(rng.choice([0, 4, 16])), sets=int(rng.choice([4, 16])),
                   ways=int(rng.choice([2, 4])), max_m=128, k_max=64,
                   tk_lanes=int(rng.choice([1, 2, 4])), weight_bytes=8192)
        items = [int(rng.choice([32, 64, 128]))]
        for _ in range(S - 1):
            items.append(items[-1] // int(rng.choice([2, 4])))
        D = int(rng.integers(4, 14))
        stages = []
        subs = [1] * S if S > 1 else [int(rng.choice([0, 1, 2]))]
        if S == 2:
            subs = [1, int(rng.integers(1, 4))]
        for s in range(S):
            d = int(rng.choice([4, 8]))
            T = int(rng.integers(2, 7))
            bottom = [int(rng.choice([4, 8, 16, 32]))] * int(rng.integers(0, 2)) + [d]
            top = [int(rng.choice([4, 8, 16, 32]))]
            stages.append({"items": items[s], "subarrays": subs[s],
                           "model": _model(D, bottom, T, top)})
        p = {"name": f"random {seed}", "k_out": int(min(items[-1], rng.choice([4, 8, 16]))),
             "skew": float(rng.choice([0.0, 1.0, 1.5])), "stage": stages}
        b = int(items[0] // int(rng.choice([1, 4])))
        pol = str(rng.choice(["global", "per-sub-batch"]))
        pooled = rng.random() < 0.5          # pooled gathers over tables of different sizes
        if pooled:
            for st in stages:
                st["model"]["pooling"] = [int(x) for x in
                                          rng.choice([1, 2, 3, 8], size=st["model"]["tables"])]
            a["max_pooling"], a["max_lookups"] = 8, 64
        try:
            a["embedding"]["tables"] = max(16, sum(st["model"]["tables"] for st in stages))
            if pooled:
                a["embedding"]["table_rows"] = [int(x) for x in rng.integers(
                    8, a["embedding"]["rows"] + 1, size=a["embedding"]["tables"])]
            build = AccelBuild(accel_from_dict(copy.deepcopy(a)), pipeline_from_dict(p), b)
            build.placement
            from rpaccel.query import place

            place(build.accel, build.pipeline, b, pol)
        except ValueError:
            continue
        q = int(rng.integers(1, 4))
        sc = {"name": f"random-{seed}", "seed": seed, "policy": pol, "queries": q}
        if q > 1 and rng.random() < 0.5:      # a stream: gaps shorter and longer than a query
            sc["gaps"] = [int(x) for x in rng.choice([0, 300, 2000, 8000, 30000], size=q - 1)]
        return build, sc
    raise RuntimeError(f"no random accelerator build fits for seed {seed}")
