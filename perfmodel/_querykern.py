"""Compiled kernel of :mod:`rpaccel.perfmodel.query` (numba; imported only when a long query's
embedding rows are hashed, so importing the models stays fast). It returns exactly what the
numpy form in ``query.py`` returns (tested against it)."""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True, nogil=True)
def _mix1(x):
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def rows_kernel(base, table, row, dim):
    """``embedding_rows`` without the de-duplication: every (table, row) hashed in place."""
    n = table.shape[0]
    out = np.empty((n, dim), dtype=np.int8)
    for i in range(n):
        k = base + (table[i] << np.uint64(40)) + (row[i] << np.uint64(8))
        for e in range(dim):
            v = _mix1(k + np.uint64(e)) >> np.uint64(56)
            out[i, e] = np.int8(np.int64(v) - 128)
    return out


def lookup_rows_kernel(base, tabs, sparse, ids, dim):
    """The embedding rows of candidates' lookups, ``(len(ids), L, dim)`` int8: lookup c of
    candidate j reads row ``sparse[ids[j], c]`` of table ``tabs[c]`` (``L = len(tabs)``), each
    element hashed in place as in ``rows_kernel``, with no per-lookup arrays built first.
    Compiled per ``dim`` (:func:`lookup_rows_compiled`), so the element loop has a fixed length
    and runs as vector operations."""
    n = ids.shape[0]
    L = tabs.shape[0]
    out = np.empty((n, L, dim), dtype=np.int8)
    for j in range(n):
        i = ids[j]
        for c in range(L):
            k = base + (tabs[c] << np.uint64(40)) + (np.uint64(sparse[i, c]) << np.uint64(8))
            for e in range(dim):
                v = _mix1(k + np.uint64(e)) >> np.uint64(56)
                out[j, c, e] = np.int8(np.int64(v) - 128)
    return out


#: Row widths :func:`lookup_rows_kernel` is compiled for as a constant (others: one kernel
#: with ``dim`` a run-time argument, a few times slower).
LOOKUP_ROWS_DIMS = (1, 2, 4, 8, 16, 32, 64, 128)


def lookup_rows_compiled(dim: int):
    """:func:`lookup_rows_kernel` compiled, for ``dim`` fixed where it is one of
    :data:`LOOKUP_ROWS_DIMS` (numba's on-disk cache keeps each)."""
    from .embcache import _compiled

    return _compiled(lookup_rows_kernel, (("dim", dim),) if dim in LOOKUP_ROWS_DIMS else ())


@numba.njit(cache=True, nogil=True)
def act_kernel(acc, bias, scale):
    """A float32 layer's activation in place, one pass: ``min(floor(max(acc + bias, 0) *
    scale), 127)`` per element (``acc (n, m)`` C-contiguous, ``bias (m,)``). Every value is an
    integer below 2**24, so each step is exact, as in ``query._scores_f32``'s numpy form."""
    n, m = acc.shape
    zero = np.float32(0)
    cap = np.float32(127)
    for i in range(n):
        for j in range(m):
            v = acc[i, j] + bias[j]
            v = v if v > zero else zero
            v = np.floor(v * scale)
            acc[i, j] = v if v < cap else cap
    return acc


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint the CPU to bring ``arr[idx]`` into cache (LLVM's ``prefetch``: a read, high
    locality); no effect on any value."""
    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]],
                                       wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.void(arr, idx), codegen


#: How many keys ahead the Zipf search prefetches the CDF entries a key will read (its bucket's
#: start: twice as far ahead, so that read is cached by then). The tables are megabytes and the
#: keys random, so each key's reads would otherwise miss the cache one after the other.
_AHEAD = 16

#: Buckets of at most this many CDF entries are searched by counting (no data-dependent branch
#: but the loop's end), longer ones by bisection.
_COUNT_MAX = 32


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bucket_search(cdf, starts, u, cap):
    """``minimum(searchsorted(cdf, u, side="right"), cap)`` with a bucket index (``cap >=
    len(cdf)``: the plain search; the sampler's ``rows - 1`` keeps the last row's keys in the
    table, one pass fewer). ``starts[b]`` is the answer
    for ``u = b / B`` (``B = len(starts) - 1``), so a key in bucket ``b`` is searched only
    between ``starts[b]`` and ``starts[b + 1]``: the answer is ``starts[b]`` plus the entries
    there that are ``<= u`` (the CDF does not decrease). ``u`` in [0, 1). Later keys' reads
    are prefetched (``_AHEAD``), so their cache misses overlap."""
    nb = starts.shape[0] - 1
    n_keys = u.shape[0]
    out = np.empty(n_keys, dtype=np.int64)
    for i in range(n_keys):
        if i + 2 * _AHEAD < n_keys:
            _prefetch(starts, np.uint64(u[i + 2 * _AHEAD] * nb))
        if i + _AHEAD < n_keys:
            _prefetch(cdf, np.uint64(starts[np.uint64(u[i + _AHEAD] * nb)]))
        x = u[i]
        b = np.uint64(x * nb)
        lo = np.int64(starts[b])
        n = np.int64(starts[b + np.uint64(1)]) - lo
        if n <= _COUNT_MAX:             # count the entries <= x
            c = 0
            for m in range(lo, lo + n):
                c += cdf[np.uint64(m)] <= x
            c += lo
            out[i] = c if c < cap else cap
            continue
        while n > 0:                    # bisect: the half to keep by selects, not branches
            half = n >> 1
            m = lo + half
            c = cdf[np.uint64(m)] <= x
            lo = m + 1 if c else lo
            n = n - half - 1 if c else half
        out[i] = lo if lo < cap else cap
    return out
