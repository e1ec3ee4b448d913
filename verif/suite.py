"""The co-verification matrix of every registered unit, shared by ``make sim`` and pytest.

Every scenario is seeded (the seed is in its name and in every report). ``python -m
rpaccel.verif.suite`` runs the whole matrix (every unit of :data:`rpaccel.units.UNITS`, every
configuration of its ``SUITE``, every scenario of its ``matrix``; then the integrated
accelerator's builds, :mod:`rpaccel.verif.cases_accel`) and prints RTL vs model cycles per
scenario.
"""

from __future__ import annotations

import sys
import time

from rpaccel.units import UNITS, get_unit

__all__ = ["suite_results", "suite_cases", "main"]

_RESULTS: dict[tuple[str, str], dict[str, dict]] = {}


def suite_results(unit: str, label: str) -> dict[str, dict]:
    """Results of one configuration's whole matrix, by scenario name (one simulator process per
    configuration, cached for the life of this process -- the pytest worker)."""
    key = (unit, label)
    if key not in _RESULTS:
        from .run import run_unit

        cases = get_unit(unit).cases_module()
        cfg = dict(cases.SUITE)[label]
        _RESULTS[key] = {r["name"]: r for r in run_unit(unit, cfg, cases.matrix(cfg))}
    return _RESULTS[key]


def suite_cases(unit: str) -> list[tuple[str, object, str]]:
    """(label, config, scenario name) for every scenario of a unit's matrix."""
    cases = get_unit(unit).cases_module()
    return [(label, cfg, sc["name"]) for label, cfg in cases.SUITE for sc in cases.matrix(cfg)]


def report_row(unit: str, label: str, r: dict, shape: str) -> bool:
    """Print one scenario's row; return whether it passed."""
    print(f"{unit + ' ' + label:<20} {r['name']:<34} {shape:<21} {r['rtl_cycles']:>9} "
          f"{r['model_cycles']:>9}  {'ok' if r['cycles_match'] else 'FAIL':<6}  "
          f"{'ok' if r['values_match'] else 'FAIL'}"
          + ("" if r.counters_match is not False else "  counters FAIL")
          + (f"  <- {r['first_mismatch']}" if r["first_mismatch"] else ""), flush=True)
    return r.ok


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    passed = []
    print(f"{'testbench':<20} {'scenario':<34} {'shape':<21} {'RTL cyc':>9} {'model cyc':>9}"
          f"  cycles  values")
    for name, unit in UNITS.items():
        cases = unit.cases_module()
        for label, _ in cases.SUITE:
            for r in suite_results(name, label).values():
                passed.append(report_row(name, label, r, cases.describe(r)))
    from .accelbulk import run_accel
    from .cases_accel import matrix_builds

    for label, build, scs in matrix_builds():
        for r in run_accel(build, scs):
            shape = f"{len(build.pipeline.stages)} st, {r['queries']} q, {r['policy'][:6]}"
            passed.append(report_row("accel", label, r, shape))
    print(f"\n{sum(passed)}/{len(passed)} scenarios pass (cycles exact and values bit-exact) "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0 if all(passed) else 1


if __name__ == "__main__":
    sys.exit(main())
