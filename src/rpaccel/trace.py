"""Embedding-lookup trace files: one lookup per row, in order.

A trace holds integer columns of equal length:

* ``tables`` -- the table of each lookup (``>= 0``);
* ``rows`` -- the row within that table (``>= 0``; below the table's cardinality when the trace
  states one);

and optional:

* ``query`` -- the query each lookup belongs to (non-decreasing);
* ``lengths`` -- pooling, as in the embedding-bag format: lookups per (item, table) bag, in
  order; its sum is the number of lookups.

Files: ``.npz`` (numpy arrays of those names; optionally ``cardinalities``, rows per table) or
``.parquet`` (the same columns; read in record batches, so large traces need not fit twice in
memory; ``lengths`` and ``cardinalities`` go to a side ``.npz`` next to it only when written by
:func:`write_trace`). Meta's ``dlrm_datasets`` embedding-bag layout (per table: ``indices``,
``offsets``, ``lengths``) converts with :func:`from_embedding_bag`.

Every schema error is a one-line ``ValueError`` naming the file, the column and (for a bad
value) the first bad row.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Trace", "read_trace", "write_trace", "from_embedding_bag", "TRACE_COLUMNS",
           "PARQUET_BATCH", "ReuseProfile", "load_profile"]

#: Required, then optional columns.
TRACE_COLUMNS = ("tables", "rows", "query", "lengths")
#: Rows per Parquet record batch when reading.
PARQUET_BATCH = 1 << 20


@dataclass(frozen=True, eq=False)
class Trace:
    """A validated trace (int64 arrays; see the module doc)."""

    tables: np.ndarray
    rows: np.ndarray
    query: np.ndarray | None = None
    lengths: np.ndarray | None = None
    #: rows per table (``None``: one more than the largest row seen)
    cardinalities: tuple[int, ...] | None = None
    source: str = "<memory>"

    def __post_init__(self) -> None:
        _validate(self)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def n_tables(self) -> int:
        if self.cardinalities is not None:
            return len(self.cardinalities)
        return int(self.tables.max()) + 1

    def table_rows(self) -> tuple[int, ...]:
        """Rows per table: the stated cardinalities, else one more than the largest row seen."""
        if self.cardinalities is not None:
            return self.cardinalities
        top = np.zeros(self.n_tables, dtype=np.int64)
        np.maximum.at(top, self.tables, self.rows)
        return tuple(int(v) + 1 for v in top)

    def keys(self) -> np.ndarray:
        """One integer per (table, row): ``table << 40 | row`` (rows below 2**40)."""
        return (self.tables << np.int64(40)) | self.rows

    def per_table(self, t: int) -> np.ndarray:
        """Table t's rows, in trace order."""
        return self.rows[self.tables == t]


def _bad(source: str, column: str, msg: str) -> ValueError:
    return ValueError(f"trace file {source}: column {column!r}: {msg}")


def _int_column(source: str, name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise _bad(source, name, f"must be one-dimensional, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise _bad(source, name, f"must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _validate(tr: Trace) -> None:
    src = tr.source
    for name in ("tables", "rows"):
        object.__setattr__(tr, name, _int_column(src, name, getattr(tr, name)))
    n = len(tr.rows)
    if n == 0:
        raise _bad(src, "rows", "the trace is empty (at least one lookup)")
    if len(tr.tables) != n:
        raise _bad(src, "tables", f"has {len(tr.tables)} entries but 'rows' has {n}")
    for name in ("tables", "rows"):
        a = getattr(tr, name)
        if (a < 0).any():
            i = _first(a < 0)
            raise _bad(src, name, f"row {i}: negative id {int(a[i])} (ids are >= 0)")
    if (tr.rows >= 1 << 40).any():
        i = _first(tr.rows >= 1 << 40)
        raise _bad(src, "rows", f"row {i}: id {int(tr.rows[i])} beyond 2**40")
    if tr.cardinalities is not None:
        card = tuple(int(c) for c in tr.cardinalities)
        if any(c < 1 for c in card):
            raise _bad(src, "cardinalities", f"must be >= 1, got {list(card)}")
        object.__setattr__(tr, "cardinalities", card)
        if (tr.tables >= len(card)).any():
            i = _first(tr.tables >= len(card))
            raise _bad(src, "tables", f"row {i}: table {int(tr.tables[i])} beyond the "
                                      f"{len(card)} tables of 'cardinalities'")
        lim = np.asarray(card, dtype=np.int64)[tr.tables]
        if (tr.rows >= lim).any():
            i = _first(tr.rows >= lim)
            raise _bad(src, "rows", f"row {i}: id {int(tr.rows[i])} beyond table "
                                    f"{int(tr.tables[i])}'s {int(lim[i])} rows")
    if tr.query is not None:
        q = _int_column(src, "query", tr.query)
        if len(q) != n:
            raise _bad(src, "query", f"has {len(q)} entries but 'rows' has {n}")
        if (q < 0).any():
            raise _bad(src, "query", f"row {_first(q < 0)}: negative query index")
        if n > 1 and (np.diff(q) < 0).any():
            raise _bad(src, "query", f"row {_first(np.diff(q) < 0) + 1}: query indices must "
                                     "not decrease")
        object.__setattr__(tr, "query", q)
    if tr.lengths is not None:
        ln = _int_column(src, "lengths", tr.lengths)
        if (ln < 0).any():
            raise _bad(src, "lengths", f"row {_first(ln < 0)}: negative length")
        if int(ln.sum()) != n:
            raise _bad(src, "lengths", f"sums to {int(ln.sum())} but the trace has {n} lookups")
        object.__setattr__(tr, "lengths", ln)


def read_trace(path: str | os.PathLike) -> Trace:
    """Read a ``.npz`` or ``.parquet`` trace (module doc); one-line errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"trace file {p}: no such file")
    if p.suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                cols = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise ValueError(f"trace file {p}: not a readable .npz ({e})") from None
        extra = set(cols) - set(TRACE_COLUMNS) - {"cardinalities"}
        if extra:
            raise ValueError(f"trace file {p}: unknown column(s) {sorted(extra)}; "
                             f"allowed: {list(TRACE_COLUMNS) + ['cardinalities']}")
    elif p.suffix == ".parquet":
        cols = _read_parquet(p)
    else:
        raise ValueError(f"trace file {p}: must end in .npz or .parquet")
    for need in ("tables", "rows"):
        if need not in cols:
            raise ValueError(f"trace file {p}: missing column {need!r}")
    card = cols.get("cardinalities")
    return Trace(cols["tables"], cols["rows"], cols.get("query"), cols.get("lengths"),
                 None if card is None else tuple(np.asarray(card).tolist()), source=str(p))


def _read_parquet(p: Path) -> dict[str, np.ndarray]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(f"trace file {p}: reading .parquet needs pyarrow "
                         "(pip install 'rpaccel[scale]')") from None
    try:
        f = pq.ParquetFile(p)
    except Exception as e:  # pyarrow raises its own error types
        raise ValueError(f"trace file {p}: not a readable .parquet ({e})") from None
    names = f.schema_arrow.names
    extra = set(names) - {"tables", "rows", "query"}
    if extra:
        raise ValueError(f"trace file {p}: unknown column(s) {sorted(extra)}; "
                         "allowed: ['tables', 'rows', 'query']")
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for batch in f.iter_batches(batch_size=PARQUET_BATCH):
        for n in names:
            col = batch.column(n)
            if col.null_count:
                raise _bad(str(p), n, "has missing values")
            parts[n].append(col.to_numpy(zero_copy_only=False))
    out = {n: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64)) for n, v in parts.items()}
    side = p.with_suffix(".meta.npz")
    if side.is_file():
        with np.load(side, allow_pickle=False) as z:
            out.update({k: z[k] for k in z.files if k in ("lengths", "cardinalities")})
    return out


def write_trace(trace: Trace, path: str | os.PathLike) -> None:
    """Write ``trace`` as ``.npz`` (or ``.parquet``), atomically (a temporary name, renamed)."""
    p = Path(path)
    if p.suffix not in (".npz", ".parquet"):
        raise ValueError(f"trace file {p}: must end in .npz or .parquet")
    cols = {"tables": trace.tables, "rows": trace.rows}
    if trace.query is not None:
        cols["query"] = trace.query
    meta = {}
    if trace.lengths is not None:
        meta["lengths"] = trace.lengths
    if trace.cardinalities is not None:
        meta["cardinalities"] = np.asarray(trace.cardinalities, dtype=np.int64)
    from rpaccel.outputs import staged

    with staged() as st:                 # the trace and its sidecar: both or neither
        tmp = st.file(p)
        if p.suffix == ".npz":
            np.savez_compressed(tmp, **cols, **meta)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq
            pq.write_table(pa.table(cols), tmp)
            if meta:
                np.savez_compressed(st.file(p.with_suffix(".meta.npz")), **meta)


def from_embedding_bag(indices, offsets, lengths=None, *, source: str = "<embedding bag>"
                       ) -> Trace:
    """Convert the embedding-bag layout of Meta's ``dlrm_datasets`` to a trace.

    ``indices``: all rows, table-major then bag by bag (as the dataset's tensors);
    ``offsets``: ``T * B + 1`` bag starts into ``indices`` (``T`` tables, ``B`` items; a
    ``T * B`` array without the final total is accepted too); ``lengths`` (optional, ``T x B``):
    must agree with the offsets. The trace lists lookups item-major (item 0's bags of every
    table, then item 1's, ...), which is the order a server issues them; ``lengths`` is kept in
    that order, ``query`` is the item index.
    """
    idx = _int_column(source, "indices", np.asarray(indices).reshape(-1))
    off = _int_column(source, "offsets", np.asarray(offsets).reshape(-1))
    if len(off) == 0 or off[-1] != len(idx):
        off = np.append(off, len(idx))
    if off[0] != 0 or (np.diff(off) < 0).any():
        raise _bad(source, "offsets", "must start at 0 and not decrease")
    bag_len = np.diff(off)
    if lengths is None:
        raise ValueError(f"{source}: 'lengths' (T x B) is required to know the table count")
    ln = np.asarray(lengths)
    if ln.ndim != 2:
        raise _bad(source, "lengths", f"must be T x B, got shape {ln.shape}")
    T, B = ln.shape
    if ln.size != len(bag_len) or (ln.reshape(-1) != bag_len).any():
        raise _bad(source, "lengths", "does not agree with 'offsets'")
    # bag (t, b) covers idx[off[t*B+b] : off[t*B+b+1]]; reorder item-major
    order = np.arange(T * B).reshape(T, B).T.reshape(-1)       # bag ids, item-major
    starts, lens = off[:-1][order], bag_len[order]
    pos = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(
        int(lens.sum()))
    tables = np.repeat(order // B, lens)
    items = np.repeat(order % B, lens)
    return Trace(tables, idx[pos], items, lens, source=source)


# -- reuse profiles (computed and generated by rpaccel.perfmodel.reuse) -------------------------
@dataclass(frozen=True)
class ReuseProfile:
    """A trace's stack-distance distribution (distinct distances with counts), its cold
    lookups, and the tables' shares of cold keys."""

    lookups: int
    cold: int
    distances: tuple[int, ...]
    counts: tuple[int, ...]
    table_shares: tuple[float, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if self.lookups < 1 or self.cold < 0 or self.cold > self.lookups:
            raise ValueError(f"reuse profile {self.source}: lookups must be >= 1 and cold in "
                             f"0..lookups, got lookups={self.lookups}, cold={self.cold}")
        if len(self.distances) != len(self.counts):
            raise ValueError(f"reuse profile {self.source}: 'distances' and 'counts' differ "
                             "in length")
        if any(d < 0 for d in self.distances) or any(c < 0 for c in self.counts):
            raise ValueError(f"reuse profile {self.source}: distances and counts must be >= 0")
        if sum(self.counts) + self.cold != self.lookups:
            raise ValueError(f"reuse profile {self.source}: counts + cold must equal lookups")
        if self.cold == 0:
            raise ValueError(f"reuse profile {self.source}: cold must be >= 1 (a trace starts "
                             "cold)")
        if not self.table_shares or any(not (s >= 0) for s in self.table_shares) or \
                abs(sum(self.table_shares) - 1.0) > 1e-6:
            raise ValueError(f"reuse profile {self.source}: table_shares must be >= 0 and sum "
                             "to 1")

    @property
    def cold_fraction(self) -> float:
        return self.cold / self.lookups

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """P(distance <= x) over all lookups (cold at infinity)."""
        d = np.asarray(self.distances, dtype=np.int64)
        c = np.cumsum(np.asarray(self.counts, dtype=np.float64))
        i = np.searchsorted(d, np.asarray(x), side="right")
        return np.where(i > 0, c[np.maximum(i - 1, 0)], 0.0) / self.lookups

    def to_dict(self) -> dict:
        return {"format": "rpaccel-reuse-profile", "version": 1, "source": self.source,
                "lookups": self.lookups, "cold": self.cold,
                "cold_fraction": self.cold_fraction, "tables": len(self.table_shares),
                "table_shares": list(self.table_shares), "distances": list(self.distances),
                "counts": list(self.counts)}

    def write(self, path: str | os.PathLike) -> None:
        from rpaccel.outputs import atomic_file

        with atomic_file(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict()) + "\n")


def load_profile(path: str | os.PathLike) -> ReuseProfile:
    from rpaccel.datafile import load_data

    d = load_data(path, "reuse profile")
    if not isinstance(d, dict) or d.get("format") != "rpaccel-reuse-profile":
        raise ValueError(f"reuse profile file {path}: not a reuse profile (format "
                         "'rpaccel-reuse-profile', written by `rpaccel trace profile`)")
    try:
        return ReuseProfile(int(d["lookups"]), int(d["cold"]),
                            tuple(int(x) for x in d["distances"]),
                            tuple(int(x) for x in d["counts"]),
                            tuple(float(x) for x in d["table_shares"]), source=str(path))
    except (KeyError, TypeError) as e:
        raise ValueError(f"reuse profile file {path}: missing or bad field {e}") from None
