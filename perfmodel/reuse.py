"""Temporal locality of embedding traces: LRU stack distances, reuse profiles, and
reuse-calibrated trace generation (the method of Meta's open DLRM data generator).

* **Stack distance** of a lookup: the number of *distinct* (table, row) keys used since the
  previous use of the same key (0 = the key just used); a first use is a *cold* lookup. A fully
  associative LRU cache of ``C`` lines hits exactly the lookups of stack distance ``< C``, so
  one pass gives the LRU miss-ratio curve at every capacity (:func:`lru_mrc`).
* A **reuse profile** (:class:`ReuseProfile`, JSON) is the distribution of stack distances, the
  cold fraction, and the table of each cold key (the tables' shares).
* **Generation** (:func:`generate`) keeps an LRU stack of the keys emitted so far. Each lookup
  is cold with the profile's cold fraction (a new key of a table drawn by the tables' shares)
  or takes the key at a stack distance drawn from the profile, moved to the top. A distance
  deeper than the stack is yet (early in a trace) is *owed*: that lookup goes cold, the owed
  distance is paid as soon as the stack is deep enough, and cold draws are turned into distance
  draws while the cold count is above the profile's fraction. So both the distance distribution
  and the cold fraction converge to the profile's. Both passes are O(n log n) (Fenwick trees
  over time), compiled.

The KS distance of two profiles (:func:`ks_distance`) compares their stack-distance CDFs, cold
lookups counted at infinity.
"""

from __future__ import annotations

import numpy as np

from rpaccel.trace import ReuseProfile, Trace, load_profile

__all__ = ["stack_distances", "ReuseProfile", "profile_trace", "generate", "ks_distance",
           "lru_mrc", "load_profile", "COLD"]

#: Stack distance of a first use.
COLD = -1

_K = {}


def _kernels():
    if not _K:
        import numba

        @numba.njit(cache=False, nogil=True)
        def sd(keys):
            n = keys.shape[0]
            tree = np.zeros(n + 1, dtype=np.int64)
            out = np.empty(n, dtype=np.int64)
            last = np.full(n, -1, dtype=np.int64)
            live = 0
            for i in range(n):
                k = keys[i]
                p = last[k]
                if p < 0:
                    out[i] = -1
                    live += 1
                else:
                    # markers at positions > p: live - prefix(p + 1)
                    s = 0
                    j = p + 1
                    while j > 0:
                        s += tree[j]
                        j -= j & (-j)
                    out[i] = live - s
                    j = p + 1
                    while j <= n:
                        tree[j] -= 1
                        j += j & (-j)
                j = i + 1
                while j <= n:
                    tree[j] += 1
                    j += j & (-j)
                last[k] = i
            return out

        @numba.njit(cache=False, nogil=True)
        def gen(n, u_cold, u_dist, u_tab, cdf_d, dvals, cdf_t, seed_rows, cold_frac):
            tree = np.zeros(n + 1, dtype=np.int64)
            key_at = np.empty(n, dtype=np.int64)
            tables = np.empty(n, dtype=np.int64)
            rows = np.empty(n, dtype=np.int64)
            next_row = np.zeros(cdf_t.shape[0], dtype=np.int64)
            tab_of = np.empty(n, dtype=np.int64)
            row_of = np.empty(n, dtype=np.int64)
            nkeys = 0
            live = 0
            logn = 1
            while (1 << logn) <= n:
                logn += 1
            ri = 0
            pend = np.zeros(dvals.shape[0], dtype=np.int64)   # drawn distances owed
            minp = dvals.shape[0]                             # lowest owed index
            cold_out = 0
            for i in range(n):
                key = -1
                d = -1
                if minp < dvals.shape[0] and dvals[minp] < live:
                    d = dvals[minp]                           # pay an owed distance first
                    pend[minp] -= 1
                    while minp < dvals.shape[0] and pend[minp] == 0:
                        minp += 1
                elif u_cold[i] >= 0.0 or cold_out > cold_frac * (i + 1):
                    j = np.searchsorted(cdf_d, u_dist[ri % u_dist.shape[0]], side="right")
                    if j >= dvals.shape[0]:
                        j = dvals.shape[0] - 1
                    ri += 1
                    if dvals[j] < live:
                        d = dvals[j]
                    else:                                     # too deep yet: owe it, go cold
                        pend[j] += 1
                        if j < minp:
                            minp = j
                if d >= 0:
                    # the key at stack distance d: the (live - d)-th marker (1-based)
                    want = live - d
                    pos = 0
                    for b in range(logn, -1, -1):
                        nxt = pos + (1 << b)
                        if nxt <= n and tree[nxt] < want:
                            pos = nxt
                            want -= tree[nxt]
                    key = key_at[pos]
                    j = pos + 1
                    while j <= n:
                        tree[j] -= 1
                        j += j & (-j)
                    live -= 1
                else:
                    cold_out += 1
                if key < 0:
                    t = np.searchsorted(cdf_t, u_tab[i], side="right")
                    if t >= cdf_t.shape[0]:
                        t = cdf_t.shape[0] - 1
                    key = nkeys
                    tab_of[key] = t
                    row_of[key] = (next_row[t] * 2654435761 + seed_rows) & ((1 << 31) - 1)
                    next_row[t] += 1
                    nkeys += 1
                key_at[i] = key
                tables[i] = tab_of[key]
                rows[i] = row_of[key]
                j = i + 1
                while j <= n:
                    tree[j] += 1
                    j += j & (-j)
                live += 1
            return tables, rows

        _K["sd"] = sd
        _K["gen"] = gen
    return _K


def stack_distances(keys: np.ndarray) -> np.ndarray:
    """LRU stack distance of each lookup (:data:`COLD` for a first use); ``keys`` one integer
    per (table, row) (:meth:`rpaccel.trace.Trace.keys`)."""
    keys = np.asarray(keys, dtype=np.int64)
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    _, dense = np.unique(keys, return_inverse=True)         # keys -> 0..distinct-1
    return _kernels()["sd"](np.ascontiguousarray(dense.reshape(-1), dtype=np.int64))


def lru_mrc(distances: np.ndarray, capacities) -> np.ndarray:
    """Miss ratio of a fully associative LRU cache at each capacity (lines), from the stack
    distances: a lookup hits iff its distance is below the capacity."""
    d = np.asarray(distances)
    warm = np.sort(d[d >= 0])
    caps = np.asarray(capacities, dtype=np.int64)
    hits = np.searchsorted(warm, caps, side="left")
    return 1.0 - hits / max(1, len(d))


def profile_trace(trace: Trace) -> ReuseProfile:
    """The reuse profile of a trace."""
    sd = stack_distances(trace.keys())
    cold = sd < 0
    d, c = np.unique(sd[~cold], return_counts=True)
    first_tables = trace.tables[cold]
    shares = np.bincount(first_tables, minlength=trace.n_tables) / max(1, int(cold.sum()))
    return ReuseProfile(len(sd), int(cold.sum()), tuple(int(x) for x in d),
                        tuple(int(x) for x in c), tuple(float(x) for x in shares),
                        source=trace.source)


def generate(profile: ReuseProfile, lookups: int, seed: int) -> Trace:
    """A trace of ``lookups`` lookups reproducing ``profile`` (module doc); seeded."""
    if isinstance(lookups, bool) or not isinstance(lookups, (int, np.integer)) or \
            not 1 <= lookups <= 1 << 31:
        raise ValueError(f"lookups must be an integer in 1..{1 << 31}, got {lookups!r}")
    rng = np.random.default_rng([int(seed), 23])
    warm = profile.lookups - profile.cold
    u_cold = rng.random(lookups) - profile.cold_fraction      # >= 0: draw a distance
    u_dist = rng.random(lookups + 64)
    u_tab = rng.random(lookups)
    if warm:
        cdf_d = np.cumsum(np.asarray(profile.counts, dtype=np.float64)) / warm
        cdf_d[-1] = 1.0
        dvals = np.asarray(profile.distances, dtype=np.int64)
    else:
        cdf_d, dvals = np.ones(1), np.zeros(1, dtype=np.int64)
        u_cold[:] = -1.0
    cdf_t = np.cumsum(np.asarray(profile.table_shares, dtype=np.float64))
    cdf_t[-1] = 1.0
    t, r = _kernels()["gen"](int(lookups), u_cold, u_dist, u_tab, cdf_d, dvals, cdf_t,
                             int(rng.integers(1 << 30)), profile.cold_fraction)
    return Trace(t, r, source=f"generated from {profile.source or 'a reuse profile'} "
                              f"(seed {seed})")


def ks_distance(a: ReuseProfile, b: ReuseProfile) -> float:
    """Kolmogorov-Smirnov distance of two stack-distance distributions (cold at infinity)."""
    xs = np.union1d(np.asarray(a.distances, dtype=np.int64),
                    np.asarray(b.distances, dtype=np.int64))
    if len(xs) == 0:
        return abs(a.cold_fraction - b.cold_fraction)
    return float(np.max(np.abs(a.cdf(xs) - b.cdf(xs))))
