"""Dual static + dynamic embedding cache: policy model, cycle-exact timeline, fast hit-rate model,
and workload helpers (Zipf traces, frequency re-indexing, sweeps).

Policy (shared by the RTL and every model here):

* A lookup of row ``r < static_rows`` (after frequency re-indexing) is a **static hit**; it never
  touches the dynamic cache.
* Otherwise the global row ``g = table * rows + row`` maps to set ``g mod sets`` of the dynamic
  cache; the request's stage owns ``stage_ways[stage]`` ways of every set (way partitioning).
  A hit makes the line most recently used (**true LRU**); a miss fetches the row from DRAM and
  fills the stage's first invalid way, else its least recently used way.
* Static-only caches (``dynamic=False``) do not cache misses.

Cycle contract (blocking: one request in flight, no outstanding misses beyond it):

* A request is accepted on cycle ``a`` only when the cache is idle (``req.ready``), i.e. at least
  one cycle after the previous response transferred; the cache is idle after reset once it has
  cleared its ``sets`` tag words, and the static preload precedes the first lookup.
* Hit (static or dynamic): the response is valid from ``a + 2``.
* Miss: the DRAM request goes out on ``a + 1``; beat j arrives on ``a + 1 + L + j * I``; the
  response is valid from the cycle after the last beat, ``a + 2 + L + (B - 1) * I``
  (L = dram_latency, I = dram_interval, B = beats per row).
* The response transfers on the first cycle it is valid and ``resp.ready`` is high.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from rpaccel.config import EmbCacheConfig

__all__ = ["CacheModel", "Lookup", "embcache_timeline", "make_trace", "TRACE_KINDS", "hit_counts", "ordered_dict_counts",
           "zipf_trace", "reindex_by_frequency", "hit_rate_sweep", "STATIC", "HIT", "MISS",
           "hit_latency", "miss_latency"]

STATIC, HIT, MISS = 0, 1, 2


class CacheModel:
    """Step-by-step reference of the replacement policy (per set and stage an MRU-first list)."""

    def __init__(self, cfg: EmbCacheConfig) -> None:
        self.cfg = cfg
        self.lines: dict[tuple[int, int], list[int]] = {}

    def access(self, table: int, row: int, stage: int = 0) -> int:
        cfg = self.cfg
        if row < cfg.static_rows:
            return STATIC
        if not cfg.dynamic:
            return MISS
        g = table * cfg.rows + row
        key = (g % cfg.sets, stage)
        lst = self.lines.setdefault(key, [])
        tag = g // cfg.sets
        if tag in lst:
            lst.remove(tag)
            lst.insert(0, tag)
            return HIT
        lst.insert(0, tag)
        if len(lst) > cfg.stage_ways[stage]:
            lst.pop()
        return MISS


def hit_latency() -> int:
    """Cycles from accepting a hitting request to its response being valid (the contract's
    :attr:`EmbCacheConfig.hit_latency`)."""
    return EmbCacheConfig.hit_latency


def miss_latency(cfg: EmbCacheConfig) -> int:
    """Cycles from accepting a missing request to its response being valid (the contract's
    :attr:`EmbCacheConfig.miss_latency`)."""
    return cfg.miss_latency


@dataclass(frozen=True, slots=True)
class Lookup:
    accept: int   # cycle the request transferred
    kind: int     # STATIC, HIT or MISS
    respond: int  # cycle the response transferred
    mem_request: int | None   # cycle of the DRAM request (misses)


def embcache_timeline(cfg: EmbCacheConfig, requests: Iterable[tuple[int, int, int]], *,
                      start: int = 0, ready_from: int | None = None,
                      pause: Callable[[], bool] | None = None,
                      ready: Callable[[int], bool] | None = None) -> list[Lookup]:
    """Exact per-request cycles for ``(table, row, stage)`` requests sent back to back.

    ``start``: first cycle the producer may present a request; ``ready_from``: first cycle the
    cache is idle (reset release + ``sets`` clear cycles; default ``start``); ``pause()`` is consulted before
    each request and again after each True (one idle cycle), as the testbench driver does;
    ``ready(cycle)`` is the consumer's ready. Defaults: no pauses, always ready.
    """
    pause = pause or (lambda: False)
    ready = ready or (lambda c: True)
    model = CacheModel(cfg)
    t, idle_from = start, max(start, start if ready_from is None else ready_from)
    out = []
    for table, row, stage in requests:
        while pause():
            t += 1
        a = max(t, idle_from)
        kind = model.access(table, row, stage)
        lat = miss_latency(cfg) if kind == MISS else hit_latency()
        r = a + lat
        while not ready(r):
            r += 1
        out.append(Lookup(a, kind, r, a + cfg.miss_request_latency if kind == MISS else None))
        idle_from = r + 1
        t = a + 1
    return out


# -- fast hit-rate model ------------------------------------------------------------------------
def _counts_python(cfg: EmbCacheConfig, tables: np.ndarray, rows: np.ndarray,
                   stages: np.ndarray) -> np.ndarray:
    m = CacheModel(cfg)
    out = np.zeros(3, dtype=np.int64)
    for t, r, s in zip(tables.tolist(), rows.tolist(), stages.tolist()):
        out[m.access(t, r, s)] += 1
    return out


_KERNEL = None


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        import numba

        @numba.njit(cache=False, nogil=True)
        def run(tables, rows, stages, n_rows, static_rows, sets, dynamic, way_lo, way_n, ways):
            lines = np.full((sets, ways), -1, dtype=np.int64)   # per set: MRU-first per stage
            counts = np.zeros(3, dtype=np.int64)
            for i in range(rows.shape[0]):
                r = rows[i]
                if r < static_rows:
                    counts[0] += 1
                    continue
                if not dynamic:
                    counts[2] += 1
                    continue
                g = tables[i] * n_rows + r
                st = g % sets
                tag = g // sets
                lo = way_lo[stages[i]]
                n = way_n[stages[i]]
                pos = -1
                for w in range(n):
                    if lines[st, lo + w] == tag:
                        pos = w
                        break
                if pos >= 0:
                    counts[1] += 1
                else:
                    counts[2] += 1
                    pos = n - 1
                for w in range(pos, 0, -1):
                    lines[st, lo + w] = lines[st, lo + w - 1]
                lines[st, lo] = tag
            return counts

        _KERNEL = run
    return _KERNEL


def hit_counts(cfg: EmbCacheConfig, tables: Sequence[int], rows: Sequence[int],
               stages: Sequence[int] | None = None, *, engine: str = "numba") -> dict[str, int]:
    """(static hits, dynamic hits, misses) of a trace; exactly the policy's counts.

    ``engine="numba"`` compiles the policy (tens of millions of lookups per second);
    ``engine="python"`` steps :class:`CacheModel` (the reference).
    """
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    tables = np.ascontiguousarray(tables, dtype=np.int64) if tables is not None else np.zeros_like(rows)
    stages = (np.zeros_like(rows) if stages is None
              else np.ascontiguousarray(stages, dtype=np.int64))
    if not (len(tables) == len(rows) == len(stages)):
        raise ValueError("tables, rows and stages must have equal lengths")
    if len(rows):
        if rows.min() < 0 or rows.max() >= cfg.rows:
            raise ValueError(f"row ids must be in [0, {cfg.rows - 1}]")
        if tables.min() < 0 or tables.max() >= cfg.tables:
            raise ValueError(f"table ids must be in [0, {cfg.tables - 1}]")
        if stages.min() < 0 or stages.max() >= cfg.stages:
            raise ValueError(f"stage ids must be in [0, {cfg.stages - 1}]")
    if engine == "python":
        c = _counts_python(cfg, tables, rows, stages)
    elif engine == "numba":
        lo = np.cumsum((0,) + cfg.stage_ways[:-1]).astype(np.int64)
        c = _kernel()(tables, rows, stages, cfg.rows, cfg.static_rows, cfg.sets, cfg.dynamic,
                      lo, np.asarray(cfg.stage_ways, dtype=np.int64), cfg.ways)
    else:
        raise ValueError(f"engine must be 'numba' or 'python', got {engine!r}")
    return {"static_hits": int(c[0]), "dynamic_hits": int(c[1]), "misses": int(c[2]),
            "hits": int(c[0] + c[1]), "lookups": int(c.sum())}


def ordered_dict_counts(cfg: EmbCacheConfig, tables, rows, stages=None) -> dict[str, int]:
    """Baseline: a plain-Python ``OrderedDict`` LRU per (set, stage), for the benchmark."""
    caches: dict[tuple[int, int], OrderedDict] = {}
    st_hits = hits = misses = 0
    stages = stages if stages is not None else [0] * len(rows)
    for t, r, s in zip(list(tables), list(rows), list(stages)):
        if r < cfg.static_rows:
            st_hits += 1
            continue
        if not cfg.dynamic:
            misses += 1
            continue
        g = t * cfg.rows + r
        key = (g % cfg.sets, s)
        od = caches.get(key)
        if od is None:
            od = caches[key] = OrderedDict()
        tag = g // cfg.sets
        if tag in od:
            od.move_to_end(tag)
            hits += 1
        else:
            misses += 1
            od[tag] = None
            if len(od) > cfg.stage_ways[s]:
                od.popitem(last=False)
    return {"static_hits": st_hits, "dynamic_hits": hits, "misses": misses,
            "hits": st_hits + hits, "lookups": st_hits + hits + misses}


# -- workloads ----------------------------------------------------------------------------------
def zipf_trace(n: int, *, rows: int, skew: float, tables: int = 1, seed: int = 0,
               scramble: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Seeded power-law trace: ``n`` lookups as (table, row) arrays.

    Table t's row of popularity rank k (0-based) is drawn with probability proportional to
    ``1 / (k + 1) ** skew`` (skew 0 = uniform). With ``scramble`` the hot rows are scattered
    over the table by a random permutation, as raw ids are; :func:`reindex_by_frequency` puts
    them back at the front.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"lookups must be an integer >= 0, got {n!r}")
    if not isinstance(skew, (int, float)) or not np.isfinite(skew) or skew < 0:
        raise ValueError(f"skew must be a number >= 0, got {skew!r}")
    if rows < 1 or tables < 1:
        raise ValueError("rows and tables must be >= 1")
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, rows + 1, dtype=np.float64) ** skew
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    t = rng.integers(0, tables, size=n)
    ranks = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), rows - 1)
    if scramble:
        perms = np.stack([rng.permutation(rows) for _ in range(tables)])
        r = perms[t, ranks]
    else:
        r = ranks
    return t.astype(np.int64), r.astype(np.int64)


def reindex_by_frequency(tables: np.ndarray, rows: np.ndarray, n_rows: int,
                         profile: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Profiling pass: renumber each table's rows by descending access count in ``profile``
    (default: the whole trace; ties by the lower old id), so the hottest rows become
    ``[0, static_rows)``. Returns (new rows, mapping array [table, old row] -> new row)."""
    tables = np.asarray(tables, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    n_tables = int(tables.max()) + 1 if len(tables) else 1
    prof = slice(None) if profile is None else profile
    counts = np.zeros((n_tables, n_rows), dtype=np.int64)
    np.add.at(counts, (tables[prof], rows[prof]), 1)
    order = np.argsort(-counts, axis=1, kind="stable")       # new id -> old id
    mapping = np.empty_like(order)
    np.put_along_axis(mapping, order, np.arange(n_rows)[None, :].repeat(n_tables, 0), axis=1)
    return mapping[tables, rows], mapping


TRACE_KINDS = ("zipf", "conflicts", "all_miss", "all_hit")


def make_trace(cfg: EmbCacheConfig, kind: str, n: int, seed: int, skew: float = 1.0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded request trace ``(tables, rows, stages)`` for the testbench, the CLI and studies.

    ``zipf``: power-law rows (``skew``), re-indexed by frequency; ``conflicts``: more distinct
    rows than ways, all in one set; ``all_miss``: distinct non-static rows; ``all_hit``: static
    rows only (or one line per set for a dynamic-only cache).
    """
    if kind not in TRACE_KINDS:
        raise ValueError(f"trace must be one of {list(TRACE_KINDS)}, got {kind!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"lookups must be an integer >= 1, got {n!r}")
    rng = np.random.default_rng([seed, 0])
    if kind == "zipf":
        t, r = zipf_trace(n, rows=cfg.rows, skew=skew, tables=cfg.tables,
                          seed=int(rng.integers(1 << 30)))
        r, _ = reindex_by_frequency(t, r, cfg.rows)
    elif kind == "conflicts":
        base = cfg.static_rows + int(rng.integers(0, cfg.sets))
        cands = [base + k * cfg.sets for k in range(cfg.ways + 3) if base + k * cfg.sets < cfg.rows]
        r = rng.choice(cands, size=n)
        t = rng.integers(0, cfg.tables, size=n)
    elif kind == "all_miss":
        if n > cfg.rows - cfg.static_rows:
            raise ValueError(f"lookups must be <= {cfg.rows - cfg.static_rows} for an all-miss "
                             f"trace (distinct non-static rows)")
        r = cfg.static_rows + rng.permutation(cfg.rows - cfg.static_rows)[:n]
        t = rng.integers(0, cfg.tables, size=n)
    else:
        hi = cfg.static_rows if cfg.static_rows else min(cfg.sets, cfg.rows)
        r = rng.integers(0, hi, size=n)
        t = np.zeros(n, dtype=np.int64)
    s = rng.integers(0, cfg.stages, size=n)
    return t.astype(np.int64), np.asarray(r, dtype=np.int64), s.astype(np.int64)


def hit_rate_sweep(base: EmbCacheConfig, tables: np.ndarray, rows: np.ndarray,
                   configs: Iterable[dict], stages: np.ndarray | None = None) -> list[dict]:
    """Hit rates of one trace under variations of ``base`` (dicts of fields to replace):
    capacity (sets x ways), static/dynamic split (static_rows) and per-stage split
    (stage_ways). One tidy row per configuration."""
    out = []
    for change in configs:
        cfg = dataclasses.replace(base, **change)
        c = hit_counts(cfg, tables, rows, stages)
        n = max(1, c["lookups"])
        lines = cfg.sets * cfg.ways if cfg.dynamic else 0
        out.append({**{k: (list(v) if isinstance(v, tuple) else v) for k, v in change.items()},
                    "static_rows": cfg.static_rows, "dynamic_lines": lines,
                    "capacity_rows": lines + cfg.static_rows * cfg.tables,
                    "hit_rate": c["hits"] / n, "static_hit_rate": c["static_hits"] / n,
                    "dynamic_hit_rate": c["dynamic_hits"] / n, **c})
    return out
