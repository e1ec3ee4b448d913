"""GEMM engine: the fixed co-verification matrix and the random campaign's generators.

Pure Python (no cocotb, no Amaranth): ``make sim``, pytest, ``rpaccel verify`` and the CLI read
it through the unit registry (:mod:`rpaccel.units`).
"""

from __future__ import annotations

import numpy as np

from rpaccel.config import GemmConfig

from .seeds import scenario_seed

#: Configurations the matrix covers: (name, config). Default widths (8-bit operands, 32-bit
#: accumulators) on six array shapes, double-buffered (the default) and single-buffered on four
#: of them, plus a narrow accumulator (16 bits = one full product) and wide operands, where sums
#: over K overflow and the wrap-around semantics are exercised.
SUITE: list[tuple[str, GemmConfig]] = [
    *((f"{r}x{c}", GemmConfig(rows=r, cols=c, max_m=256, max_k=512, max_n=512))
      for r, c in [(1, 1), (2, 3), (4, 4), (3, 8), (8, 8), (16, 16)]),
    *((f"{r}x{c}_b1", GemmConfig(rows=r, cols=c, max_m=256, max_k=512, max_n=512,
                                 weight_buffering=1))
      for r, c in [(1, 1), (2, 3), (4, 4), (8, 8)]),
    ("2x2_wrap16", GemmConfig(rows=2, cols=2, in_width=8, acc_width=16, max_m=64, max_k=512,
                              max_n=64)),
    ("3x2_i16_a40", GemmConfig(rows=3, cols=2, in_width=16, acc_width=40, max_m=64, max_k=512,
                               max_n=64)),
]

#: Scenarios found by the random campaign, kept in the fixed matrix after the fix:
#: label -> (config, scenarios). acc_width=63 overflowed the golden model's wrap (2**63 is not an
#: int64): ``rpaccel verify --units gemm --configs 100 --scenarios 10 --seed 1``, config 65.
REGRESSIONS: dict[str, tuple[GemmConfig, list[dict]]] = {
    "8x3_i12_a63": (GemmConfig(rows=8, cols=3, in_width=12, acc_width=63, max_m=49, max_k=112,
                               max_n=15),
                    [{"name": "campaign-s1-c65s0-seed1306388511", "m": 49, "k": 112, "n": 8,
                      "seed": 1306388511, "dist": "extreme", "mode": "stream", "idle": 0.5}]),
}
SUITE += [(label, cfg) for label, (cfg, _) in REGRESSIONS.items()]

#: Beyond the matrix, ``make verilog``/``make lint`` also cover the benchmark arrays.
LINT_EXTRA: list[tuple[str, GemmConfig]] = [
    ("32x32", GemmConfig(rows=32, cols=32)), ("16x16_bench", GemmConfig(rows=16, cols=16))]


def matrix(cfg: GemmConfig) -> list[dict]:
    """Scenarios for one array: edge shapes, non-multiples, large K/N, extremes, stalls, bulk."""
    r, c = cfg.rows, cfg.cols
    shapes = [
        ("m1k1n1", 1, 1, 1, {}),
        ("m1", 1, 3 * r + 1, 2 * c + 1, {}),
        ("k1", 5, 1, c + 1, {}),
        ("n1", 4, r + 1, 1, {}),
        ("exact_tiles", 7, 2 * r, 2 * c, {}),
        ("non_multiple", 9, r + max(1, r // 2), c + max(1, c // 2) + 1, {}),
        ("large_k", 3, min(cfg.max_k, 24 * r + 5), c, {}),
        ("large_n", 3, r, min(cfg.max_n, 24 * c + 3), {}),
        ("large_k_extreme", 4, cfg.max_k, c + 1, {"dist": "extreme"}),
        ("extreme", 6, 2 * r + 1, 2 * c + 1, {"dist": "extreme"}),
        ("idle", 6, r + 2, c + 2, {"idle": 0.3}),
        ("backpressure", 6, r + 2, c + 2, {"backpressure": 0.5}),
        ("idle_backpressure", 11, 2 * r + 1, 3 * c + 1, {"idle": 0.25, "backpressure": 0.4}),
        ("extreme_stalls", 5, r + 1, c + 1, {"dist": "extreme", "idle": 0.2, "backpressure": 0.3}),
        ("bulk", 33, 3 * r + 2, 2 * c + 3, {"mode": "bulk"}),
        ("long_m", r + 2 * c - 2, 3 * r, 3 * c, {}),          # double buffering: back to back
        ("long_m_minus_1", max(1, r + 2 * c - 3), 3 * r, 3 * c, {}),
        ("bulk_extreme", 17, 2 * r + 1, c + 1, {"mode": "bulk", "dist": "extreme"}),
    ]
    out = []
    for name, m, k, n, extra in shapes:
        seed = scenario_seed(cfg.label(), name)
        out.append({"name": f"{name}-seed{seed}", "m": m, "k": k, "n": n, "seed": seed, **extra})
    for rcfg, scs in REGRESSIONS.values():
        if rcfg == cfg:
            out += scs
    return out


def validate(cfg: GemmConfig, sc: dict) -> None:
    cfg.check_shape(sc["m"], sc["k"], sc["n"])


def describe(r: dict) -> str:
    return f"M={r['m']} K={r['k']} N={r['n']}"


# -- random campaign -------------------------------------------------------------------------
def random_config(rng: np.random.Generator) -> GemmConfig:
    """A random valid engine: non-square arrays 1..16, operands 2..16 bits with a legal
    accumulator (2*in_width..64, sometimes exactly 2*in_width so sums wrap), small buffers,
    single- or double-buffered weights."""
    iw = int(rng.integers(2, 17))
    acc = int(rng.choice([2 * iw, int(rng.integers(2 * iw, 65))]))
    return GemmConfig(rows=int(rng.integers(1, 17)), cols=int(rng.integers(1, 17)),
                      in_width=iw, acc_width=acc, max_m=int(rng.integers(1, 65)),
                      max_k=int(rng.integers(1, 129)), max_n=int(rng.integers(1, 129)),
                      weight_buffering=int(rng.integers(1, 3)))


def _dim(rng: np.random.Generator, cap: int, tile: int) -> int:
    """1, a tile multiple, a non-multiple or the capacity, within ``cap``."""
    kind = rng.integers(0, 4)
    if kind == 0:
        v = 1
    elif kind == 1:
        v = tile * int(rng.integers(1, 4))
    elif kind == 2:
        v = tile * int(rng.integers(0, 3)) + int(rng.integers(1, max(2, tile)))
    else:
        v = cap
    return max(1, min(cap, v))


def random_scenario(cfg: GemmConfig, rng: np.random.Generator) -> dict:
    seed = int(rng.integers(0, 1 << 31))
    sc = {"m": _dim(rng, cfg.max_m, 8), "k": _dim(rng, cfg.max_k, cfg.rows),
          "n": _dim(rng, cfg.max_n, cfg.cols), "seed": seed,
          "dist": str(rng.choice(["uniform", "uniform", "extreme"]))}
    if rng.random() < 0.15:
        sc["mode"] = "bulk"
    else:
        sc["mode"] = "stream"
        sc["idle"] = float(rng.choice([0.0, 0.0, 0.2, 0.5]))
        sc["backpressure"] = float(rng.choice([0.0, 0.0, 0.3, 0.6]))
    return sc
