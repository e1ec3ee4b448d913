"""Seeded workload generators: arrival times and query sizes.

Arrivals (``arrivals(kind, qps, n, seed)``, seconds from 0):

* ``poisson`` -- a true Poisson process: exponential gaps of mean 1/qps (CV = 1).
* ``poisson-ms`` -- DeepRecSys/RecPipe's generator: each gap is an *integer number of
  milliseconds* drawn from Poisson(lam), lam = 1000/qps the mean gap in ms. Same mean rate, but
  the gap's standard deviation is sqrt(lam) ms, so CV = 1/sqrt(lam): smoother than Poisson for
  lam > 1 ms (CV 0.32 at 10 ms), burstier at small lam (P(gap = 0) = e^-lam). Queueing tails are
  correspondingly lighter (or heavier) than under a true Poisson process.
* ``constant`` -- gaps of exactly 1/qps.
* ``file`` -- replayed arrival times (seconds, one per line, non-decreasing).

Sizes (``sizes(kind, n, seed, ...)``, items per query):

* ``fixed`` (``mean``), ``normal`` (``mean``, ``sd``), ``lognormal`` (``mu``, ``sigma``, in log
  space), ``file`` (one value per line of a percentile table, picked uniformly: inverse-CDF
  sampling; DeepRecSys's ``file`` mode, whose production table is not published).
* ``pareto``: a Pareto-tailed mixture. With probability ``1 - tail`` a lognormal(``mu``,
  ``sigma``) draw (DeepRecSys's shipped shape), with probability ``tail`` a Pareto draw of index
  ``alpha`` starting at the lognormal's 95th percentile ``exp(mu + 1.645 sigma)``. DeepRecSys
  (ISCA 2020) reports production query sizes with a heavier tail than a lognormal fit, a
  minority of large queries carrying much of the work, but publishes neither the table nor a
  fit: ``tail`` and ``alpha`` are ours, and a smaller ``alpha`` is a heavier tail (the mean is
  infinite below 1 before the clip).
* DeepRecSys post-processing for the random kinds: ``int(max(min(x, max_size), 1))`` -- clip to
  [1, max_size] (1024 by default), then truncate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["arrivals", "arrival_chunks", "sizes", "read_column", "ARRIVAL_KINDS", "SIZE_KINDS"]

ARRIVAL_KINDS = ("poisson", "poisson-ms", "constant", "file")
SIZE_KINDS = ("fixed", "normal", "lognormal", "file", "pareto")


def _rng(seed: int, stream: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return np.random.default_rng([seed, stream])


def read_column(path: str | Path, what: str) -> np.ndarray:
    """Read one number per line (blank lines and # comments skipped); errors name the line."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as e:
        raise ValueError(f"{what} file {p}: {e.strerror}") from None
    vals = []
    for i, line in enumerate(lines, 1):
        t = line.split("#", 1)[0].strip()
        if not t:
            continue
        try:
            v = float(t)
        except ValueError:
            raise ValueError(f"{what} file {p}, line {i}: not a number: {t!r}") from None
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"{what} file {p}, line {i}: must be a finite number >= 0, got {t}")
        vals.append(v)
    if not vals:
        raise ValueError(f"{what} file {p}: no values")
    return np.asarray(vals)


def arrivals(kind: str, qps: float, n: int, seed: int = 0, *, path: str | None = None
             ) -> np.ndarray:
    """``n`` arrival times in seconds (the first at its first gap; ``file`` replays as is)."""
    if kind not in ARRIVAL_KINDS:
        raise ValueError(f"arrival must be one of {list(ARRIVAL_KINDS)}, got {kind!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"queries must be an integer >= 1, got {n!r}")
    if kind == "file":
        if path is None:
            raise ValueError("arrival 'file' needs a path")
        t = read_column(path, "arrival")
        if np.any(np.diff(t) < 0):
            i = int(np.argmax(np.diff(t) < 0)) + 2
            raise ValueError(f"arrival file {path}: times must be non-decreasing (value {i})")
        if len(t) < n:
            raise ValueError(f"arrival file {path}: has {len(t)} times, {n} queries requested")
        return t[:n]
    return next(arrival_chunks(kind, qps, n, seed, chunk=n))          # one piece: all of them


def arrival_chunks(kind: str, qps: float, n: int, seed: int = 0, *, chunk: int = 1 << 16):
    """:func:`arrivals` (not ``file``) in pieces of at most ``chunk`` times: the same values
    (the generator draws in sequence and the sum runs on from the previous piece's last time),
    in memory bounded by ``chunk``."""
    if kind == "file" or kind not in ARRIVAL_KINDS:
        raise ValueError(f"arrival must be one of {[k for k in ARRIVAL_KINDS if k != 'file']} "
                         f"here, got {kind!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"queries must be an integer >= 1, got {n!r}")
    if not isinstance(qps, (int, float)) or not np.isfinite(qps) or qps <= 0:
        raise ValueError(f"qps must be a number > 0, got {qps!r}")
    rng = _rng(seed, 1)
    last = None
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        if kind == "poisson":
            gaps = rng.exponential(1.0 / qps, size=m)
        elif kind == "poisson-ms":
            gaps = rng.poisson(1000.0 / qps, size=m) * 1e-3
        else:
            gaps = np.full(m, 1.0 / qps)
        if last is not None:
            gaps[0] = last + gaps[0]
        t = np.cumsum(gaps)
        last = t[-1]
        yield t


#: DeepRecSys's query-size distribution: lognormal in log space (mu, sigma), clipped to at most
#: ``SIZE_CAP`` items (truncated, as DeepRecSys does). The one place these defaults live.
LOGNORMAL_MU = 5.1
LOGNORMAL_SIGMA = 0.2
SIZE_CAP = 1024
#: The Pareto-tailed mixture's defaults: the share of tail draws and the tail index (ours).
PARETO_TAIL = 0.1
PARETO_ALPHA = 1.5


def size_cap(mean: float | None) -> int:
    """Largest query size drawn: ``SIZE_CAP``, or the mean when that is larger (so a normal
    distribution around a 4096-item mean is not clipped to 1024)."""
    return max(SIZE_CAP, int(mean or 0))


def sizes(kind: str, n: int, seed: int = 0, *, mean: float = 4096, sd: float = 0.0,
          mu: float = LOGNORMAL_MU, sigma: float = LOGNORMAL_SIGMA, max_size: int = SIZE_CAP,
          path: str | None = None, tail: float = PARETO_TAIL, alpha: float = PARETO_ALPHA
          ) -> np.ndarray:
    """``n`` query sizes (items, int64 >= 1)."""
    if kind not in SIZE_KINDS:
        raise ValueError(f"size must be one of {list(SIZE_KINDS)}, got {kind!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"queries must be an integer >= 1, got {n!r}")
    if kind == "fixed":
        if mean < 1 or int(mean) != mean:
            raise ValueError(f"size mean must be an integer >= 1 for fixed sizes, got {mean}")
        return np.full(n, int(mean), dtype=np.int64)
    rng = _rng(seed, 2)
    if kind == "file":
        table = read_column(path, "size") if path else None
        if table is None:
            raise ValueError("size 'file' needs a path")
        return np.maximum(table[rng.integers(0, len(table), size=n)].astype(np.int64), 1)
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1, got {max_size}")
    if kind == "normal":
        if sd < 0:
            raise ValueError(f"size sd must be >= 0, got {sd}")
        x = rng.normal(mean, sd, size=n)
    else:
        if sigma < 0:
            raise ValueError(f"size sigma must be >= 0, got {sigma}")
        x = rng.lognormal(mu, sigma, size=n)
        if kind == "pareto":
            if not 0 <= tail <= 1:
                raise ValueError(f"size tail must be a share in [0, 1], got {tail}")
            if not 0 < alpha <= 100:
                raise ValueError(f"size alpha must be in (0, 100], got {alpha}")
            is_tail = rng.random(n) < tail
            x0 = np.exp(mu + 1.645 * sigma)
            x = np.where(is_tail, x0 * (1.0 - rng.random(n)) ** (-1.0 / alpha), x)
    return np.maximum(np.minimum(x, max_size), 1).astype(np.int64)   # clip, then truncate
