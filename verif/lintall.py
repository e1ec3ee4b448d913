"""``make verilog`` / ``make lint``: Verilog for every configuration of every registered unit's
matrix (plus its ``LINT_EXTRA``, e.g. the benchmark arrays), each checked with ``verilator
--lint-only -Wall`` and the documented waivers (:data:`rpaccel.verif.toolchain.LINT_WAIVERS`)."""

from __future__ import annotations

import sys

from rpaccel.units import UNITS

from . import toolchain
from .run import sources


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verilog_only = "--verilog-only" in argv
    bad = 0
    for unit in UNITS.values():
        cases = unit.cases_module()
        for label, cfg in [*cases.SUITE, *cases.LINT_EXTRA]:
            srcs = sources(unit, cfg)
            if verilog_only:
                print(f"{unit.name:<9} {label:<20} {srcs[0]}")
                continue
            res = toolchain.lint([s for s in srcs if s.suffix == ".v"], unit.toplevel)
            status = "clean" if res.returncode == 0 and "%Warning" not in res.stderr else "FAIL"
            bad += status != "clean"
            print(f"{unit.name:<9} {label:<20} {status:<6} {srcs[0].name}")
            if status != "clean":
                print(res.stderr[-4000:])
    bad += _accel(verilog_only)
    if not verilog_only:
        print(f"waivers (rpaccel.verif.toolchain.LINT_WAIVERS): {' '.join(toolchain.LINT_WAIVERS)}")
    return 1 if bad else 0


def _accel(verilog_only: bool) -> int:
    """The integrated accelerator's top for every matrix build (the top alone, without the
    simulation harness)."""
    from amaranth.back import verilog

    from rpaccel.rtl.accel import RPAccelTop
    from rpaccel.rtl.emit import write_if_changed
    from rpaccel.rtl.sram import SRAM_MODEL_PATH

    from .cases_accel import matrix_builds
    from .run import rtl_digest

    bad = 0
    for label, b, _ in matrix_builds():
        path = toolchain.BUILD_ROOT / "verilog" / f"{b.label()}_{b.key()}_top_{rtl_digest()}.v"
        if not path.exists():
            write_if_changed(path, verilog.convert(RPAccelTop(b.accel, b.pipeline, b.placement),
                                                   name="rpaccel_accel", emit_src=False))
        if verilog_only:
            print(f"{'accel':<9} {label:<20} {path}")
            continue
        res = toolchain.lint([path, SRAM_MODEL_PATH], "rpaccel_accel")
        status = "clean" if res.returncode == 0 and "%Warning" not in res.stderr else "FAIL"
        bad += status != "clean"
        print(f"{'accel':<9} {label:<20} {status:<6} {path.name}")
        if status != "clean":
            print(res.stderr[-4000:])
    return bad


if __name__ == "__main__":
    sys.exit(main())
