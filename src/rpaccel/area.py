"""Area from synthesis statistics: logic cells x an area per cell, plus SRAM bits x an area per
bit, for a named technology (used by ``rpaccel cost area``). Pure Python.

``recpipe-12nm`` is calibrated on RecPipe's own synthesis (GF 12LP, RECPIPE.md section 2):

* **area per logic cell** = the 32x32 ``MMU``'s 506,891.6 um^2 / the Yosys generic cell count of
  our 32x32 GEMM engine, monolithic, double-buffered, default buffers (913,691 cells, measured by
  ``rpaccel cost area --unit gemm --rows 32 --cols 32``; SRAM macros excluded). Our engine is
  the calibration point, so it lands on ``MMU`` by construction. The check is the split 4x4
  array (997,142 cells): it lands 4.8 % above ``DYN_MMU``'s 527,807.8 um^2, because ours adds
  +9.1 % cells where RecPipe's adds +4.1 % area. Ours has a controller and output path per
  sub-array, which ``DYN_MMU`` lacks.
* **area per SRAM bit** = the 256 KB high-density macro's 183,290 um^2 / 2,097,152 bits. The
  other macros of the same source show how much this depends on the macro: the 32 KB
  high-speed one comes out 0.111 um^2 per bit (+27 %), the 4 KB high-density one 0.143 (+64 %).

A cell count is not a gate-level area. These constants translate our RTL into the units of
RecPipe's roll-up; they are not a substitute for synthesis in the technology.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Technology", "TECHNOLOGIES", "get_technology", "area_um2"]


@dataclass(frozen=True)
class Technology:
    name: str
    um2_per_cell: float
    um2_per_sram_bit: float
    source: str


_MMU_UM2, _OUR_32X32_CELLS = 506_891.6, 913_691
_SRAM_256KB_UM2, _SRAM_256KB_BITS = 183_290.0, 256 * 1024 * 8

TECHNOLOGIES = {
    "recpipe-12nm": Technology(
        "recpipe-12nm", _MMU_UM2 / _OUR_32X32_CELLS, _SRAM_256KB_UM2 / _SRAM_256KB_BITS,
        "RecPipe synthesis, GF 12LP (RECPIPE.md section 2): MMU 32x32 = 506,891.6 um^2 over our "
        "32x32 engine's 913,691 cells; 256 KB SRAM = 183,290 um^2"),
}


def get_technology(name: str) -> Technology:
    try:
        return TECHNOLOGIES[name]
    except KeyError:
        raise ValueError(f"unknown technology {name!r}; known: {sorted(TECHNOLOGIES)}") from None


def area_um2(stats: dict, tech: str | Technology = "recpipe-12nm") -> dict:
    """``{logic_um2, sram_um2, total_um2, technology}`` from synthesis statistics (``cells``,
    ``sram_bits``)."""
    t = get_technology(tech) if isinstance(tech, str) else tech
    logic = stats["cells"] * t.um2_per_cell
    sram = stats["sram_bits"] * t.um2_per_sram_bit
    return {"technology": t.name, "logic_um2": round(logic, 1), "sram_um2": round(sram, 1),
            "total_um2": round(logic + sram, 1)}
