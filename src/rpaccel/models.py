"""Recommendation models as data: embedding tables and MLP layers (frozen dataclasses).

A catalog holds RecPipe's RM-small / RM-med / RM-large (Criteo Kaggle DLRMs) and the eight
DeepRecInfra models. Attention and RNN layers are given as their GEMM equivalents
(:class:`Gemm`: ``m`` rows per item, ``k`` x ``n`` weights). Models load from JSON or TOML with
unknown keys rejected.

Choices where DeepRecSys's code and paper differ (see ``shared/reference/DEEPRECSYS.md``):

* DIN follows the **code as run** (one behaviour table, 4 tables in all): it is what every
  shipped script measured.
* MT-WnD runs **one task head** (the code's default).
* DIEN's recurrent layer is the code's tanh BasicRNN (40 steps, hidden 64), as GEMMs.
* NCF combines the MF pair with an element-wise sum (code); its MACs are the MLP's only.

RecPipe's models carry the top MLP exactly as the artifact's performance model runs it: input
``27 * dim`` (a concatenation of 27 vectors), so RM-large's top is 864-96-1. RecPipe's own
"MACs/item" figures (1,152 / 1,920 / 180,832) count only the config's top layers (64-1, 96-1);
``macs_per_item`` here includes the 27*dim input layer.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .query import RECPIPE_RM

from .datafile import load_data

__all__ = ["Tables", "Gemm", "Model", "CATALOG", "get_model", "load_model", "model_from_dict"]


@dataclass(frozen=True, slots=True)
class Tables:
    """``count`` embedding tables of ``rows`` x ``dim``; ``lookups`` rows pooled per item each."""

    count: int
    rows: int
    dim: int
    lookups: int = 1
    element_bytes: int = 4

    def __post_init__(self) -> None:
        for name in ("count", "rows", "dim", "lookups", "element_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"tables.{name} must be an integer >= 1, got {v!r}")

    @property
    def bytes_per_item(self) -> int:
        return self.count * self.lookups * self.dim * self.element_bytes

    @property
    def lookups_per_item(self) -> int:
        return self.count * self.lookups

    @property
    def footprint_bytes(self) -> int:
        return self.count * self.rows * self.dim * self.element_bytes


@dataclass(frozen=True, slots=True)
class Gemm:
    """A GEMM-equivalent layer: per item, an ``m x k`` by ``k x n`` product (attention, RNN)."""

    m: int
    k: int
    n: int

    def __post_init__(self) -> None:
        for name in ("m", "k", "n"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"gemm.{name} must be an integer >= 1, got {v!r}")

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n


@dataclass(frozen=True, slots=True)
class Model:
    """One recommendation model. Layer lists give widths including the input, e.g. 13-512-256.

    ``top_mlp`` starts with its input width; ``extra`` holds attention/RNN GEMM equivalents.
    """

    name: str
    tables: tuple[Tables, ...]
    bottom_mlp: tuple[int, ...] = ()
    top_mlp: tuple[int, ...] = ()
    extra: tuple[Gemm, ...] = ()
    dense_in: int = 0
    description: str = ""
    #: Feature interaction between the bottom MLP output and the pooled embeddings: ``cat``
    #: (concatenation, free; DeepRecInfra and the RecPipe artifact's perf model) or ``dot``
    #: (DLRM's pairwise dot products without self-interaction: F(F-1)/2 x dim MACs per item for
    #: F = tables + 1 vectors).
    interaction: str = "cat"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"model name must be a non-empty string, got {self.name!r}")
        if self.interaction not in ("cat", "dot"):
            raise ValueError(f"{self.name}: interaction must be 'cat' or 'dot', got {self.interaction!r}")
        for what in ("bottom_mlp", "top_mlp"):
            widths = getattr(self, what)
            if len(widths) == 1:
                raise ValueError(f"{self.name}: {what} needs at least an input and an output width")
            for w in widths:
                if isinstance(w, bool) or not isinstance(w, int) or w < 1:
                    raise ValueError(f"{self.name}: {what} widths must be integers >= 1, got {w!r}")

    @staticmethod
    def _layers(widths: tuple[int, ...]) -> list[tuple[int, int]]:
        return list(zip(widths[:-1], widths[1:]))

    @property
    def bottom_layers(self) -> list[tuple[int, int]]:
        return self._layers(self.bottom_mlp)

    @property
    def top_layers(self) -> list[tuple[int, int]]:
        return self._layers(self.top_mlp)

    @property
    def mlp_layers(self) -> list[tuple[int, int]]:
        return self.bottom_layers + self.top_layers

    @property
    def interaction_macs(self) -> int:
        if self.interaction == "cat":
            return 0
        f = sum(t.count for t in self.tables) + 1
        return f * (f - 1) // 2 * self.emb_dim

    @property
    def macs_per_item(self) -> int:
        return (sum(i * o for i, o in self.mlp_layers) + sum(g.macs for g in self.extra)
                + self.interaction_macs)

    @property
    def flops_per_item(self) -> int:
        return 2 * self.macs_per_item

    @property
    def emb_bytes_per_item(self) -> int:
        return sum(t.bytes_per_item for t in self.tables)

    @property
    def lookups_per_item(self) -> int:
        return sum(t.lookups_per_item for t in self.tables)

    @property
    def footprint_bytes(self) -> int:
        return sum(t.footprint_bytes for t in self.tables)

    @property
    def emb_dim(self) -> int:
        """Embedding dimension (the first table's)."""
        return self.tables[0].dim if self.tables else 0

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "macs_per_item": self.macs_per_item,
                "flops_per_item": self.flops_per_item,
                "emb_bytes_per_item": self.emb_bytes_per_item,
                "lookups_per_item": self.lookups_per_item,
                "footprint_bytes": self.footprint_bytes}


_MODEL_KEYS = {f.name for f in fields(Model)}
_TABLE_KEYS = {f.name for f in fields(Tables)}
_GEMM_KEYS = {f.name for f in fields(Gemm)}


def _strict(d: Any, allowed: set[str], where: str) -> dict:
    if not isinstance(d, dict):
        raise ValueError(f"{where} must be a table/object, got {type(d).__name__}")
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    return d


def model_from_dict(d: dict, where: str = "model") -> Model:
    """Build a :class:`Model` from plain data; unknown keys are errors."""
    d = _strict(d, _MODEL_KEYS, where)
    if "name" not in d or "tables" not in d:
        raise ValueError(f"{where}: 'name' and 'tables' are required")
    tables = tuple(Tables(**_strict(t, _TABLE_KEYS, f"{where}.tables[{i}]"))
                   for i, t in enumerate(d["tables"]))
    extra = tuple(Gemm(**_strict(g, _GEMM_KEYS, f"{where}.extra[{i}]"))
                  for i, g in enumerate(d.get("extra", ())))
    return Model(name=d["name"], tables=tables, bottom_mlp=tuple(d.get("bottom_mlp", ())),
                 top_mlp=tuple(d.get("top_mlp", ())), extra=extra,
                 dense_in=d.get("dense_in", 0), description=d.get("description", ""),
                 interaction=d.get("interaction", "cat"))


def load_model(path: str | Path) -> Model:
    """Load one model from a ``.json`` or ``.toml`` file."""

    return model_from_dict(load_data(path, "model"), where=f"model file {path}")


# -- the catalog ---------------------------------------------------------------------------------
#: Criteo Kaggle (DAC) table cardinalities after DLRM's preprocessing; only footprints use them.
KAGGLE_ROWS = (1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593,
               3194, 27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572)


def _kaggle(dim: int) -> tuple[Tables, ...]:
    return tuple(Tables(count=1, rows=r, dim=dim) for r in KAGGLE_ROWS)


def _recpipe(name: str, desc: str) -> Model:
    # The layer shapes are the accelerator's (rpaccel.query.RECPIPE_RM): the RecPipe artifact's
    # perf model feeds the top MLP a concatenation of 27 vectors (26 pooled embeddings + the
    # bottom MLP output): input width 27 * dim.
    spec = RECPIPE_RM[name]
    assert spec.tables == len(KAGGLE_ROWS)
    return Model(name=name, tables=_kaggle(spec.dim), bottom_mlp=spec.bottom,
                 top_mlp=spec.top, dense_in=spec.dense, description=desc)


CATALOG: dict[str, Model] = {m.name: m for m in [
    _recpipe("rm-small", "RecPipe RM-small (Kaggle DLRM, dim 4)"),
    _recpipe("rm-med", "RecPipe RM-med (Kaggle DLRM, dim 16)"),
    _recpipe("rm-large", "RecPipe RM-large (Kaggle DLRM, dim 32)"),
    Model("dlrm-rmc1", (Tables(8, 4_000_000, 32, 80),), (128, 64, 32), (288, 256, 64, 1),
          dense_in=128, description="DeepRecInfra DLRM-RMC1"),
    Model("dlrm-rmc2", (Tables(32, 500_000, 64, 120),), (256, 128, 64), (2112, 128, 64, 1),
          dense_in=256, description="DeepRecInfra DLRM-RMC2"),
    Model("dlrm-rmc3", (Tables(10, 2_000_000, 32, 20),), (2560, 1024, 256, 32),
          (352, 512, 256, 1), dense_in=2560, description="DeepRecInfra DLRM-RMC3"),
    Model("wnd", (Tables(27, 1_000_000, 32, 1),), (), (1376, 1024, 512, 256, 1), dense_in=512,
          description="DeepRecInfra Wide&Deep (deep tower; raw dense features)"),
    Model("mt-wnd", (Tables(41, 500_000, 32, 1), Tables(2, 5_000_000, 32, 1)), (),
          (1888, 1024, 512, 256, 128), dense_in=512,
          description="DeepRecInfra multi-task WnD, one task head (code default)"),
    Model("ncf", (Tables(2, 140_000, 64, 1), Tables(2, 28_000, 64, 1)), (),
          (128, 256, 256, 128, 64), extra=(Gemm(1, 128, 64),),
          description="DeepRecInfra NCF (MF pair summed, as the code)"),
    Model("din", (Tables(1, 1_000_000, 32, 3), Tables(1, 100_000, 32, 3),
                  Tables(1, 10_000_000, 32, 3), Tables(1, 10_000_000, 32, 3)),
          (), (128, 200, 80, 2), extra=(Gemm(1, 96, 1), Gemm(1, 1, 32)),
          description="DeepRecInfra DIN as run (one behaviour table)"),
    Model("dien", (Tables(1, 500_000, 32, 1), Tables(40, 500_000, 32, 1),
                   Tables(1, 5_000_000, 32, 1), Tables(1, 5_000_000, 32, 1)),
          # per step: layer-1 W_x 32x64 and W_h 64x64, layer-2 W_x and W_h 64x64, attention 64x64
          (), (160, 200, 80, 2), extra=(Gemm(40, 32, 64), Gemm(40, 64, 64), Gemm(40, 64, 64),
                                        Gemm(40, 64, 64), Gemm(40, 64, 64)),
          description="DeepRecInfra DIEN (2-layer tanh RNN, 40 steps, hidden 64, attention)"),
]}


def get_model(name: str) -> Model:
    """Catalog model by name (case-insensitive), or a model file path (.json/.toml)."""
    key = name.lower()
    if key in CATALOG:
        return CATALOG[key]
    if key.endswith((".json", ".toml")):
        return load_model(name)
    raise ValueError(f"unknown model {name!r}; known: {sorted(CATALOG)} or a .json/.toml file")
