"""Sweeps are data: a list of points in, one tidy row per point out.

Points run in parallel on local processes (``workers``) or on an existing Dask cluster
(``dask`` = scheduler address), with identical results: each point carries its own seed and
nothing is shared between points. A progress bar goes to stderr for long runs.

Each local worker process runs its BLAS and OpenMP pools on one thread (:func:`_one_thread`):
``workers`` processes already use ``workers`` cores, and letting each one's OpenBLAS spawn a
thread per core oversubscribes them (an exact-mode placement sweep on 2 workers ran 2x slower).
The results do not change: the models' matrix products are on integers, exact in any summation
order.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable

__all__ = ["run_points", "Progress"]


class Progress:
    """Minimal stderr progress bar (only drawn when stderr is a terminal or forced)."""

    def __init__(self, total: int, label: str = "", enabled: bool | None = None) -> None:
        self.total, self.done, self.label = total, 0, label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.t0 = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        frac = self.done / max(1, self.total)
        bar = "#" * int(30 * frac)
        el = time.perf_counter() - self.t0
        eta = el / frac - el if frac > 0 else 0
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {self.done}/{self.total} "
                         f"{el:5.1f}s eta {eta:5.1f}s")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _one_thread() -> None:
    """Worker-process initializer: BLAS and OpenMP pools on one thread (module doc)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def run_points(fn: Callable[[dict], dict], points: list[dict], *, workers: int = 1,
               dask: str | None = None, progress: bool | None = None, label: str = "sweep"
               ) -> list[dict]:
    """Evaluate ``fn(point)`` for every point; return the rows in the points' order.

    ``fn`` must be a module-level function (it is pickled to the workers).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    bar = Progress(len(points), label, progress)
    rows: list[Any] = [None] * len(points)
    if dask:
        try:
            from dask.distributed import Client, as_completed as dask_completed
        except ImportError:
            raise ValueError("--dask needs dask.distributed (pip install 'dask[distributed]')") from None
        with Client(dask, timeout=30) as client:
            futures = client.map(fn, points, pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in dask_completed(futures):
                rows[index[fut.key]] = fut.result()
                bar.update()
        return rows
    if workers == 1:
        for i, p in enumerate(points):
            rows[i] = fn(p)
            bar.update()
        return rows
    with ProcessPoolExecutor(max_workers=workers, initializer=_one_thread) as ex:
        futs = {ex.submit(fn, p): i for i, p in enumerate(points)}
        for fut in as_completed(futs):
            rows[futs[fut]] = fut.result()
            bar.update()
    return rows
