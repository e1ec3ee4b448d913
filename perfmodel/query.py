"""What a query computes on the integrated RPAccel: the numpy golden model (the contract).

A query carries ``N = items[0]`` candidates; candidate i has ``D`` int8 dense features and
``T_max`` sparse ids (``T_max`` = the most lookups any stage has; stage s uses the first
``L_s = sum(pooling_s)``: table 0's ids, then table 1's, ...).
Stage s runs its own DLRM-style model (:class:`rpaccel.accel.ModelSpec`) on the ``items[s]``
candidates that reach it and keeps the best ``items[s+1]`` (the last stage: ``k_out``), with the
funnel's rules (:mod:`rpaccel.perfmodel.funnel`: score descending, ties to the lower candidate
index; ``global`` or ``per-sub-batch`` filtering).

Model of stage s, per candidate (integer inference, operands int8, acc_width-bit accumulators):

* embeddings: ``e_t = E_{s,t}[id_t][:d]`` for t < T_s: stage s's own table t (global table
  ``sum_{r<s} T_r + t`` of the embedding unit) at the candidate's t-th sparse id, its first ``d``
  int8 elements (a table row holds the unit's ``dim >= d`` elements); a pooled table t
  (``pooling[t] = L > 1``) sums its L ids' rows and saturates to int8
  (:func:`rpaccel.query.pool_acc_bits`, :func:`pool_rows`);
* every layer ``acc = h . W + b`` (W int8 ``K x N``, b int32 ``N``) wrapping at acc_width; every
  layer but the top MLP's last outputs ``sat(relu(acc) >> shift)`` to int8 (arithmetic shift; so
  ``0..127``); the top MLP's last layer's ``acc`` (N = 1) is the score;
* bottom MLP on the dense features; interaction = the concatenation ``[bottom_out, e_1, ...,
  e_T]`` (width ``(T + 1) * d``, the RecPipe artifact's choice); top MLP on that.

Data (all seeded, deterministic): weights, biases and shifts from :func:`model_params`
(``shift = (K.bit_length() + 1) // 2 + 4`` keeps activations in range); embedding rows are a
hash of ``(seed, table, row)`` (:func:`embedding_rows`), so full-size tables need no memory;
dense features uniform int8, sparse ids Zipf(skew) over the table's rows, hot rows first
(the frequency re-indexing the static cache assumes) (:func:`query_inputs`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from rpaccel.accel import AccelConfig
from rpaccel.config import EmbCacheConfig
from rpaccel.query import POOL_MAX, POOL_MIN, ModelSpec, Pipeline, stage_plan

from .funnel import stage_step

__all__ = ["StageParams", "model_params", "embedding_rows", "lookup_rows", "query_inputs",
           "QueryInputs", "column_rows", "pool_rows",
           "stage_scores", "QueryResult", "run_query", "table_base", "wrap", "layer_shift",
           "host_idle_cycles", "host_stall_cycles", "STALL_HORIZON"]


def wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of int64 values to ``bits`` bits."""
    if bits >= 64:
        return x.astype(np.int64)
    m = np.int64(1) << np.int64(bits)
    h = np.int64(1) << np.int64(bits - 1)
    return ((x.astype(np.int64) + h) % m) - h


def layer_shift(k: int) -> int:
    """The right shift of a layer with K inputs (the generator's rule)."""
    return (k.bit_length() + 1) // 2 + 4


@dataclass(frozen=True)
class StageParams:
    """One stage's weights ``(K, N)`` int8, biases ``(N,)`` int32 and shifts, layer by layer
    (bottom MLP first, then top MLP; :meth:`rpaccel.accel.ModelSpec.layers` order)."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    shifts: tuple[int, ...]


def model_params(pipeline: Pipeline, seed: int) -> list[StageParams]:
    """Seeded weights, biases and shifts of every stage's model."""
    out = []
    for s, st in enumerate(pipeline.stages):
        rng = np.random.default_rng([seed, 1000 + s])
        ws, bs, sh = [], [], []
        for _, _, k, n in st.spec.layers():
            shift = layer_shift(k)
            ws.append(rng.integers(-64, 64, size=(k, n), dtype=np.int64).astype(np.int8))
            lim = 1 << (shift + 3)
            bs.append(rng.integers(-lim, lim, size=n, dtype=np.int64).astype(np.int32))
            sh.append(shift)
        out.append(StageParams(tuple(ws), tuple(bs), tuple(sh)))
    return out


def table_base(pipeline: Pipeline, s: int) -> int:
    """The embedding unit's table index of stage s's table 0 (stages' tables are consecutive)."""
    return sum(st.spec.tables for st in pipeline.stages[:s])


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, vectorised (uint64, wrapping)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def embedding_rows(seed: int, table: np.ndarray, row: np.ndarray, dim: int) -> np.ndarray:
    """Rows ``(n, dim)`` int8 of the embedding tables: element e of (table, row) is the top byte
    of ``mix(mix(seed) + (table << 40) + (row << 8) + e)``, as a signed byte. Long inputs are
    hashed by a compiled loop (``_querykern.rows_kernel``), mid-sized ones once per distinct
    (table, row) in numpy; both give these bytes (tested against each other)."""
    table = np.asarray(table, dtype=np.uint64).reshape(-1)
    row = np.asarray(row, dtype=np.uint64).reshape(-1)
    if len(row) > 4096:                 # compiled: every row hashed in place
        from ._querykern import rows_kernel

        with np.errstate(over="ignore"):
            base = _mix(np.array([seed], dtype=np.uint64))[0]
        return rows_kernel(base, table, row, dim)
    if len(row) > 256:
        key, inv = np.unique((table << np.uint64(40)) | row, return_inverse=True)
        if len(key) < len(row) * 3 // 4:
            uniq = embedding_rows(seed, key >> np.uint64(40),
                                  key & np.uint64((1 << 40) - 1), dim)
            return uniq[inv.reshape(-1)]
    table, row = table.reshape(-1, 1), row.reshape(-1, 1)
    with np.errstate(over="ignore"):
        base = _mix(np.array([seed], dtype=np.uint64))[0]
        x = base + (table << np.uint64(40)) + (row << np.uint64(8)) + np.arange(
            dim, dtype=np.uint64)
        v = _mix(x) >> np.uint64(56)
    return (v.astype(np.int64) - 128).astype(np.int8)


@dataclass(frozen=True)
class QueryInputs:
    """One query's candidates: ``dense (N, D)`` int8 (``None``: not drawn,
    :func:`query_inputs`' ``dense``) and ``sparse (N, T_max)`` row ids."""

    dense: np.ndarray | None
    sparse: np.ndarray


def lookup_rows(seed: int, sparse: np.ndarray, ids: np.ndarray, tables, dim: int
                ) -> np.ndarray:
    """The embedding rows ``(len(ids), L, dim)`` int8 a stage reads: candidate ``ids[j]``'s
    lookup c is row ``sparse[ids[j], c]`` of table ``tables[c]`` (``L = len(tables)``), as
    :func:`embedding_rows` gives it. Many lookups go through a compiled kernel that reads the
    ids in place (``_querykern.lookup_rows_kernel``); equal to :func:`embedding_rows` (tested)."""
    L = len(tables)
    ids = np.asarray(ids, dtype=np.int64)
    if sparse.ndim != 2 or sparse.shape[1] < L:
        raise ValueError(f"sparse must be (candidates, >= {L}) row ids, got shape "
                         f"{sparse.shape}")
    if len(ids) and not (0 <= ids.min() and ids.max() < len(sparse)):
        raise ValueError(f"ids must be in [0, {len(sparse) - 1}] (rows of sparse)")
    if len(ids) * L <= 4096:
        sp = sparse[ids, :L]
        tabs = np.broadcast_to(np.asarray(tables, dtype=np.int64), sp.shape)
        return embedding_rows(seed, tabs.ravel(), sp.ravel(), dim).reshape(len(ids), L, dim)
    from ._querykern import lookup_rows_compiled

    with np.errstate(over="ignore"):
        base = _mix(np.array([seed], dtype=np.uint64))[0]
    return lookup_rows_compiled(dim)(base, np.asarray(tables, dtype=np.uint64),
                                     np.ascontiguousarray(sparse, dtype=np.int64), ids, dim)


@functools.lru_cache(maxsize=8)
def _zipf_cdf(rows: int, skew: float) -> np.ndarray:
    p = 1.0 / np.arange(1, rows + 1, dtype=np.float64) ** skew
    cdf = np.cumsum(p)
    return cdf / cdf[-1]


def sorted_search(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``searchsorted(cdf, u, side="right")``, the same indices, faster on long ``cdf``s: the
    keys are searched in sorted order (memory-local) and put back."""
    if len(u) < 4096 or len(cdf) < 65536:
        return np.searchsorted(cdf, u, side="right")
    order = np.argsort(u)               # equal keys get equal indices: any order will do
    out = np.empty(len(u), dtype=np.int64)
    out[order] = np.searchsorted(cdf, u[order], side="right")
    return out


#: Buckets of the Zipf sampler's index (:func:`_zipf_starts`): a power of two, so a key's
#: bucket ``floor(u * B)`` and a bucket's edge ``b / B`` are exact in float64.
ZIPF_BUCKETS = 1 << 20


@functools.lru_cache(maxsize=8)
def _zipf_starts(rows: int, skew: float) -> np.ndarray:
    """Where each bucket's keys start in the Zipf CDF: ``searchsorted(cdf, b / B, "right")``
    for b = 0..B (int32: rows are at most 2**24, and the smaller table is faster to search)."""
    edges = np.arange(ZIPF_BUCKETS + 1, dtype=np.float64) / ZIPF_BUCKETS
    return np.searchsorted(_zipf_cdf(rows, skew), edges, side="right").astype(np.int32)


def _zipf_rows(rng: np.random.Generator, n: int, rows: int, skew: float) -> np.ndarray:
    cdf = _zipf_cdf(rows, float(skew))
    u = rng.random(n)
    if n >= 4096 and rows >= 65536:      # compiled bucketed search: the same indices
        from ._querykern import bucket_search

        return bucket_search(cdf, _zipf_starts(rows, float(skew)), u, rows - 1)
    return np.minimum(sorted_search(cdf, u), rows - 1)


def column_rows(accel: "AccelConfig | EmbCacheConfig", pipeline: Pipeline
                ) -> int | tuple[int, ...]:
    """The rows each sparse-id column is drawn over: ``embedding.rows`` for uniform tables;
    with per-table rows (``embedding.table_rows``), per column the fewest rows of the tables
    that read it (column c is lookup c of every stage, which may read tables of different
    sizes)."""
    emb = getattr(accel, "embedding", accel)
    if not emb.table_rows:
        return emb.rows
    cols = [emb.rows] * pipeline.sparse
    sizes = emb.table_sizes
    for s, st in enumerate(pipeline.stages):
        tb = table_base(pipeline, s)
        for c, t in enumerate(st.spec.lookup_tables()):
            cols[c] = min(cols[c], sizes[tb + t])
    return tuple(cols)


def skip_int8_draws(rng: np.random.Generator, k: int) -> None:
    """Leave ``rng`` as ``rng.integers(-128, 128, size=k, dtype=np.int64)`` does, without
    drawing: each value takes one 32-bit half of a 64-bit step (a range of 256 is never
    rejected), so skip the whole steps and draw the last value of an odd count, which leaves
    its step's other half buffered for the next 32-bit draw, as the full draw does (tested
    against numpy's own draws)."""
    rng.bit_generator.advance(k // 2)
    if k % 2:
        rng.integers(-128, 128, dtype=np.int64)


def query_inputs(pipeline: Pipeline, table_rows: int | tuple[int, ...], seed: int,
                 query: int = 0, feed=None, *, dense: bool = True) -> QueryInputs:
    """Seeded inputs of query ``query``: uniform int8 dense features; sparse ids Zipf(skew)
    over ``table_rows`` rows per column (row 0 hottest; an int: every column, a tuple: per
    column, :func:`column_rows`), or a workload's
    (:class:`rpaccel.perfmodel.feed.WorkloadFeed` ``feed``). ``dense=False``: the dense
    features are not drawn (``None``; timing a one-stage pipeline needs none) and the sparse
    ids are the same: the generator skips the draws instead."""
    rng = np.random.default_rng([seed, 7, query])
    n = pipeline.items[0]
    feats = None
    if dense:
        feats = rng.integers(-128, 128, size=(n, pipeline.dense), dtype=np.int64).astype(np.int8)
    else:
        skip_int8_draws(rng, n * pipeline.dense)
    if feed is not None:
        return QueryInputs(feats, feed.sparse(query, rng))
    T = pipeline.sparse
    if isinstance(table_rows, int):
        sparse = _zipf_rows(rng, n * T, table_rows, pipeline.ids_skew)
        return QueryInputs(feats, sparse.reshape(n, T).astype(np.int64, copy=False))
    if len(table_rows) != T:
        raise ValueError(f"table_rows must have one entry per sparse column ({T}), got "
                         f"{len(table_rows)}")
    out = np.empty((n, T), dtype=np.int64)
    for r in sorted(set(table_rows)):        # columns of equal rows: one draw, in column order
        cols = [c for c, x in enumerate(table_rows) if x == r]
        out[:, cols] = _zipf_rows(rng, n * len(cols), r, pipeline.ids_skew).reshape(n, len(cols))
    return QueryInputs(feats, out)


def pool_rows(emb: np.ndarray, pooling: tuple[int, ...]) -> np.ndarray:
    """Pooled embeddings ``(n, T, d)`` int8 of gathered rows ``(n, sum(pooling), d)``: each
    table's rows summed and saturated (:func:`rpaccel.query.pool_acc_bits`' rule)."""
    starts = np.concatenate([[0], np.cumsum(pooling)[:-1]]).astype(np.intp)
    sums = np.add.reduceat(emb.astype(np.int64), starts, axis=1)
    return np.clip(sums, POOL_MIN, POOL_MAX).astype(np.int8)


def _layer(h: np.ndarray, w: np.ndarray, b: np.ndarray, acc_width: int) -> np.ndarray:
    # integer products summed in floating point are exact while every partial sum stays below
    # the mantissa: float32 when K * 128 * 128 < 2**24 (however BLAS orders the sums), else
    # float64 (exact below 2**53: |h.W| <= 128 * 128 * 65536 here)
    ft = np.float32 if w.shape[0] * 128 * 128 < (1 << 24) else np.float64
    acc = (h.astype(ft) @ w.astype(ft)).astype(np.int64)
    return wrap(acc + b.astype(np.int64), acc_width)


def _act(acc: np.ndarray, shift: int) -> np.ndarray:
    return np.minimum(np.maximum(acc, 0) >> shift, 127).astype(np.int64)


#: Largest integer below which every float32 sum of integers is exact.
_F32_EXACT = 1 << 24


def _f32_exact(k: int, bias: np.ndarray, acc_width: int) -> bool:
    """Whether a layer with ``k`` int8-range inputs, these biases and this accumulator can run
    wholly in float32: every partial sum of ``h.W + b`` stays below 2**24 in magnitude (so
    float32 holds it exactly, in any summation order) and below the accumulator's range (so
    the wrap is the identity)."""
    bound = k * 128 * 128 + int(np.abs(bias.astype(np.int64)).max(initial=0))
    return bound < _F32_EXACT and bound < (1 << (acc_width - 1))


#: Activations of at least this many elements run the compiled kernel
#: (``_querykern.act_kernel``); smaller ones do not import numba.
_ACT_KERNEL_MIN = 1 << 14


def _scores_f32(model: ModelSpec, params: StageParams, dense: np.ndarray, emb: np.ndarray
                ) -> np.ndarray:
    """:func:`stage_scores` when every layer passes :func:`_f32_exact`: activations stay float32
    between layers (``>> shift`` is a multiplication by ``2**-shift`` and a floor, both exact),
    with no int64 round trips. Equal to the integer form (tested)."""
    nb = len(model.bottom) - 1
    h = dense.astype(np.float32)
    layers = len(params.weights)
    for i in range(layers):
        w = params.weights[i].astype(np.float32)
        if i == nb:     # [h, emb] @ w: one product, the embeddings cast as they are copied in
            x = np.empty((len(h), w.shape[0]), dtype=np.float32)
            x[:, :h.shape[1]] = h
            x[:, h.shape[1]:] = emb.reshape(len(h), -1)
            acc = x @ w
        else:
            acc = h @ w
        bias = params.biases[i].astype(np.float32)
        scale = np.float32(2.0 ** -params.shifts[i])
        if i == layers - 1:
            acc += bias
            return acc[:, 0].astype(np.int64)
        if acc.size >= _ACT_KERNEL_MIN:     # one compiled pass instead of five numpy ones
            from ._querykern import act_kernel

            h = act_kernel(acc, bias, scale)
            continue
        acc += bias
        np.maximum(acc, 0, out=acc)
        acc *= scale
        np.floor(acc, out=acc)
        h = np.minimum(acc, 127, out=acc)
    raise ValueError("a model has at least one layer")


def stage_scores(model: ModelSpec, params: StageParams, dense: np.ndarray, emb: np.ndarray,
                 acc_width: int, *, trace: list | None = None) -> np.ndarray:
    """Scores ``(n,)`` of n candidates: ``dense (n, D)``, ``emb (n, T, d)``. With ``trace`` (a
    list), every layer's input activations are appended to it (for dumps and debugging)."""
    nb = len(model.bottom) - 1
    if trace is None and all(_f32_exact(w.shape[0], b, acc_width)
                             for w, b in zip(params.weights, params.biases)):
        return _scores_f32(model, params, dense, emb)
    h = dense.astype(np.int64)
    for i in range(nb):
        if trace is not None:
            trace.append(h)
        h = _act(_layer(h, params.weights[i], params.biases[i], acc_width), params.shifts[i])
    h = np.concatenate([h, emb.reshape(len(h), -1).astype(np.int64)], axis=1)
    layers = len(params.weights)
    for i in range(nb, layers):
        if trace is not None:
            trace.append(h)
        acc = _layer(h, params.weights[i], params.biases[i], acc_width)
        h = acc if i == layers - 1 else _act(acc, params.shifts[i])
    return h[:, 0]


@dataclass
class QueryResult:
    """Golden answer of one query: per stage, the candidates that reached it (arrival order),
    their scores, and its survivors (leaving order); the final ranked ids and scores."""

    stage_items: list[np.ndarray] = field(default_factory=list)
    stage_scores: list[np.ndarray] = field(default_factory=list)
    survivors: list[np.ndarray] = field(default_factory=list)

    @property
    def ids(self) -> np.ndarray:
        return self.survivors[-1]

    @property
    def scores(self) -> np.ndarray:
        pos = {int(c): i for i, c in enumerate(self.stage_items[-1])}
        return np.array([self.stage_scores[-1][pos[int(c)]] for c in self.ids], dtype=np.int64)


def run_query(accel: AccelConfig, pipeline: Pipeline, params: list[StageParams],
              inputs: QueryInputs, *, seed: int, sub_batch: int | None = None,
              policy: str | None = None, stages: int | None = None) -> QueryResult:
    """The golden forward + filter of one query. ``stages``: stop after that many stages (the
    executor needs only the stages whose survivors feed another)."""
    plans = stage_plan(pipeline, sub_batch, policy)
    b = plans[0].sub_batch
    pol = policy or pipeline.filter
    res = QueryResult()
    cand = np.arange(pipeline.items[0], dtype=np.int64)[None, :]
    for s, st in enumerate(pipeline.stages[:stages]):
        m = st.spec
        ids = cand[0]
        tb = table_base(pipeline, s)
        emb = lookup_rows(seed, inputs.sparse, ids, [tb + t for t in m.lookup_tables()],
                          m.dim)                                  # the first d of dim
        if m.pooled:
            emb = pool_rows(emb, m.pooling)
        sc = stage_scores(m, params[s], inputs.dense[ids], emb, accel.array.acc_width)
        res.stage_items.append(ids)
        res.stage_scores.append(sc)
        cand = stage_step(sc[None, :], cand, pipeline.items, s, policy=pol, sub_batch=b,
                          k_out=pipeline.k_out)
        res.survivors.append(cand[0])
    return res


def host_idle_cycles(n: int, p: float, seed: int) -> np.ndarray:
    """Idle cycles before each of the host's ``n`` input beats: each cycle the host is idle with
    probability ``p`` (geometric counts, seeded); beat 0 has none (it defines cycle 0)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"idle must be a probability in [0, 1), got {p}")
    out = np.random.default_rng([seed, 17]).geometric(1.0 - p, size=n) - 1
    if n:
        out[0] = 0
    return out.astype(np.int64)


#: Cycles (from cycle 0) a host stall pattern covers; the host is ready on every later cycle.
STALL_HORIZON = 1 << 16


def host_stall_cycles(p: float, seed: int, n: int = STALL_HORIZON) -> np.ndarray:
    """The host's result-side backpressure: ``stall[c]`` is True when the host does not take a
    result beat on cycle c (probability ``p`` each cycle, seeded), for c < n."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"backpressure must be a probability in [0, 1), got {p}")
    return np.random.default_rng([seed, 19]).random(n) < p
