"""Approximate (histogram) top-k filter: golden model of which items it returns, and its exact
cycle model (the contract in :class:`rpaccel.config.HistkConfig`).

Golden: bin every score by its top ``log2(bins)`` bits (offset binary when signed), walk the
bins from the top accumulating their counts until the running count reaches k (or bin 0), and
return every item whose bin is at or above that threshold bin, **in arrival order**: at least
``min(k, n)`` items, all of the exact top-k among them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from rpaccel.config import HistkConfig

__all__ = ["score_bins", "histk", "HistkResult", "histk_timeline", "histk_cycles",
           "HistkTiming", "histk_select"]


def score_bins(cfg: HistkConfig, scores: Sequence[int] | np.ndarray) -> np.ndarray:
    """The bin of every score: its top ``bin_bits`` bits, offset binary for signed scores
    (scores outside the config's range: ``ValueError``)."""
    s = cfg.check_scores(scores) - cfg.score_range[0]
    return s >> (cfg.score_width - cfg.bin_bits)


@dataclass(frozen=True)
class HistkResult:
    threshold: int          # the threshold bin
    count: int              # items returned (>= min(k, n))
    index: np.ndarray       # arrival positions of the returned items, ascending


def histk(cfg: HistkConfig, scores: Sequence[int] | np.ndarray, k: int) -> HistkResult:
    """Which items the filter returns for one query (module docstring)."""
    n, k = cfg.check_query(len(scores), k)
    b = score_bins(cfg, scores)
    counts = np.bincount(b, minlength=cfg.bins)
    acc, thr = 0, 0
    for idx in range(cfg.bins - 1, -1, -1):
        acc += int(counts[idx])
        if acc >= k or idx == 0:
            thr = idx
            break
    sel = np.flatnonzero(b >= thr)
    return HistkResult(thr, len(sel), sel)


def histk_select(scores: np.ndarray, k: int, bins: int, lo: float, hi: float,
                 mask: np.ndarray | None = None) -> np.ndarray:
    """The histogram filter on real-valued scores (the quality engine's form): ``bins`` equal
    bins over ``[lo, hi)`` (values outside clamp to the end bins), counting only the items of
    ``mask`` (default all); returns a boolean mask per row of ``scores`` (shape (Q, n)) of the
    items kept."""
    s = np.asarray(scores, dtype=np.float64)
    m = np.ones(s.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    b = np.clip(np.floor((s - lo) / (hi - lo) * bins), 0, bins - 1).astype(np.int64)
    q = s.shape[0]
    counts = np.zeros((q, bins), dtype=np.int64)
    rows = np.repeat(np.arange(q), s.shape[1]).reshape(s.shape)
    np.add.at(counts, (rows[m], b[m]), 1)
    from_top = np.cumsum(counts[:, ::-1], axis=1)          # count of bins >= bins-1-j
    reached = from_top >= k
    j = np.where(reached.any(axis=1), reached.argmax(axis=1), bins - 1)
    thr = bins - 1 - j
    return m & (b >= thr[:, None])


@dataclass(frozen=True, slots=True)
class HistkTiming:
    in_cycles: tuple[int, ...]     # transfer cycle of every input beat
    out_cycles: tuple[int, ...]    # transfer cycle of every result beat
    threshold: int


def histk_timeline(cfg: HistkConfig, queries: Iterable[tuple[Sequence[int], int]], *,
                   start: int = 0, pause: Callable[[], bool] | None = None,
                   ready: Callable[[int], bool] | None = None) -> list[HistkTiming]:
    """Exact transfer cycles of back-to-back queries ``(scores, k)``. ``pause()`` is consulted
    once before each input beat and again after every True (one idle cycle each);
    ``ready(cycle)``: the consumer takes a result beat on that cycle. Defaults: stall-free."""
    pause = pause or (lambda: False)
    ready = ready or (lambda c: True)
    t = start                       # first cycle the driver may present the next beat
    busy_until = start - 1          # the previous query's last result beat (IN resumes after)
    out: list[HistkTiming] = []
    for scores, k in queries:
        r = histk(cfg, scores, k)
        qual = score_bins(cfg, scores) >= r.threshold
        ins = []
        for j in range(len(scores)):
            while pause():
                t += 1
            if j == 0:                # the driver paused while the unit drained; then waits
                t = max(t, busy_until + 1)
            ins.append(t)
            t += 1
        d = ins[-1] + cfg.walk_latency + cfg.walk_cycles(r.threshold)   # first drain cycle
        # drain: the output register; a cycle "advances" when it is empty or transfers
        outs: list[int] = []
        c = d
        pending = None                  # index whose read data arrives this cycle
        nxt = 0                         # next buffer entry to read
        valid = False
        while len(outs) < r.count:
            fire = valid and ready(c)
            if fire:
                outs.append(c)
                if len(outs) == r.count:
                    break
            if (not valid) or fire:
                valid = pending is not None and bool(qual[pending])
                pending = nxt if nxt < len(scores) else None
                nxt += 1 if pending is not None else 0
            c += 1
        busy_until = outs[-1]
        out.append(HistkTiming(tuple(ins), tuple(outs), r.threshold))
    return out


def histk_cycles(cfg: HistkConfig, scores: Sequence[int], k: int) -> int:
    """Stall-free cycles of one query: first input beat -> last result beat transferred
    (``n - 1 + walk_latency + walk cycles + drain_latency + the last returned item's
    position``)."""
    (tm,) = histk_timeline(cfg, [(scores, k)])
    return tm.out_cycles[-1] - tm.in_cycles[0]
