"""The ranking funnel of a multi-stage query: which candidates each stage keeps (pure numpy).

One rule, read by the quality engine (:mod:`rpaccel.sched.quality.metrics`), the integrated
accelerator's golden model (:mod:`rpaccel.perfmodel.query`) and, through that model, the RTL's
testbench.

A query has ``N`` candidates, a binary relevance label per candidate, and one score per model.
A funnel of S stages with ``items = [items[0] = N, items[1], ..., items[S-1]]`` works as the
accelerator's query contract defines it:

* stage s ranks its ``items[s]`` candidates by its model's score, **best first, ties to the lower
  candidate index** (the top-k unit's rule), and keeps the best ``items[s+1]``;
* ``policy="global"`` keeps the best over all of the stage's candidates; ``"per-sub-batch"``
  cuts them, in the order they reach the stage, into sub-batches of ``B_s = min(B, items[s])``
  and keeps the best ``items[s+1] * B_s / items[s]`` of each (it must divide exactly). The
  survivors reach the next stage sub-batch after sub-batch, each best first (the order a top-k
  unit emits them);
* the last stage ranks its candidates and the funnel returns its best ``k_out`` (default 64),
  best first.

Scores are compared as float32 (or exactly, for integers that fit 32 bits). Candidate index i
breaks ties: the sort key is ``(score, N - 1 - i)``, unique per candidate, which lets numpy's
``argpartition`` pick the top items exactly.

"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from rpaccel.query import DEFAULT_FILTER, MAX_CANDIDATES, check_funnel, stage_sub_batch

__all__ = ["funnel", "stage_step"]

_IDX_BITS = MAX_CANDIDATES.bit_length() - 1     # the tie-break field
_CHUNK = 512                # queries per vectorised block (bounds the working memory)


def _keys(scores: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Unique int64 sort keys, larger = better: ``(score, -index)``."""
    if np.issubdtype(scores.dtype, np.integer):
        if scores.size and (scores.min() < -(1 << 31) or scores.max() >= 1 << 31):
            raise ValueError("integer scores must fit 32 signed bits")
        k = scores.astype(np.int64)
    else:
        b = scores.astype(np.float32).view(np.int32).astype(np.int64)
        k = np.where(b >= 0, b, -(b & 0x7FFFFFFF))       # order-preserving map of float32 bits
    return (k << _IDX_BITS) + ((1 << _IDX_BITS) - 1 - cand)


def _top(keys: np.ndarray, cand: np.ndarray, m: int) -> np.ndarray:
    """The ``m`` best candidates of every row, best first (rows of ``keys``/``cand``)."""
    if m < keys.shape[-1]:
        part = np.argpartition(-keys, m - 1, axis=-1)[..., :m]
        keys = np.take_along_axis(keys, part, axis=-1)
        cand = np.take_along_axis(cand, part, axis=-1)
    order = np.argsort(-keys, axis=-1)
    return np.take_along_axis(cand, order, axis=-1)


def funnel(scores: Sequence[np.ndarray], items: Sequence[int], *, policy: str = DEFAULT_FILTER,
           sub_batch: int | None = None, k_out: int = 64) -> np.ndarray:
    """Candidate indices ``(Q, k_out)`` of every query's final list, best first.

    ``scores[s]`` is stage s's model's ``(Q, N)`` score matrix; see the module docstring for the
    rules. Vectorised over queries (blocks of 512)."""
    if len(scores) != len(items):
        raise ValueError(f"one score matrix per stage: {len(items)} stages, {len(scores)} "
                         f"score matrices")
    q, n = np.shape(scores[0])
    for s, sc in enumerate(scores):
        if np.shape(sc) != (q, n):
            raise ValueError(f"scores[{s}] has shape {np.shape(sc)}, expected {(q, n)}")
    items = check_funnel(n, items, policy, sub_batch, k_out)
    out = np.empty((q, k_out), dtype=np.int64)
    for lo in range(0, q, _CHUNK):
        hi = min(q, lo + _CHUNK)
        cand = np.broadcast_to(np.arange(n, dtype=np.int64), (hi - lo, n))
        for s, sc in enumerate(scores):
            cand = stage_step(np.take_along_axis(np.asarray(sc[lo:hi]), cand, axis=1), cand,
                              items, s, policy=policy, sub_batch=sub_batch, k_out=k_out)
        out[lo:hi] = cand
    return out


def stage_step(cand_scores: np.ndarray, cand: np.ndarray, items: Sequence[int], s: int, *,
               policy: str, sub_batch: int | None, k_out: int) -> np.ndarray:
    """One stage of the funnel: ``cand`` ``(Q, items[s])`` holds the candidate indices that reach
    stage s, in arrival order, and ``cand_scores`` their scores; returns the survivors ``(Q,
    items[s+1])`` (the last stage: ``(Q, k_out)``), in the order they leave the stage."""
    keys = _keys(cand_scores, cand)
    last = s == len(items) - 1
    keep = k_out if last else items[s + 1]
    if last or policy == "global":
        return _top(keys, cand, keep)
    b = stage_sub_batch(sub_batch, items[s])
    nb = items[s] // b
    quota = keep * b // items[s]
    top = _top(keys.reshape(-1, nb, b), cand.reshape(-1, nb, b), quota)
    return top.reshape(cand.shape[0], keep)
