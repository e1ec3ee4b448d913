"""Verilator build settings: which builds share the compiled run-time library, and which designs
get their C++ functions split (rpaccel.verif.toolchain)."""

import subprocess

from rpaccel.config import GemmConfig
from rpaccel.units import get_unit
from rpaccel.verif import toolchain
from rpaccel.verif.run import sources
from rpaccel.verif.toolchain import (BUILD_FLAGS, QUICK_BUILD_FLAGS, SPLIT_MIN_BYTES,
                                     _runtime_key, split_flags)


def _verilate(srcs, mdir, flags):
    """Verilator's C++ and makefiles only (no compile), with the runner's prefix and VPI."""
    toolchain.verilator_env()
    p = subprocess.run(["verilator", "--cc", "--vpi", "--Mdir", str(mdir), "--prefix", "Vtop",
                        "--top-module", get_unit("gemm").toplevel, *flags, *map(str, srcs)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    return mdir


def test_runtime_library_shared_across_optimisation_not_tracing(tmp_path):
    """Quick (-O0) and optimised (-O3, split into many files) builds of a design read the same
    run-time objects and share one compiled copy; a traced build needs the VCD writer too and
    gets its own."""
    srcs = sources("gemm", GemmConfig(rows=1, cols=1), root=tmp_path)
    quick = _verilate(srcs, tmp_path / "quick", QUICK_BUILD_FLAGS)
    many = _verilate(srcs, tmp_path / "many", [*BUILD_FLAGS, "--output-split", "1",
                                               "--output-split-cfuncs", "1"])
    traced = _verilate(srcs, tmp_path / "traced", [*BUILD_FLAGS, "--trace"])
    par = {d.name: [ln for ln in (d / "Vtop_classes.mk").read_text().splitlines()
                    if ln.startswith("VM_PARALLEL_BUILDS")] for d in (quick, many)}
    assert par["quick"] != par["many"], par       # the one-file and many-file builds differ
    kq, oq = _runtime_key(quick)
    km, om = _runtime_key(many)
    kt, ot = _runtime_key(traced)
    assert (kq, oq) == (km, om)
    assert sorted(oq) == ["verilated.o", "verilated_dpi.o", "verilated_threads.o",
                          "verilated_vpi.o"]
    assert kt != kq and "verilated_vcd_c.o" in ot and set(oq) < set(ot)


def test_only_large_designs_are_split(tmp_path):
    small, large = tmp_path / "small.v", tmp_path / "large.v"
    small.write_text("x" * (SPLIT_MIN_BYTES - 1))
    large.write_text("x" * SPLIT_MIN_BYTES)
    assert split_flags([small]) == []
    assert split_flags([large]) == ["--output-split-cfuncs", str(toolchain.SPLIT_CFUNCS)]
    assert split_flags([small, small]) == split_flags([large])     # all sources count
