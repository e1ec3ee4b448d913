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

__all__ = ["GemmConfig", "TopkConfig", "check_int", "config_from_dict"]


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
        blob = json.dumps({"unit": "gemm", **self.to_dict()}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

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
        blob = json.dumps({"unit": "topk", **self.to_dict()}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def label(self) -> str:
        return (f"topk_k{self.k_max}_l{self.lanes}_s{self.score_width}"
                f"{'s' if self.signed_scores else 'u'}_i{self.id_width}")


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build a config dataclass from a mapping; unknown keys are errors, not silently dropped."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; allowed: {sorted(names)}")
    return cls(**data)
