"""Replacement policies of the dynamic embedding cache (hit counts, compiled), with the static
set chosen by profiling.

Policies (:data:`POLICIES`):

* ``lru`` -- least recently used (the RTL's; :mod:`rpaccel.perfmodel.embcache` times it);
* ``fifo`` -- first in, first out (the RecPipe artifact's cache study);
* ``lfu`` -- least frequently used since insertion, ties to the least recently used;
* ``srrip`` -- static re-reference interval prediction, 2-bit RRPV: insert at 2, a hit sets 0,
  the victim is a line at 3 (ties to the least recently used), ageing all lines by one until
  one reaches 3;
* ``opt`` -- Belady's optimum: evicts the line whose next use is farthest (needs the future:
  an upper bound on hits for a cache that inserts every missing line).

Only ``lru`` is built in the RTL; the others are **model-only** (:data:`MODEL_ONLY`). An invalid
way is always filled first (lowest way index).

Two engines give the same counts (tested against each other and against ``libcachesim``):

* :func:`cache_counts` -- a set-associative cache (``sets`` x ``ways``, one row per line, set =
  address mod sets with address ``table * rows + row`` as the unit's address map; an optional
  way partition by pipeline stage), scanning a set's ways per lookup;
* :func:`fa_counts` -- a fully associative cache of any capacity, O(log n) per lookup (heaps,
  linked lists), for miss-ratio curves up to the whole working set.

The **static set** (:func:`static_set`) holds, per table, the rows most used in a profiling
window; ``split = "global"`` spreads a total budget over all tables by frequency (a table of 3
rows takes at most 3), ``"per-table"`` gives every table the same number of rows (the RTL's
static cache, ``static_rows`` per table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rpaccel.trace import Trace

__all__ = ["POLICIES", "MODEL_ONLY", "cache_counts", "fa_counts", "static_set", "StaticSet",
           "next_use", "check_policy"]

POLICIES = ("lru", "fifo", "lfu", "srrip", "opt")
MODEL_ONLY = ("fifo", "lfu", "srrip", "opt")
_CODE = {p: i for i, p in enumerate(POLICIES)}
#: The largest set-associative cache the model allocates (sets x ways lines).
MAX_LINES = 1 << 26
#: Next use of a line never used again.
NEVER = np.iinfo(np.int64).max


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {list(POLICIES)}, got {policy!r}")
    return policy


def next_use(keys: np.ndarray) -> np.ndarray:
    """Index of each lookup's next use of the same key (:data:`NEVER` if none)."""
    keys = np.asarray(keys, dtype=np.int64)
    n = len(keys)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    nxt = np.full(n, NEVER, dtype=np.int64)
    same = sk[1:] == sk[:-1]
    nxt[order[:-1][same]] = order[1:][same]
    return nxt


@dataclass(frozen=True)
class StaticSet:
    """Rows held by the static cache: a boolean per lookup of the trace it was applied to,
    and the chosen rows per table."""

    rows: dict[int, np.ndarray]

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.rows.values())

    def hash_table(self) -> tuple[np.ndarray, int]:
        """``(slots, bits)``: the keys ``table << 40 | row`` in an open-addressing table of
        ``2**bits`` slots (at most a quarter full; -1 empty; Fibonacci hashing, linear
        probing), for the compiled kernels."""
        keys = np.concatenate([(np.int64(t) << np.int64(40)) | v for t, v in self.rows.items()
                               if len(v)] or [np.zeros(0, np.int64)])
        bits = max(4, int(4 * len(keys)).bit_length())
        slots = np.full(1 << bits, -1, dtype=np.int64)
        mask = (1 << bits) - 1
        h = ((keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)
             ).astype(np.int64)
        for k, i in zip(keys.tolist(), h.tolist()):
            while slots[i] >= 0:
                i = (i + 1) & mask
            slots[i] = k
        return slots, bits

    def mask(self, tables: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = np.zeros(len(rows), dtype=bool)
        for t, hot in self.rows.items():
            sel = tables == t
            if len(hot):
                out[sel] = np.isin(rows[sel], hot)
        return out


def static_set(trace: Trace, budget: int, *, split: str = "per-table",
               window: slice | None = None) -> StaticSet:
    """The static set chosen by profiling ``window`` of the trace (default: all of it): the most
    used rows per table (ties to the lower row). ``budget``: rows per table (``per-table``) or
    rows in all (``global``)."""
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
        raise ValueError(f"static rows must be an integer >= 0, got {budget!r}")
    if split not in ("per-table", "global"):
        raise ValueError(f"split must be 'per-table' or 'global', got {split!r}")
    w = window or slice(None)
    t = trace.tables[w]
    keys, counts = np.unique(trace.keys()[w], return_counts=True)
    kt, kr = keys >> np.int64(40), keys & np.int64((1 << 40) - 1)
    order = np.lexsort((kr, kt, -counts))                     # most used first, then table, row
    chosen: dict[int, list] = {}
    if budget and len(t):
        if split == "global":
            for i in order[:budget]:
                chosen.setdefault(int(kt[i]), []).append(int(kr[i]))
        else:
            for tab in np.unique(kt):
                sel = order[kt[order] == tab][:budget]
                chosen[int(tab)] = kr[sel].tolist()
    return StaticSet({k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in chosen.items()})


_K: dict = {}


def _kernels():
    if _K:
        return _K
    import numba

    @numba.njit(cache=False, nogil=True)
    def setassoc(addr, stages, nxt, policy, sets, ways, way_lo, way_n):
        tags = np.full((sets, ways), -1, dtype=np.int64)
        meta = np.zeros((sets, ways), dtype=np.int64)     # lru/fifo: time; lfu: freq; opt: next
        used = np.zeros((sets, ways), dtype=np.int64)     # last use (tie-breaks)
        hits = 0
        for i in range(addr.shape[0]):
            g = addr[i]
            st = g % sets
            tag = g // sets
            lo = way_lo[stages[i]]
            nw = way_n[stages[i]]
            pos = -1
            for w in range(lo, lo + nw):
                if tags[st, w] == tag:
                    pos = w
                    break
            if pos >= 0:
                hits += 1
                if policy == 0:
                    meta[st, pos] = i
                elif policy == 2:
                    meta[st, pos] += 1
                elif policy == 3:
                    meta[st, pos] = 0
                elif policy == 4:
                    meta[st, pos] = nxt[i]
                used[st, pos] = i
                continue
            v = -1
            for w in range(lo, lo + nw):
                if tags[st, w] < 0:
                    v = w
                    break
            if v < 0:
                if policy == 3:
                    while v < 0:
                        best = -1
                        for w in range(lo, lo + nw):
                            if meta[st, w] >= 3 and (best < 0 or used[st, w] < used[st, best]):
                                best = w
                        if best >= 0:
                            v = best
                        else:
                            for w in range(lo, lo + nw):
                                meta[st, w] += 1
                else:
                    v = lo
                    for w in range(lo + 1, lo + nw):
                        a = meta[st, w]
                        b = meta[st, v]
                        if policy == 4:
                            if a > b:
                                v = w
                        elif a < b or (a == b and used[st, w] < used[st, v]):
                            v = w
            tags[st, v] = tag
            used[st, v] = i
            if policy == 0 or policy == 1:
                meta[st, v] = i
            elif policy == 2:
                meta[st, v] = 1
            elif policy == 3:
                meta[st, v] = 2
            else:
                meta[st, v] = nxt[i]
        return hits

    @numba.njit(cache=False, nogil=True)
    def recency(tables, rows, n_rows, hkeys, hbits, stages, fifo, sets, ways, way_lo, way_n):
        # lru / fifo: each set's ways kept in order (most recent or newest first); the trace
        # arrays as given (no copies). Static rows: keys (table << 40 | row) in the
        # open-addressing table hkeys (2**hbits slots, -1 empty, linear probing; empty: none);
        # stages may be empty
        tags = np.full(sets * ways, -1, dtype=np.int64)
        hits = 0
        static_hits = 0
        has_static = hkeys.shape[0] > 0
        hmask = (1 << hbits) - 1
        staged = stages.shape[0] > 0
        set_mask = sets - 1                      # sets is a power of two
        set_shift = 0
        while (1 << set_shift) < sets:
            set_shift += 1
        for i in range(rows.shape[0]):
            t = tables[i]
            r = rows[i]
            if has_static:
                key = (t << 40) | r
                h = np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - hbits))
                found = False
                while True:
                    k = hkeys[h]
                    if k == key:
                        found = True
                        break
                    if k < 0:
                        break
                    h = (h + 1) & hmask
                if found:
                    static_hits += 1
                    continue
            g = t * n_rows + r
            s = stages[i] if staged else 0
            base = (g & set_mask) * ways + way_lo[s]
            tag = g >> set_shift
            nw = way_n[s]
            pos = nw - 1
            hit = False
            for w in range(nw):
                if tags[base + w] == tag:
                    pos = w
                    hit = True
                    break
            if hit:
                hits += 1
                if fifo:
                    continue
            for w in range(pos, 0, -1):
                tags[base + w] = tags[base + w - 1]
            tags[base] = tag
        return hits, static_hits

    @numba.njit(cache=False, nogil=True)
    def hpush(hp, hk, size, p, k):
        i = size
        hp[i] = p
        hk[i] = k
        while i > 0:
            par = (i - 1) >> 1
            if hp[par] <= hp[i]:
                break
            hp[par], hp[i] = hp[i], hp[par]
            hk[par], hk[i] = hk[i], hk[par]
            i = par
        return size + 1

    @numba.njit(cache=False, nogil=True)
    def hpop(hp, hk, size):
        size -= 1
        hp[0] = hp[size]
        hk[0] = hk[size]
        i = 0
        while True:
            l = 2 * i + 1
            if l >= size:
                break
            c = l
            if l + 1 < size and hp[l + 1] < hp[l]:
                c = l + 1
            if hp[i] <= hp[c]:
                break
            hp[c], hp[i] = hp[i], hp[c]
            hk[c], hk[i] = hk[i], hk[c]
            i = c
        return size

    @numba.njit(cache=False, nogil=True)
    def fa_heap(keys, nkeys, nxt, policy, cap):
        # lru / fifo / lfu / opt on a min-heap of priorities with lazy deletion
        n = keys.shape[0]
        prio = np.full(nkeys, -1, dtype=np.int64)         # current priority; -1 = not cached
        freq = np.zeros(nkeys, dtype=np.int64)
        hp = np.empty(2 * n + 1, dtype=np.int64)
        hk = np.empty(2 * n + 1, dtype=np.int64)
        size = 0
        occ = 0
        hits = 0
        for i in range(n):
            k = keys[i]
            if prio[k] >= 0:
                hits += 1
                if policy == 1:
                    continue
                freq[k] += 1
            else:
                if occ == cap:
                    while True:
                        p = hp[0]
                        v = hk[0]
                        size = hpop(hp, hk, size)
                        if prio[v] == p:
                            prio[v] = -1
                            break
                else:
                    occ += 1
                freq[k] = 1
            if policy == 0 or policy == 1:
                p = i
            elif policy == 2:
                p = (freq[k] << 36) | i
            else:
                p = NEVER - nxt[i]                         # farthest next use pops first
            prio[k] = p
            size = hpush(hp, hk, size, p, k)
            if size >= hp.shape[0] - 1:                   # compact the lazy heap
                m = 0
                for j in range(size):
                    if prio[hk[j]] == hp[j]:
                        hp[m] = hp[j]
                        hk[m] = hk[j]
                        m += 1
                size = 0
                for j in range(m):
                    size = hpush(hp, hk, size, hp[j], hk[j])
        return hits

    @numba.njit(cache=False, nogil=True)
    def fa_srrip(keys, nkeys, cap):
        # four lists (physical ids 0..3), level of list L = (L + shift) % 4; each list is in
        # last-use order (head = least recent), so a level-3 victim is its head
        lst = np.full(nkeys, -1, dtype=np.int64)          # physical list of a cached key
        prv = np.full(nkeys, -1, dtype=np.int64)
        nxl = np.full(nkeys, -1, dtype=np.int64)
        head = np.full(4, -1, dtype=np.int64)
        tail = np.full(4, -1, dtype=np.int64)
        shift = 0
        occ = 0
        hits = 0
        for i in range(keys.shape[0]):
            k = keys[i]
            if lst[k] >= 0:
                hits += 1
                L = lst[k]                                 # unlink
                if prv[k] >= 0:
                    nxl[prv[k]] = nxl[k]
                else:
                    head[L] = nxl[k]
                if nxl[k] >= 0:
                    prv[nxl[k]] = prv[k]
                else:
                    tail[L] = prv[k]
                level = 0
            else:
                if occ == cap:
                    while head[(3 - shift) % 4] < 0:
                        shift = (shift + 1) % 4            # age every line by one
                    L = (3 - shift) % 4
                    v = head[L]
                    head[L] = nxl[v]
                    if head[L] >= 0:
                        prv[head[L]] = -1
                    else:
                        tail[L] = -1
                    lst[v] = -1
                else:
                    occ += 1
                level = 2
            L = (level - shift) % 4
            lst[k] = L
            prv[k] = tail[L]
            nxl[k] = -1
            if tail[L] >= 0:
                nxl[tail[L]] = k
            else:
                head[L] = k
            tail[L] = k
        return hits

    _K.update(setassoc=setassoc, recency=recency, fa_heap=fa_heap, fa_srrip=fa_srrip)
    return _K


def _split(trace: Trace, static: StaticSet | None):
    st = static.mask(trace.tables, trace.rows) if static is not None and static.size else \
        np.zeros(len(trace), dtype=bool)
    return st, int(st.sum())


def _result(n: int, static_hits: int, dyn_hits: int, policy: str) -> dict:
    hits = static_hits + dyn_hits
    return {"policy": policy, "model_only": policy in MODEL_ONLY, "lookups": n, "hits": hits,
            "static_hits": static_hits, "dynamic_hits": dyn_hits, "misses": n - hits,
            "hit_rate": hits / n if n else 0.0}


def cache_counts(trace: Trace, policy: str, *, sets: int, ways: int,
                 static: StaticSet | None = None, rows: int | None = None,
                 stages: np.ndarray | None = None, stage_ways: tuple[int, ...] = ()) -> dict:
    """Hits of a set-associative dynamic cache under ``policy`` behind the static set.

    ``rows``: rows per table of the address map (default the smallest power of two above every
    row id); ``stages`` / ``stage_ways``: the way partition by stage (stage s owns
    ``stage_ways[s]`` consecutive ways)."""
    check_policy(policy)
    from rpaccel.config import check_int

    check_int("sets", sets, 1, 1 << 24)
    check_int("ways", ways, 1, 1 << 16)
    if sets & (sets - 1):
        raise ValueError(f"sets must be a power of two, got {sets}")
    if sets * ways > MAX_LINES:
        raise ValueError(f"sets x ways must be at most {MAX_LINES:,} lines, got {sets * ways:,}")
    if rows is None:
        rows = 1 << int(trace.rows.max()).bit_length()
    check_int("rows", rows, 1, 1 << 40)
    if int(trace.rows.max()) >= rows:
        i = int(np.flatnonzero(trace.rows >= rows)[0])
        raise ValueError(f"rows: trace {trace.source} row {i} has id {int(trace.rows[i])}, "
                         f"beyond rows={rows}")
    sw = tuple(stage_ways) or (ways,)
    if sum(sw) != ways or min(sw) < 1:
        raise ValueError(f"stage_ways {list(sw)} must be >= 1 each and sum to ways={ways}")
    stg = np.zeros(0, dtype=np.int64) if stages is None else np.asarray(stages, dtype=np.int64)
    if stg.size and (len(stg) != len(trace) or stg.min() < 0 or stg.max() >= len(sw)):
        raise ValueError(f"stages must be one per lookup, in 0..{len(sw) - 1} (one per "
                         "stage_ways entry)")
    lo = np.cumsum((0,) + sw[:-1]).astype(np.int64)
    wn = np.asarray(sw, dtype=np.int64)
    if policy in ("lru", "fifo"):
        hkeys, hbits = static.hash_table() if static is not None and static.size else (
            np.zeros(0, np.int64), 1)
        h, st_hits = _kernels()["recency"](trace.tables, trace.rows, np.int64(rows), hkeys,
                                           hbits, stg, policy == "fifo", sets, ways, lo, wn)
    else:
        st_mask, st_hits = _split(trace, static)
        dyn = ~st_mask
        addr = (trace.tables[dyn] * np.int64(rows) + trace.rows[dyn]).astype(np.int64)
        stg = stg[dyn] if stg.size else np.zeros(len(addr), dtype=np.int64)
        nxt = next_use(addr * 8 + stg) if policy == "opt" else np.zeros(1, dtype=np.int64)
        h = _kernels()["setassoc"](addr, stg, nxt, _CODE[policy], sets, ways, lo, wn)
    return _result(len(trace), st_hits, int(h), policy)


def fa_counts(trace: Trace, policy: str, capacity: int, *,
              static: StaticSet | None = None) -> dict:
    """Hits of a fully associative dynamic cache of ``capacity`` lines under ``policy``."""
    check_policy(policy)
    from rpaccel.config import check_int

    check_int("capacity", capacity, 1, 1 << 40)
    st_mask, st_hits = _split(trace, static)
    keys = trace.keys()[~st_mask]
    if len(keys) == 0:
        return _result(len(trace), st_hits, 0, policy)
    uniq, dense = np.unique(keys, return_inverse=True)
    dense = np.ascontiguousarray(dense.reshape(-1), dtype=np.int64)
    if policy == "srrip":
        h = _kernels()["fa_srrip"](dense, len(uniq), int(capacity))
    else:
        nxt = next_use(dense) if policy == "opt" else np.zeros(1, dtype=np.int64)
        h = _kernels()["fa_heap"](dense, len(uniq), nxt, _CODE[policy], int(capacity))
    return _result(len(trace), st_hits, int(h), policy)
