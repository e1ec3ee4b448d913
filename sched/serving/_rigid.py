"""The compiled loop of :func:`rpaccel.sched.platforms.rpaccel.rigid_pool` (numba, imported only when an
accelerator group is simulated, so the system studies stay fast to import)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def rigid_kernel(arrive, prof, first, end, engines):
    q_n = arrive.shape[0]
    r_n = first.shape[1]
    free = np.zeros((engines, r_n))
    start = np.empty(q_n)
    which = np.empty(q_n, dtype=np.int64)
    for q in range(q_n):
        p = prof[q]
        best_t = np.inf
        best_e = 0
        for e in range(engines):
            t = arrive[q]
            for r in range(r_n):
                a = first[p, r]
                if a >= 0.0:
                    x = free[e, r] - a
                    if x > t:
                        t = x
            if t < best_t:
                best_t = t
                best_e = e
        for r in range(r_n):
            if first[p, r] >= 0.0:
                free[best_e, r] = best_t + end[p, r]
        start[q] = best_t
        which[q] = best_e
    return start, which
