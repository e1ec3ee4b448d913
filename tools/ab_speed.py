"""Exact mode's speed, two revisions at once: how much faster one commit runs a stream of
full-size queries than another, on a machine whose speed drifts.

    .venv/bin/python tools/ab_speed.py REV_A REV_B [--rounds 6] [--pipelines rm-large,s-l]
                                       [--queries 8] [--json]

A VM's speed swings by a factor of two within the hour, and its cores need not run at the same
speed either (on the 2-core development VM one ran up to 1.4x slower than the other, which one
changing within minutes), so neither a long run of each revision nor the two run at once on
different cores separates a 10 % change. Each round runs the two revisions back to back on one
core (pinned with ``taskset`` where there is one), the order alternating between rounds; the
speed-up is the geometric mean over rounds of the two times' ratio, and the medians are shown
beside it. Each process times ``--queries`` warm queries on one
:class:`~rpaccel.perfmodel.stateful.StatefulAccel` (``rpaccel`` preset, BLAS on one thread)
after 3 warm-up queries, best of 3 streams, and reports a signature of every query's outcome:
two revisions that model the same hardware give the same signature.

Each revision is checked out once under ``build/ab/<commit>`` (``git worktree``) and imported
from there, its package layout read from its own ``pyproject.toml``; its numba kernels are
compiled, or loaded from their cache, during the warm-up. A developer tool (not installed with
the package); the figures it prints go in ``CHANGELOG.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.abc
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class _TreeFinder(importlib.abc.MetaPathFinder):
    """Imports ``rpaccel`` and its mapped subpackages from one source tree (the others are
    found through their parent package's path, as usual)."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs

    def find_spec(self, name, path=None, target=None):
        d = self.dirs.get(name)
        if d is None:
            return None
        return importlib.util.spec_from_file_location(name, d / "__init__.py",
                                                      submodule_search_locations=[str(d)])


def use_tree(root: Path) -> None:
    """Make ``import rpaccel`` load the package from source tree ``root`` (its
    ``[tool.setuptools.package-dir]``), ahead of any installed copy."""
    table = tomllib.loads((root / "pyproject.toml").read_text())
    dirs = {name: (root / d).resolve()
            for name, d in table["tool"]["setuptools"]["package-dir"].items()}
    sys.meta_path.insert(0, _TreeFinder(dirs))


def worker(root: Path, pipelines: list[str], queries: int) -> list[dict]:
    """Time a stream of each pipeline with the revision at ``root`` (see the module docstring)."""
    use_tree(root)
    from threadpoolctl import threadpool_limits

    from rpaccel.accel import load_accel
    from rpaccel.perfmodel.stateful import StatefulAccel
    from rpaccel.query import load_pipeline

    import rpaccel.perfmodel as pm
    assert Path(pm.__file__).resolve().is_relative_to(root), pm.__file__
    accel = load_accel("rpaccel")
    out = []
    with threadpool_limits(1):
        for name in pipelines:
            pipe = load_pipeline(name)
            best, sig = float("inf"), None
            for _ in range(3):
                acc = StatefulAccel(accel, pipe, seed=1)
                for j in range(3):
                    acc.submit(j * 400_000)
                acc.outcome(2)
                t = time.perf_counter()
                for j in range(3, 3 + queries):
                    acc.submit(j * 400_000)
                acc.outcome(2 + queries)
                best = min(best, (time.perf_counter() - t) / queries)
                o = [acc.outcome(q) for q in range(3 + queries)]
                sig = hashlib.sha256(repr([(x.end, x.first_beat, x.dynamic_hits, x.misses)
                                           for x in o]).encode()).hexdigest()[:12]
            out.append({"pipeline": name, "ms_per_query": best * 1e3, "signature": sig})
    return out


def _fail(msg: str) -> None:
    print(f"ab_speed: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def checkout(rev: str) -> tuple[str, Path]:
    """The commit ``rev`` names and a worktree of it under ``build/ab``
    (``$RPACCEL_BUILD/ab``)."""
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                         capture_output=True, text=True)
    if sha.returncode:
        _fail(f"REV {rev!r} is not a commit of this repository")
    sha = sha.stdout.strip()
    tree = Path(os.environ.get("RPACCEL_BUILD", REPO / "build")).resolve() / "ab" / sha[:12]
    if not (tree / "pyproject.toml").exists():
        r = subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f",
                            str(tree), sha], capture_output=True, text=True)
        if r.returncode:
            _fail(f"cannot check out {sha[:12]} under {tree}: {r.stderr.strip()}")
    return sha, tree


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ab_speed", description=__doc__.split("\n\n")[0])
    ap.add_argument("rev_a")
    ap.add_argument("rev_b")
    ap.add_argument("--rounds", type=int, default=6, help="rounds, each running both (1-100)")
    ap.add_argument("--pipelines", default="rm-large,s-l", help="pipeline presets, comma-separated")
    ap.add_argument("--queries", type=int, default=8, help="timed queries per stream (1-1000)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if not 1 <= a.rounds <= 100:
        ap.error(f"--rounds must be an integer in [1, 100], got {a.rounds}")
    if not 1 <= a.queries <= 1000:
        ap.error(f"--queries must be an integer in [1, 1000], got {a.queries}")
    pipes = [p for p in a.pipelines.split(",") if p]
    if a.worker:
        print(json.dumps(worker(Path(a.worker), pipes, a.queries)))
        return 0
    from rpaccel.query import load_pipeline

    for p in pipes or [""]:
        try:
            load_pipeline(p)
        except (ValueError, OSError) as e:
            _fail(f"--pipelines: {e}")
    revs = [checkout(a.rev_a), checkout(a.rev_b)]
    pin = shutil.which("taskset") is not None
    runs: dict[int, list[list[dict]]] = {0: [], 1: []}
    for r in range(a.rounds):
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
            cmd = [sys.executable, __file__, a.rev_a, a.rev_b, "--worker", str(revs[i][1]),
                   "--pipelines", ",".join(pipes), "--queries", str(a.queries)]
            if pin:
                cmd = ["taskset", "-c", "0"] + cmd
            p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONSAFEPATH": "1"})
            if p.returncode:
                _fail(f"the run of {revs[i][0][:12]} failed (its error is above)")
            runs[i].append(json.loads(p.stdout))
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    fig = []
    for k, name in enumerate(pipes):
        ms = [[rr[k]["ms_per_query"] for rr in runs[i]] for i in (0, 1)]
        sigs = {rr[k]["signature"] for i in (0, 1) for rr in runs[i]}
        med = [statistics.median(m) for m in ms]
        ratio = statistics.geometric_mean([x / y for x, y in zip(*ms)])
        fig.append({"pipeline": name, "a_ms": round(med[0], 3), "b_ms": round(med[1], 3),
                    "speedup": round(ratio, 3), "same_outcomes": len(sigs) == 1,
                    "a_runs": [round(x, 3) for x in ms[0]],
                    "b_runs": [round(x, 3) for x in ms[1]]})
    res = {"a": revs[0][0], "b": revs[1][0], "rounds": a.rounds, "queries": a.queries,
           "pinned": pin, "pipelines": fig}
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"A {revs[0][0][:12]}  B {revs[1][0][:12]}  ({a.rounds} rounds back to back, "
              f"{'pinned to core 0' if pin else 'not pinned'}; medians, A/B: geometric mean "
              f"of the rounds' ratios)")
        for f in fig:
            same = "same outcomes" if f["same_outcomes"] else "OUTCOMES DIFFER"
            print(f"{f['pipeline']:10s} A {f['a_ms']:8.2f} ms  B {f['b_ms']:8.2f} ms  "
                  f"A/B {f['speedup']:.2f}x  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
