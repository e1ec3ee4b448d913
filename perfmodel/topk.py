"""Streaming exact top-k filter: golden functional model and cycle-exact performance model.

Cycle contract (single clock; a transfer happens on cycle t when valid and ready are high at
the edge ending t):

* A query of n items arrives as ``max(1, ceil(n / lanes))`` input beats of ``lanes`` item slots;
  slot j of every beat goes to lane j. ``last`` is set on the final beat. An empty query is one
  beat with no valid slots and ``last`` set.
* Beats without ``last`` are accepted on every cycle they are valid (no stalls).
* A ``last`` beat is accepted on the first cycle it is valid on which every result beat of the
  previous query has already transferred (so results of query q and items of query q+1 overlap,
  but query q+1 cannot end before query q's results are out).
* Results: ``min(k, n)`` beats, best first (higher score, then lower id), or one beat flagged
  ``empty`` for an empty query; the first is valid on the cycle after the ``last`` beat was
  accepted, and each following beat transfers on the next cycle on which ``ready`` is high.
* ``topk_cycles(cfg, n, k)`` counts from the cycle the first input beat transfers to the cycle the
  last result beat transfers, stall-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from rpaccel.config import TopkConfig

#: Cycles from accepting a query's ``last`` beat to its first result beat being valid (the
#: contract's :attr:`TopkConfig.result_latency`, re-exported).
RESULT_LATENCY = TopkConfig.result_latency

__all__ = ["RESULT_LATENCY", "topk", "topk_batch", "topk_cycles", "topk_timeline", "QueryTiming", "query_beats",
           "result_beats", "topk_compares"]


def _keys(scores: np.ndarray, ids: np.ndarray, id_width: int) -> np.ndarray:
    """One int64 sort key per item: higher is better (score, then lower id)."""
    s = scores.astype(np.int64)
    return (s << id_width) | ((1 << id_width) - 1 - ids.astype(np.int64))


def topk(scores: Sequence[int], ids: Sequence[int], k: int, *, id_width: int = 32
         ) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` items, best first: higher score first, ties broken by the lower id first.

    Equals a stable sort on (-score, id) cut to k. Returns (scores, ids) arrays of length
    ``min(k, n)``. Scores may be signed; ``score_width + id_width`` must be at most 62.
    """
    s = np.asarray(scores)
    i = np.asarray(ids)
    if s.shape != i.shape or s.ndim != 1:
        raise ValueError(f"scores and ids must be 1-D and of equal length, got {s.shape}, {i.shape}")
    if k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k}")
    if i.size and (i.min() < 0 or i.max() >= (1 << id_width)):
        raise ValueError(f"ids must be in [0, {(1 << id_width) - 1}] for id_width={id_width}")
    n = s.size
    if n == 0:
        return s[:0], i[:0]
    key = _keys(s, i, id_width)
    kk = min(k, n)
    if kk < n:
        part = np.argpartition(-key, kk - 1)[:kk]
    else:
        part = np.arange(n)
    order = part[np.argsort(-key[part], kind="stable")]
    return s[order], i[order]


def topk_batch(scores: np.ndarray, ids: np.ndarray, k: int, *, id_width: int = 32
               ) -> tuple[np.ndarray, np.ndarray]:
    """``topk`` for a batch of equal-length queries: arrays of shape (Q, n) -> (Q, min(k, n))."""
    s = np.asarray(scores)
    i = np.asarray(ids)
    if s.ndim != 2 or s.shape != i.shape:
        raise ValueError(f"scores and ids must be (Q, n) arrays of equal shape, got {s.shape}, {i.shape}")
    if k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k}")
    q, n = s.shape
    if n == 0:
        return s, i
    key = _keys(s, i, id_width)
    kk = min(k, n)
    part = np.argpartition(-key, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (q, 1))
    pk = np.take_along_axis(key, part, axis=1)
    order = np.take_along_axis(part, np.argsort(-pk, axis=1, kind="stable"), axis=1)
    return np.take_along_axis(s, order, axis=1), np.take_along_axis(i, order, axis=1)


def query_beats(cfg: TopkConfig, n: int) -> int:
    """Input beats of a query of n items (an empty query is one beat)."""
    return cfg.query_beats(n)


def result_beats(n: int, k: int) -> int:
    """Result beats of a query: min(k, n), or one ``empty`` beat."""
    return TopkConfig.result_beats(n, k)


def topk_compares(cfg: TopkConfig, items: int, results: int) -> int:
    """Score comparisons (the unit's ``compares`` counter) for ``items`` inserted and
    ``results`` non-empty result beats: every item is compared with the ``k_max`` entries of its
    lane at once, and the merge compares the ``lanes`` heads (``lanes - 1`` comparisons) for
    every result it picks."""
    return items * cfg.k_max + (cfg.lanes - 1) * results


def topk_cycles(cfg: TopkConfig, n: int, k: int) -> int:
    """Stall-free cycles of one query on an idle unit: first input beat -> last result beat."""
    n, k = cfg.check_query(n, k)
    return query_beats(cfg, n) - 1 + (cfg.result_latency - 1) + result_beats(n, k)


@dataclass(frozen=True, slots=True)
class QueryTiming:
    in_cycles: tuple[int, ...]     # transfer cycle of every input beat
    out_cycles: tuple[int, ...]    # transfer cycle of every result beat


def topk_timeline(cfg: TopkConfig, queries: Iterable[tuple[int, int]], *, start: int = 0,
                  pause: Callable[[], bool] | None = None,
                  ready: Callable[[int], bool] | None = None) -> list[QueryTiming]:
    """Exact transfer cycles of back-to-back queries ``(n, k)``.

    ``start`` is the first cycle the producer may present a beat. ``pause()`` is consulted once
    before each input beat and again after every True (one idle cycle each), as the testbench's
    driver does; ``ready(cycle)`` says whether the consumer is ready on a cycle. Defaults: no
    pauses, always ready (the stall-free timeline).
    """
    pause = pause or (lambda: False)
    ready = ready or (lambda c: True)
    t = start
    prev_last_out = start - 1
    out: list[QueryTiming] = []
    for n, k in queries:
        n, k = cfg.check_query(n, k)
        beats = query_beats(cfg, n)
        ins = []
        for b in range(beats):
            while pause():
                t += 1
            if b == beats - 1:
                t = max(t, prev_last_out + 1)
            ins.append(t)
            t += 1
        outs = []
        c = ins[-1] + cfg.result_latency
        for _ in range(result_beats(n, k)):
            while not ready(c):
                c += 1
            outs.append(c)
            c += 1
        prev_last_out = outs[-1]
        out.append(QueryTiming(tuple(ins), tuple(outs)))
    return out
