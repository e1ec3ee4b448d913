"""Histogram (approximate) top-k filter: the fixed co-verification matrix and the random
campaign's generators."""

from __future__ import annotations

import numpy as np

from rpaccel.config import HistkConfig

from .cases_topk import DISTS, stall_patterns
from .cases_topk import sim_argv as _topk_argv

#: Configurations: 16 bins (RecPipe's), 4 and 64 bins, signed scores, a small buffer.
SUITE: list[tuple[str, HistkConfig]] = [
    ("b16_n512", HistkConfig(bins=16, max_items=512, score_width=12, id_width=10)),
    ("b4_n64_signed", HistkConfig(bins=4, max_items=64, score_width=6, id_width=8,
                                  signed_scores=True)),
    ("b64_n256", HistkConfig(bins=64, max_items=256, score_width=16, id_width=9)),
]

LINT_EXTRA: list[tuple[str, HistkConfig]] = [("b16_n4096", HistkConfig())]


def matrix(cfg: HistkConfig) -> list[dict]:
    """n in {1, k-1, k, k+1, max_items}, k in {1, a few, max}, every score pattern (ties, one
    bin, the extremes), back to back, with idle and backpressure."""
    N = min(cfg.max_items, 1 << cfg.id_width)
    qs = []
    for k in sorted({1, 8, N}):
        for n in sorted({1, max(1, k - 1), min(k, N), min(k + 1, N), N}):
            qs.append({"n": n, "k": k, "dist": "uniform"})
    for dist in DISTS[1:]:
        qs.append({"n": N, "k": max(1, N // 8), "dist": dist})
    return stall_patterns(cfg, qs)


def validate(cfg: HistkConfig, sc: dict) -> None:
    for q in sc["queries"]:
        cfg.check_query(q["n"], q["k"])


def describe(r: dict) -> str:
    return f"{r['n_queries']} q, {r['items']} items, {r['returned']} returned"


def random_config(rng: np.random.Generator) -> HistkConfig:
    """bins 2..64, buffers of 16..1024 items, signed or unsigned scores of 6..16 bits."""
    bits = int(rng.integers(1, 7))
    sw = int(rng.integers(max(6, bits), 17))
    n = int(rng.choice([16, 64, 256, 1024]))
    return HistkConfig(bins=1 << bits, max_items=n, score_width=sw,
                       id_width=max(1, (n - 1).bit_length()), signed_scores=bool(rng.random() < 0.5))


def random_scenario(cfg: HistkConfig, rng: np.random.Generator) -> dict:
    """Back-to-back queries of one shape: n in 1..max_items, k in 1..max_items, any score
    pattern, idle and backpressure."""
    N = min(cfg.max_items, 1 << cfg.id_width)
    n = int(rng.integers(1, N + 1))
    k = int(rng.integers(1, N + 1))
    q = {"n": n, "k": k, "dist": str(rng.choice(DISTS))}
    return {"seed": int(rng.integers(0, 1 << 31)), "queries": [q] * int(rng.integers(1, 4)),
            "idle": float(rng.choice([0.0, 0.0, 0.25, 0.5])),
            "backpressure": float(rng.choice([0.0, 0.0, 0.3, 0.6]))}


def sim_argv(sc: dict) -> list[str]:
    return _topk_argv(sc, "histk")
