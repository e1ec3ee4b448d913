"""Energy and power: event counts x a per-action energy table (Accelergy's split between action
counts and energy tables), and QPS per watt.

The table is a TOML file (``energy-45nm.toml`` in ``rpaccel/presets`` by default, every entry
with its source; ``--energy FILE`` for your own). The counts come from the executor
(:class:`~rpaccel.perfmodel.executor.ExecResult` ``events``). All but two are the RTL top's
event counters (:data:`rpaccel.isa.RTL_COUNTERS`, checked equal to the executor's on the
co-verification matrix), so the hardware's own activity is what is priced, padding rows and
tiles included. What each costs:

==========================  ====  ================================================================
count                       RTL   energy
==========================  ====  ================================================================
``a_reads``                 yes   ``rows x cols`` PE MACs (``mac_int8`` each: every PE multiplies
                                  as a row streams through, padding included; no zero gating),
                                  plus one A-buffer word (``rows`` bytes) at its SRAM energy
``a_words``                 yes   one A-buffer word written, and its read from the source buffer
                                  (``rows`` bytes at the activation buffers' energy; the item
                                  memory's first-layer reads are charged the same)
``w_reads``                 yes   one weight row (``rows`` bytes) at the weight memory's energy
``c_reads``, ``c_writes``   yes   one accumulator word (``cols`` x 4 bytes) at the C buffer's
``c_beats``                 yes   ``cols`` outputs through the vector unit (``vector_op`` each:
                                  bias, shift, ReLU) and written to their destination buffer
                                  (``cols`` bytes at the activation buffers' energy)
``topk_compares``           yes   ``compare`` each
``dram_requests``           yes   one row (``row_bytes``) at ``dram_byte`` per byte (not the
                                  beats: the DRAM port's width, ``mem_bits``, models bandwidth, and
                                  a row may fill a beat only in part)
``lookups``                 yes   a tag check, plus one row read from the cache (hits) or one row
                                  written into it (misses, after the DRAM read)
``pooled_outputs``          yes   with ``lookups``: a pooled table's ``L - 1`` additional rows are
                                  summed, ``vector_op`` per element of the unit's ``dim``
                                  (``(lookups - pooled_outputs) x dim``; 0 for one-hot models)
``host_bytes_in/out``       no    ``host_link_byte`` each (the payload bytes of the RTL-counted
                                  ``host_beats_in/out``)
``item_records``            no    one candidate record (dense + 4 x tables bytes) read by a gather,
                                  at the item memory's energy
==========================  ====  ================================================================

The activation buffers (the stages' activation, interaction and score buffers) are charged at
the energy of a quarter of the C buffer's capacity.

SRAM energy per byte depends on the macro's capacity (log-linear between the table's points).
Static power = the table's ``static.mw_per_mm2`` x the accelerator's area from the roll-up
(:func:`rpaccel.area.rollup`). Average power at a load = static + dynamic energy per query x
achieved QPS; QPS per watt = achieved QPS / that power (per accelerator engine).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rpaccel.accel import AccelConfig
from rpaccel.query import _strict

__all__ = ["EnergyTable", "load_energy", "query_energy", "ENERGY_PRESETS", "ACTIONS",
           "default_table", "static_w"]

ACTIONS = ("mac_int8", "vector_op", "compare", "tag_check", "dram_byte", "host_link_byte")


def _preset_dir() -> Path:
    import rpaccel

    return Path(rpaccel.__file__).with_name("presets")


#: Built-in tables: ``energy-NAME.toml`` in ``rpaccel/presets``.
ENERGY_PRESETS = {p.stem[len("energy-"):]: p for p in sorted(_preset_dir().glob("energy-*.toml"))}


@dataclass(frozen=True)
class EnergyTable:
    name: str
    action_pj: dict[str, float]
    sram_points: tuple[tuple[float, float], ...]
    static_mw_per_mm2: float
    cpu_core_w: float
    gpu_w: float
    sources: dict[str, str]

    def sram_pj_per_byte(self, capacity_bytes: float) -> float:
        """Per-byte access energy of an SRAM of ``capacity_bytes``: log-linear in capacity
        between the table's points, the nearest segment's slope outside them."""
        pts = self.sram_points
        c = max(float(capacity_bytes), 1.0)
        x = math.log(c)
        i = 0
        while i < len(pts) - 2 and x > math.log(pts[i + 1][0]):
            i += 1
        (c0, e0), (c1, e1) = pts[i], pts[i + 1]
        t = (x - math.log(c0)) / (math.log(c1) - math.log(c0))
        return max(0.0, e0 + t * (e1 - e0))


def _entry(d: Any, key: str, where: str, field: str) -> tuple[float, str]:
    if key not in d:
        raise ValueError(f"{where}: missing entry {key!r}")
    e = d[key]
    if not isinstance(e, dict) or set(e) != {field, "source"}:
        raise ValueError(f"{where}: {key} must be {{ {field} = NUMBER, source = \"...\" }}")
    v = e[field]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or \
            not math.isfinite(v):
        raise ValueError(f"{where}: {key}.{field} must be a number >= 0, got {v!r}")
    if not isinstance(e["source"], str) or not e["source"].strip():
        raise ValueError(f"{where}: {key}.source must name where the number comes from")
    return float(v), e["source"]


def load_energy(spec: str | Path = "45nm") -> EnergyTable:
    """An energy table from a preset name (:data:`ENERGY_PRESETS`) or a TOML file; every bad
    entry is a one-line ``ValueError`` naming the file and the entry."""
    path = ENERGY_PRESETS.get(str(spec)) or Path(spec)
    where = f"energy table {spec}"
    try:
        d = tomllib.loads(Path(path).read_text())
    except OSError as e:
        raise ValueError(f"{where}: {e.strerror} (presets: {', '.join(ENERGY_PRESETS)})"
                         ) from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{where}: {e}") from None
    _strict(d, {"name", "node_nm", "action", "sram", "static", "host"}, where)
    for t in ("action", "sram", "static", "host"):
        if t not in d:
            raise ValueError(f"{where}: missing table [{t}]")
    act = _strict(d["action"], set(ACTIONS), f"{where} [action]")
    sources, pj = {}, {}
    for a in ACTIONS:
        pj[a], sources[a] = _entry(act, a, f"{where} [action]", "pj")
    sram = _strict(d["sram"], {"points", "source"}, f"{where} [sram]")
    pts = sram.get("points")
    if not isinstance(pts, list) or len(pts) < 2 or any(
            not isinstance(p, list) or len(p) != 2 or any(
                isinstance(x, bool) or not isinstance(x, (int, float)) for x in p)
            for p in pts):
        raise ValueError(f"{where} [sram]: points must be at least 2 [capacity_bytes, "
                         f"pj_per_byte] pairs")
    caps = [p[0] for p in pts]
    if any(c <= 0 for c in caps) or caps != sorted(set(caps)) or any(p[1] < 0 for p in pts):
        raise ValueError(f"{where} [sram]: capacities must increase and be > 0, energies >= 0")
    if not isinstance(sram.get("source"), str) or not sram["source"].strip():
        raise ValueError(f"{where} [sram]: source must name where the numbers come from")
    sources["sram"] = sram["source"]
    st = _strict(d["static"], {"mw_per_mm2"}, f"{where} [static]")
    static, sources["static"] = _entry(st, "mw_per_mm2", f"{where} [static]", "value")
    host = _strict(d["host"], {"cpu_core_w", "gpu_w"}, f"{where} [host]")
    cpu, sources["cpu_core_w"] = _entry(host, "cpu_core_w", f"{where} [host]", "value")
    gpu, sources["gpu_w"] = _entry(host, "gpu_w", f"{where} [host]", "value")
    return EnergyTable(str(d.get("name", spec)), pj, tuple((float(c), float(e)) for c, e in pts),
                       static, cpu, gpu, sources)


def _buffers(accel: AccelConfig, split: bool) -> dict[str, float]:
    """Capacities (bytes) of the SRAMs an event touches, per (sub-)array."""
    eng = accel.group_array(split)
    emb = accel.embedding
    return {"a": eng.a_words * eng.rows * eng.in_width / 8,
            "w": accel.weight_bytes,
            "c": eng.c_words * eng.cols * eng.acc_width / 8,
            "items": accel.item_memory_bytes,
            "cache": emb.sets * emb.ways * emb.row_bytes + emb.tables * emb.static_rows
            * emb.row_bytes}


def query_energy(accel: AccelConfig, events: dict[str, int], embedding: dict[str, int],
                 table: EnergyTable, *, split: bool = True, item_bytes: int | None = None
                 ) -> dict[str, float]:
    """Dynamic energy (pJ) of a run, by component, from the executor's counts (module
    docstring); ``total_pj`` sums them."""
    eng = accel.group_array(split)
    cap = _buffers(accel, split)
    e = table.sram_pj_per_byte
    a = table.action_pj
    emb = accel.embedding
    ib = item_bytes if item_bytes is not None else accel.max_record_bytes
    pe = eng.rows * eng.cols
    out = {
        "mac": events["a_reads"] * pe * a["mac_int8"],
        "vector": events["c_beats"] * eng.cols * a["vector_op"],
        "filter": events["topk_compares"] * a["compare"],
        "a_buffer": (events["a_reads"] + events["a_words"]) * eng.rows * e(cap["a"]),
        "weight_memory": events["w_reads"] * eng.rows * e(cap["w"]),
        "c_buffer": (events["c_reads"] + events["c_writes"]) * eng.cols * 4 * e(cap["c"]),
        "act_buffers": (events["a_words"] * eng.rows + events["c_beats"] * eng.cols)
        * e(cap["c"] / 4),
        "item_memory": events["item_records"] * ib * e(cap["items"]),
        "embedding_cache": events["lookups"] * a["tag_check"]
        + events["lookups"] * emb.row_bytes * e(cap["cache"]),
        "pooling": (events["lookups"] - events["pooled_outputs"]) * emb.dim * a["vector_op"],
        "dram": events["dram_requests"] * emb.row_bytes * a["dram_byte"],
        "host_link": (events["host_bytes_in"] + events["host_bytes_out"]) * a["host_link_byte"],
    }
    out["total_pj"] = sum(out.values())
    return out


_DEFAULT: list[EnergyTable] = []


def default_table() -> EnergyTable:
    """The ``45nm`` table (loaded once)."""
    if not _DEFAULT:
        _DEFAULT.append(load_energy("45nm"))
    return _DEFAULT[0]


def static_w(accel: AccelConfig, table: EnergyTable | None = None) -> float:
    """Static power of one accelerator (W): ``static.mw_per_mm2`` x its area from the roll-up
    (:func:`rpaccel.area.rollup`: array, filter units at their measured cells per entry, and
    SRAMs; the embedding unit's logic, about 1 % of the presets' area, is not counted here)."""
    from rpaccel.area import rollup

    t = table or default_table()
    return t.static_mw_per_mm2 * rollup(accel)["total_mm2"] * 1e-3
