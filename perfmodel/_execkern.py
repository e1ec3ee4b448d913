"""Compiled command scheduler of :mod:`rpaccel.perfmodel.executor` (numba; imported only by an
engine that runs it, so importing the executor stays fast). It issues commands exactly as
``_Engine.advance`` / ``_Engine._issue`` do (the Python form stays the reference: the suite
checks the two equal on seeded streams, outcome, counters and busy cycles alike) and hands
every GATHER back to its caller, which runs the embedding kernel on the gather's lookups and
resumes it with the gather's done cycle.

State lives in int64 arrays owned by the engine (layouts below, one place); the kernel returns
why it stopped (``STOP_*``)."""

from __future__ import annotations

import numba

#: operation codes of the template table
RECV, GATHER, LOADA, GEMM, TOPK, SEND = range(6)
OPS = {"RECV": RECV, "GATHER": GATHER, "LOADA": LOADA, "GEMM": GEMM, "TOPK": TOPK, "SEND": SEND}

#: columns of the template table ``tt`` (one row per distinct command)
T_QUEUE, T_OP, T_DUR, T_S, T_BEATS, T_POP_LO, T_POP_HI, T_PUSH_LO, T_PUSH_HI = range(9)
T_COLS = 9
#: columns of the per-queue state ``qs``
Q_HEAD, Q_COUNT, Q_FREE, Q_CAND, Q_DIRTY, Q_WAIT, Q_BUSY, Q_GATHERS = range(8)
Q_COLS = 8
#: columns of a queue entry ``ent[queue, slot]``
E_TID, E_QUERY, E_ARRIVAL = range(3)
#: scalars ``sc``
S_EMB_FREE, S_LEFT, S_HOST_LATENCY, S_PEND_QUEUE, S_PEND_T, S_PEND_DONE, S_LOG_N, \
    S_OUT_TID, S_OUT_QUERY, S_GROW_LINK = range(10)
S_COLS = 10
#: rows of the log ``log[i] = (kind, query, stage, cycle)``
LOG_START, LOG_STAGE, LOG_END = range(3)
#: why the kernel returned
STOP_UNTIL, STOP_GATHER, STOP_DEADLOCK, STOP_LOG_FULL, STOP_GROW_LINK, STOP_DONE = range(6)
#: no candidate cycle (an empty queue or a token not yet pushed)
NONE = -1


@numba.njit(cache=True, nogil=True)
def _candidate(qi, qs, ent, tt, tpop, lbuf, ls, emb_free):
    if qs[qi, Q_COUNT] == 0:
        return NONE
    cap = ent.shape[1]
    tid = ent[qi, qs[qi, Q_HEAD] % cap, E_TID]
    t = qs[qi, Q_FREE]
    lcap = lbuf.shape[1]
    for p in range(tt[tid, T_POP_LO], tt[tid, T_POP_HI]):
        link = tpop[p, 0]
        n = tpop[p, 1]
        if ls[link, 1] < n:
            return NONE
        x = lbuf[link, (ls[link, 0] + n - 1) % lcap]
        if x > t:
            t = x
    if tt[tid, T_OP] == GATHER and emb_free > t:
        t = emb_free
    return t


@numba.njit(cache=True, nogil=True)
def _finish(qi, t, done, nxt, tid, sc, qs, tt, tpop, tpush, lbuf, ls, issued):
    """The end of issuing template ``tid`` from queue ``qi`` at ``t``: the queue's wait and
    free cycle, the tokens it pops and pushes, the queues whose candidates changed."""
    qs[qi, Q_WAIT] += t - qs[qi, Q_FREE]
    qs[qi, Q_FREE] = nxt
    for p in range(tt[tid, T_POP_LO], tt[tid, T_POP_HI]):
        link = tpop[p, 0]
        ls[link, 0] += tpop[p, 1]
        ls[link, 1] -= tpop[p, 1]
    lcap = lbuf.shape[1]
    for p in range(tt[tid, T_PUSH_LO], tt[tid, T_PUSH_HI]):
        link = tpush[p, 0]
        lbuf[link, (ls[link, 0] + ls[link, 1]) % lcap] = done + 1
        ls[link, 1] += 1
        qs[tpush[p, 1], Q_DIRTY] = 1
    qs[qi, Q_DIRTY] = 1
    if tt[tid, T_OP] == GATHER:
        for j in range(qs.shape[0]):
            if qs[j, Q_GATHERS]:
                qs[j, Q_DIRTY] = 1
    issued[tid] += 1
    sc[S_LEFT] -= 1


@numba.njit(cache=True, nogil=True)
def advance(sc, qs, ent, tt, tpop, tpush, lbuf, ls, issued, log, until):
    """Issue commands in time order (ties: the lowest queue) while one can issue before
    ``until`` (< 0: no bound). A GATHER is popped and handed back (``sc[S_PEND_*]``,
    ``sc[S_OUT_*]``): the caller sets ``sc[S_PEND_DONE]`` and calls again, which finishes it
    first."""
    nq = qs.shape[0]
    cap = ent.shape[1]
    lcap = lbuf.shape[1]
    if sc[S_PEND_QUEUE] >= 0:                   # the gather handed back last time
        qi = sc[S_PEND_QUEUE]
        done = sc[S_PEND_DONE]
        sc[S_EMB_FREE] = done + 1
        _finish(qi, sc[S_PEND_T], done, done + 1, sc[S_OUT_TID], sc, qs, tt, tpop, tpush, lbuf,
                ls, issued)
        sc[S_PEND_QUEUE] = -1
    while sc[S_LEFT] > 0:
        for qi in range(nq):
            if qs[qi, Q_DIRTY]:
                qs[qi, Q_CAND] = _candidate(qi, qs, ent, tt, tpop, lbuf, ls, sc[S_EMB_FREE])
                qs[qi, Q_DIRTY] = 0
        best_t = NONE
        best_q = -1
        for qi in range(nq):
            t = qs[qi, Q_CAND]
            if t != NONE and (best_t == NONE or t < best_t):
                best_t = t
                best_q = qi
        if best_t == NONE:
            return STOP_DEADLOCK if until < 0 else STOP_UNTIL
        if until >= 0 and best_t >= until:
            return STOP_UNTIL
        qi = best_q
        t = best_t
        slot = qs[qi, Q_HEAD] % cap
        tid = ent[qi, slot, E_TID]
        q = ent[qi, slot, E_QUERY]
        op = tt[tid, T_OP]
        if op == GATHER:
            qs[qi, Q_HEAD] += 1
            qs[qi, Q_COUNT] -= 1
            sc[S_PEND_QUEUE] = qi
            sc[S_PEND_T] = t
            sc[S_OUT_TID] = tid
            sc[S_OUT_QUERY] = q
            return STOP_GATHER
        if sc[S_LOG_N] >= log.shape[0]:
            return STOP_LOG_FULL
        for p in range(tt[tid, T_PUSH_LO], tt[tid, T_PUSH_HI]):
            if ls[tpush[p, 0], 1] >= lcap:
                sc[S_GROW_LINK] = tpush[p, 0]
                return STOP_GROW_LINK
        qs[qi, Q_HEAD] += 1
        qs[qi, Q_COUNT] -= 1
        if op == RECV:
            first = t if t > ent[qi, slot, E_ARRIVAL] else ent[qi, slot, E_ARRIVAL]
            last = first + tt[tid, T_BEATS] - 1
            done = last + sc[S_HOST_LATENCY]
            nxt = last + 1
            qs[qi, Q_BUSY] += nxt - first
            n = sc[S_LOG_N]
            log[n, 0] = LOG_START
            log[n, 1] = q
            log[n, 2] = 0
            log[n, 3] = first
            sc[S_LOG_N] = n + 1
        else:
            done = t + tt[tid, T_DUR]
            nxt = done + 1
            if op == TOPK or op == SEND:
                n = sc[S_LOG_N]
                log[n, 0] = LOG_STAGE if op == TOPK else LOG_END
                log[n, 1] = q
                log[n, 2] = tt[tid, T_S]
                log[n, 3] = done
                sc[S_LOG_N] = n + 1
        _finish(qi, t, done, nxt, tid, sc, qs, tt, tpop, tpush, lbuf, ls, issued)
    return STOP_DONE
