"""Shared, frozen hardware configurations.

One config object drives the RTL generator (:mod:`rpaccel.rtl`), the performance model
(:mod:`rpaccel.perfmodel`) and the testbenches (:mod:`rpaccel.verif`). This module is pure Python:
importing it never imports Amaranth.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GemmConfig", "TopkConfig", "EmbCacheConfig", "check_int", "config_from_dict"]


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


def _param(help: str, unit: str = "") -> Any:
    return field(metadata={"help": help, "unit": unit})


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
    """

    rows: int = _param("PE rows (reduction dimension K per weight tile)", "PEs")
    cols: int = _param("PE columns (output dimension N per weight tile)", "PEs")
    in_width: int = field(default=8, metadata={"help": "signed operand width", "unit": "bits"})
    acc_width: int = field(default=32, metadata={"help": "signed accumulator width (wraps)", "unit": "bits"})
    max_m: int = field(default=4096, metadata={"help": "largest M (rows of A) the buffers hold", "unit": "rows"})
    max_k: int = field(default=512, metadata={"help": "largest K the buffers hold", "unit": "elements"})
    max_n: int = field(default=512, metadata={"help": "largest N the buffers hold", "unit": "elements"})

    def __post_init__(self) -> None:
        check_int("rows", self.rows, 1, 256)
        check_int("cols", self.cols, 1, 256)
        check_int("in_width", self.in_width, 2, 32)
        check_int("acc_width", self.acc_width, 2 * self.in_width, 64)
        check_int("max_m", self.max_m, 1, 1 << 20)
        check_int("max_k", self.max_k, 1, 1 << 16)
        check_int("max_n", self.max_n, 1, 1 << 16)
        words = {
            "A buffer": self.a_words, "W buffer": self.w_words, "C buffer": self.c_words,
        }
        for what, n in words.items():
            if n > (1 << 24):
                raise ValueError(
                    f"max_m/max_k/max_n give a {what} of {n} words; at most {1 << 24} words are allowed"
                )

    # -- derived geometry (pure functions of the config) -------------------------------------
    @property
    def max_k_tiles(self) -> int:
        return math.ceil(self.max_k / self.rows)

    @property
    def max_n_tiles(self) -> int:
        return math.ceil(self.max_n / self.cols)

    @property
    def a_words(self) -> int:
        """Depth of the A buffer: one word holds ``rows`` operands of one row of A."""
        return self.max_m * self.max_k_tiles

    @property
    def w_words(self) -> int:
        """Depth of the W buffer: one word holds the ``rows`` weights shifted in on one cycle."""
        return self.max_k_tiles * self.max_n_tiles * self.cols

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

    def check_shape(self, m: Any, k: Any, n: Any) -> tuple[int, int, int]:
        """Validate one GEMM shape against the buffer capacity; return it as ints."""
        return (check_int("m", m, 1, self.max_m), check_int("k", k, 1, self.max_k),
                check_int("n", n, 1, self.max_n))

    # -- identity -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Short stable hash: names build folders and generated files."""
        return _config_key("gemm", self.to_dict())

    def label(self) -> str:
        return f"gemm_{self.rows}x{self.cols}_i{self.in_width}_a{self.acc_width}"


@dataclass(frozen=True, slots=True)
class TopkConfig:
    """Configuration of the streaming exact top-k filter.

    Members
    -------
    k_max:
        Capacity: the largest k a query may ask for (1..256). Each lane keeps ``k_max`` entries.
    lanes:
        Parallel filter units (1..16). Input beats carry ``lanes`` item slots; slot j goes to
        lane j (round-robin dealing). Throughput: ``lanes`` items per cycle.
    score_width, id_width:
        Bits of a score (fixed-point CTR) and of an item id (1..32 each).
    signed_scores:
        Scores are two's-complement signed instead of unsigned.
    """

    k_max: int = _param("largest k per query (entries kept per lane)", "items")
    lanes: int = field(default=1, metadata={"help": "parallel filter lanes", "unit": "lanes"})
    score_width: int = field(default=16, metadata={"help": "score width", "unit": "bits"})
    id_width: int = field(default=16, metadata={"help": "item id width", "unit": "bits"})
    signed_scores: bool = field(default=False, metadata={"help": "signed scores", "unit": ""})

    def __post_init__(self) -> None:
        check_int("k_max", self.k_max, 1, 256)
        check_int("lanes", self.lanes, 1, 16)
        check_int("score_width", self.score_width, 1, 32)
        check_int("id_width", self.id_width, 1, 32)
        if not isinstance(self.signed_scores, bool):
            raise ValueError(f"signed_scores must be true or false, got {self.signed_scores!r}")
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
class EmbCacheConfig:
    """Dual static + dynamic embedding cache with a blocking miss path and a DRAM model.

    Members
    -------
    dim, elem_width:
        Elements per embedding row and bits per element; a row is ``dim * elem_width`` bits.
    tables, rows:
        Embedding tables and rows per table (a power of two); rows are re-indexed by descending
        access frequency, so row ``r < static_rows`` is in the static cache.
    static_rows:
        Hottest rows per table held by the static cache (0 = dynamic-only).
    sets, ways:
        Dynamic cache geometry (``sets`` a power of two; one row per line; true LRU).
    dynamic:
        False for a static-only cache (every non-static lookup misses and is not cached).
    stage_ways:
        Way partition of the dynamic cache by pipeline stage: stage s owns ``stage_ways[s]``
        consecutive ways; the entries sum to ``ways``. Default: one stage owning every way.
    mem_bits, dram_latency, dram_interval:
        DRAM model: a row arrives as ``ceil(row_bits / mem_bits)`` beats; beat j of a request
        made on cycle t is delivered on cycle ``t + dram_latency + j * dram_interval``.
    """

    dim: int = _param("elements per embedding row", "elements")
    elem_width: int = field(default=16, metadata={"help": "bits per element", "unit": "bits"})
    tables: int = field(default=1, metadata={"help": "embedding tables", "unit": "tables"})
    rows: int = field(default=4096, metadata={"help": "rows per table (power of two)", "unit": "rows"})
    static_rows: int = field(default=16, metadata={"help": "hot rows per table in the static cache", "unit": "rows"})
    sets: int = field(default=16, metadata={"help": "dynamic cache sets (power of two)", "unit": "sets"})
    ways: int = field(default=4, metadata={"help": "dynamic cache ways", "unit": "ways"})
    dynamic: bool = field(default=True, metadata={"help": "dynamic cache present", "unit": ""})
    stage_ways: tuple[int, ...] = field(default=(), metadata={"help": "ways per stage", "unit": "ways"})
    mem_bits: int = field(default=64, metadata={"help": "DRAM beat width", "unit": "bits"})
    dram_latency: int = field(default=20, metadata={"help": "DRAM latency", "unit": "cycles"})
    dram_interval: int = field(default=1, metadata={"help": "cycles between DRAM beats", "unit": "cycles"})
    tag_width: int = field(default=8, metadata={"help": "request tag bits", "unit": "bits"})

    def __post_init__(self) -> None:
        check_int("dim", self.dim, 1, 128)
        check_int("elem_width", self.elem_width, 1, 64)
        check_int("tables", self.tables, 1, 64)
        check_int("rows", self.rows, 1, 1 << 24)
        if self.rows & (self.rows - 1):
            raise ValueError(f"rows must be a power of two, got {self.rows}")
        check_int("static_rows", self.static_rows, 0, self.rows)
        check_int("sets", self.sets, 1, 1 << 20)
        if self.sets & (self.sets - 1):
            raise ValueError(f"sets must be a power of two (set index = low address bits), got {self.sets}")
        check_int("ways", self.ways, 1, 16)
        if not isinstance(self.dynamic, bool):
            raise ValueError(f"dynamic must be true or false, got {self.dynamic!r}")
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
        check_int("mem_bits", self.mem_bits, 8, 1024)
        check_int("dram_latency", self.dram_latency, 1, 100_000)
        check_int("dram_interval", self.dram_interval, 1, 1000)
        check_int("tag_width", self.tag_width, 1, 32)

    @property
    def row_bits(self) -> int:
        return self.dim * self.elem_width

    @property
    def row_bytes(self) -> int:
        return (self.row_bits + 7) // 8

    @property
    def beats_per_row(self) -> int:
        return -(-self.row_bits // self.mem_bits)

    @property
    def stages(self) -> int:
        return len(self.stage_ways)

    @property
    def addr_bits(self) -> int:
        return max(1, (self.tables * self.rows - 1).bit_length())

    def check_lookup(self, table: Any, row: Any, stage: Any = 0) -> None:
        check_int("table", table, 0, self.tables - 1)
        check_int("row", row, 0, self.rows - 1)
        check_int("stage", stage, 0, self.stages - 1)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stage_ways"] = list(self.stage_ways)
        return d

    def key(self) -> str:
        return _config_key("embcache", self.to_dict())

    def label(self) -> str:
        return (f"embcache_d{self.dim}x{self.elem_width}_t{self.tables}_s{self.static_rows}"
                f"_{self.sets}x{self.ways}{'' if self.dynamic else 'nodyn'}"
                f"_st{len(self.stage_ways)}")


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build a config dataclass from a mapping; unknown keys are errors, not silently dropped."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; allowed: {sorted(names)}")
    return cls(**data)
