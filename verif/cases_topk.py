"""Top-k filter: the fixed co-verification matrix and the random campaign's generators."""

from __future__ import annotations

import numpy as np

from rpaccel.config import TopkConfig

from .seeds import scenario_seed

DISTS = ("uniform", "equal", "increasing", "decreasing", "duplicates", "extreme")

#: Top-k configurations: lanes 1, 2, 4; a signed-score variant.
SUITE: list[tuple[str, TopkConfig]] = [
    ("k8_l1", TopkConfig(k_max=8, lanes=1, score_width=8, id_width=12)),
    ("k8_l2", TopkConfig(k_max=8, lanes=2, score_width=8, id_width=12)),
    ("k16_l4", TopkConfig(k_max=16, lanes=4, score_width=16, id_width=12)),
    ("k5_l2_signed", TopkConfig(k_max=5, lanes=2, score_width=6, id_width=10,
                                signed_scores=True)),
]

LINT_EXTRA: list[tuple[str, TopkConfig]] = [("k64_l4", TopkConfig(k_max=64, lanes=4))]


def matrix(cfg: TopkConfig) -> list[dict]:
    """n in {0, 1, k-1, k, k+1, large}, k in {1, k_max}, every score pattern, back to back."""
    km = cfg.k_max
    big = min(1 << cfg.id_width, 600)
    qs = []
    for k in sorted({1, km}):
        for n in sorted({0, 1, max(0, k - 1), k, k + 1, big}):
            qs.append({"n": n, "k": k, "dist": "uniform"})
    for dist in DISTS[1:]:
        qs.append({"n": 3 * km + 1, "k": km, "dist": dist})
        qs.append({"n": km + 2, "k": max(1, km // 2), "dist": dist})
    return stall_patterns(cfg, qs)


def stall_patterns(cfg, qs: list[dict]) -> list[dict]:
    """The queries ``qs`` back to back under four stall patterns (none, idle inputs,
    backpressure, both), each seeded by the configuration and the pattern; shared by the
    streaming filters' matrices."""
    out = []
    for name, extra in [("stall_free", {}), ("idle", {"idle": 0.3}),
                        ("backpressure", {"backpressure": 0.5}),
                        ("idle_backpressure", {"idle": 0.25, "backpressure": 0.4})]:
        seed = scenario_seed(cfg.label(), name)
        out.append({"name": f"{name}-seed{seed}", "seed": seed, "queries": qs, **extra})
    return out


def validate(cfg: TopkConfig, sc: dict) -> None:
    for q in sc["queries"]:
        cfg.check_query(q["n"], q["k"])


def describe(r: dict) -> str:
    return f"{r['n_queries']} q, {r['items']} items"


# -- random campaign -------------------------------------------------------------------------
#: Largest k_max * lanes the campaign draws: the filter keeps k_max sorted entries per lane, and
#: its build time grows with the product (README, "Random co-verification campaign").
CAMPAIGN_MAX_ENTRIES = 128


def random_config(rng: np.random.Generator) -> TopkConfig:
    """k_max 1..64, lanes 1..8 (k_max * lanes <= CAMPAIGN_MAX_ENTRIES), signed or unsigned
    scores of 2..16 bits, ids of 6..12 bits."""
    lanes = int(rng.integers(1, 9))
    k_max = int(rng.integers(1, min(64, CAMPAIGN_MAX_ENTRIES // lanes) + 1))
    return TopkConfig(k_max=k_max, lanes=lanes,
                      score_width=int(rng.integers(2, 17)), id_width=int(rng.integers(6, 13)),
                      signed_scores=bool(rng.random() < 0.5))


def random_scenario(cfg: TopkConfig, rng: np.random.Generator) -> dict:
    """Back-to-back queries of one shape (so ``rpaccel sim topk`` reproduces it): n from
    {0, 1, < k, = k, > k, a few hundred}, k from 1..k_max, any score pattern, stalls."""
    k = int(rng.integers(1, cfg.k_max + 1))
    n_max = 1 << cfg.id_width
    n = int(rng.choice([0, 1, max(0, k - 1), k, k + 1, int(rng.integers(1, 400))]))
    n = min(n, n_max)
    q = {"n": n, "k": k, "dist": str(rng.choice(DISTS))}
    return {"seed": int(rng.integers(0, 1 << 31)), "queries": [q] * int(rng.integers(1, 5)),
            "idle": float(rng.choice([0.0, 0.0, 0.25, 0.5])),
            "backpressure": float(rng.choice([0.0, 0.0, 0.3, 0.6]))}


def make_query(cfg: TopkConfig, n: int, dist: str, rng: np.random.Generator):
    lo, hi = cfg.score_range
    if dist == "uniform":
        s = rng.integers(lo, hi, size=n, endpoint=True)
    elif dist == "equal":
        s = np.full(n, rng.integers(lo, hi, endpoint=True))
    elif dist == "increasing":
        s = np.sort(rng.choice(np.arange(lo, hi + 1), size=n, replace=n > hi - lo + 1))
    elif dist == "decreasing":
        s = np.sort(rng.choice(np.arange(lo, hi + 1), size=n, replace=n > hi - lo + 1))[::-1]
    elif dist == "duplicates":
        s = rng.choice(rng.integers(lo, hi, size=3, endpoint=True), size=n)
    elif dist == "extreme":
        s = rng.choice(np.array([lo, hi]), size=n)
    else:
        raise ValueError(f"dist must be one of uniform/equal/increasing/decreasing/duplicates/"
                         f"extreme, got {dist!r}")
    ids = rng.permutation(n)
    return s.astype(np.int64), ids.astype(np.int64)


def sim_argv(sc: dict, unit: str = "topk") -> list[str]:
    """``rpaccel sim UNIT`` flags replaying ``sc`` (the streaming filters share them)."""
    qs = sc["queries"]
    if any(q != qs[0] for q in qs):
        raise ValueError(f"rpaccel sim {unit} replays queries of one shape only")
    out = ["--n", str(qs[0]["n"]), "--k", str(qs[0]["k"]), "--queries", str(len(qs)),
           "--seed", str(sc["seed"])]
    if qs[0].get("dist", "uniform") != "uniform":
        out += ["--dist", qs[0]["dist"]]
    for key in ("idle", "backpressure"):
        if sc.get(key):
            out += [f"--{key}", str(sc[key])]
    return out
