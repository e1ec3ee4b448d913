"""Random co-verification campaign (``rpaccel verify``, ``make verify``).

For each unit, draw N seeded random *valid* configurations (the unit's ``random_config``) and M
random scenarios per configuration (``random_scenario``); build each configuration once (cached
and shared with every other run), run its M scenarios in one simulator process, and check every
scenario's cycles exactly and values bit for bit. Builds are quick (unoptimised) builds, shared
by every campaign with the same configuration, and the Verilator run-time library is compiled
once for all of them (:func:`rpaccel.verif.toolchain.runtime_cache_root`). A mismatch is
reported with a one-line reproducer, ``rpaccel sim UNIT <config flags> <scenario flags>``,
which replays the same configuration and stimulus seed.

Determinism: the campaign seed fixes every configuration and every scenario; configuration i of
unit u is drawn from ``numpy.random.default_rng([seed, crc32(u), i])``, so it does not change
when N grows.
"""

from __future__ import annotations

import shlex
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np

from rpaccel.units import get_unit

from .result import RunResult

__all__ = ["draw", "run_campaign", "reproducer"]


def _rng(seed: int, unit: str, i: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(unit.encode()), i])


#: The integrated accelerator takes part as a campaign "unit" of its own: random tiny
#: accelerators and 1..3-stage pipelines (:func:`rpaccel.verif.cases_accel.random_build`).
ACCEL = "accel"


def draw(unit: str, n_configs: int, n_scenarios: int, seed: int) -> list[tuple[object, list[dict]]]:
    """The campaign's (configuration, scenarios) for one unit."""
    if unit == ACCEL:
        from .cases_accel import random_build

        out = []
        for i in range(n_configs):
            bseed = int(_rng(seed, unit, i).integers(0, 1 << 31))
            build, sc = random_build(bseed)
            scs = [{**sc, "name": f"c{i}s{j}-seed{sc['seed'] + j}", "seed": sc["seed"] + j,
                    "build_seed": bseed} for j in range(n_scenarios)]
            out.append((build, scs))
        return out
    cases = get_unit(unit).cases_module()
    out = []
    for i in range(n_configs):
        rng = _rng(seed, unit, i)
        cfg = cases.random_config(rng)
        scs = []
        for j in range(n_scenarios):
            sc = cases.random_scenario(cfg, rng)
            sc["name"] = f"c{i}s{j}-seed{sc['seed']}"
            scs.append(sc)
        out.append((cfg, scs))
    return out


def reproducer(unit: str, cfg, sc: dict) -> str:
    """The ``rpaccel sim`` command line that replays scenario ``sc`` on ``cfg``."""
    from rpaccel.config import config_argv

    if unit == ACCEL:
        code = (f"from rpaccel.verif.cases_accel import random_build; from rpaccel.verif."
                f"accelbulk import run_accel; b, sc = random_build({sc['build_seed']}); "
                f"print(run_accel(b, [dict(sc, seed={sc['seed']})]))")
        return shlex.join(["python", "-c", code])

    cases = get_unit(unit).cases_module()
    return shlex.join(["rpaccel", "sim", unit, *config_argv(cfg), *cases.sim_argv(sc)])


def _run_one(unit: str, cfg, scs: list[dict]) -> dict:
    from .run import build, run_unit

    t0 = time.perf_counter()
    if unit == ACCEL:
        from .accelbulk import build_accel, run_accel

        info = build_accel(cfg)
    else:
        info = build(unit, cfg, quick=True)
    t1 = time.perf_counter()
    try:
        results = (run_accel(cfg, scs) if unit == ACCEL
                   else run_unit(unit, cfg, scs, quick=True))
    except RuntimeError as e:      # the testbench crashed: every scenario counts as failed
        err = str(e).strip().splitlines()
        crash = next((ln.strip() for ln in reversed(err) if "Error" in ln), err[0] if err else "")
        results = [RunResult.crashed(sc["name"], crash) for sc in scs]
    t2 = time.perf_counter()
    fails = [{"unit": unit, "config": cfg.label(), "scenario": r["name"],
              "first_mismatch": r["first_mismatch"], "reproducer": reproducer(unit, cfg, sc)}
             for r, sc in zip(results, scs)
             if not r.ok]
    return {"unit": unit, "scenarios": len(results), "failures": fails,
            "built": not info.cached, "build_s": t1 - t0, "sim_s": t2 - t1}


def run_campaign(units: list[str], n_configs: int, n_scenarios: int, seed: int, *,
                 workers: int = 1, progress: bool = False) -> dict:
    """Run the campaign; a summary with counts per unit and every failure's reproducer."""
    jobs = [(u, cfg, scs) for u in units for cfg, scs in draw(u, n_configs, n_scenarios, seed)]
    per = {u: {"configs": 0, "scenarios": 0, "mismatches": 0, "builds": 0, "build_s": 0.0,
               "sim_s": 0.0} for u in units}
    failures: list[dict] = []
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs) * n_scenarios, unit="scenario", file=sys.stderr,
                   desc=f"verify seed {seed}", dynamic_ncols=True, miniters=1)

    def take(res: dict) -> None:
        p = per[res["unit"]]
        p["configs"] += 1
        p["scenarios"] += res["scenarios"]
        p["mismatches"] += len(res["failures"])
        p["builds"] += res["built"]
        p["build_s"] += res["build_s"]
        p["sim_s"] += res["sim_s"]
        failures.extend(res["failures"])
        for f in res["failures"]:
            print(f"MISMATCH {f['unit']} {f['config']} {f['scenario']}: {f['first_mismatch']}\n"
                  f"  reproduce: {f['reproducer']}", file=sys.stderr, flush=True)
        if bar is not None:
            bar.update(res["scenarios"])
            bar.set_postfix(mismatches=sum(x["mismatches"] for x in per.values()))

    if workers == 1:
        for job in jobs:
            take(_run_one(*job))
    else:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            futs = [ex.submit(_run_one, *job) for job in jobs]
            for f in as_completed(futs):
                take(f.result())
    if bar is not None:
        bar.close()
    for p in per.values():
        p["build_s"] = round(p["build_s"], 1)
        p["sim_s"] = round(p["sim_s"], 1)
    return {"seed": seed, "configs_per_unit": n_configs, "scenarios_per_config": n_scenarios,
            "units": per, "configs": sum(p["configs"] for p in per.values()),
            "scenarios": sum(p["scenarios"] for p in per.values()),
            "mismatches": len(failures), "failures": failures, "ok": not failures,
            "wall_s": round(time.perf_counter() - t0, 1)}
