"""Generate, build (cached per configuration) and run the cocotb testbenches on Verilator."""

from __future__ import annotations

import contextlib
import hashlib
import fcntl
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterator

from rpaccel.config import EmbCacheConfig, GemmConfig, TopkConfig

from . import toolchain

__all__ = ["gemm_sources", "build_gemm", "run_gemm", "topk_sources", "build_topk", "run_topk",
           "GEMM_TB_MODULE", "TOPK_TB_MODULE"]

GEMM_TB_MODULE = "rpaccel.verif.tb_gemm"
TOPK_TB_MODULE = "rpaccel.verif.tb_topk"
EMBCACHE_TB_MODULE = "rpaccel.verif.tb_embcache"


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
    import rpaccel.rtl

    h = hashlib.sha256()
    pkg = Path(rpaccel.rtl.__file__).parent
    for f in sorted([*pkg.glob("*.py"), *pkg.glob("verilog/*")]):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:8]


def _sources(cfg, verilog_fn, root: Path | None = None) -> list[Path]:
    """Write a unit's Verilog (if absent); return the sources to build: it, the SRAM model and
    the Verilator control file."""
    from rpaccel.rtl.sram import PUBLIC_VLT_PATH, SRAM_MODEL_PATH

    root = Path(root or toolchain.BUILD_ROOT).resolve()
    path = root / "verilog" / f"{cfg.label()}_{cfg.key()}_{rtl_digest()}.v"
    with _locked(root / "locks" / f"{path.stem}.verilog.lock"):
        if not path.exists():
            from rpaccel.rtl.emit import write_if_changed

            write_if_changed(path, verilog_fn(cfg))
    return [path, SRAM_MODEL_PATH, PUBLIC_VLT_PATH]


def gemm_sources(cfg: GemmConfig, root: Path | None = None) -> list[Path]:
    from rpaccel.rtl.emit import gemm_verilog

    return _sources(cfg, gemm_verilog, root)


def topk_sources(cfg: TopkConfig, root: Path | None = None) -> list[Path]:
    from rpaccel.rtl.emit import topk_verilog

    return _sources(cfg, topk_verilog, root)


def embcache_sources(cfg: EmbCacheConfig, root: Path | None = None) -> list[Path]:
    from rpaccel.rtl.emit import embcache_verilog

    return _sources(cfg, embcache_verilog, root)


def build_embcache(cfg: EmbCacheConfig, *, waves: bool = False, root: Path | None = None
                   ) -> toolchain.BuildInfo:
    """Verilator build of the embedding cache for ``cfg``."""
    from rpaccel.rtl.emit import TOPLEVEL_EMBCACHE

    return _build(cfg, embcache_sources, TOPLEVEL_EMBCACHE, waves=waves, root=root)


def run_embcache(cfg: EmbCacheConfig, scenarios: list[dict], *,
                 waves: str | os.PathLike | None = None, root: Path | None = None,
                 keep: bool = False) -> list[dict]:
    """Run cache scenarios (dicts with seed, lookups, trace = zipf|conflicts|all_miss|all_hit,
    skew, idle, backpressure, dump) in one simulator process."""
    info = build_embcache(cfg, waves=bool(waves), root=root)
    return _run(cfg, info, EMBCACHE_TB_MODULE, scenarios, waves=waves, root=root, keep=keep)


def _build(cfg, sources_fn, toplevel: str, *, waves: bool, root: Path | None
           ) -> toolchain.BuildInfo:
    root = Path(root or toolchain.BUILD_ROOT).resolve()
    name = f"{cfg.label()}_{cfg.key()}" + ("_waves" if waves else "")
    t0 = time.perf_counter()
    with _locked(root / "locks" / f"{name}.build.lock"):
        sources = sources_fn(cfg, root)
        t_gen = time.perf_counter() - t0
        info = toolchain.build(sources, toplevel, root / "sim" / name, waves=waves)
    return toolchain.BuildInfo(info.build_dir, info.toplevel, info.seconds, info.cached,
                               gen_seconds=t_gen)


def build_gemm(cfg: GemmConfig, *, waves: bool = False, root: Path | None = None
               ) -> toolchain.BuildInfo:
    """Verilator build of the GEMM engine for ``cfg``; reused while sources and options match."""
    from rpaccel.rtl.emit import TOPLEVEL_GEMM

    return _build(cfg, gemm_sources, TOPLEVEL_GEMM, waves=waves, root=root)


def build_topk(cfg: TopkConfig, *, waves: bool = False, root: Path | None = None
               ) -> toolchain.BuildInfo:
    """Verilator build of the top-k filter for ``cfg``."""
    from rpaccel.rtl.emit import TOPLEVEL_TOPK

    return _build(cfg, topk_sources, TOPLEVEL_TOPK, waves=waves, root=root)


def _run(cfg, info: toolchain.BuildInfo, tb_module: str, scenarios: list[dict], *,
         waves, root: Path | None, keep: bool) -> list[dict]:
    from cocotb_tools.runner import get_runner

    root = Path(root or toolchain.BUILD_ROOT).resolve()
    run_dir = root / "runs" / f"{cfg.label()}_{uuid.uuid4().hex[:8]}"
    run_dir.mkdir(parents=True)
    spec = {"cfg": cfg.to_dict(), "scenarios": scenarios,
            "results": str(run_dir / "results.json")}
    (run_dir / "scenarios.json").write_text(json.dumps(spec, indent=1))
    toolchain.verilator_env()
    runner = get_runner("verilator")
    runner.test(test_module=tb_module, hdl_toplevel=info.toplevel,
                build_dir=str(info.build_dir), test_dir=str(run_dir), waves=bool(waves),
                hdl_toplevel_lang="verilog",
                extra_env={"RPACCEL_SCENARIOS": str(run_dir / "scenarios.json"),
                           "PYTHONSAFEPATH": "1", "COCOTB_RANDOM_SEED": "1"},
                log_file=str(run_dir / "sim.log"), results_xml=str(run_dir / "results.xml"))
    res_path = run_dir / "results.json"
    if not res_path.exists():
        log = (run_dir / "sim.log").read_text()[-4000:] if (run_dir / "sim.log").exists() else ""
        raise RuntimeError(f"simulation produced no results (see {run_dir / 'sim.log'}):\n{log}")
    results = json.loads(res_path.read_text())
    if waves:
        dump = run_dir / "dump.vcd"
        if dump.exists():
            Path(waves).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dump, waves)
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return results


def run_gemm(cfg: GemmConfig, scenarios: list[dict], *, waves: str | os.PathLike | None = None,
             root: Path | None = None, keep: bool = False) -> list[dict]:
    """Run GEMM ``scenarios`` (dicts with m, k, n, seed and optional mode/idle/backpressure/dist/
    dump) in one simulator process; return one result record per scenario.

    ``waves``: write a VCD of the whole run to this path (builds a traced variant).
    """
    for sc in scenarios:
        cfg.check_shape(sc["m"], sc["k"], sc["n"])
    info = build_gemm(cfg, waves=bool(waves), root=root)
    return _run(cfg, info, GEMM_TB_MODULE, scenarios, waves=waves, root=root, keep=keep)


def run_topk(cfg: TopkConfig, scenarios: list[dict], *, waves: str | os.PathLike | None = None,
             root: Path | None = None, keep: bool = False) -> list[dict]:
    """Run top-k ``scenarios`` (dicts with seed, queries=[{n, k, dist}], optional idle/
    backpressure/dump) in one simulator process; return one result record per scenario."""
    for sc in scenarios:
        for q in sc["queries"]:
            cfg.check_query(q["n"], q["k"])
    info = build_topk(cfg, waves=bool(waves), root=root)
    return _run(cfg, info, TOPK_TB_MODULE, scenarios, waves=waves, root=root, keep=keep)
