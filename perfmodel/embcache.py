"""Dual static + dynamic embedding cache: policy model, cycle-exact timeline, fast hit-rate model,
and workload helpers (Zipf traces, frequency re-indexing, sweeps).

Policy (shared by the RTL and every model here):

* A lookup of row ``r < static_rows`` (after frequency re-indexing) is a **static hit**; it never
  touches the dynamic cache.
* Otherwise the global row ``g = table_bases[table] + row`` (``table * rows + row`` for uniform
  tables; :meth:`~rpaccel.config.EmbCacheConfig.global_row`) maps to set ``g mod sets`` of the dynamic
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

Non-blocking unit (``lanes > 1`` or ``mshrs > 1``; :func:`nb_timeline`, :func:`embcache_cycles`).
A request beat carries up to ``lanes`` lookups (slot order = request order); responses come back
**in request order**, one response beat per request beat, each slot in its request slot's
position (a reorder buffer of ``rob_beats`` beats). Within a cycle every decision reads the state
at the start of the cycle; the updates take effect at its end. Per cycle t:

1. *Fill*: if the oldest DRAM request in flight delivers its last beat on t, its row is written
   into the dynamic cache line reserved for it, its MSHR is freed, and every lookup waiting on it
   is ready from t + 1.
2. *Response*: the oldest beat in the reorder buffer transfers on t if all its lookups are ready
   (by t) and ``resp.ready`` is high.
3. *DRAM request*: the oldest miss not yet requested is presented on ``mem_req``; it transfers if
   fewer than ``dram_outstanding`` requests are in flight. Request i's beats arrive from
   ``max(q_i + dram_latency, previous request's last beat + dram_interval)``, one every
   ``dram_interval`` cycles; the unit always accepts beats.
4. *Lookup*: the beat held in the lookup register looks up the longest prefix of its remaining
   lookups that satisfies, slot by slot: a static lookup (``row < static_rows``) always goes (the
   static SRAM is replicated per lane); a non-static lookup needs a bank (``set mod banks``,
   ``banks = min(lanes, sets)``) not used by an earlier lookup of this cycle (**bank conflict**);
   if its row is in flight for its stage (an MSHR holds the row and the stage: a stage's lookup
   finds lines only in its own ways) it is **merged** and waits for that fill (if the fill
   is on t, it is ready from t + 1); else a dynamic hit reads its line; else it is a **miss**,
   which needs its victim line not in flight (**victim stall**) and a free MSHR (**MSHR-full
   stall**), takes a free one (the RTL the lowest; which one is invisible outside the unit)
   and queues a DRAM request. Static and dynamic hits are ready from t + 2. The first lookup
   that cannot go ends the prefix; the stall counter of its reason counts the cycle. Every
   lookup that goes updates the replacement state (true LRU) immediately, in request order,
   so the hit/miss sequence is exactly the policy's
   (:class:`CacheModel`); whether a policy hit is a *hit* or a *merge* depends on timing.
5. *Accept*: a request beat transfers on t if the lookup register is empty or finishes its beat
   on t, and the reorder buffer has a free entry (at the start of t). Its first lookup cycle is
   t + 1.

So a static or dynamic hit is accepted on a, looked up on a + 1 and responds from a + 3; a miss
presents its DRAM request from a + 2 and responds from the cycle after its last DRAM beat. The
counts: static hits, dynamic hits, merged, misses (= DRAM requests), bank-conflict, victim and
MSHR-full stall cycles.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import inspect
import textwrap
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from rpaccel.config import EmbCacheConfig

__all__ = ["CacheModel", "Lookup", "embcache_timeline", "nb_timeline", "NBTimeline", "nb_gather",
           "empty_lines",
           "embcache_cycles", "pause_counts", "make_trace", "TRACE_KINDS", "hit_counts",
           "ordered_dict_counts", "zipf_trace", "reindex_by_frequency", "hit_rate_sweep",
           "STATIC", "HIT", "MISS", "MERGED", "hit_latency", "miss_latency"]

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
        g = cfg.global_row(table, row)
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
    lookup: int | None = None  # cycle of the tag lookup (non-blocking unit)


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
    if not cfg.blocking:
        reqs = np.asarray(list(requests), dtype=np.int64).reshape(-1, 3)
        idle = pause_counts(pause, -(-len(reqs) // cfg.lanes))
        tl = nb_timeline(cfg, reqs[:, 0], reqs[:, 1], reqs[:, 2], start=start,
                         ready_from=start if ready_from is None else max(start, ready_from),
                         idle=idle, ready=ready)
        return [Lookup(int(a), int(k), int(r), None if q < 0 else int(q), int(lk))
                for a, k, r, q, lk in zip(tl.accept, tl.kind, tl.respond, tl.mem_request,
                                          tl.lookup)]
    ready = ready or (lambda c: True)
    model = CacheModel(cfg)
    t, idle_from = start, max(start, start if ready_from is None else ready_from)
    out = []
    prev_last = -(1 << 62)         # the DRAM channel's last beat (one beat per interval)
    for table, row, stage in requests:
        while pause():
            t += 1
        a = max(t, idle_from)
        kind = model.access(table, row, stage)
        lat = miss_latency(cfg) if kind == MISS else hit_latency()
        if kind == MISS:
            # the channel rule only binds when dram_interval > dram_latency + 3
            q = a + cfg.miss_request_latency
            d0 = max(q + cfg.dram_latency, prev_last + cfg.dram_interval)
            prev_last = d0 + (cfg.beats_per_row - 1) * cfg.dram_interval
            lat = prev_last + 1 - a
        r = a + lat
        while not ready(r):
            r += 1
        out.append(Lookup(a, kind, r, a + cfg.miss_request_latency if kind == MISS else None))
        idle_from = r + 1
        t = a + 1
    return out


# -- the non-blocking unit (lanes, MSHRs, reorder buffer) ---------------------------------------
MERGED = 3
#: Why a beat's lookup stopped short in a cycle (stall counters, in this order).
STALL_BANK, STALL_VICTIM, STALL_MSHR = 0, 1, 2
_BIG = 1 << 62
#: The contract (:class:`EmbCacheConfig`): a hit's slot is ready this many cycles after its
#: lookup, a waiting slot this many after its fill.
_HIT_READY = EmbCacheConfig.nb_hit_ready
_FILL_READY = EmbCacheConfig.nb_fill_ready
#: A dynamic line in flight holds ``tag + ((x + 1) << _MSHR_SHIFT)`` while its row is fetched, x
#: its MSHR (:func:`_nb_run`) or its miss's index in the run (:func:`_ev_run`, so a run holds
#: fewer than 2**31 lookups); tags are below 2**31 (global rows are: 128 tables of 2**24 rows at
#: most). The tag state between runs holds bare tags.
_MSHR_SHIFT = 32
_TAG_MASK = (1 << _MSHR_SHIFT) - 1


def _nb_run(grow, rows, stages, beat_lo, lines, static_rows, dynamic, sets, way_lo, way_n,
            ways, mshrs, rob, banks, lat, interval, beats_per_row, max_out, start, ready_from,
            idle, ready_arr, ready_always, horizon, record, accept, lookup, kind, respond, memreq,
            counters):
    """Cycle-by-cycle run of the non-blocking unit; one source for the exact timeline (run as
    Python or compiled by numba) and the fast throughput model (compiled). See the module
    docstring for the rules. Fills the per-lookup arrays and ``counters`` = [static hits,
    dynamic hits, merged, misses, bank-conflict stalls, victim stalls, MSHR-full stalls, DRAM
    requests]; returns the last cycle simulated, or -1 if ``horizon`` was reached. With
    ``record`` False the per-lookup arrays are not written (they may be empty). Request beat b
    carries lookups ``beat_lo[b] .. beat_lo[b+1]-1`` (at most ``lanes``, a valid prefix of its
    slots); ``lines`` (sets x ways, MRU-first per partition, -1 invalid) is the dynamic cache's
    tag state at the start, updated in place."""
    n = grow.shape[0]
    lf = lines.reshape(lines.shape[0] * lines.shape[1])     # the tags, flat (a view)
    nbeats = beat_lo.shape[0] - 1
    beat_of = np.zeros(n, dtype=np.int64)
    for b in range(nbeats):
        for i in range(beat_lo[b], beat_lo[b + 1]):
            beat_of[i] = b
    # sets is a power of two: set = low bits, tag = high bits; banks need not be (lanes)
    smask = sets - 1
    sshift = 0
    while (1 << sshift) < sets:
        sshift += 1
    bmask = banks - 1 if banks & (banks - 1) == 0 else -1
    m_addr = np.full(mshrs, -1, dtype=np.int64)               # the key each MSHR holds
    # free MSHRs on a stack (which free one a miss takes is invisible outside the unit)
    m_free = np.empty(mshrs, dtype=np.int64)
    for m in range(mshrs):
        m_free[m] = mshrs - 1 - m
    n_alloc = 0                                             # MSHRs holding a row in flight
    # the rows in flight by key (m_addr's inverse): open addressing, linear probing, at most a
    # quarter full, deletion by backward shift (no tombstones)
    hsize = 4
    while hsize < 4 * mshrs:
        hsize *= 2
    hmask = hsize - 1
    h_key = np.full(hsize, -1, dtype=np.int64)
    h_val = np.zeros(hsize, dtype=np.int64)
    m_owner = np.zeros(mshrs, dtype=np.int64)               # lookup that allocated it
    # the lookups waiting on each MSHR's fill: a list per MSHR, linked through w_next (the
    # order a fill wakes them in does not matter: it only lowers pend and raises rdy)
    m_whead = np.full(mshrs, -1, dtype=np.int64)
    w_next = np.empty(max(1, n), dtype=np.int64)
    q_ids = np.zeros(mshrs, dtype=np.int64)                 # allocated, not yet requested
    q_head = 0
    q_len = 0
    f_ids = np.zeros(mshrs, dtype=np.int64)                 # requested, in DRAM order
    f_last = np.zeros(mshrs, dtype=np.int64)
    f_head = 0
    f_len = 0
    prev_last = -_BIG
    pend = np.zeros(nbeats, dtype=np.int64)                 # lookups of a beat not yet timed
    rdy = np.zeros(nbeats, dtype=np.int64)                  # cycle all timed ones are ready
    bank_used = np.full(banks, -1, dtype=np.int64)          # the cycle a lookup last used it
    rob_head = 0
    rob_count = 0
    ir_beat = -1
    ir_pos = 0
    k = 0
    blk = -1                                            # a stalled lookup's cached verdict
    c_static = c_hit = c_merged = c_miss = c_req = 0    # counters, in registers
    blk_stop = -1
    c_stall = np.zeros(3, dtype=np.int64)
    mm_i = -1                   # a stalled miss whose victim is kept (only fills since)
    mm_vkey = -1                # ... its victim's key (-1: none)
    mm_vpend = False            # ... and whether that victim is in flight
    present = start + (idle[0] if nbeats > 0 else 0)
    done = 0
    t = start
    while done < nbeats:
        if t >= horizon:
            return -1
        # 1. a fill completes on the cycle of its last DRAM beat
        fill_m = -1
        if f_len > 0 and f_last[f_head] == t:
            fill_m = f_ids[f_head]
        # 2. the reorder buffer's head beat responds once every lookup of it is ready
        resp_now = False
        if rob_count > 0:
            b = rob_head
            if pend[b] == 0 and rdy[b] <= t and (ready_always or (t < ready_arr.shape[0]
                                                                  and ready_arr[t] != 0)):
                resp_now = True
        # 3. the oldest unrequested miss goes to DRAM if fewer than max_out are in flight
        req_m = -1
        if q_len > 0 and f_len < max_out:
            req_m = q_ids[q_head]
        # 4. lookup: the longest prefix of the beat's remaining lookups that can go this cycle
        finishing = ir_beat < 0
        moved = False
        stop = -1
        if ir_beat >= 0 and blk == beat_lo[ir_beat] + ir_pos:
            # the same first lookup as last cycle, which stalled on its victim or on the
            # MSHRs, and nothing it reads has changed since (no lookup went, no fill ended):
            # it stalls again for the same reason
            stop = blk_stop
            c_stall[stop] += 1
        elif ir_beat >= 0:
            free = mshrs - n_alloc
            end = beat_lo[ir_beat + 1]
            s = beat_lo[ir_beat] + ir_pos
            s0 = s
            pb = pend[ir_beat]                      # the beat's counts, in registers
            rb = rdy[ir_beat]
            while s < end:
                i = s
                g = grow[i]
                if rows[i] < static_rows:
                    if record:
                        kind[i] = STATIC
                        lookup[i] = t
                    c_static += 1
                    pb -= 1
                    rb = max(rb, t + _HIT_READY)
                    s += 1
                    continue
                st = g & smask
                bk = st & bmask if bmask >= 0 else st % banks
                if bank_used[bk] == t:
                    stop = STALL_BANK
                    break
                sg = stages[i]
                key = g * 4 + sg
                lo = way_lo[sg]
                nw = way_n[sg]
                tag = g >> sshift
                va = -1
                pending = False
                sb = st * ways + lo
                if i == mm_i:
                    # it stalled last cycle on its victim or the MSHRs, and only fills ended
                    # since: still a miss (nothing was allocated), the same victim (no line
                    # moved), in flight or not as the fills left it
                    hit_m = -1
                    pos = -1
                    va = mm_vkey
                    pending = mm_vpend
                elif dynamic:
                    # a row in flight keeps its line (its victim stalls), marked with its MSHR
                    hit_m = -1
                    pos = -1
                    for w in range(nw):     # a tag is in a set once: no early exit (the
                        # compiled scan has no data-dependent branch)
                        pos = w if lf[sb + w] & _TAG_MASK == tag else pos
                    if pos >= 0:
                        hit_m = (lf[sb + pos] >> _MSHR_SHIFT) - 1
                    if pos < 0 and lf[sb + nw - 1] >= 0:
                        # a miss: its victim must not be in flight
                        v = lf[sb + nw - 1]
                        va = (((v & _TAG_MASK) << sshift) + st) * 4 + sg
                        pending = v > _TAG_MASK
                else:
                    hit_m = -1                              # in flight for this stage?
                    hx = (key ^ (key >> 9) ^ (key >> 19)) & hmask
                    while h_key[hx] >= 0:
                        if h_key[hx] == key:
                            hit_m = h_val[hx]
                            break
                        hx = (hx + 1) & hmask
                    pos = -1
                if hit_m < 0 and pos < 0 and (pending or free == 0):
                    # a miss whose victim is in flight, or with no free MSHR
                    stop = STALL_VICTIM if pending else STALL_MSHR
                    mm_i = i
                    mm_vkey = va
                    mm_vpend = pending
                    break
                mm_i = -1
                # the lookup goes: update the replacement state (true LRU, request order)
                bank_used[bk] = t
                if record:
                    lookup[i] = t
                was_hit = pos >= 0
                if dynamic:
                    if pos < 0:
                        pos = nw - 1
                        v = tag + ((m_free[mshrs - 1 - n_alloc] + 1) << _MSHR_SHIFT)
                    else:
                        v = lf[sb + pos]
                    for w in range(pos, 0, -1):
                        lf[sb + w] = lf[sb + w - 1]
                    lf[sb] = v
                if hit_m >= 0:                          # its row is in flight: merge
                    if record:
                        kind[i] = MERGED
                    c_merged += 1
                    if hit_m == fill_m:                 # ... and arrives this very cycle
                        pb -= 1
                        rb = max(rb, t + _FILL_READY)
                    else:
                        w_next[i] = m_whead[hit_m]
                        m_whead[hit_m] = i
                elif was_hit:
                    if record:
                        kind[i] = HIT
                    c_hit += 1
                    pb -= 1
                    rb = max(rb, t + _HIT_READY)
                else:                                   # a miss takes a free MSHR
                    if record:
                        kind[i] = MISS
                    c_miss += 1
                    m = m_free[mshrs - 1 - n_alloc]
                    m_addr[m] = key
                    n_alloc += 1
                    if not dynamic:
                        hx = (key ^ (key >> 9) ^ (key >> 19)) & hmask
                        while h_key[hx] >= 0:
                            hx = (hx + 1) & hmask
                        h_key[hx] = key
                        h_val[hx] = m
                    m_owner[m] = i
                    w_next[i] = -1
                    m_whead[m] = i
                    free -= 1
                    qi = q_head + q_len
                    q_ids[qi - mshrs if qi >= mshrs else qi] = m
                    q_len += 1
                s += 1
            pend[ir_beat] = pb
            rdy[ir_beat] = rb
            ir_pos = s - beat_lo[ir_beat]
            moved = s != s0
            blk = s if (not moved and stop > STALL_BANK) else -1   # a victim or MSHR stall
            blk_stop = stop
            if stop >= 0:
                c_stall[stop] += 1
            else:
                finishing = True
                moved = True
        # 5. accept the next request beat
        acc = False
        if (k < nbeats and present <= t and finishing and rob_count < rob and t >= ready_from):
            acc = True
        # 6. end of the cycle: registers take their new values
        if fill_m >= 0:
            blk = -1                                    # the MSHRs and rows in flight change
            i = m_whead[fill_m]
            while i >= 0:
                b = beat_of[i]
                pend[b] -= 1
                rdy[b] = max(rdy[b], t + _FILL_READY)
                i = w_next[i]
            m_whead[fill_m] = -1
            fk = m_addr[fill_m]
            if mm_vkey == fk:
                mm_vpend = False
            if dynamic:                                 # its line is no longer in flight
                fg = fk >> 2
                fb = (fg & smask) * ways + way_lo[fk & 3]
                fv = (fg >> sshift) + ((fill_m + 1) << _MSHR_SHIFT)
                w = 0
                while lf[fb + w] != fv:
                    w += 1
                lf[fb + w] = fv & _TAG_MASK
            else:
                hx = (fk ^ (fk >> 9) ^ (fk >> 19)) & hmask
                while h_key[hx] != fk:
                    hx = (hx + 1) & hmask
                hj = hx
                while True:                             # backward-shift deletion
                    hj = (hj + 1) & hmask
                    if h_key[hj] < 0:
                        break
                    hk = (h_key[hj] ^ (h_key[hj] >> 9) ^ (h_key[hj] >> 19)) & hmask
                    if (hx <= hj and (hk <= hx or hk > hj)) or (hx > hj and hk <= hx and
                                                                hk > hj):
                        h_key[hx] = h_key[hj]
                        h_val[hx] = h_val[hj]
                        hx = hj
                h_key[hx] = -1
            n_alloc -= 1
            m_free[mshrs - 1 - n_alloc] = fill_m
            f_head = 0 if f_head + 1 == mshrs else f_head + 1
            f_len -= 1
        if resp_now:
            b = rob_head
            if record:
                for i in range(beat_lo[b], beat_lo[b + 1]):
                    respond[i] = t
            rob_head += 1
            rob_count -= 1
            done += 1
        if req_m >= 0:
            q_head = 0 if q_head + 1 == mshrs else q_head + 1
            q_len -= 1
            d0 = max(t + lat, prev_last + interval)
            last = d0 + (beats_per_row - 1) * interval
            prev_last = last
            fi = f_head + f_len
            if fi >= mshrs:
                fi -= mshrs
            f_ids[fi] = req_m
            f_last[fi] = last
            f_len += 1
            if record:
                memreq[m_owner[req_m]] = t
            c_req += 1
        if ir_beat >= 0 and finishing:
            ir_beat = -1
        if acc:
            if record:
                for i in range(beat_lo[k], beat_lo[k + 1]):
                    accept[i] = t
            pend[k] = beat_lo[k + 1] - beat_lo[k]
            rdy[k] = 0
            rob_count += 1
            ir_beat = k
            ir_pos = 0
            k += 1
            if k < nbeats:
                present = t + 1 + idle[k]
        # 7. a cycle in which nothing moved repeats, unchanged but for its stall counter, until
        # the next cycle an event can happen on: a fill, the head beat's readiness, a beat
        # presented (or the start of acceptance), the horizon. Skip to it (exact: every rule
        # above compares t with these times only). Not under a backpressure pattern.
        if (ready_always and fill_m < 0 and not resp_now and req_m < 0 and not acc
                and not moved):
            nxt = horizon
            if f_len > 0:
                nxt = min(nxt, f_last[f_head])
            if rob_count > 0 and pend[rob_head] == 0:
                nxt = min(nxt, rdy[rob_head])
            if k < nbeats and ir_beat < 0:
                nxt = min(nxt, max(present, ready_from))
            nxt = max(nxt, t + 1)
            if stop >= 0:
                c_stall[stop] += nxt - t - 1
            t = int(nxt)
        else:
            t += 1
    counters[0] += c_static
    counters[1] += c_hit
    counters[2] += c_merged
    counters[3] += c_miss
    counters[7] += c_req
    for x in range(3):
        counters[4 + x] += c_stall[x]
    return t - 1


def _ev_run(grow, rows, stages, beat_lo, lines, static_rows, sets, way_lo, way_n, ways, mshrs,
            rob, banks, lat, interval, beats_per_row, max_out, start, ready_from, idle, record,
            accept, lookup, kind, respond, memreq, counters):
    """The non-blocking unit lookup by lookup: the same run as :func:`_nb_run` (dynamic cache,
    ``resp`` always ready), computed as a recurrence over the lookups in request order instead
    of stepping cycles. Same arguments, results and return value (the last response cycle).

    Every rule of the module docstring becomes a bound on a lookup's cycle, known by the time
    the lookup is reached, because each depends only on earlier lookups:

    * beat k is accepted at ``A_k = max(present_k, ready_from, E_{k-1}, R_{k-rob} + 1)``
      (presented, the lookup register finishing its beat ``E_{k-1}``, a free reorder-buffer
      entry: beat k - rob responded); its first lookup cycle is ``A_k + 1``;
    * a lookup goes on the first cycle, from its predecessor's (the prefix rule), on which its
      bank is unused (only a predecessor of the same cycle can use it), its victim is not in
      flight (its fill ``F_v`` is before) and, for miss j, an MSHR is free: miss j - mshrs
      filled on a cycle before (fills come back in request order, so the MSHRs free up in
      that order); each cycle it waits counts one stall of the first reason that holds, in
      the order bank, victim, MSHR;
    * miss j's DRAM request transfers at ``Q_j = max(L_j + 1, Q_{j-1} + 1, F_{j-max_out} + 1)``
      and fills at ``F_j`` (the channel's spacing); the line it installs holds
      ``tag + ((j + 1) << _MSHR_SHIFT)``, and a ring keeps the fill cycles of the last misses,
      enough to cover every miss that can still be in flight (miss j - mshrs and later, by
      the MSHR rule), so a lookup of a line with ``F >= L`` merges and is ready from ``F + 1``;
    * beat k responds at ``R_k = max(R_{k-1} + 1, A_k + 1, its lookups' ready cycles)``.

    The run ends with bare tags in ``lines``, as it began.
    """
    whole = way_n.shape[0] == 1                         # one way group: the whole set
    lf = lines.reshape(lines.shape[0] * lines.shape[1])
    nl = lf.shape[0]
    nbeats = beat_lo.shape[0] - 1
    smask = sets - 1
    sshift = 0
    while (1 << sshift) < sets:
        sshift += 1
    bmask = banks - 1 if banks & (banks - 1) == 0 else -1
    ring = 1                                            # a power of two (no division)
    while ring < mshrs or ring < max_out:
        ring *= 2
    rmask = ring - 1
    f_ring = np.zeros(ring, dtype=np.int64)             # fill cycles of the last misses
    rr = 1
    while rr < rob:
        rr *= 2
    r_ring = np.zeros(rr, dtype=np.int64)               # response cycles of the last beats
    bank_used = np.full(banks, -1, dtype=np.int64)
    mb = 1                                              # the longest beat
    for k in range(nbeats):
        mb = mb if mb > beat_lo[k + 1] - beat_lo[k] else beat_lo[k + 1] - beat_lo[k]
    dyn = np.empty(mb, dtype=np.int64)                  # a beat's dynamic lookups
    c_static = c_hit = c_merged = c_miss = 0
    s_bank = s_victim = s_mshr = 0
    j = 0                                               # misses so far
    jm = 0                                              # j mod ring
    prev_q = -_BIG
    prev_last = -_BIG
    prev_r = -_BIG
    end_prev = -_BIG
    present = start + (idle[0] if nbeats > 0 else 0)
    last = start - 1
    for k in range(nbeats):
        a = present if present > ready_from else ready_from
        a = a if a > end_prev else end_prev
        if k >= rob:
            ra = r_ring[(k - rob) & (rr - 1)] + 1
            a = a if a > ra else ra
        if k + 1 < nbeats:
            present = a + 1 + idle[k + 1]
        c = a + 1
        rb = a + 1
        # A static lookup changes no state and bounds the response by its cycle plus
        # _HIT_READY; the cycle only grows within a beat, so the beat's last static lookup
        # bounds it most. The dynamic lookups go through in order, with no branch per lookup
        # on which kind it is (the static ones are a third of an RM trace, in no pattern).
        i0 = beat_lo[k]
        i1 = beat_lo[k + 1]
        nd = 0
        ls = -1                                         # the last static lookup
        for i in range(i0, i1):
            sx = rows[i] < static_rows
            dyn[nd] = i
            nd += 1 - np.int64(sx)
            ls = i if sx else ls
        c_static += (i1 - i0) - nd
        pend = ls >= 0
        for t in range(nd):
            i = dyn[t]
            if pend and ls < i:                         # the last static lookup's cycle
                rb = rb if rb > c + _HIT_READY else c + _HIT_READY
                pend = False
            g = grow[i]
            st = g & smask
            bk = st & bmask if bmask >= 0 else st % banks
            if bank_used[bk] == c:
                s_bank += 1
                c += 1
            if whole:
                lo = 0
                nw = ways
            else:
                sg = stages[i]
                lo = way_lo[sg]
                nw = way_n[sg]
            tag = g >> sshift
            sb = st * ways + lo
            pos = -1
            for w in range(nw):
                pos = w if lf[sb + w] & _TAG_MASK == tag else pos
            if pos >= 0:
                v = lf[sb + pos]
                mi = (v >> _MSHR_SHIFT) - 1             # the miss that fetched it (-1: none)
                f = f_ring[mi & rmask] if mi >= 0 and mi + mshrs >= j else -_BIG
                if f >= c:                              # in flight: merge
                    c_merged += 1
                    r = f + _FILL_READY
                    if record:
                        kind[i] = MERGED
                else:
                    c_hit += 1
                    r = c + _HIT_READY
                    if record:
                        kind[i] = HIT
                if whole:                               # a fixed-length shift: no branch
                    for w in range(ways - 1, 0, -1):
                        lf[sb + w] = lf[sb + w - 1] if w <= pos else lf[sb + w]
                else:
                    for w in range(pos, 0, -1):
                        lf[sb + w] = lf[sb + w - 1]
                lf[sb] = v
            else:
                v = lf[sb + nw - 1]                     # the victim (invalid: never in flight)
                mi = (v >> _MSHR_SHIFT) - 1
                fv = f_ring[mi & rmask] if v >= 0 and mi >= 0 and mi + mshrs >= j else -_BIG
                if fv >= c:
                    s_victim += fv - c + 1
                    c = fv + 1
                if j >= mshrs:
                    fm = f_ring[(jm - mshrs) & rmask] - c + 1   # cycles to wait: a select
                    fm = fm if fm > 0 else 0
                    s_mshr += fm
                    c += fm
                q = c + 1
                q = q if q > prev_q + 1 else prev_q + 1
                if j >= max_out:
                    fo = f_ring[(jm - max_out) & rmask] + 1
                    q = q if q > fo else fo
                d0 = q + lat
                d0 = d0 if d0 > prev_last + interval else prev_last + interval
                f = d0 + (beats_per_row - 1) * interval
                prev_last = f
                prev_q = q
                f_ring[jm] = f
                jm = (jm + 1) & rmask
                c_miss += 1
                r = f + _FILL_READY
                for w in range(nw - 1, 0, -1):
                    lf[sb + w] = lf[sb + w - 1]
                lf[sb] = tag + ((j + 1) << _MSHR_SHIFT)
                j += 1
                if record:
                    kind[i] = MISS
                    memreq[i] = q
            bank_used[bk] = c
            rb = rb if rb > r else r
            if record:
                lookup[i] = c
        if pend:
            rb = rb if rb > c + _HIT_READY else c + _HIT_READY
        if record:                                      # a static lookup's cycle: the cycle
            cur = a + 1                                 # after the dynamic one before it
            for i in range(i0, i1):
                if rows[i] < static_rows:
                    kind[i] = STATIC
                    lookup[i] = cur
                else:
                    cur = lookup[i]
        end_prev = c
        rk = prev_r + 1
        rk = rk if rk > rb else rb
        r_ring[k & (rr - 1)] = rk
        prev_r = rk
        if record:
            for i in range(beat_lo[k], beat_lo[k + 1]):
                accept[i] = a
                respond[i] = rk
        last = rk
    for x in range(nl):                                 # the lines hold bare tags between runs
        lf[x] = lf[x] & _TAG_MASK if lf[x] >= 0 else lf[x]
    counters[0] += c_static
    counters[1] += c_hit
    counters[2] += c_merged
    counters[3] += c_miss
    counters[4] += s_bank
    counters[5] += s_victim
    counters[6] += s_mshr
    counters[7] += c_miss
    return last


def pause_counts(pause: Callable[[], bool], nbeats: int) -> np.ndarray:
    """Idle cycles before each request beat, from a producer's ``pause()``: consulted before each
    beat and again after each True (one idle cycle each), as the testbench driver does."""
    idle = np.zeros(max(1, nbeats), dtype=np.int64)
    for b in range(nbeats):
        while pause():
            idle[b] += 1
    return idle


class _UnsignedIndices(ast.NodeTransformer):
    """Wraps every (non-slice) array index in ``_U`` = ``np.uint64``: compiled, an unsigned
    index needs no check for a negative value (numba wraps signed ones, on every access)."""

    def visit_Subscript(self, node: ast.Subscript) -> ast.Subscript:
        self.generic_visit(node)
        if not isinstance(node.slice, (ast.Slice, ast.Tuple)):
            node.slice = ast.Call(ast.Name("_U", ast.Load()), [node.slice], [])
        return node


def _unsigned_indices(fn, consts: tuple[tuple[str, int | bool], ...] = ()):
    """``fn`` with unsigned array indices (:class:`_UnsignedIndices`), for compiling only: the
    same function wherever every index is non-negative, as in :func:`_nb_run` (whose Python form
    stays the reference; the suite checks the two engines equal).

    ``consts`` binds names to the values a run passes (a specialised kernel): a parameter is
    assigned its value first thing, a variable its value where it is assigned at the top level,
    so the compiler folds them (loops of a known trip count, branches never taken). The
    function is renamed after its constants and the values of the numeric globals it reads, so
    each specialisation, and each value of a latency it reads from the configuration, has its
    own entry in numba's on-disk cache."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError):  # pragma: no cover - no source shipped: compile it as it is
        return fn
    fdef = tree.body[0]
    params = {a.arg for a in fdef.args.args}
    todo = dict(consts)
    for st in fdef.body:
        if (isinstance(st, ast.Assign) and len(st.targets) == 1
                and isinstance(st.targets[0], ast.Name) and st.targets[0].id in todo
                and st.targets[0].id not in params):
            st.value = ast.Constant(todo.pop(st.targets[0].id))
    doc = int(bool(fdef.body) and isinstance(fdef.body[0], ast.Expr)
              and isinstance(fdef.body[0].value, ast.Constant))     # after the docstring
    fdef.body[doc:doc] = [ast.Assign([ast.Name(k, ast.Store())], ast.Constant(todo.pop(k)))
                          for k in list(todo) if k in params]
    if todo:
        raise ValueError(f"{fn.__name__} has no parameter or top-level variable {sorted(todo)}")
    # numba freezes the globals a kernel reads, and its cache is invalidated only when this
    # file changes: the name carries their values too (some come from rpaccel.config)
    used = {n.id for n in ast.walk(fdef) if isinstance(n, ast.Name)}
    frozen = sorted((k, v) for k, v in fn.__globals__.items()
                    if k in used and isinstance(v, (int, float)))
    digest = hashlib.sha256(repr(frozen).encode()).hexdigest()[:10]
    fdef.name = (fn.__name__ + "".join(f"__{k}{int(v)}" for k, v in consts) + "__u"
                 + digest)
    tree = ast.fix_missing_locations(_UnsignedIndices().visit(tree))
    scope = {**fn.__globals__, "_U": np.uint64}
    exec(compile(tree, inspect.getsourcefile(fn) or "<kernel>", "exec"), scope)
    return scope[fdef.name]


@functools.lru_cache(maxsize=None)
def _compiled(fn, consts: tuple[tuple[str, int | bool], ...] = ()):
    """A kernel (:func:`_nb_run`, :func:`_ev_run`, ``_querykern.lookup_rows_kernel``) with
    unsigned indices and ``consts`` bound (:func:`_unsigned_indices`), compiled once per
    process and cached on disk by numba (keyed by the kernel's name, which carries its
    constants, and invalidated when the kernel's file changes)."""
    import numba

    kernel = _unsigned_indices(fn, consts)
    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(kernel)
    except RuntimeError:  # pragma: no cover - no source file to key a cache by
        return numba.njit(cache=False, nogil=True, error_model="numpy")(kernel)


def _nb_kernel():
    """:func:`_nb_run`, compiled (the cycle-stepping kernel)."""
    return _compiled(_nb_run)


#: Dynamic caches of at least this many lines (sets x ways) run gathers without a record on
#: the lookup kernel compiled for their shape (:func:`_ev_kernel`); smaller ones on the general
#: kernel. A shape costs about 3 s of compiling, once per machine (numba's disk cache), and
#: pays back only on long runs; small caches (the tiny presets, the suite's random
#: configurations) run short ones.
SPECIALISE_MIN_LINES = 1024


def _ev_kernel(cfg: EmbCacheConfig | None = None):
    """:func:`_ev_run`, compiled (the lookup-by-lookup kernel). With ``cfg`` of at least
    :data:`SPECIALISE_MIN_LINES` lines, the kernel for runs without a record on that cache's
    shape (:func:`_ev_special`); otherwise the general kernel. Either takes the same
    arguments; call it with that configuration's parameters and ``record=False``."""
    if cfg is None or cfg.sets * cfg.ways < SPECIALISE_MIN_LINES:
        return _compiled(_ev_run)
    return _ev_special(cfg)


def _ev_special(cfg: EmbCacheConfig):
    """:func:`_ev_run` compiled for runs without a record on one cache's shape: its ways,
    banks and whether one way group spans the whole set, bound as constants
    (:func:`_unsigned_indices`), about a fifth faster per lookup."""
    return _compiled(_ev_run, (("record", False), ("ways", cfg.ways), ("banks", cfg.banks),
                               ("whole", len(cfg.stage_ways) == 1)))


@dataclass(frozen=True, slots=True)
class NBTimeline:
    """Per-lookup cycles of a run of the non-blocking unit (arrays of the trace's length) and
    its counters; ``kind`` holds STATIC, HIT, MERGED or MISS; ``mem_request`` -1 where none."""

    accept: np.ndarray
    lookup: np.ndarray
    kind: np.ndarray
    respond: np.ndarray
    mem_request: np.ndarray
    counters: dict


def _trace_arrays(cfg: EmbCacheConfig, tables, rows, stages):
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    tables = (np.zeros_like(rows) if tables is None
              else np.ascontiguousarray(tables, dtype=np.int64))
    stages = (np.zeros_like(rows) if stages is None
              else np.ascontiguousarray(stages, dtype=np.int64))
    if not (len(tables) == len(rows) == len(stages)):
        raise ValueError("tables, rows and stages must have equal lengths")
    if len(rows):
        if rows.min() < 0 or rows.max() >= cfg.rows:
            raise ValueError(f"row ids must be in [0, {cfg.rows - 1}]")
        if tables.min() < 0 or tables.max() >= cfg.tables:
            raise ValueError(f"table ids must be in [0, {cfg.tables - 1}]")
        if cfg.table_rows:
            bad = rows >= np.asarray(cfg.table_sizes, dtype=np.int64)[tables]
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"row ids must be below their table's rows (table_rows): "
                                 f"lookup {i} reads row {int(rows[i])} of table "
                                 f"{int(tables[i])}, which has {cfg.table_sizes[tables[i]]}")
        if stages.min() < 0 or stages.max() >= cfg.stages:
            raise ValueError(f"stage ids must be in [0, {cfg.stages - 1}]")
    return tables, rows, stages


_COUNTER_NAMES = ("static_hits", "dynamic_hits", "merged", "misses", "bank_conflict_stalls",
                  "victim_stalls", "mshr_full_stalls", "dram_requests")


def _beat_bounds(cfg: EmbCacheConfig, n: int, beat_sizes) -> np.ndarray:
    """``beat_lo`` of the kernel: lookups packed ``lanes`` per beat in trace order (the last
    beat partial), or ``beat_sizes[b]`` lookups in beat b (each 1..lanes, summing to n)."""
    if beat_sizes is None:
        return np.minimum(np.arange(0, n + cfg.lanes, cfg.lanes, dtype=np.int64)[
            :-(-n // cfg.lanes) + 1], n)
    sizes = np.asarray(beat_sizes, dtype=np.int64)
    if len(sizes) and (sizes.min() < 1 or sizes.max() > cfg.lanes):
        raise ValueError(f"beat sizes must be in [1, {cfg.lanes}] (lanes)")
    if int(sizes.sum()) != n:
        raise ValueError(f"beat sizes must sum to the trace length {n}, got {int(sizes.sum())}")
    return np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)


def global_rows(cfg: EmbCacheConfig, tables: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """DRAM addresses (global rows) of lookups: ``table_bases[table] + row``
    (:meth:`EmbCacheConfig.global_row`, vectorised)."""
    if not cfg.table_rows:
        return tables * cfg.rows + rows
    return np.asarray(cfg.table_bases, dtype=np.int64)[tables] + rows


def empty_lines(cfg: EmbCacheConfig) -> np.ndarray:
    """The dynamic cache's tag state after reset (every line invalid): ``sets x ways`` tags,
    MRU-first within each stage's ways, -1 for an invalid line."""
    return np.full((cfg.sets, cfg.ways), -1, dtype=np.int64)


def _nb_call(cfg: EmbCacheConfig, tables, rows, stages, *, start: int, ready_from: int,
             idle: np.ndarray | None, ready: Callable[[int], bool] | None, record: bool,
             engine: str, beat_sizes=None, lines: np.ndarray | None = None):
    if cfg.blocking:
        raise ValueError("the non-blocking model needs lanes > 1 or mshrs > 1 (lanes = mshrs = 1 "
                         "is the blocking design: embcache_timeline)")
    tables, rows, stages = _trace_arrays(cfg, tables, rows, stages)
    n = len(rows)
    beat_lo = _beat_bounds(cfg, n, beat_sizes)
    nbeats = len(beat_lo) - 1
    lines0 = empty_lines(cfg) if lines is None else lines
    idle = np.zeros(max(1, nbeats), dtype=np.int64) if idle is None else \
        np.ascontiguousarray(idle, dtype=np.int64)
    if len(idle) < nbeats:
        raise ValueError(f"idle must give one count per request beat ({nbeats})")
    grow = global_rows(cfg, tables, rows)
    size = n if record else 0
    out = [np.full(size, -1, dtype=np.int64) for _ in range(5)]
    counters = np.zeros(len(_COUNTER_NAMES), dtype=np.int64)
    if engine not in ("numba", "python"):
        raise ValueError(f"engine must be 'numba' or 'python', got {engine!r}")
    run = _nb_kernel() if engine == "numba" else _nb_run
    horizon = _horizon(cfg, max(start, ready_from) + int(idle[:nbeats].sum()), n)
    for _ in range(8):
        ready_arr = np.zeros(1, dtype=np.int8)
        if ready is not None:
            ready_arr = np.fromiter((1 if ready(c) else 0 for c in range(horizon)),
                                    dtype=np.int8, count=horizon)
        for a in out:
            a.fill(-1)
        counters.fill(0)
        state = lines0.copy()
        last = _run(run, cfg, grow, rows, stages, beat_lo, state, start, ready_from, idle,
                    ready_arr, ready is None, horizon, record, out, counters)
        if last >= 0:
            if lines is not None:
                lines[...] = state
            return out, dict(zip(_COUNTER_NAMES, (int(c) for c in counters))), last
        if ready is None:
            break
        horizon *= 2
    raise ValueError("the run did not finish: the ready pattern is too short (resp.ready never "
                     "high again)")


def nb_timeline(cfg: EmbCacheConfig, tables, rows, stages=None, *, start: int = 0,
                ready_from: int | None = None, idle: Sequence[int] | None = None,
                ready: Callable[[int], bool] | None = None, engine: str = "auto") -> NBTimeline:
    """Exact timeline of the non-blocking unit: lookups packed ``lanes`` per request beat in
    trace order (the last beat partial); ``idle[b]`` idle cycles before beat b is presented;
    ``ready(cycle)`` the consumer's ``resp.ready`` (default always). ``engine``: ``python`` (the
    reference), ``numba`` (compiled), ``auto`` (numba above 20,000 lookups)."""
    if engine == "auto":
        engine = "numba" if len(rows) > 20_000 else "python"
    out, counters, _ = _nb_call(cfg, tables, rows, stages, start=start,
                                ready_from=start if ready_from is None else ready_from,
                                idle=None if idle is None else np.asarray(idle), ready=ready,
                                record=True, engine=engine)
    return NBTimeline(*out, counters=counters)


def nb_gather(cfg: EmbCacheConfig, tables, rows, stages, beat_sizes, lines: np.ndarray, *,
              start: int, record: bool = False, engine: str = "numba", checked: bool = False):
    """One burst of lookups on the non-blocking unit, idle at ``start`` (no lookup in flight),
    from the tag state ``lines`` (:func:`empty_lines` after reset; updated in place to the state
    after the burst). Beat b carries ``beat_sizes[b]`` lookups; beats are presented back to back
    from ``start`` and ``resp`` is always ready. Returns ``(last_response_cycle, counters,
    timeline)``; ``timeline`` is an :class:`NBTimeline` with ``record``, else None. The
    integrated accelerator's gathers (:mod:`rpaccel.perfmodel.executor`) run through here,
    except with the compiled kernel on a dynamic cache (:func:`ev_gather`).

    ``checked``: the caller guarantees int64 arrays of equal lengths with every id in range and
    beat sizes in 1..lanes summing to the length (the executor's gathers, built from validated
    pipelines); the compiled kernel then runs without re-validating them."""
    if not (checked and engine == "numba" and not record and not cfg.blocking):
        out, counters, last = _nb_call(cfg, tables, rows, stages, start=start,
                                       ready_from=start, idle=None, ready=None, record=record,
                                       engine=engine, beat_sizes=beat_sizes, lines=lines)
        return last, counters, (NBTimeline(*out, counters=counters) if record else None)
    beat_lo = np.empty(len(beat_sizes) + 1, dtype=np.int64)
    beat_lo[0] = 0
    np.cumsum(beat_sizes, out=beat_lo[1:])
    counters = np.zeros(len(_COUNTER_NAMES), dtype=np.int64)
    none = np.full(0, -1, dtype=np.int64)          # no per-lookup records
    last = _run(_nb_kernel(), cfg, global_rows(cfg, tables, rows), rows, stages, beat_lo, lines,
                start, start, np.zeros(len(beat_sizes) or 1, dtype=np.int64),
                np.zeros(1, dtype=np.int8), True, _horizon(cfg, start, len(rows)), False,
                [none] * 5, counters)
    if last < 0:  # pragma: no cover - the horizon bounds every lookup's worst case
        raise RuntimeError("the gather did not finish within its horizon")
    return last, dict(zip(_COUNTER_NAMES, counters.tolist())), None


def ev_gather(cfg: EmbCacheConfig, grow: np.ndarray, rows: np.ndarray, stages: np.ndarray,
              beat_lo: np.ndarray, lines: np.ndarray, start: int) -> tuple[int, dict[str, int]]:
    """:func:`nb_gather` (``checked``, compiled, no record) on a dynamic non-blocking cache,
    from its lookups' global rows (:func:`global_rows`) and beats' first lookups (``beat_lo``,
    the beat sizes' prefix sums from 0): the lookup-by-lookup kernel compiled for the cache's
    shape (:func:`_ev_kernel`), called directly. Returns ``(last_response_cycle, counters)``."""
    last, counters = ev_gatherer(cfg)(grow, rows, stages, beat_lo, lines, start)
    return last, dict(zip(_COUNTER_NAMES, counters.tolist()))


def ev_gatherer(cfg: EmbCacheConfig) -> Callable:
    """:func:`ev_gather` for one configuration, its kernel and arguments looked up once (a
    gather of a full-size query is 16 of many thousands: the look-ups cost about as much as a
    small gather). Returns ``run(grow, rows, stages, beat_lo, lines, start) -> (last response
    cycle, counters)``, the counters an int64 array in ``_COUNTER_NAMES`` order that the next
    call overwrites."""
    kernel, params = _ev_kernel(cfg), _ev_params(cfg)
    counters = np.zeros(len(_COUNTER_NAMES), dtype=np.int64)

    def run(grow, rows, stages, beat_lo, lines, start):
        counters[:] = 0
        last = kernel(grow, rows, stages, beat_lo, lines, *params, start, start,
                      _no_idle(len(beat_lo)), False, *_NO_RECORD, counters)
        return last, counters
    return run


#: the kernel's per-lookup record arrays, unused without a record
_NO_RECORD = (np.full(0, -1, dtype=np.int64),) * 5


@functools.lru_cache(maxsize=32)
def _ev_params(cfg: EmbCacheConfig) -> tuple:
    """The lookup-by-lookup kernel's configuration arguments (``static_rows`` to
    ``max_out``)."""
    lo, wn = _way_arrays(cfg)
    return (cfg.static_rows, cfg.sets, lo, wn, cfg.ways, cfg.mshrs, cfg.rob_beats, cfg.banks,
            cfg.dram_latency, cfg.dram_interval, cfg.beats_per_row, cfg.dram_outstanding)


@functools.lru_cache(maxsize=8)
def _no_idle(n: int) -> np.ndarray:
    """No idle cycle before any of ``n`` beats (at least one entry; only read)."""
    return np.zeros(max(1, n), dtype=np.int64)


def _horizon(cfg: EmbCacheConfig, begin: int, n: int) -> int:
    """A cycle no run of ``n`` lookups presented from ``begin`` reaches with ``resp`` always
    ready: every lookup missing alone, one after the other."""
    return begin + 64 + n * (cfg.dram_latency + (cfg.beats_per_row + 1) * cfg.dram_interval + 8)


@functools.lru_cache(maxsize=32)
def _way_arrays(cfg: EmbCacheConfig) -> tuple[np.ndarray, np.ndarray]:
    """Each stage's first way and number of ways (the kernel's way partitioning)."""
    return (np.cumsum((0,) + cfg.stage_ways[:-1]).astype(np.int64),
            np.asarray(cfg.stage_ways, dtype=np.int64))


def _run(run, cfg: EmbCacheConfig, grow, rows, stages, beat_lo, lines, start, ready_from, idle,
         ready_arr, ready_always, horizon, record, out, counters) -> int:
    """``run`` (:func:`_nb_run` or its compiled form) on a configuration's parameters. The
    compiled engine runs the lookup-by-lookup kernel (:func:`_ev_run`) wherever it applies: a
    dynamic cache and ``resp`` always ready (it never reaches the horizon)."""
    if run is not _nb_run and cfg.dynamic and ready_always:
        return _ev_kernel(None if record else cfg)(grow, rows, stages, beat_lo, lines,
                                                   *_ev_params(cfg), start, ready_from, idle,
                                                   record, *out, counters)
    lo, wn = _way_arrays(cfg)
    return run(grow, rows, stages, beat_lo, lines, cfg.static_rows, cfg.dynamic, cfg.sets, lo, wn,
               cfg.ways, cfg.mshrs, cfg.rob_beats, cfg.banks, cfg.dram_latency,
               cfg.dram_interval, cfg.beats_per_row, cfg.dram_outstanding, start, ready_from,
               idle, ready_arr, ready_always, horizon, record, *out, counters)


def embcache_cycles(cfg: EmbCacheConfig, tables, rows, stages=None) -> dict:
    """Fast throughput model: cycles from the first request's acceptance to the last response,
    with requests back to back and ``resp`` always ready, for a whole trace (the lookups of a
    query). Compiled; equals the exact timeline (:func:`embcache_timeline` /
    :func:`nb_timeline`) wherever both run. The blocking design's count follows from its
    hit/miss counts (each lookup takes its latency plus one cycle), except when
    ``dram_interval > dram_latency + 3``, where the DRAM channel can bind (its timeline)."""
    tables, rows, stages = _trace_arrays(cfg, tables, rows, stages)
    n = len(rows)
    if n == 0:
        raise ValueError("the trace must have at least one lookup")
    if cfg.blocking and cfg.dram_interval > cfg.dram_latency + 3:
        tl = embcache_timeline(cfg, zip(tables.tolist(), rows.tolist(), stages.tolist()))
        ks = [x.kind for x in tl]
        c = {"static_hits": ks.count(STATIC), "dynamic_hits": ks.count(HIT),
             "misses": ks.count(MISS)}
        counters = {**c, "merged": 0, "bank_conflict_stalls": 0, "victim_stalls": 0,
                    "mshr_full_stalls": 0, "dram_requests": c["misses"]}
        cycles = tl[-1].respond - tl[0].accept
    elif cfg.blocking:
        c = hit_counts(cfg, tables, rows, stages)
        cycles = c["hits"] * (cfg.hit_latency + 1) + c["misses"] * (cfg.miss_latency + 1) - 1
        counters = {"static_hits": c["static_hits"], "dynamic_hits": c["dynamic_hits"],
                    "merged": 0, "misses": c["misses"], "bank_conflict_stalls": 0,
                    "victim_stalls": 0, "mshr_full_stalls": 0, "dram_requests": c["misses"]}
    else:
        _, counters, last = _nb_call(cfg, tables, rows, stages, start=0, ready_from=0,
                                     idle=None, ready=None, record=False, engine="numba")
        cycles = last                      # first acceptance on cycle 0
    return {"cycles": cycles, "lookups": n, "lookups_per_cycle": n / cycles if cycles else 0.0,
            "mem_bytes": counters["misses"] * cfg.row_bytes, **counters}


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
        def run(tables, rows, stages, bases, static_rows, sets, dynamic, way_lo, way_n, ways):
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
                g = bases[tables[i]] + r
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
    tables, rows, stages = _trace_arrays(cfg, tables, rows, stages)
    if engine == "python":
        c = _counts_python(cfg, tables, rows, stages)
    elif engine == "numba":
        lo = np.cumsum((0,) + cfg.stage_ways[:-1]).astype(np.int64)
        c = _kernel()(tables, rows, stages, np.asarray(cfg.table_bases, dtype=np.int64),
                      cfg.static_rows, cfg.sets, cfg.dynamic,
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
        g = cfg.global_row(t, r)
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


TRACE_KINDS = ("zipf", "conflicts", "all_miss", "all_hit", "bursts")


def non_static_rows(cfg: EmbCacheConfig) -> int:
    """Rows outside the static set, over all tables (the longest all-miss trace)."""
    if not cfg.table_rows:
        return cfg.rows - cfg.static_rows
    return sum(max(0, s - cfg.static_rows) for s in cfg.table_sizes)


def make_trace(cfg: EmbCacheConfig, kind: str, n: int, seed: int, skew: float = 1.0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded request trace ``(tables, rows, stages)`` for the testbench, the CLI and studies.

    ``zipf``: power-law rows (``skew``), re-indexed by frequency; ``conflicts``: more distinct
    rows than ways, all in one set; ``all_miss``: distinct non-static rows; ``all_hit``: static
    rows only (or one line per set for a dynamic-only cache); ``bursts``: non-static rows, each
    repeated 2-4 times in a row (a non-blocking unit merges the repeats into one miss). With
    per-table rows (``table_rows``) the all-miss trace draws distinct non-static rows of every
    table, and the other traces fold each row into its table (``row mod table_rows[table]``).
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
        free = non_static_rows(cfg)
        if n > free:
            raise ValueError(f"lookups must be <= {free} for an all-miss trace (distinct "
                             f"non-static rows)")
        if cfg.table_rows:            # distinct (table, row) pairs over the non-static rows
            pairs = [(t_, r_) for t_, size in enumerate(cfg.table_sizes)
                     for r_ in range(cfg.static_rows, size)]
            pick = rng.permutation(len(pairs))[:n]
            t = np.array([pairs[i][0] for i in pick], dtype=np.int64)
            r = np.array([pairs[i][1] for i in pick], dtype=np.int64)
        else:
            r = cfg.static_rows + rng.permutation(cfg.rows - cfg.static_rows)[:n]
            t = rng.integers(0, cfg.tables, size=n)
    elif kind == "all_hit":
        hi = cfg.static_rows if cfg.static_rows else min(cfg.sets, cfg.rows)
        r = rng.integers(0, hi, size=n)
        t = np.zeros(n, dtype=np.int64)
    else:
        if cfg.static_rows >= cfg.rows:
            raise ValueError("a bursts trace needs non-static rows (static_rows < rows)")
        reps = rng.integers(2, 5, size=n)
        r = np.repeat(rng.integers(cfg.static_rows, cfg.rows, size=n), reps)[:n]
        t = np.repeat(rng.integers(0, cfg.tables, size=n), reps)[:n]
    s = rng.integers(0, cfg.stages, size=n)
    t, r = t.astype(np.int64), np.asarray(r, dtype=np.int64)
    if cfg.table_rows and kind != "all_miss":   # per-table rows: rows folded into their table
        r = r % np.asarray(cfg.table_sizes, dtype=np.int64)[t]
    return t, r, s.astype(np.int64)


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
