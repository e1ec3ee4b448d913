"""Area from synthesis statistics: logic cells x an area per cell, plus SRAM bits x an area per
bit, for a named technology (used by ``rpaccel cost area``). Pure Python.

``recpipe-12nm`` is calibrated on RecPipe's own synthesis (GF 12LP, RECPIPE.md section 2):

* **area per logic cell** = the 32x32 ``MMU``'s 506,891.6 um^2 / the Yosys generic cell count of
  our 32x32 GEMM engine, monolithic, double-buffered, default buffers (914,129 cells, measured by
  ``rpaccel cost area --unit gemm --rows 32 --cols 32``; SRAM macros excluded). Our engine is
  the calibration point, so it lands on ``MMU`` by construction. The check is the split 4x4
  array (1,003,712 cells): it lands 5.4 % above ``DYN_MMU``'s 527,807.8 um^2, because ours adds
  +9.8 % cells where RecPipe's adds +4.1 % area. Ours has a controller and output path per
  sub-array, which ``DYN_MMU`` lacks. The constants keep these two counts; the current RTL
  synthesises to 913,893 and 1,003,091 cells (-0.03 % and -0.06 %), inside this conversion's
  precision.
* **area per SRAM bit** = the 256 KB high-density macro's 183,290 um^2 / 2,097,152 bits. The
  other macros of the same source show how much this depends on the macro: the 32 KB
  high-speed one comes out 0.111 um^2 per bit (+27 %), the 4 KB high-density one 0.143 (+64 %).

A cell count is not a gate-level area. These constants translate our RTL into the units of
RecPipe's roll-up; they are not a substitute for synthesis in the technology.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Technology", "TECHNOLOGIES", "get_technology", "area_um2", "rollup",
           "accel_sram_bytes", "RECPIPE_ROLLUP_MM2", "FILTER_CELLS_PER_ENTRY",
           "EMBEDDING_FEATURES", "EMBEDDING_MODEL_FILE", "embedding_features",
           "embedding_cells_model"]


@dataclass(frozen=True)
class Technology:
    name: str
    um2_per_cell: float
    um2_per_sram_bit: float
    source: str


_MMU_UM2, _OUR_32X32_CELLS = 506_891.6, 914_129
_SRAM_256KB_UM2, _SRAM_256KB_BITS = 183_290.0, 256 * 1024 * 8

TECHNOLOGIES = {
    "recpipe-12nm": Technology(
        "recpipe-12nm", _MMU_UM2 / _OUR_32X32_CELLS, _SRAM_256KB_UM2 / _SRAM_256KB_BITS,
        "RecPipe synthesis, GF 12LP (RECPIPE.md section 2): MMU 32x32 = 506,891.6 um^2 over our "
        "32x32 engine's 914,129 cells; 256 KB SRAM = 183,290 um^2"),
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


# -- roll-up of an integrated accelerator (RecPipe's Figure-11 structure) ------------------------
#: Our 32x32 monolithic GEMM engine's Yosys cells (the calibration point above) per PE, and the
#: extra cells per additional sub-array: our 32x32 split 4x4 (1,003,712 cells) minus the
#: monolithic one, over its 15 extra sub-arrays (each adds its own controller and output path).
CELLS_PER_PE = _OUR_32X32_CELLS / (32 * 32)
CELLS_PER_EXTRA_SUBARRAY = (1_003_712 - _OUR_32X32_CELLS) / 15
#: Our exact top-k filter's Yosys cells per sorted entry (``k_max x lanes``): 125,946 cells for
#: 256 entries, one lane, 32-bit scores and 16-bit ids (``rpaccel cost area --unit topk
#: --k-max 256 --lanes 1 --score-width 32 --id-width 16 --signed``). The cells are linear in
#: the entries (503, 495, 492 per entry at 16, 64, 256).
FILTER_CELLS_PER_ENTRY = 125_946 / 256


# -- the embedding unit's logic, without a synthesis ----------------------------------------------
#: Structural terms of the non-blocking embedding unit's logic that does not grow with the cache
#: sets (the part the roll-up counts, see ``rpaccel.verif.synth.embedding_logic_cells``), with
#: L lanes, M MSHRs, RP reorder-buffer entries (rob_beats rounded up to a power of two), RB row
#: bits and A global-row address bits:
#:
#: * ``const``: control;
#: * ``rob``: the reorder buffer's registers, ``RP x L x (RB + request tag + MSHR id + 6 flags)``;
#: * ``rob_static``: its static-hit write path, ``RP x L x RB`` when there is a static cache;
#: * ``lane_mshr``: every lane's in-flight compare against every MSHR, ``L x M x A``;
#: * ``mshr``: the MSHRs' addresses and queues, ``M x A``;
#: * ``lane_way``: every lane's tag compare and victim choice, ``L x ways x A``;
#: * ``lane_row``: every lane's data path, ``L x RB``;
#: * ``row``: the fill path, ``RB``.
EMBEDDING_FEATURES = ("const", "rob", "rob_static", "lane_mshr", "mshr", "lane_way", "lane_row",
                      "row")
#: The fitted coefficients (cells per unit of each term), the synthesised points they come from
#: and the held-out checks; written by ``tools/fit_embunit_cells.py``.
EMBEDDING_MODEL_FILE = str(Path(__file__).parent / "presets" / "embunit-cells.json")


def embedding_features(emb) -> dict[str, float]:
    """The terms of :data:`EMBEDDING_FEATURES` for an embedding-cache config."""
    L, M, RB, A = emb.lanes, emb.mshrs, emb.row_bits, emb.addr_bits
    RP = 1 << max(0, (emb.rob_beats - 1).bit_length())
    mid = max(1, (M - 1).bit_length())
    return {"const": 1.0, "rob": RP * L * (RB + emb.tag_width + mid + 6),
            "rob_static": RP * L * RB if emb.static_rows else 0, "lane_mshr": L * M * A,
            "mshr": M * A, "lane_way": L * emb.ways * A, "lane_row": L * RB, "row": RB}


def embedding_cells_model(emb) -> tuple[int, str]:
    """The embedding unit's logic cells (the part independent of the cache sets) from the
    fitted structural model, and how: ``sum(coefficient x term)`` over
    :func:`embedding_features`, with the coefficients of :data:`EMBEDDING_MODEL_FILE`."""
    fit = _embedding_fit()
    f = embedding_features(emb)
    cells = round(sum(fit["coefficients"][k] * f[k] for k in EMBEDDING_FEATURES))
    held = ", ".join(f"{k} {v['error']:+.1%}" for k, v in fit["held_out"].items())
    return max(cells, 0), (f"structural model fitted to {len(fit['points'])} syntheses "
                           f"(held out: {held})")


_FIT: list[dict] = []


def _embedding_fit() -> dict:
    if not _FIT:
        _FIT.append(json.loads(Path(EMBEDDING_MODEL_FILE).read_text()))
    return _FIT[0]


def accel_sram_bytes(accel) -> dict[str, int]:
    """SRAM capacities of an accelerator config, by RecPipe's roll-up components (bytes):
    ``activation`` (every (sub-)array's A and C buffers), ``weight`` (every (sub-)array's weight
    memory), ``embedding`` (static rows of every table + the dynamic cache's data), ``cache_tags``
    (the dynamic cache's tags), ``items`` (the item memory,
    :attr:`~rpaccel.accel.AccelConfig.item_memory_bytes`)."""
    split = accel.array.split != (1, 1)
    eng = accel.group_array(split)
    n = accel.array.subarrays if split else 1
    emb = accel.embedding
    a = eng.a_words * eng.a_word_bits // 8
    c = eng.c_words * eng.c_word_bits // 8
    return {"activation": n * (a + c), "weight": n * accel.weight_bytes,
            "embedding": emb.tables * emb.static_rows * emb.row_bytes
            + (emb.sets * emb.ways * emb.row_bytes if emb.dynamic else 0),
            "cache_tags": (emb.sets * emb.ways * (emb.tag_width + 1) + 7) // 8
            if emb.dynamic else 0,
            "items": accel.item_memory_bytes}


def rollup(accel, *, filter_cells: int | None = None, filters: int | None = None,
           embedding_cells: int | None = None, tech: str | Technology = "recpipe-12nm") -> dict:
    """Area of an integrated accelerator by component (um^2): the systolic array (our 32x32
    engine's cells per PE x PEs, plus the per-sub-array overhead), the filter units
    (``filter_cells`` each, from a synthesis; None: :data:`FILTER_CELLS_PER_ENTRY` x the
    filter's entries; ``filters`` of them: default one per sub-array, none without an on-chip
    filter), the embedding unit's logic (``embedding_cells``; None: not counted), and the SRAMs
    of :func:`accel_sram_bytes` at the technology's area per bit."""
    t = get_technology(tech) if isinstance(tech, str) else tech
    split = accel.array.split != (1, 1)
    subs = accel.array.subarrays if split else 1
    pes = accel.array.rows * accel.array.cols
    comp: dict[str, dict] = {}
    array_cells = CELLS_PER_PE * pes + CELLS_PER_EXTRA_SUBARRAY * (subs - 1)
    comp["systolic array"] = {"cells": round(array_cells), "um2": array_cells * t.um2_per_cell,
                              "how": f"{pes:,} PEs x {CELLS_PER_PE:.1f} cells + {subs - 1} extra "
                                     f"sub-arrays x {CELLS_PER_EXTRA_SUBARRAY:,.0f} cells"}
    nf = filters if filters is not None else (subs if accel.on_chip_filter else 0)
    if nf == 0:
        comp["filter units"] = {"cells": 0, "um2": 0.0, "how": "none (no on-chip filter)"}
    else:
        how = ""
        if filter_cells is None:
            filter_cells = round(FILTER_CELLS_PER_ENTRY * accel.topk.k_max * accel.topk.lanes)
            how = f", {FILTER_CELLS_PER_ENTRY:.1f} cells per entry"
        comp["filter units"] = {"cells": nf * filter_cells,
                                "um2": nf * filter_cells * t.um2_per_cell,
                                "how": f"{nf} x {filter_cells:,} cells (k_max "
                                       f"{accel.topk.k_max}, {accel.topk.lanes} lanes{how})"}
    if embedding_cells is not None:
        comp["embedding unit logic"] = {"cells": embedding_cells,
                                        "um2": embedding_cells * t.um2_per_cell,
                                        "how": f"{accel.embedding.lanes} lanes, "
                                               f"{accel.embedding.mshrs} MSHRs"}
    else:
        comp["embedding unit logic"] = {"cells": None, "um2": 0.0, "how": "not counted"}
    for k, b in accel_sram_bytes(accel).items():
        comp[f"{k.replace('_', ' ')} SRAM"] = {"bytes": b, "um2": b * 8 * t.um2_per_sram_bit,
                                               "how": f"{b / 2**20:,.2f} MiB"}
    total = sum(c["um2"] for c in comp.values())
    return {"technology": t.name, "components": comp, "total_um2": total,
            "total_mm2": total / 1e6}


#: RecPipe's Figure-11 roll-up (RECPIPE.md section 2), mm^2: the TPU-like baseline and RPAccel.
RECPIPE_ROLLUP_MM2 = {"tpu-like": 26.517, "rpaccel": 28.550}
