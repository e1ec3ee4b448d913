"""Embedding workloads: per table, its rows (cardinality), lookups per item (pooling), popularity
and locality across queries.

A workload is one of

* **synthetic** (:class:`Workload` with :class:`TableLoad` entries): per table ``rows``,
  ``pooling`` (lookups per item; with ``pooling_max`` a uniform distribution
  ``pooling..pooling_max``), popularity ``skew`` (Zipf: rank k drawn with weight
  ``1 / (k + 1) ** skew``) or an explicit ``freq`` table (relative weights of ranks 0, 1, ...).
  Draws are independent across queries (no temporal locality beyond popularity). Raw ids are
  the ranks scattered over the table by a fixed bijection, so a static set has to be found by
  profiling -- unless ``ranked``: ids *are* ranks (row 0 hottest), the idealisation of rpaccel's
  earlier figures (``uniform-1m``);
* a **trace** (:class:`rpaccel.trace.Trace`, a ``.npz`` / ``.parquet`` file): per table, the
  lookups in file order; temporal locality is the trace's;
* a **reuse profile** (``.json`` from ``rpaccel trace profile``): a trace generated from it
  (:func:`rpaccel.perfmodel.reuse.generate`), so its stack-distance distribution is the
  profile's.

Presets are TOML files ``rpaccel/presets/workload-NAME.toml`` (:data:`WORKLOAD_PRESETS`), each
stating its sources. A workload file has ``name``, optional ``source``, ``skew``, ``pooling``,
``repeat`` (one table entry serves any number of tables) and ``ranked``, and its tables as one
of: ``rows = [...]`` (one table per entry), ``model = "NAME"`` (a catalog model's tables,
rows and pooling factors), ``[[table]]`` entries (``rows``, ``pooling``, ``pooling_max``,
``skew``, ``freq``), ``trace = "FILE"`` or ``profile = "FILE"`` (relative to the workload file).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from rpaccel.config import check_int
from rpaccel.datafile import load_data

__all__ = ["TableLoad", "Workload", "WORKLOAD_PRESETS", "load_workload", "workload_from_dict"]

_PRESET_DIR = Path(__file__).with_name("presets")
#: Built-in workloads: ``rpaccel/presets/workload-NAME.toml``.
WORKLOAD_PRESETS: dict[str, Path] = {p.stem[len("workload-"):]: p
                                     for p in sorted(_PRESET_DIR.glob("workload-*.toml"))}
#: The largest pooling factor a workload may state.
MAX_POOLING = 4096


def _num(where: str, name: str, v, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or \
            not lo <= v <= hi:
        raise ValueError(f"{where}: {name} must be a number in [{lo:g}, {hi:g}], got {v!r}")
    return float(v)


@dataclass(frozen=True)
class TableLoad:
    """One table's lookups (module doc)."""

    rows: int
    pooling: int = 1
    pooling_max: int | None = None
    skew: float = 1.0
    freq: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        check_int("table rows", self.rows, 1, 1 << 40)
        check_int("pooling", self.pooling, 1, MAX_POOLING)
        if self.pooling_max is not None:
            check_int("pooling_max", self.pooling_max, self.pooling, MAX_POOLING)
        _num("table", "skew", self.skew, 0.0, 10.0)
        if self.freq is not None:
            f = tuple(float(x) for x in self.freq)
            if not f or len(f) > self.rows or any(not math.isfinite(x) or x < 0 for x in f) \
                    or sum(f) <= 0:
                raise ValueError(f"freq must be 1..rows ({self.rows}) weights >= 0 with a "
                                 f"positive sum, got {len(f)} entries")
            object.__setattr__(self, "freq", f)

    @property
    def pooled(self) -> bool:
        return self.pooling != 1 or self.pooling_max is not None


@dataclass(frozen=True, eq=False)
class Workload:
    """A workload (module doc). Exactly one of ``tables``, ``trace``, ``profile`` describes the
    lookups; ``trace`` / ``profile`` are :class:`rpaccel.trace.Trace` /
    :class:`rpaccel.trace.ReuseProfile` objects."""

    name: str
    tables: tuple[TableLoad, ...] = ()
    repeat: bool = False
    ranked: bool = False
    trace: object | None = None
    profile: object | None = None
    source: str = ""
    #: how it was named: a preset name or the file it was read from (:func:`load_workload`)
    origin: str = ""

    def __post_init__(self) -> None:
        kinds = sum(x is not None and x != () for x in (self.tables, self.trace, self.profile))
        if kinds != 1:
            raise ValueError(f"workload {self.name}: give exactly one of tables, trace, profile")
        if self.repeat and len(self.tables) != 1:
            raise ValueError(f"workload {self.name}: repeat needs exactly one table entry")

    @property
    def kind(self) -> str:
        return "trace" if self.trace is not None else "profile" if self.profile is not None \
            else "synthetic"

    def n_tables(self) -> int | None:
        """Tables the workload describes (``None``: any number, ``repeat``)."""
        if self.repeat:
            return None
        if self.trace is not None:
            return self.trace.n_tables
        if self.profile is not None:
            return len(self.profile.table_shares)
        return len(self.tables)

    def table(self, t: int) -> TableLoad:
        return self.tables[0] if self.repeat else self.tables[t]

    def pooled(self) -> bool:
        """True if some table pools more than one lookup per item."""
        if self.trace is not None:
            ln = self.trace.lengths
            return ln is not None and bool((ln != 1).any())
        return any(t.pooled for t in self.tables)

    def check_accel(self, pooling: tuple[int, ...] = ()) -> None:
        """An accelerator gathers each table's lookups of its model (``pooling``, one entry per
        table; empty: one each): a workload must pool each table exactly so, with a fixed
        count (a trace only one lookup per item and table)."""
        if self.trace is not None or self.profile is not None:
            if self.pooled():
                raise ValueError(f"--workload {self.name}: a trace with several lookups per "
                                 "item in a table; the rpaccel: accelerator takes traces of "
                                 "one lookup per (item, table)")
            if any(p != 1 for p in pooling):
                raise ValueError(f"--workload {self.name}: a trace of one lookup per (item, "
                                 f"table), but the pipeline's model pools {max(pooling)}")
            return
        for t in range(len(pooling) if pooling else self.n_tables() or 1):
            tab = self.table(t)
            want = pooling[t] if pooling else 1
            if tab.pooling_max is not None:
                raise ValueError(f"--workload {self.name}: table {t} pools {tab.pooling}.."
                                 f"{tab.pooling_max} lookups per item; the rpaccel: "
                                 f"accelerator gathers a fixed count per table")
            if tab.pooling != want:
                raise ValueError(f"--workload {self.name}: table {t} pools {tab.pooling} "
                                 f"lookups per item, but the pipeline's model pools {want} "
                                 f"(model pooling must equal the workload's)")

    def check_tables(self, tables: int, what: str = "the pipeline") -> None:
        n = self.n_tables()
        if n is not None and n < tables:
            raise ValueError(f"--workload {self.name}: has {n} tables but {what} needs "
                             f"{tables} (one per sparse feature)")


def workload_from_dict(d: dict, *, where: str, base: Path | None = None) -> Workload:
    """A workload from parsed TOML/JSON (module doc for the keys)."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}: must be a table of keys")
    known = {"name", "source", "skew", "pooling", "repeat", "ranked", "rows", "model", "table",
             "trace", "profile"}
    extra = set(d) - known
    if extra:
        raise ValueError(f"{where}: unknown key(s) {sorted(extra)}; known: {sorted(known)}")
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: 'name' (a string) is required")
    given = [k for k in ("rows", "model", "table", "trace", "profile") if k in d]
    if len(given) != 1:
        raise ValueError(f"{where}: give exactly one of rows, model, table, trace, profile "
                         f"(got {given or 'none'})")
    skew = _num(where, "skew", d.get("skew", 1.0), 0.0, 10.0)
    pooling = d.get("pooling", 1)
    for k in ("repeat", "ranked"):
        if not isinstance(d.get(k, False), bool):
            raise ValueError(f"{where}: {k} must be true or false")
    common = dict(name=name, source=str(d.get("source", "")), repeat=d.get("repeat", False),
                  ranked=d.get("ranked", False))
    kind = given[0]
    try:
        if kind == "rows":
            rows = d["rows"]
            if not isinstance(rows, list) or not rows:
                raise ValueError("rows must be a non-empty list of integers")
            tabs = tuple(TableLoad(int(r) if isinstance(r, int) else r, pooling, None, skew)
                         for r in rows)
        elif kind == "model":
            from rpaccel.models import get_model

            m = get_model(str(d["model"]))
            tabs = tuple(TableLoad(t.rows, t.lookups, None, skew) for t in m.tables
                         for _ in range(t.count))
        elif kind == "table":
            ents = d["table"]
            if not isinstance(ents, list) or not ents:
                raise ValueError("table must be a non-empty list of tables")
            tabs = []
            for i, e in enumerate(ents):
                if not isinstance(e, dict):
                    raise ValueError(f"table[{i}] must be a table of keys (rows, pooling, "
                                     f"pooling_max, skew, freq), got {e!r}")
                bad = set(e) - {"rows", "pooling", "pooling_max", "skew", "freq"}
                if bad:
                    raise ValueError(f"table[{i}]: unknown key(s) {sorted(bad)}")
                tabs.append(TableLoad(e.get("rows"), e.get("pooling", pooling),
                                      e.get("pooling_max"), e.get("skew", skew),
                                      e.get("freq")))
            tabs = tuple(tabs)
        else:
            path = Path(d[kind])
            if base is not None and not path.is_absolute():
                path = base / path
            if kind == "trace":
                from rpaccel.trace import read_trace

                return Workload(trace=read_trace(path), **common)
            from rpaccel.trace import load_profile

            return Workload(profile=load_profile(path), **common)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    return Workload(tables=tabs, **common)


def load_workload(spec: str | Path) -> Workload:
    """A workload from a preset name, a workload ``.toml``, a trace (``.npz`` /
    ``.parquet``) or a reuse profile (``.json``)."""
    if isinstance(spec, str) and spec in WORKLOAD_PRESETS:
        p = WORKLOAD_PRESETS[spec]
        return dataclasses.replace(workload_from_dict(
            load_data(p, "workload"), where=f"workload preset {spec}", base=p.parent),
            origin=spec)
    p = Path(spec)
    if p.suffix in (".npz", ".parquet") and p.is_file():
        from rpaccel.trace import read_trace

        return Workload(name=p.name, trace=read_trace(p), source=str(p),
                        origin=str(p.resolve()))
    if p.suffix == ".json" and p.is_file():
        from rpaccel.trace import load_profile

        return Workload(name=p.name, profile=load_profile(p), source=str(p),
                        origin=str(p.resolve()))
    if p.suffix == ".toml" and p.is_file():
        return dataclasses.replace(workload_from_dict(
            load_data(p, "workload"), where=f"workload file {p}", base=p.parent),
            origin=str(p.resolve()))
    raise ValueError(f"--workload: {str(spec)!r} is neither a preset "
                     f"({', '.join(WORKLOAD_PRESETS)}) nor an existing .toml, .npz, .parquet "
                     f"or .json file")
