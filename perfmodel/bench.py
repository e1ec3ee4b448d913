"""Executor benchmarks (figures, not timed tests); part of ``make bench``.

Wall time of the integrated accelerator's executor (:func:`rpaccel.perfmodel.executor.model_accel`,
compile + execute, golden forward of every stage but the last included) at full size on the
``rpaccel`` preset: RecPipe's RM-large on 4,096 candidates and S->L [4096, 512] (target < 50 ms
each), best of 5 after a warm-up (the first call compiles numba's kernels or loads them from
its cache), and the cycle counts they give; and exact mode's rate: queries per second of a
stream on one :class:`~rpaccel.perfmodel.stateful.StatefulAccel`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def write_figures(out_dir: Path | None, name: str, fig: dict) -> None:
    """Write a benchmark's figures to ``out_dir/name`` (JSON; nothing without ``out_dir``)."""
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / name).write_text(json.dumps({**fig, "date": _date(),
                                                "machine": machine()}, indent=2))
        print(f"wrote {out_dir / name}")


def _date() -> str:
    import datetime

    return datetime.date.today().isoformat()


def machine() -> str:
    """One line naming this machine: CPU model, cores, memory, OS and Python."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def results_dir() -> Path:
    """Where ``make bench`` writes its figures: ``$RPACCEL_BUILD/results``."""
    return Path(os.environ.get("RPACCEL_BUILD", "build")) / "results"


def main(out_dir: Path | None = None) -> dict:
    from rpaccel.accel import load_accel
    from rpaccel.query import load_pipeline

    from .executor import model_accel

    accel = load_accel("rpaccel")
    fig: dict = {"config": "rpaccel"}
    for name in ("rm-large", "s-l"):
        pipe = load_pipeline(name)
        model_accel(accel, pipe, seed=1)                    # warm-up: numba compile
        best, r = float("inf"), None
        for rep in range(5):
            t = time.perf_counter()
            r = model_accel(accel, pipe, seed=1)
            best = min(best, time.perf_counter() - t)
        e = r.embedding
        fig[name] = {"pipeline": pipe.name, "wall_ms": round(best * 1e3, 1), "cycles": r.cycles,
                     "us": round(r.seconds * 1e6, 2), "lookups": r.events["lookups"],
                     "misses": e["misses"], "macs": r.events["macs"]}
        print(f"executor {pipe.name:<18} on rpaccel: {best * 1e3:6.1f} ms wall (best of 5) -> "
              f"{r.cycles:,} cycles = {r.seconds * 1e6:,.1f} us at {accel.clock_ns:g} ns; "
              f"{r.events['lookups']:,} lookups, {e['misses']:,} misses", flush=True)
    # exact mode: a stream on one stateful accelerator (one core: BLAS on one thread), queries
    # spaced so that each finds the cache warm (the serving simulator's exact mode runs exactly
    # this per query)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        _exact_rates(accel, fig)
    write_figures(out_dir, "bench_executor.json", fig)
    return fig


def _exact_rates(accel, fig: dict) -> None:
    """Exact mode's queries per second on one stateful accelerator, RM-large and S->L: 20 warm
    queries (after 3 that warm the cache and the compiled code), best of 3 streams."""
    from rpaccel.query import load_pipeline

    from .stateful import StatefulAccel

    n, warm = 20, 3
    for name in ("rm-large", "s-l"):
        pipe = load_pipeline(name)
        dt = float("inf")
        for _ in range(3):
            acc = StatefulAccel(accel, pipe, seed=1)
            for i in range(warm):
                acc.submit(i * 400_000)
            acc.outcome(warm - 1)
            t = time.perf_counter()
            for i in range(warm, warm + n):
                acc.submit(i * 400_000)
            acc.outcome(warm + n - 1)
            dt = min(dt, time.perf_counter() - t)
        fig[f"{name}_exact_queries_per_s"] = round(n / dt, 1)
        print(f"exact mode {pipe.name:<18}: {n / dt:6.1f} queries/s on one core "
              f"({dt / n * 1e3:.1f} ms per query, best of 3 streams of {n}; target >= "
              f"{300 if name == 'rm-large' else 200})", flush=True)


if __name__ == "__main__":
    main(results_dir())
    sys.exit(0)
