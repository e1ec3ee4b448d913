"""GEMM engine: the fixed co-verification matrix and the random campaign's generators.

Pure Python (no cocotb, no Amaranth): ``make sim``, pytest, ``rpaccel verify`` and the CLI read
it through the unit registry (:mod:`rpaccel.units`).
"""

from __future__ import annotations

import numpy as np

from rpaccel.config import GemmConfig

from .seeds import scenario_seed

#: Configurations the matrix covers: (name, config). Default widths (8-bit operands, 32-bit
#: accumulators) on six array shapes, double-buffered with two C read ports (the default);
#: single-buffered on four of them (two with one C read port: the serial schedule); one C read
#: port with double buffering on one; plus a narrow accumulator (16 bits = one full product) and
#: wide operands, where sums over K overflow and the wrap-around semantics are exercised.
SUITE: list[tuple[str, GemmConfig]] = [
    *((f"{r}x{c}", GemmConfig(rows=r, cols=c, max_m=256, max_k=512, max_n=512))
      for r, c in [(1, 1), (2, 3), (4, 4), (3, 8), (8, 8), (16, 16)]),
    *((f"{r}x{c}_b1" + ("_c1" if p == 1 else ""),
       GemmConfig(rows=r, cols=c, max_m=256, max_k=512, max_n=512, weight_buffering=1,
                  c_read_ports=p))
      for r, c, p in [(1, 1, 2), (2, 3, 2), (4, 4, 1), (8, 8, 1)]),
    ("4x4_c1", GemmConfig(rows=4, cols=4, max_m=256, max_k=512, max_n=512, c_read_ports=1)),
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

#: Split-capable arrays (the reconfigurable array): monolithic mode and split mode on the same
#: hardware, square and non-square grids, both buffering modes.
SPLIT_SUITE: list[tuple[str, GemmConfig]] = [
    (f"{r}x{c}_s{gr}x{gc}" + ("_b1_c1" if b == 1 else ""),
     GemmConfig(rows=r, cols=c, max_m=64, max_k=64, max_n=64, split=(gr, gc), weight_buffering=b,
                c_read_ports=b))
    for r, c, gr, gc, b in [(4, 4, 2, 2, 2), (8, 8, 2, 2, 2), (8, 8, 4, 4, 2), (8, 6, 2, 1, 2),
                            (8, 6, 1, 2, 2), (16, 16, 4, 4, 2), (8, 8, 2, 2, 1)]]
SUITE += SPLIT_SUITE

#: Co-verified by ``make verify`` only (``make lint`` lints them), to keep the suite within its
#: budget: the 16x16 array split 4x4 (a minute of simulation; ``make test`` covers the 4x4 split
#: on the 8x8 array) and the 8x6 array split 1x2 (``make test`` covers the non-square split 2x1).
VERIFY_ONLY = frozenset({"16x16_s4x4", "8x6_s1x2"})

#: Beyond the matrix, ``make verilog``/``make lint`` also cover the benchmark arrays.
LINT_EXTRA: list[tuple[str, GemmConfig]] = [
    ("32x32", GemmConfig(rows=32, cols=32)), ("16x16_bench", GemmConfig(rows=16, cols=16))]


def sub_seed(seed: int, b: int) -> int:
    """Operand seed of sub-array b in a split scenario driven from one seed (``rpaccel sim gemm
    --seed S --split ...`` and the random campaign): ``S + b``."""
    return seed + b


def split_matrix(cfg: GemmConfig) -> list[dict]:
    """Scenarios for a split-capable array: the whole array in monolithic mode; every sub-array
    busy with a different shape (1s and non-multiples); one sub-array idle under stalls; bulk;
    and back-to-back runs with a mode change between them (no reset)."""
    sub = cfg.subarray
    r, c, n_sub = sub.rows, sub.cols, cfg.subarrays
    dims = [(1, 1, 1), (5, r + 1, c + 2), (9, 2 * r, 2 * c), (3, 3 * r + 1, 1), (r + 2 * c, r, c),
            (2, 1, 3 * c + 1), (7, 2 * r + 1, c + 1), (4, r, 2 * c + 3)]

    def subs(name: str, idle_one: bool = False) -> list[dict | None]:
        out = []
        for b in range(n_sub):
            m, k, n = dims[(b + len(name)) % len(dims)]
            m, k, n = min(m, cfg.max_m), min(k, cfg.max_k), min(n, cfg.max_n)
            out.append(None if idle_one and b == 0 else
                       {"m": m, "k": k, "n": n, "seed": scenario_seed(cfg.label(), name, b)})
        return out

    R, C = cfg.rows, cfg.cols
    out = [
        {"name": "mono", "m": 9, "k": min(cfg.max_k, R + 1), "n": min(cfg.max_n, C + 2)},
        {"name": "split_all", "subs": subs("split_all")},
        {"name": "split_one_idle_stalls", "subs": subs("split_one_idle_stalls", True),
         "idle": 0.2, "backpressure": 0.3},
        {"name": "split_bulk", "subs": subs("split_bulk"), "mode": "bulk"},
        {"name": "mono_after_split", "m": 6, "k": min(cfg.max_k, 2 * R + 1),
         "n": min(cfg.max_n, C + 1), "reset": False, "idle": 0.1},
        {"name": "split_after_mono", "subs": subs("split_after_mono"), "reset": False,
         "backpressure": 0.4},
    ]
    for sc in out:
        seed = scenario_seed(cfg.label(), sc["name"])
        sc["name"] = f"{sc['name']}-seed{seed}"
        sc["seed"] = seed
    return out


def matrix(cfg: GemmConfig) -> list[dict]:
    """Scenarios for one array: edge shapes, non-multiples, large K/N, extremes, stalls, bulk."""
    if cfg.split != (1, 1):
        return split_matrix(cfg)
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
        # many one-K-tile N-tiles under heavy backpressure: with double buffering each N-tile's
        # beats drain under the next one's compute and queue behind the previous N-tile's
        ("n_tiles_backpressure", 2, r, min(cfg.max_n, 8 * c + 1), {"backpressure": 0.6}),
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
    if "subs" not in sc:
        cfg.check_shape(sc["m"], sc["k"], sc["n"])
        return
    if cfg.split == (1, 1):
        raise ValueError("a split scenario needs a split-capable array (split other than 1x1)")
    subs = sc["subs"]
    if len(subs) > cfg.subarrays or not any(s is not None for s in subs):
        raise ValueError(f"subs: 1..{cfg.subarrays} entries with at least one GEMM, got {subs!r}")
    for s in subs:
        if s is not None:
            cfg.subarray.check_shape(s["m"], s["k"], s["n"])


def describe(r: dict) -> str:
    if "subs" in r:
        return f"split: {sum(s is not None for s in r['subs'])} GEMMs"
    return f"M={r['m']} K={r['k']} N={r['n']}"


# -- random campaign -------------------------------------------------------------------------
def random_config(rng: np.random.Generator) -> GemmConfig:
    """A random valid engine: non-square arrays 1..16, operands 2..16 bits with a legal
    accumulator (2*in_width..64, sometimes exactly 2*in_width so sums wrap), small buffers,
    single- or double-buffered weights, one or two C read ports; three in ten split-capable (a
    grid of up to 4x4)."""
    iw = int(rng.integers(2, 17))
    acc = int(rng.choice([2 * iw, int(rng.integers(2 * iw, 65))]))
    rows, cols = int(rng.integers(1, 17)), int(rng.integers(1, 17))
    split = (1, 1)
    if rng.random() < 0.3:       # a split-capable array: a grid dividing the array, at most 16
        gr = int(rng.choice([d for d in range(1, 5) if rows % d == 0]))
        gc = int(rng.choice([d for d in range(1, 5) if cols % d == 0]))
        split = (gr, gc)
    shape = dict(max_m=int(rng.integers(1, 65)), max_k=int(rng.integers(1, 129)),
                 max_n=int(rng.integers(1, 129)), weight_buffering=int(rng.integers(1, 3)))
    return GemmConfig(rows=rows, cols=cols, in_width=iw, acc_width=acc, split=split, **shape,
                      c_read_ports=int(rng.integers(1, 3)))


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
    if cfg.split != (1, 1) and rng.random() < 0.75:     # split mode: every sub-array busy
        sub = cfg.subarray
        sc = {"subs": [{"m": _dim(rng, cfg.max_m, 8), "k": _dim(rng, cfg.max_k, sub.rows),
                        "n": _dim(rng, cfg.max_n, sub.cols), "seed": sub_seed(seed, b)}
                       for b in range(cfg.subarrays)]}
    else:
        sc = {"m": _dim(rng, cfg.max_m, 8), "k": _dim(rng, cfg.max_k, cfg.rows),
              "n": _dim(rng, cfg.max_n, cfg.cols)}
        if cfg.split != (1, 1):
            sc["whole"] = True       # the monolithic mode of a split-capable array
    sc.update({"seed": seed, "dist": str(rng.choice(["uniform", "uniform", "extreme"]))})
    if rng.random() < 0.15:
        sc["mode"] = "bulk"
    else:
        sc["mode"] = "stream"
        sc["idle"] = float(rng.choice([0.0, 0.0, 0.2, 0.5]))
        sc["backpressure"] = float(rng.choice([0.0, 0.0, 0.3, 0.6]))
    return sc


def sim_argv(sc: dict) -> list[str]:
    """``rpaccel sim gemm`` flags that replay scenario ``sc`` (the inverse of sim_scenario)."""
    if "subs" in sc:
        if any(s is None for s in sc["subs"]):
            raise ValueError("rpaccel sim gemm cannot leave a sub-array idle")
        out = [a for s in sc["subs"] for a in ("--mkn", f"{s['m']},{s['k']},{s['n']}")]
        out += ["--seed", str(sc["seed"])]
    else:
        out = ["--m", str(sc["m"]), "--k", str(sc["k"]), "--n", str(sc["n"]),
               "--seed", str(sc["seed"])] + (["--whole"] if sc.get("whole") else [])
    if sc.get("dist", "uniform") != "uniform":
        out += ["--dist", sc["dist"]]
    out += ["--mode", sc.get("mode", "stream")]
    for key in ("idle", "backpressure"):
        if sc.get(key):
            out += [f"--{key}", str(sc[key])]
    return out
