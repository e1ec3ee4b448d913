"""Verilog generation: Amaranth -> Verilog with ``emit_src=False`` (reproducible, diff-stable)."""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog

from rpaccel.config import GemmConfig

from .gemm import GemmEngine
from .sram import SRAM_MODEL_PATH

__all__ = ["gemm_verilog", "topk_verilog", "write_if_changed", "TOPLEVEL_GEMM", "TOPLEVEL_TOPK"]

TOPLEVEL_GEMM = "rpaccel_gemm"
TOPLEVEL_TOPK = "rpaccel_topk"
TOPLEVEL_EMBCACHE = "rpaccel_embcache"


def gemm_verilog(cfg: GemmConfig) -> str:
    """Verilog of the GEMM engine (top module ``rpaccel_gemm``), without the SRAM model."""
    return verilog.convert(GemmEngine(cfg), name=TOPLEVEL_GEMM, emit_src=False)


def topk_verilog(cfg) -> str:
    """Verilog of the top-k filter (top module ``rpaccel_topk``)."""
    from .topk import TopkFilter

    return verilog.convert(TopkFilter(cfg), name=TOPLEVEL_TOPK, emit_src=False)


def embcache_verilog(cfg) -> str:
    """Verilog of the embedding cache (top module ``rpaccel_embcache``)."""
    from .embcache import EmbeddingCache

    return verilog.convert(EmbeddingCache(cfg), name=TOPLEVEL_EMBCACHE, emit_src=False)


def standalone(text: str) -> str:
    """``text`` followed by the SRAM macro model, so one file builds on its own."""
    return text + "\n" + SRAM_MODEL_PATH.read_text()


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` atomically unless it already holds it (keeps make timestamps)."""
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True
