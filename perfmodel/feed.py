"""A workload's lookups as the accelerator's sparse ids (the host side of a query).

:class:`WorkloadFeed` turns a :class:`rpaccel.workload.Workload` into the ``(N, T)`` sparse ids
of query q for an accelerator, in three steps:

1. **draw** the raw ids: a synthetic workload draws popularity ranks (one uniform per lookup,
   item-major, from the query's generator, as :func:`rpaccel.perfmodel.query.query_inputs`
   always has) and scatters them over the table (``raw = (rank * a + b) mod rows``, a
   bijection; skipped for ``ranked`` workloads). Ranks below 2**20 come from the exact Zipf (or
   ``freq``) CDF; beyond, from the continuous power law (tables of millions of rows need no
   CDF of that size). A trace gives feature t of item i of query q the
   ``(q * N + i)``-th lookup of table t (wrapping at the end of the table's lookups); a reuse
   profile is first turned into a trace (64 queries' worth of lookups, seeded);
2. **static set by profiling**: the ``static_rows`` rows per table most used in a warm-up
   window (:data:`PROFILE_QUERIES` queries drawn from their own generators, or a trace's first
   queries) are renumbered ``0..static_rows-1`` -- the accelerator's static region -- by a
   permutation that swaps them with the ids they displace (a ``ranked`` workload is used as
   is: its hottest rows are already first);
3. **fold** a table larger than the accelerator's ``rows`` into it, DLRM's hashing trick
   (``--max-ind-range``): ids at or above ``static_rows`` map to
   ``static_rows + (id - static_rows) mod (rows - static_rows)``, so no cold id lands in the
   static region. :attr:`WorkloadFeed.folded` counts the tables folded.

**Pooling.** The columns are the lookups of the pipeline's widest stage
(:attr:`rpaccel.query.Pipeline.widest_stage`): column c reads table ``lookup_tables()[c]`` of
its model, whose ``pooling`` must equal the workload's (a fixed count per table; a trace must be
one-hot): the L columns of a pooled table are L independent draws of its popularity, and share
its static set. With per-table rows (``table_rows``) a column folds into its own table's rows.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from rpaccel.config import EmbCacheConfig
from rpaccel.query import Pipeline
from rpaccel.trace import Trace
from rpaccel.workload import TableLoad, Workload

from .query import column_rows, sorted_search

__all__ = ["WorkloadFeed", "PROFILE_QUERIES", "EXACT_RANKS", "rank_sampler", "workload_trace"]

#: Warm-up queries profiled to choose the static set.
PROFILE_QUERIES = 8
#: Ranks below this come from the exact CDF; beyond, from the continuous tail.
EXACT_RANKS = 1 << 20
_MULT = 1_000_003          # scatter multiplier (a prime; made coprime with the rows)


@functools.lru_cache(maxsize=32)
def _cdf(rows: int, skew: float, freq: tuple | None) -> tuple[np.ndarray, float, int]:
    """(CDF of the exact head, head mass share, head length)."""
    if freq is not None:
        w = np.asarray(freq, dtype=np.float64)
        c = np.cumsum(w)
        return c / c[-1], 1.0, len(w)
    k = min(rows, EXACT_RANKS)
    w = 1.0 / np.arange(1, k + 1, dtype=np.float64) ** skew
    head = float(w.sum())
    tail = 0.0
    if rows > k:                       # integral of x**-skew over [k + 0.5, rows + 0.5]
        a, b = k + 0.5, rows + 0.5
        tail = math.log(b / a) if skew == 1.0 else (b ** (1 - skew) - a ** (1 - skew)) / (
            1 - skew)
    c = np.cumsum(w) / (head + tail)
    return c, head / (head + tail), k


def rank_sampler(tab: TableLoad):
    """``f(u) -> ranks``: popularity ranks of uniforms ``u`` in [0, 1) for one table."""
    c, share, k = _cdf(tab.rows, float(tab.skew), tab.freq)

    def f(u: np.ndarray) -> np.ndarray:
        r = np.minimum(sorted_search(c, u), k - 1).astype(np.int64)
        if share < 1.0:
            t = u >= share
            if t.any():
                v = (u[t] - share) / (1.0 - share)
                a, b, s = k + 0.5, tab.rows + 0.5, tab.skew
                x = a * (b / a) ** v if s == 1.0 else (
                    a ** (1 - s) + v * (b ** (1 - s) - a ** (1 - s))) ** (1 / (1 - s))
                r[t] = np.clip(np.floor(x - 0.5).astype(np.int64), k, tab.rows - 1)
        return r
    return f


def _scatter(rows: int, t: int) -> tuple[int, int]:
    a = _MULT % rows or 1
    while math.gcd(a, rows) != 1:
        a += 1
    return a, (7919 * (t + 1)) % rows


class WorkloadFeed:
    """The sparse ids of a workload's queries on an accelerator (module doc)."""

    def __init__(self, workload: Workload, pipeline: Pipeline, emb: EmbCacheConfig, seed: int):
        self.workload, self.seed = workload, seed
        self.n, self.T = pipeline.items[0], pipeline.sparse
        wide = pipeline.widest_stage.spec
        self.col_table = wide.lookup_tables()          # column -> its table
        nt = wide.tables
        workload.check_accel(wide.pooling)
        workload.check_tables(nt)
        self.S = emb.static_rows
        cr = column_rows(emb, pipeline)
        self.R = [cr] * self.T if isinstance(cr, int) else list(cr)
        wl = workload
        if wl.profile is not None:
            from .reuse import generate

            wl = Workload(name=wl.name, trace=generate(wl.profile, 64 * self.n * self.T, seed))
        self.streams: list[np.ndarray] | None = None
        if wl.trace is not None:
            tr: Trace = wl.trace
            self.streams = [tr.per_table(t) for t in range(nt)]
            empty = [t for t, s in enumerate(self.streams) if len(s) == 0]
            if empty:
                raise ValueError(f"--workload {workload.name}: table {empty[0]} has no lookups "
                                 "in the trace")
            self.rows = list(tr.table_rows()[:nt])
        else:
            self.tabs = [wl.table(t) for t in range(nt)]
            self.rows = [tb.rows for tb in self.tabs]
            self.samplers = [rank_sampler(tb) for tb in self.tabs]
            self.scatter = [_scatter(tb.rows, t) for t, tb in enumerate(self.tabs)]
        self.folded = sum(r > min(self.R[c] for c in range(self.T) if self.col_table[c] == t)
                          for t, r in enumerate(self.rows))
        self.maps = [None] * nt
        if not workload.ranked:
            prof = np.concatenate([self.raw(q, np.random.default_rng([seed, 9, q]))
                                   for q in range(PROFILE_QUERIES)])
            ct = np.array(self.col_table)
            self.maps = [self._static_map(prof[:, ct == t].ravel()) for t in range(nt)]

    def raw(self, q: int, rng: np.random.Generator) -> np.ndarray:
        """Raw ids ``(N, T)`` of query q (``rng``: its generator, for synthetic draws)."""
        if self.streams is not None:
            pos = q * self.n + np.arange(self.n)
            return np.stack([self.streams[t][pos % len(self.streams[t])]
                             for t in self.col_table], axis=1)
        u = rng.random(self.n * self.T).reshape(self.n, self.T)
        out = np.empty((self.n, self.T), dtype=np.int64)
        for c, t in enumerate(self.col_table):
            r = self.samplers[t](u[:, c])
            if not self.workload.ranked:
                a, b = self.scatter[t]
                r = (r * a + b) % self.rows[t]
            out[:, c] = r
        return out

    def _static_map(self, ids: np.ndarray):
        v, c = np.unique(ids, return_counts=True)
        hot = v[np.lexsort((v, -c))][:self.S]                 # most used, ties to lower id
        order = np.argsort(hot)
        disp = np.setdiff1d(np.arange(len(hot)), hot)         # static slots held by cold ids
        freed = np.setdiff1d(hot, np.arange(len(hot)))        # hot ids outside the region
        return hot[order], order, disp, freed

    def sparse(self, q: int, rng: np.random.Generator) -> np.ndarray:
        """The accelerator's ids ``(N, T)`` of query q."""
        x = self.raw(q, rng)
        for c, t in enumerate(self.col_table):
            col = x[:, c]
            m = self.maps[t]
            if m is not None and len(m[0]):
                hs, slot, disp, freed = m
                i = np.minimum(np.searchsorted(hs, col), len(hs) - 1)
                is_hot = hs[i] == col
                out = col.copy()
                out[is_hot] = slot[i[is_hot]]
                d = ~is_hot & (col < len(hs))
                out[d] = freed[np.searchsorted(disp, col[d])]
                col = out
            R = self.R[c]
            if self.rows[t] > R:
                col = col.copy()
                if self.S >= R:                      # every row static: fold over them all
                    col %= R
                else:
                    f = col >= self.S
                    col[f] = self.S + (col[f] - self.S) % (R - self.S)
            x[:, c] = col
        return x


def workload_trace(workload: Workload, *, items: int, tables: int | None = None, seed: int = 0,
                   items_per_query: int | None = None) -> Trace:
    """A workload's lookups as a trace of ``items`` items (item-major: item 0's lookups of
    every table, then item 1's, ...), for the cache models. ``tables``: how many of its tables
    (default all; required for ``repeat`` workloads). A pooled table repeats a bag of
    ``pooling`` (or ``pooling..pooling_max``) lookups per item; ``lengths`` records the bags.
    ``query`` numbers the items in queries of ``items_per_query`` (default: one query). A trace
    workload returns its trace (``items`` ignored); a reuse profile generates
    ``items * tables`` lookups."""
    from rpaccel.config import check_int

    check_int("items", items, 1, 1 << 31)
    if workload.trace is not None:
        return workload.trace
    if workload.profile is not None:
        from .reuse import generate

        return generate(workload.profile, items * len(workload.profile.table_shares), seed)
    T = tables if tables is not None else workload.n_tables()
    if T is None:
        raise ValueError(f"workload {workload.name}: give the number of tables (it repeats one "
                         "table spec)")
    workload.check_tables(T, "the study")
    rng = np.random.default_rng([seed, 31])
    u = rng.random(items * T).reshape(items, T)
    ids = np.empty((items, T), dtype=np.int64)
    lens = np.ones((items, T), dtype=np.int64)
    rows = []
    for t in range(T):
        tab = workload.table(t)
        f = rank_sampler(tab)
        r = f(u[:, t])
        if not workload.ranked:
            a, b = _scatter(tab.rows, t)
            r = (r * a + b) % tab.rows
        ids[:, t] = r
        rows.append(tab.rows)
        if tab.pooled:
            hi = tab.pooling_max or tab.pooling
            lens[:, t] = rng.integers(tab.pooling, hi + 1, size=items)
    q = None
    if items_per_query:
        q = np.repeat(np.arange(items) // items_per_query, T)
    if not (lens != 1).any():
        return Trace(np.tile(np.arange(T), items), ids.reshape(-1), q, None, tuple(rows),
                     source=f"workload {workload.name} (seed {seed})")
    # pooled: bag (i, t) = its drawn id then lens - 1 more draws from the same table
    n = int(lens.sum())
    tables = np.repeat(np.tile(np.arange(T), items), lens.reshape(-1))
    first = np.concatenate([[0], np.cumsum(lens.reshape(-1))[:-1]])
    out = np.empty(n, dtype=np.int64)
    extra = np.ones(n, dtype=bool)
    extra[first] = False
    out[first] = ids.reshape(-1)
    u2 = rng.random(int(extra.sum()))
    et = tables[extra]
    vals = np.empty(len(et), dtype=np.int64)
    for t in range(T):
        m = et == t
        if m.any():
            tab = workload.table(t)
            r = rank_sampler(tab)(u2[m])
            if not workload.ranked:
                a, b = _scatter(tab.rows, t)
                r = (r * a + b) % tab.rows
            vals[m] = r
    out[extra] = vals
    if q is not None:
        q = np.repeat(q, lens.reshape(-1))
    return Trace(tables, out, q, lens.reshape(-1), tuple(rows),
                 source=f"workload {workload.name} (seed {seed})")
