"""Generate, build (cached per configuration) and run the cocotb testbenches on Verilator."""

from __future__ import annotations

import contextlib
import hashlib
import fcntl
import importlib.util
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterator

from rpaccel.units import Unit, get_unit

from . import toolchain
from .result import RunResult

__all__ = ["sources", "build", "build_harness", "run_built", "run_unit", "rtl_digest"]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive lock (parallel pytest workers never build one configuration twice at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def rtl_digest() -> str:
    """Hash of the RTL package's sources: generated files are keyed by it, so an edited design is
    never served from a stale file."""
    h = hashlib.sha256()
    pkg = Path(importlib.util.find_spec("rpaccel.rtl").submodule_search_locations[0])
    for f in sorted([*pkg.glob("*.py"), *pkg.glob("verilog/*")]):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:8]


def sources(unit: str | Unit, cfg, root: Path | None = None) -> list[Path]:
    """Write a unit's Verilog for ``cfg`` (if absent); return the sources to build: it, the SRAM
    model and the Verilator control file."""
    from rpaccel.rtl.sram import PUBLIC_VLT_PATH, SRAM_MODEL_PATH

    unit = get_unit(unit) if isinstance(unit, str) else unit
    root = Path(root or toolchain.BUILD_ROOT).resolve()
    path = root / "verilog" / f"{cfg.label()}_{cfg.key()}_{rtl_digest()}.v"
    with _locked(root / "locks" / f"{path.stem}.verilog.lock"):
        if not path.exists():
            from rpaccel.rtl.emit import verilog, write_if_changed

            write_if_changed(path, verilog(unit, cfg))
    return [path, SRAM_MODEL_PATH, PUBLIC_VLT_PATH]


def build(unit: str | Unit, cfg, *, waves: bool = False, root: Path | None = None,
          quick: bool = False) -> toolchain.BuildInfo:
    """Verilator build of ``unit`` for ``cfg``; reused while sources and options match.
    ``quick``: unoptimised build (:data:`toolchain.QUICK_BUILD_FLAGS`), for short runs."""
    unit = get_unit(unit) if isinstance(unit, str) else unit
    root = Path(root or toolchain.BUILD_ROOT).resolve()
    name = (f"{cfg.label()}_{cfg.key()}" + ("_waves" if waves else "")
            + ("_quick" if quick else ""))
    t0 = time.perf_counter()
    with _locked(root / "locks" / f"{name}.build.lock"):
        srcs = sources(unit, cfg, root)
        t_gen = time.perf_counter() - t0
        info = toolchain.build(srcs, unit.toplevel, root / "sim" / name, waves=waves, quick=quick)
    return toolchain.BuildInfo(info.build_dir, info.toplevel, info.seconds, info.cached,
                               gen_seconds=t_gen)


def build_harness(harness, cfg, toplevel: str, source: Path,
                  root: Path | None = None, waves: bool = False,
                  opt_fast: str | None = None) -> toolchain.BuildInfo:
    """Verilator build of a simulation harness (``harness``: an elaboratable wrapping a unit for
    ``cfg``, top module ``toplevel``), cached like the units' builds and keyed by the RTL and by
    the harness's own ``source`` file. ``waves``: a traced variant (VCD); ``opt_fast``: the C++
    optimisation (:func:`rpaccel.verif.toolchain.build`)."""
    from rpaccel.rtl.emit import write_if_changed
    from rpaccel.rtl.sram import PUBLIC_VLT_PATH, SRAM_MODEL_PATH

    root = Path(root or toolchain.BUILD_ROOT).resolve()
    name = f"{cfg.label()}_{cfg.key()}_bulk"
    vname = name + ("_waves" if waves else "")
    own = hashlib.sha256(Path(source).read_bytes()).hexdigest()[:8]
    with _locked(root / "locks" / f"{name}.build.lock"):
        path = root / "verilog" / f"{name}_{rtl_digest()}_{own}.v"
        t0 = time.perf_counter()
        if not path.exists():
            from amaranth.back import verilog as _verilog

            write_if_changed(path, _verilog.convert(harness, name=toplevel, emit_src=False))
        else:
            harness._MustUse__silence = True      # cached: never elaborated, on purpose
        t_gen = time.perf_counter() - t0
        info = toolchain.build([path, SRAM_MODEL_PATH, PUBLIC_VLT_PATH], toplevel,
                               root / "sim" / vname, waves=waves, opt_fast=opt_fast)
    return toolchain.BuildInfo(info.build_dir, info.toplevel, info.seconds, info.cached,
                               gen_seconds=t_gen)


def run_unit(unit: str | Unit, cfg, scenarios: list[dict], *,
             waves: str | os.PathLike | None = None, root: Path | None = None,
             keep: bool = False, quick: bool = False) -> list[RunResult]:
    """Run ``scenarios`` of ``unit`` on ``cfg`` in one simulator process; one result record
    per scenario (:class:`~rpaccel.verif.result.RunResult`: ``rtl_cycles``, ``model_cycles``,
    ``cycles_match``, ``values_match``, ``first_mismatch``, the unit's own fields and ``ok``).

    Scenario keys are the unit's (see its cases module, e.g. GEMM: m, k, n, seed and optional
    mode/idle/backpressure/dist/dump). ``waves``: write a VCD of the whole run to this path
    (builds a traced variant).
    """
    unit = get_unit(unit) if isinstance(unit, str) else unit
    cases = unit.cases_module()
    for sc in scenarios:
        cases.validate(cfg, sc)
    info = build(unit, cfg, waves=bool(waves), root=root, quick=quick)
    return run_built(cfg, info, unit.testbench, scenarios, waves=waves, root=root, keep=keep)


def run_built(cfg, info: toolchain.BuildInfo, tb_module: str, scenarios: list[dict], *,
              waves=None, root: Path | None = None, keep: bool = False) -> list[RunResult]:
    """Run ``scenarios`` through the cocotb module ``tb_module`` on an existing build (a unit's,
    or a harness's from :func:`build_harness`); one result record per scenario."""
    from cocotb_tools.runner import get_runner

    root = Path(root or toolchain.BUILD_ROOT).resolve()
    run_dir = root / "runs" / f"{cfg.label()}_{uuid.uuid4().hex[:8]}"
    run_dir.mkdir(parents=True)
    spec = {"cfg": cfg.to_dict(), "scenarios": scenarios,
            "results": str(run_dir / "results.json")}
    (run_dir / "scenarios.json").write_text(json.dumps(spec, indent=1))
    toolchain.verilator_env()
    runner = get_runner("verilator")
    try:
        runner.test(test_module=tb_module, hdl_toplevel=info.toplevel,
                    build_dir=str(info.build_dir), test_dir=str(run_dir), waves=bool(waves),
                    hdl_toplevel_lang="verilog",
                    extra_env={"RPACCEL_SCENARIOS": str(run_dir / "scenarios.json"),
                               "PYTHONSAFEPATH": "1", "COCOTB_RANDOM_SEED": "1"},
                    log_file=str(run_dir / "sim.log"), results_xml=str(run_dir / "results.xml"))
    except SystemExit:            # the testbench raised: reported below with the log's tail
        pass
    res_path = run_dir / "results.json"
    if not res_path.exists():
        log = (run_dir / "sim.log").read_text()[-4000:] if (run_dir / "sim.log").exists() else ""
        raise RuntimeError(f"simulation produced no results (see {run_dir / 'sim.log'}):\n{log}")
    results = [RunResult.from_dict(r) for r in json.loads(res_path.read_text())]
    if waves:
        dump = run_dir / "dump.vcd"
        if dump.exists():
            Path(waves).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dump, waves)
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return results
