"""Shared, frozen hardware configurations.

One config object drives the RTL generator (:mod:`rpaccel.rtl`), the performance model
(:mod:`rpaccel.perfmodel`) and the testbenches (:mod:`rpaccel.verif`). This module is pure Python:
importing it never imports Amaranth.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from .layout import Array, Signed, Struct, Unsigned

__all__ = ["GemmConfig", "GEMM_COUNTERS", "TopkConfig", "HistkConfig", "EmbCacheConfig", "check_int", "check_fields", "ceil_div",
           "config_from_dict", "field_range", "range_text"]


def check_int(name: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` if it is an integer in ``[lo, hi]``, else raise a one-line ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        # Accept integral numpy scalars and the like, never floats or strings.
        if hasattr(value, "__index__") and not isinstance(value, bool):
            value = value.__index__()
        else:
            raise ValueError(f"{name} must be an integer{_range(lo, hi)}, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an integer{_range(lo, hi)}, got {value}")
    return value


def _range(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def _config_key(unit: str, fields: dict[str, Any]) -> str:
    """Short stable hash of a unit's config: names build folders and generated files."""
    blob = json.dumps({"unit": unit, **fields}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _param(help: str, unit: str = "", *, default: Any = dataclasses.MISSING,
           lo: int | Callable[[Any], int] | None = None,
           hi: int | Callable[[Any], int] | None = None, range_text: str | None = None,
           flag: str | None = None, **extra: Any) -> Any:
    """A config field with its help, unit and allowed range, written once.

    ``lo``/``hi`` may be callables of the config (a range that depends on another field);
    ``range_text`` then says it in words for ``--help``. ``flag`` overrides the CLI flag (for
    booleans: ``--signed`` sets True, ``--no-dynamic`` sets False). :func:`check_fields`
    validates every field that has a range, in field order; the CLI builds its flags from the
    same metadata (:mod:`rpaccel.cli.flags`).
    """
    md = {"help": help, "unit": unit, "lo": lo, "hi": hi, "range_text": range_text, "flag": flag,
          **extra}
    return field(default=default, metadata=md)


def field_range(cfg_or_cls: Any, f: dataclasses.Field) -> tuple[int | None, int | None]:
    """The ``(lo, hi)`` of a field; callables are evaluated on a config instance."""
    lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
    if callable(lo):
        lo = lo(cfg_or_cls)
    if callable(hi):
        hi = hi(cfg_or_cls)
    return lo, hi


def range_text(f: dataclasses.Field) -> str:
    """The allowed range of a field in words, e.g. ``1..256`` or ``2*in_width..64``."""
    md = f.metadata
    if md.get("range_text"):
        return md["range_text"]
    lo, hi = md.get("lo"), md.get("hi")
    if md.get("choices") is not None:
        return "one of " + ", ".join(map(str, md["choices"]))
    if lo is None and hi is None:
        return ""
    if md.get("lo_open"):
        return f"> {lo}" if hi is None else f"({lo}, {hi}]"
    if hi is None:
        return f">= {lo}"
    if lo is None:
        return f"<= {hi}"
    return f"{lo}..{hi}"


def field_kind(f: dataclasses.Field) -> tuple[str, bool]:
    """A field's value type (``int``, ``float``, ``str``, ``bool``, ``tuple``) and whether it
    may be None (``float | None``)."""
    t = str(f.type).replace(" ", "")
    optional = "None" in t.split("|")
    base = [x for x in t.split("|") if x != "None"][0]
    return ("tuple" if base.startswith("tuple") else base), optional


def check_float(name: str, value: Any, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False) -> float:
    """Return ``value`` if it is a finite number in the range (``lo`` excluded with
    ``lo_open``), else raise a one-line ``ValueError``."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float))
          and value == value and abs(value) != float("inf"))
    if ok:
        ok = not ((lo is not None and (value <= lo if lo_open else value < lo))
                  or (hi is not None and value > hi))
    if not ok:
        if lo is not None and hi is not None:
            rng = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
        elif lo is not None:
            rng = f"{'>' if lo_open else '>='} {lo:g}"
        elif hi is not None:
            rng = f"<= {hi:g}"
        else:
            rng = "a finite number"
        raise ValueError(f"{name} must be {rng}, got {value!r}")
    return value


def check_fields(cfg: Any) -> None:
    """Check every field that declares a range or choices (one-line ``ValueError`` naming
    the field): integers and numbers against ``lo``/``hi`` (``lo_open``: ``lo`` excluded),
    strings against ``choices``; None passes where the field allows it."""
    for f in dataclasses.fields(cfg):
        md, v = f.metadata, getattr(cfg, f.name)
        kind, optional = field_kind(f)
        if v is None and optional:
            continue
        if md.get("choices") is not None:
            if v not in md["choices"]:
                raise ValueError(f"{f.name} must be one of {', '.join(map(str, md['choices']))}, "
                                 f"got {v!r}")
            continue
        if md.get("lo") is None and md.get("hi") is None:
            continue
        if kind == "float":
            check_float(f.name, v, *field_range(cfg, f), lo_open=md.get("lo_open", False))
        else:
            check_int(f.name, v, *field_range(cfg, f))


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


#: The GEMM engine's event counters (ports of the same names, 32 bits each, counting since
#: reset): A-buffer reads (each streams one row of A into the array: ``rows x cols`` PE
#: multiply-accumulates), W-buffer reads (each shifts one weight row into the array), C-buffer
#: reads (accumulator reads for the K tiles after the first, and output reads) and C-buffer
#: writes (one per streamed row).
GEMM_COUNTERS = ("a_reads", "w_reads", "c_reads", "c_writes")


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _is_bool(f: dataclasses.Field) -> bool:
    return f.type in (bool, "bool")


def _is_tuple(f: dataclasses.Field) -> bool:
    return "tuple" in str(f.type)


def config_argv(cfg: Any) -> list[str]:
    """The command-line flags (:mod:`rpaccel.cli.flags`) that rebuild ``cfg`` (fields left at their default are omitted)."""
    out: list[str] = []
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        has_default = f.default is not dataclasses.MISSING
        if _is_bool(f):
            if v != f.default:
                out.append(_flag(f))
            continue
        if _is_tuple(f):
            if tuple(v) != tuple(f.default) and not (f.metadata.get("omit_single") and len(v) == 1):
                out += [_flag(f), f.metadata.get("sep", ",").join(map(str, v))]
            continue
        if not has_default or v != f.default:
            out += [_flag(f), str(v)]
    return out


#: Largest seed of a model or study (numpy's generators take any non-negative 64-bit integer).
SEED_MAX = (1 << 63) - 1
#: Largest seed of a stream that a cocotb testbench or the random campaign draws (its
#: generators are seeded with 31-bit integers).
SIM_SEED_MAX = (1 << 31) - 1


def check_seed(value: Any, hi: int = SEED_MAX, name: str = "seed") -> int:
    """A seed in ``[0, hi]`` (a one-line ``ValueError`` naming ``name`` otherwise)."""
    return check_int(name, value, 0, hi)


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for positive integers, exactly (no floats)."""
    return -(-a // b)


@dataclass(frozen=True, slots=True)
class GemmConfig:
    """Configuration of the weight-stationary systolic GEMM engine (RPAccel's MMU).

    The engine computes ``C = A @ W`` with ``A`` of shape ``(M, K)`` and ``W`` of shape ``(K, N)``
    on a ``rows x cols`` array: the reduction dimension K runs down the rows, the output dimension
    N across the columns.

    Members
    -------
    rows, cols:
        Array size in processing elements (PEs); any integer >= 1, not only squares or powers of two.
    in_width:
        Width in bits of the signed two's-complement operands of A and W (2..32).
    acc_width:
        Width in bits of the signed accumulator; at least ``2 * in_width`` (a full product), at
        most 64. Products and sums wrap modulo ``2**acc_width``.
    max_m, max_k, max_n:
        Buffer capacity: the largest M, K and N one GEMM may have. They size the on-chip SRAMs.
    weight_buffering:
        Weight banks per PE: 1 (load, stream, wait, load, ...) or 2 (TPU-style double
        buffering: the next weight tile shifts in while the current one streams). Default 2.
    c_read_ports:
        Read ports of the C (accumulator) buffer: 1 (the output reads the results through the
        accumulator's port once the last tile has passed the array: every result beat is on
        the critical path) or 2 (a second port for the output, which reads every result row on
        the cycle after its final accumulator write, while the array goes on with the next rows
        and tiles: only the last row's beat is exposed). Default 2.
    split:
        Split grid ``(GR, GC)`` of the reconfigurable array: the same PEs run either one GEMM
        over the whole array (monolithic mode) or ``GR * GC`` concurrent GEMMs on sub-arrays of
        ``rows/GR x cols/GC`` PEs (split mode), each with its own streams and buffers of the
        same capacity (``max_m``, ``max_k``, ``max_n``). The mode is set between GEMMs
        (``mode_change_cycles``). ``(1, 1)`` is the plain monolithic engine.

    The contract shared by the RTL, the perf model and the testbench is here too: the tile walk
    (:meth:`k_tiles`, :meth:`n_tiles`), the inter-tile gap and final drain, and the ``cmd`` and
    ``c_out`` payload layouts.
    """

    rows: int = _param("PE rows (K per weight tile)", "PEs", lo=1, hi=256)
    cols: int = _param("PE columns (N per weight tile)", "PEs", lo=1, hi=256)
    in_width: int = _param("signed operand bits", "bits", default=8, lo=2, hi=32)
    acc_width: int = _param("signed accumulator bits, wraps", "bits", default=32,
                            lo=lambda c: 2 * c.in_width, hi=64, range_text="2*in_width..64")
    max_m: int = _param("buffer capacity in rows of A", "rows", default=4096, lo=1, hi=1 << 20)
    max_k: int = _param("buffer capacity in K", "elements", default=512, lo=1, hi=1 << 16)
    max_n: int = _param("buffer capacity in N", "elements", default=512, lo=1, hi=1 << 16)
    weight_buffering: int = _param("weight banks per PE: 1 single-buffered, 2 double-buffered "
                                   "(the next tile loads while the current one streams)", "banks",
                                   default=2, lo=1, hi=2, flag="--buffering")
    c_read_ports: int = _param("C-buffer read ports: 1 the results drain after the last tile "
                               "through the accumulator's port; 2 a second port drains every "
                               "result row as soon as it is final, under compute", "ports",
                               default=2, lo=1, hi=2, flag="--c-ports")
    split: tuple[int, int] = _param("split grid GRxGC: the array runs GR*GC independent "
                                    "sub-arrays of (rows/GR) x (cols/GC) PEs", "", default=(1, 1),
                                    sep="x")
    weight_words: int = _param("weight memory depth in W words; 0: one layer of max_k x max_n, "
                               "loaded through w_in before each GEMM; > 0: a preloaded memory "
                               "holding many layers, each command names its base word (wbase)",
                               "words", default=0, lo=0, hi=1 << 24)

    def __post_init__(self) -> None:
        check_fields(self)
        sp = tuple(self.split)
        if (len(sp) != 2 or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in sp)
                or self.rows % sp[0] or self.cols % sp[1]):
            raise ValueError(f"split must be GRxGC with GR dividing rows={self.rows} and GC "
                             f"dividing cols={self.cols}, got {'x'.join(map(str, sp))}")
        object.__setattr__(self, "split", sp)
        words = {
            "A buffer": self.a_words, "W buffer": self.w_words, "C buffer": self.c_words,
        }
        for what, n in words.items():
            if n > (1 << 24):
                raise ValueError(
                    f"max_m/max_k/max_n give a {what} of {n} words; at most {1 << 24} words are allowed"
                )

    # -- the tile walk (one place for ceil(K/rows) and ceil(N/cols)) ----------------------------
    def k_tiles(self, k: int) -> int:
        """Weight tiles along K: ``ceil(k / rows)``."""
        return ceil_div(k, self.rows)

    def n_tiles(self, n: int) -> int:
        """Weight tiles along N (and result beats per row of A): ``ceil(n / cols)``."""
        return ceil_div(n, self.cols)

    # -- cycle contract -------------------------------------------------------------------------
    @property
    def tile_gap_cycles(self) -> int:
        """Idle cycles between one tile's last activation read and the next tile's first weight
        shift: the last activation needs ``rows + cols - 2`` cycles to pass the last PE."""
        return self.rows + self.cols - 2

    @property
    def drain_cycles(self) -> int:
        """Cycles after the last tile's last activation read before the first result read: skew,
        array, de-skew and the accumulator read-modify-write."""
        return self.rows + self.cols

    #: Cycles from accepting ``cmd`` to the first weight shift (command decode).
    control_cycles = 1
    #: Cost of a mode change of a split-capable array: a ``mode`` beat accepted on cycle t (all
    #: engines idle) selects the engines whose commands are accepted from cycle t + 1.
    mode_change_cycles = 1

    # -- derived geometry (pure functions of the config) -------------------------------------
    @property
    def max_k_tiles(self) -> int:
        return self.k_tiles(self.max_k)

    @property
    def max_n_tiles(self) -> int:
        return self.n_tiles(self.max_n)

    @property
    def a_words(self) -> int:
        """Depth of the A buffer: one word holds ``rows`` operands of one row of A."""
        return self.max_m * self.max_k_tiles

    @property
    def w_words(self) -> int:
        """Depth of the W buffer: one word holds the ``rows`` weights shifted in on one cycle.
        ``weight_words`` if set (a weight memory of many layers), else one layer at capacity."""
        return self.weight_words or self.max_k_tiles * self.max_n_tiles * self.cols

    @property
    def c_words(self) -> int:
        """Depth of the C (accumulator) buffer: one word holds ``cols`` accumulators."""
        return self.max_m * self.max_n_tiles

    @property
    def a_word_bits(self) -> int:
        return self.rows * self.in_width

    @property
    def c_word_bits(self) -> int:
        return self.cols * self.acc_width

    @property
    def m_bits(self) -> int:
        return self.max_m.bit_length()

    @property
    def kt_bits(self) -> int:
        return self.max_k_tiles.bit_length()

    @property
    def nt_bits(self) -> int:
        return self.max_n_tiles.bit_length()

    @property
    def cycle_counter_bits(self) -> int:
        return 48

    # -- payload layouts ------------------------------------------------------------------------
    @property
    def cmd_layout(self) -> Struct:
        """``cmd`` payload: ``{m, k_tiles, n_tiles}``, and ``wbase`` (the layer's first word in
        the weight memory) when ``weight_words`` is set."""
        return Struct([("m", Unsigned(self.m_bits)), ("k_tiles", Unsigned(self.kt_bits)),
                       ("n_tiles", Unsigned(self.nt_bits))] + (
            [("wbase", Unsigned(max(1, (self.weight_words - 1).bit_length())))]
            if self.weight_words else []))

    @property
    def c_out_layout(self) -> Struct:
        """``c_out`` payload: ``cols`` signed accumulators (column 0 lowest), then ``last``."""
        return Struct([("data", Array(Signed(self.acc_width), self.cols)), ("last", Unsigned(1))])

    def cmd_word(self, m: int, k: int, n: int, wbase: int = 0) -> int:
        """The ``cmd`` payload that starts an ``M x K @ K x N`` GEMM (weights at word ``wbase``
        of the weight memory when ``weight_words`` is set)."""
        m, k, n = self.check_shape(m, k, n)
        f = {"m": m, "k_tiles": self.k_tiles(k), "n_tiles": self.n_tiles(n)}
        if self.weight_words:
            need = self.k_tiles(k) * self.n_tiles(n) * self.cols
            f["wbase"] = check_int("wbase", wbase, 0, self.weight_words - need)
        return self.cmd_layout.pack(f)

    def check_shape(self, m: Any, k: Any, n: Any) -> tuple[int, int, int]:
        """Validate one GEMM shape against the buffer capacity; return it as ints."""
        return (check_int("m", m, 1, self.max_m), check_int("k", k, 1, self.max_k),
                check_int("n", n, 1, self.max_n))

    # -- identity -----------------------------------------------------------------------------
    # -- split grid ---------------------------------------------------------------------------
    @property
    def subarrays(self) -> int:
        return self.split[0] * self.split[1]

    @property
    def subarray(self) -> "GemmConfig":
        """The configuration one sub-array behaves as: a monolithic engine of its size."""
        return dataclasses.replace(self, rows=self.rows // self.split[0],
                                   cols=self.cols // self.split[1], split=(1, 1))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["split"] = list(self.split)
        return d

    def key(self) -> str:
        """Short stable hash: names build folders and generated files. The default split is left
        out, so monolithic configurations keep their keys."""
        d = self.to_dict()
        if self.split == (1, 1):
            del d["split"]
        if not self.weight_words:
            del d["weight_words"]
        if self.c_read_ports == 2:
            del d["c_read_ports"]
        return _config_key("gemm", d)

    def label(self) -> str:
        return (f"gemm_{self.rows}x{self.cols}_i{self.in_width}_a{self.acc_width}"
                f"_b{self.weight_buffering}" + ("_c1" if self.c_read_ports == 1 else "")
                + (f"_s{self.split[0]}x{self.split[1]}" if self.split != (1, 1) else "")
                + (f"_w{self.weight_words}" if self.weight_words else ""))


@dataclass(frozen=True, slots=True)
class TopkConfig:
    """Configuration of the streaming exact top-k filter.

    Members
    -------
    k_max:
        Capacity: the largest k a query may ask for (1..1024). Each lane keeps ``k_max`` entries.
    lanes:
        Parallel filter units (1..16). Input beats carry ``lanes`` item slots; slot j goes to
        lane j (round-robin dealing). Throughput: ``lanes`` items per cycle.
    score_width, id_width:
        Bits of a score (fixed-point CTR) and of an item id (1..32 each).
    signed_scores:
        Scores are two's-complement signed instead of unsigned.
    """

    k_max: int = _param("capacity: largest k per query (entries kept per lane)", "items",
                        lo=1, hi=1024)
    lanes: int = _param("parallel filter lanes", "lanes", default=1, lo=1, hi=16)
    score_width: int = _param("score bits", "bits", default=16, lo=1, hi=32)
    id_width: int = _param("item id bits", "bits", default=16, lo=1, hi=32)
    signed_scores: bool = _param("signed scores", default=False, flag="--signed")

    #: Cycles from accepting a query's ``last`` beat to its first result beat being valid (the
    #: output buffers load on the accepting edge).
    result_latency = 1

    def __post_init__(self) -> None:
        check_fields(self)
        check_bool("signed_scores", self.signed_scores)
        if self.signed_scores and self.score_width < 2:
            raise ValueError("score_width must be >= 2 for signed scores")

    @property
    def k_bits(self) -> int:
        return self.k_max.bit_length()

    @property
    def score_range(self) -> tuple[int, int]:
        if self.signed_scores:
            return -(1 << (self.score_width - 1)), (1 << (self.score_width - 1)) - 1
        return 0, (1 << self.score_width) - 1

    @property
    def score_shape(self) -> Signed | Unsigned:
        return (Signed if self.signed_scores else Unsigned)(self.score_width)

    @property
    def item_layout(self) -> Struct:
        """One item slot: ``{score, id, v}`` (``v``: the slot holds an item)."""
        return Struct([("score", self.score_shape), ("id", Unsigned(self.id_width)),
                       ("v", Unsigned(1))])

    @property
    def in_layout(self) -> Struct:
        """``i`` payload: ``{items[lanes], k, last}``; ``k`` is read from the ``last`` beat."""
        return Struct([("items", Array(self.item_layout, self.lanes)),
                       ("k", Unsigned(self.k_bits)), ("last", Unsigned(1))])

    @property
    def out_layout(self) -> Struct:
        """``o`` payload: ``{score, id, last, empty}``."""
        return Struct([("score", self.score_shape), ("id", Unsigned(self.id_width)),
                       ("last", Unsigned(1)), ("empty", Unsigned(1))])

    def query_beats(self, n: int) -> int:
        """Input beats of a query of n items (an empty query is one beat)."""
        return max(1, ceil_div(n, self.lanes))

    @staticmethod
    def result_beats(n: int, k: int) -> int:
        """Result beats of a query: ``min(k, n)``, or one ``empty`` beat."""
        return max(1, min(k, n))

    def check_scores(self, scores: Any) -> "np.ndarray":
        """One query's scores as an int64 array: 1-D integers within :attr:`score_range`
        (a one-line ``ValueError`` naming the first score outside it)."""
        import numpy as np

        s = np.asarray(scores)
        if s.ndim != 1:
            raise ValueError(f"scores must be a 1-D sequence, got shape {s.shape}")
        if s.size and s.dtype.kind not in "iub":
            if s.dtype.kind != "f" or not np.all(np.isfinite(s)) or np.any(s != np.round(s)):
                raise ValueError(f"scores must be integers, got dtype {s.dtype}")
        s = s.astype(np.int64)
        lo, hi = self.score_range
        bad = np.flatnonzero((s < lo) | (s > hi))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"scores must be in [{lo}, {hi}] ({self.score_width}-bit "
                             f"{'signed' if self.signed_scores else 'unsigned'}), got "
                             f"{int(s[i])} at index {i}")
        return s

    def check_query(self, n: Any, k: Any) -> tuple[int, int]:
        """Validate one query's size and k (ids 0..n-1 must fit in id_width bits)."""
        n = check_int("n", n, 0, 1 << self.id_width)
        k = check_int("k", k, 1, self.k_max)
        return n, k

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        return _config_key("topk", self.to_dict())

    def label(self) -> str:
        return (f"topk_k{self.k_max}_l{self.lanes}_s{self.score_width}"
                f"{'s' if self.signed_scores else 'u'}_i{self.id_width}")


@dataclass(frozen=True, slots=True)
class HistkConfig:
    """Configuration of the approximate (histogram) top-k filter, RecPipe's ``sortvals``
    (RECPIPE.md section 1.4) with its quirks fixed: it keeps *at least* k items, everything in
    the score bins at or above the bin where the count from the top first reaches k.

    Members
    -------
    bins:
        Histogram bins (a power of two, 2..64): a score's bin is its top ``log2(bins)`` bits
        (offset binary for signed scores), so the bins split the whole score range evenly.
    max_items:
        Items per query (the buffer's depth), 1..65536.
    score_width, id_width, signed_scores:
        As for the exact filter.

    Cycle contract (one item per input beat; a query has 1..max_items items):

    * ``i.ready`` is high while the unit takes a query's items (state IN), low from the cycle
      after it accepts a ``last`` beat until the query's last result beat has transferred.
    * **walk**: from the cycle after the ``last`` beat, one bin per cycle from the top; it
      stops on the bin where the running count first reaches k, or on bin 0
      (:attr:`walk_cycles` for a threshold bin).
    * **drain**: from the next cycle, the buffer is read in arrival order, one entry per cycle
      while the output moves; every item whose bin is at or above the threshold becomes a result
      beat, ``drain_latency`` cycles after its read is issued when nothing stalls; ``last`` on
      the final one (the walk knows their number).
    * IN resumes on the cycle after the last result beat transfers.
    """

    bins: int = _param("histogram bins, a power of two", "bins", default=16, lo=2, hi=64)
    max_items: int = _param("items per query (buffer depth)", "items", default=4096, lo=1,
                            hi=65536)
    score_width: int = _param("score bits", "bits", default=16, lo=2, hi=32)
    id_width: int = _param("item id bits", "bits", default=16, lo=1, hi=32)
    signed_scores: bool = _param("signed scores", default=False, flag="--signed")

    #: Cycles from accepting the ``last`` beat to the first walk cycle.
    walk_latency = 1
    #: Cycles from issuing a buffer read to its result beat being valid (registered SRAM read,
    #: then the output register), stall-free.
    drain_latency = 2

    def __post_init__(self) -> None:
        check_fields(self)
        check_bool("signed_scores", self.signed_scores)
        if self.bins & (self.bins - 1):
            raise ValueError(f"bins must be a power of two in 2..64, got {self.bins}")
        if self.bins.bit_length() - 1 > self.score_width:
            raise ValueError(f"bins={self.bins} needs at least {self.bins.bit_length() - 1} "
                             f"score bits, got score_width={self.score_width}")

    @property
    def bin_bits(self) -> int:
        return self.bins.bit_length() - 1

    #: the exact filter's score range and shape (the same fields, the same rule)
    score_range = TopkConfig.score_range
    score_shape = TopkConfig.score_shape
    check_scores = TopkConfig.check_scores

    @property
    def count_bits(self) -> int:
        return self.max_items.bit_length()

    @property
    def in_layout(self) -> Struct:
        """``i`` payload: ``{score, id, k, last}``; ``k`` is read from the ``last`` beat."""
        return Struct([("score", self.score_shape), ("id", Unsigned(self.id_width)),
                       ("k", Unsigned(self.count_bits)), ("last", Unsigned(1))])

    @property
    def out_layout(self) -> Struct:
        """``o`` payload: ``{score, id, last}``."""
        return Struct([("score", self.score_shape), ("id", Unsigned(self.id_width)),
                       ("last", Unsigned(1))])

    def walk_cycles(self, threshold_bin: int) -> int:
        """Walk cycles ending on ``threshold_bin`` (the top bin: 1)."""
        return self.bins - threshold_bin

    def check_query(self, n: Any, k: Any) -> tuple[int, int]:
        """Validate one query's size (1..max_items, ids 0..n-1 in id_width bits) and k."""
        n = check_int("n", n, 1, min(self.max_items, 1 << self.id_width))
        k = check_int("k", k, 1, self.max_items)
        return n, k

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        return _config_key("histk", self.to_dict())

    def label(self) -> str:
        return (f"histk_b{self.bins}_n{self.max_items}_s{self.score_width}"
                f"{'s' if self.signed_scores else 'u'}_i{self.id_width}")


@dataclass(frozen=True, slots=True)
class EmbCacheConfig:
    """Dual static + dynamic embedding cache with a blocking miss path and a DRAM model.

    Members
    -------
    dim, elem_width:
        Elements per embedding row and bits per element; a row is ``dim * elem_width`` bits.
    tables, rows:
        Embedding tables and the row address's range (a power of two: a lookup's row field is
        ``log2(rows)`` bits); rows are re-indexed by descending access frequency, so row
        ``r < static_rows`` is in the static cache.
    table_rows:
        Each table's rows (its cardinality, ``1..rows``); empty: every table has ``rows``. The
        address map packs the tables: table t's row r is global row (DRAM address)
        ``table_bases[t] + r`` with ``table_bases[t] = sum(table_rows[:t])``; its dynamic-cache
        set is the address's low ``log2(sets)`` bits and its tag the rest
        (``addr_bits - log2(sets)`` bits).
    static_rows:
        Hottest rows per table held by the static cache (0 = dynamic-only); a table smaller than
        ``static_rows`` holds all its rows there (the static set is ``min(static_rows,
        table_rows[t])`` rows; its buffer keeps ``static_rows`` words per table).
    sets, ways:
        Dynamic cache geometry (``sets`` a power of two; one row per line; true LRU).
    dynamic:
        False for a static-only cache (every non-static lookup misses and is not cached).
    stage_ways:
        Way partition of the dynamic cache by pipeline stage: stage s owns ``stage_ways[s]``
        consecutive ways; the entries sum to ``ways``. Default: one stage owning every way.
    mem_bits, dram_latency, dram_interval, dram_outstanding:
        DRAM model: a row arrives as ``ceil(row_bits / mem_bits)`` beats, at most one beat every
        ``dram_interval`` cycles (bandwidth ``mem_bits / 8 / dram_interval`` bytes per cycle);
        request i, accepted on cycle q_i, delivers its first beat on
        ``max(q_i + dram_latency, last beat of request i-1 + dram_interval)`` and the rest
        ``dram_interval`` apart; at most ``dram_outstanding`` requests are in flight (accepted,
        last beat not yet delivered). One request at a time, beat j of a request made on cycle t
        is delivered on ``t + dram_latency + j * dram_interval``.
    lanes, mshrs, rob_beats:
        The non-blocking unit (any configuration but ``lanes = mshrs = 1``, which is the blocking
        design): ``lanes`` lookups per request beat, ``mshrs`` outstanding row misses, and a
        reorder buffer of ``rob_beats`` beats that returns responses in request order. See
        :mod:`rpaccel.perfmodel.embcache` for the cycle contract.
    """

    dim: int = _param("elements per embedding row", "elements", lo=1, hi=128)
    elem_width: int = _param("bits per element", "bits", default=16, lo=1, hi=64)
    tables: int = _param("embedding tables", "tables", default=1, lo=1, hi=128)
    rows: int = _param("rows per table, a power of two", "rows", default=4096, lo=1, hi=1 << 24)
    static_rows: int = _param("hot rows per table in the static cache", "rows", default=16,
                              lo=0, hi=lambda c: c.rows, range_text="0..rows")
    sets: int = _param("dynamic cache sets, a power of two", "sets", default=16, lo=1, hi=1 << 20)
    ways: int = _param("dynamic cache ways", "ways", default=4, lo=1, hi=16)
    dynamic: bool = _param("dynamic cache present", default=True, flag="--no-dynamic")
    stage_ways: tuple[int, ...] = _param("way partition by stage, e.g. 2,6 (sums to ways)", "ways",
                                         default=(), omit_single=True)
    mem_bits: int = _param("DRAM beat width", "bits", default=64, lo=8, hi=4096)
    dram_latency: int = _param("DRAM latency", "cycles", default=20, lo=1, hi=100_000)
    dram_interval: int = _param("cycles between DRAM beats", "cycles", default=1, lo=1, hi=1000)
    tag_width: int = _param("request tag bits", "bits", default=8, lo=1, hi=32)
    lanes: int = _param("lookups per request beat (1 with mshrs=1: the blocking design)", "lanes",
                        default=1, lo=1, hi=16)
    mshrs: int = _param("outstanding row misses (miss status holding registers)", "MSHRs",
                        default=1, lo=1, hi=64)
    rob_beats: int = _param("reorder-buffer depth of the non-blocking unit", "beats", default=8,
                            lo=2, hi=256)
    dram_outstanding: int = _param("DRAM requests in flight at most", "requests", default=16,
                                   lo=1, hi=1024)
    table_rows: tuple[int, ...] = _param("rows of each table, e.g. 256,64,128 (one entry per "
                                         "table, each 1..rows; empty: rows for every table)",
                                         "rows", default=())

    #: Cycles from accepting a hitting request (static or dynamic) to its response being valid.
    hit_latency = 2
    #: Cycles from accepting a missing request to its DRAM request.
    miss_request_latency = 1

    def __post_init__(self) -> None:
        check_fields(self)
        if self.rows & (self.rows - 1):
            raise ValueError(f"rows must be a power of two, got {self.rows}")
        if self.sets & (self.sets - 1):
            raise ValueError(f"sets must be a power of two (set index = low address bits), got {self.sets}")
        check_bool("dynamic", self.dynamic)
        if not self.dynamic and self.static_rows == 0:
            raise ValueError("static_rows must be >= 1 for a static-only cache (dynamic=False)")
        sw = tuple(self.stage_ways) or (self.ways,)
        object.__setattr__(self, "stage_ways", sw)
        if len(sw) > 4:
            raise ValueError(f"stage_ways may name at most 4 stages, got {len(sw)}")
        for w in sw:
            check_int("stage_ways entries", w, 1, self.ways)
        if sum(sw) != self.ways:
            raise ValueError(f"stage_ways {list(sw)} must sum to ways={self.ways}")
        tr = tuple(self.table_rows)
        object.__setattr__(self, "table_rows", tr)
        if tr:
            if len(tr) != self.tables:
                raise ValueError(f"table_rows must have one entry per table (tables="
                                 f"{self.tables}), got {len(tr)}")
            for t, r in enumerate(tr):
                if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= self.rows:
                    raise ValueError(f"table_rows[{t}] must be an integer in 1..rows={self.rows} "
                                     f"(the row address is {max(1, (self.rows - 1).bit_length())}"
                                     f" bits), got {r!r}")

    @property
    def row_bits(self) -> int:
        return self.dim * self.elem_width

    @property
    def row_bytes(self) -> int:
        return (self.row_bits + 7) // 8

    @property
    def beats_per_row(self) -> int:
        return ceil_div(self.row_bits, self.mem_bits)

    @property
    def stages(self) -> int:
        return len(self.stage_ways)

    @property
    def table_sizes(self) -> tuple[int, ...]:
        """Every table's rows (``table_rows``, or ``rows`` for each)."""
        return self.table_rows or (self.rows,) * self.tables

    @property
    def table_bases(self) -> tuple[int, ...]:
        """Global row (DRAM address) of each table's row 0: the tables packed in order."""
        out, b = [], 0
        for r in self.table_sizes:
            out.append(b)
            b += r
        return tuple(out)

    @property
    def total_rows(self) -> int:
        return sum(self.table_sizes)

    @property
    def addr_bits(self) -> int:
        """Bits of a global row (the DRAM address ``table_bases[table] + row``)."""
        return max(1, (self.total_rows - 1).bit_length())

    def global_row(self, table: int, row: int) -> int:
        """The DRAM address of (table, row): ``table_bases[table] + row``."""
        return (table * self.rows if not self.table_rows else self.table_bases[table]) + row

    #: Non-blocking unit (``not blocking``), see :mod:`rpaccel.perfmodel.embcache`: cycles from
    #: accepting a beat to its first lookup cycle; from a static or dynamic hit's lookup cycle to
    #: the cycle its slot counts as ready; from a fill's cycle (last DRAM beat) to the cycle its
    #: waiting slots count as ready; from a miss's lookup cycle to the first cycle its DRAM
    #: request can be presented.
    nb_lookup_delay = 1
    nb_hit_ready = 2
    nb_fill_ready = 1
    nb_mem_request_delay = 1
    #: Counter ports of the non-blocking unit besides ``hits_static``, ``hits_dynamic``,
    #: ``misses`` and ``mem_bytes``.
    nonblocking_counters = ("merged", "bank_conflict_stalls", "victim_stalls", "mshr_full_stalls")

    #: The largest dynamic cache (lines) the non-blocking RTL elaborates: its tags are
    #: registers. The perf model has no such limit.
    rtl_max_lines = 1024

    def check_rtl(self) -> None:
        """Raise a one-line ``ValueError`` if the RTL cannot be built for this configuration."""
        if not self.blocking and self.sets * self.ways > self.rtl_max_lines:
            raise ValueError(f"sets x ways must be <= {self.rtl_max_lines} for the non-blocking "
                             f"RTL (its tags are registers), got {self.sets} x {self.ways}; the "
                             f"perf model has no limit")

    @property
    def blocking(self) -> bool:
        """True for ``lanes = mshrs = 1``: the blocking design (one request in flight)."""
        return self.lanes == 1 and self.mshrs == 1

    @property
    def banks(self) -> int:
        """Tag and data banks of the non-blocking unit: set s lives in bank ``s mod banks``."""
        return min(self.lanes, self.sets)

    @property
    def clear_cycles(self) -> int:
        """Cycles after reset before ``req`` can be accepted: one per tag-store word (set) in the
        blocking design; none in the non-blocking one (its tags are reset registers)."""
        return self.sets if self.blocking else 0

    @property
    def miss_latency(self) -> int:
        """Cycles from accepting a missing request to its response being valid: the DRAM request
        on ``+1``, beat j on ``+1 + L + j*I``, the response on the cycle after the last beat."""
        return (self.miss_request_latency + 1 + self.dram_latency
                + (self.beats_per_row - 1) * self.dram_interval)

    @property
    def lookup_layout(self) -> Struct:
        """One lookup: ``{table, row, stage, tag}``."""
        return Struct([("table", Unsigned(max(1, (self.tables - 1).bit_length()))),
                       ("row", Unsigned(max(1, (self.rows - 1).bit_length()))),
                       ("stage", Unsigned(max(1, (self.stages - 1).bit_length()))),
                       ("tag", Unsigned(self.tag_width))])

    @property
    def req_layout(self) -> Struct:
        """``req`` payload: blocking, one lookup ``{table, row, stage, tag}``; non-blocking,
        ``{slots[lanes]}`` of ``{valid, table, row, stage, tag}``."""
        if self.blocking:
            return self.lookup_layout
        slot = Struct([("valid", Unsigned(1)), *self.lookup_layout.fields.items()])
        return Struct([("slots", Array(slot, self.lanes))])

    @property
    def resp_layout(self) -> Struct:
        """``resp`` payload: blocking, ``{data, tag, hit, static}``; non-blocking, ``{slots[lanes]}``
        of ``{valid, data, tag, hit, static, merged}`` in the request beat's slot positions."""
        one = [("data", Unsigned(self.row_bits)), ("tag", Unsigned(self.tag_width)),
               ("hit", Unsigned(1)), ("static", Unsigned(1))]
        if self.blocking:
            return Struct(one)
        slot = Struct([("valid", Unsigned(1)), *one, ("merged", Unsigned(1))])
        return Struct([("slots", Array(slot, self.lanes))])

    def check_lookup(self, table: Any, row: Any, stage: Any = 0) -> None:
        check_int("table", table, 0, self.tables - 1)
        check_int("row", row, 0, self.table_sizes[table] - 1)
        check_int("stage", stage, 0, self.stages - 1)

    def to_dict(self) -> dict[str, Any]:
        """The fields (``table_rows`` only when given: uniform tables keep their keys)."""
        d = dataclasses.asdict(self)
        d["stage_ways"] = list(self.stage_ways)
        if self.table_rows:
            d["table_rows"] = list(self.table_rows)
        else:
            del d["table_rows"]
        return d

    def key(self) -> str:
        return _config_key("embcache", self.to_dict())

    def label(self) -> str:
        return (f"embcache_d{self.dim}x{self.elem_width}_t{self.tables}_s{self.static_rows}"
                f"_{self.sets}x{self.ways}{'' if self.dynamic else 'nodyn'}"
                f"_st{len(self.stage_ways)}"
                + (f"_tr{_config_key('rows', {'r': list(self.table_rows)})[:6]}"
                   if self.table_rows else "")
                + ("" if self.blocking else f"_l{self.lanes}m{self.mshrs}r{self.rob_beats}"))


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build a config dataclass from a mapping; unknown keys are errors, not silently dropped."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; allowed: {sorted(names)}")
    return cls(**data)
