"""Verilog generation: Amaranth -> Verilog with ``emit_src=False`` (reproducible, diff-stable).

Every unit of the registry (:data:`rpaccel.units.UNITS`) goes through :func:`verilog`.
"""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog as _verilog

from rpaccel.units import Unit, get_unit

from .sram import SRAM_MODEL_PATH

__all__ = ["verilog", "standalone", "write_if_changed"]


def verilog(unit: str | Unit, cfg) -> str:
    """Verilog of ``unit`` for ``cfg`` (top module ``unit.toplevel``), without the SRAM model."""
    unit = get_unit(unit) if isinstance(unit, str) else unit
    if not isinstance(cfg, unit.config):
        raise TypeError(f"cfg must be a {unit.config.__name__}, got {cfg!r}")
    return _verilog.convert(unit.component_class()(cfg), name=unit.toplevel, emit_src=False)


def standalone(text: str) -> str:
    """``text`` followed by the SRAM macro model, so one file builds on its own."""
    return text + "\n" + SRAM_MODEL_PATH.read_text()


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` atomically unless it already holds it (keeps make timestamps)."""
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return False
    from rpaccel.outputs import atomic_file

    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return True
