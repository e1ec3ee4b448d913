"""The integrated RPAccel: accelerator configs, query pipelines and their strict TOML files.

Pure Python (no Amaranth): the RTL top, the compiler/executor (:mod:`rpaccel.perfmodel.compiler`,
:mod:`rpaccel.perfmodel.executor`), the testbench and the CLI all read these objects.

An **accelerator config** (:class:`AccelConfig`) is the hardware: the reconfigurable array
(:class:`~rpaccel.config.GemmConfig`, its split grid and buffer capacities), the weight memory of
each sub-array, the embedding unit (:class:`~rpaccel.config.EmbCacheConfig`, non-blocking: dual
static + dynamic caches, lanes, MSHRs, the DRAM model), one top-k unit per stage
(:class:`~rpaccel.config.TopkConfig`: ``k_max``, ``lanes``), the host link and the clock.

A **pipeline** (:class:`Pipeline`) is the work: S stages (1..4), each a DLRM-style model
(:class:`ModelSpec`) on ``items[s]`` candidates placed on a group of sub-arrays, the number of
results ``k_out``, the default sub-batch size and filter policy, and the Zipf skew of the sparse
ids. See :mod:`rpaccel.perfmodel.query` for what a query computes.

File formats (strict TOML: an unknown key is an error naming the key and the file)::

    # accelerator                            # pipeline
    name = "tiny"                            name = "tiny S->L"
    clock_ns = 8.0                           k_out = 8
    host_latency = 20                        sub_batch = 32
    host_bytes_per_cycle = 16                filter = "global"
    weight_bytes = 4096                      skew = 1.0
    max_items = 512                          [[stage]]
    [array]        # GemmConfig fields       items = 128
    rows = 4                                 subarrays = 2
    cols = 4                                 model = "rm-small"   # or a [stage.model] table:
    split = [2, 2]                           [stage.model]        # dense, bottom, tables, top
    [embedding]    # EmbCacheConfig fields   dense = 8
    dim = 8                                  bottom = [8, 16, 8]
    ...                                      tables = 3
    [topk]                                   top = [32, 16, 1]
    k_max = 64
    lanes = 2
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import EmbCacheConfig, GemmConfig, TopkConfig, _config_key, ceil_div, check_int

__all__ = ["ModelSpec", "StageSpec", "Pipeline", "AccelConfig", "Fidelity", "Serve", "RECPIPE_RM",
           "PRESETS", "FIDELITY_SWITCHES", "accel_toml",
           "PIPELINE_PRESETS", "FILTERS", "load_accel", "load_pipeline", "accel_from_dict",
           "pipeline_from_dict", "ID_BYTES"]

#: Filter policies between stages (see :mod:`rpaccel.perfmodel.funnel`).
FILTERS = ("global", "per-sub-batch")
#: Bytes of one sparse id on the host link and in the item memory (int32).
ID_BYTES = 4


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A DLRM-style integer model: dense input width ``dense``; bottom MLP ``bottom =
    [dense, b1, ..., d]``; ``tables`` embedding tables of dim ``d = bottom[-1]`` (one lookup per
    table per item); interaction = the concatenation ``[bottom_out, e_1, ..., e_T]`` of width
    ``(T + 1) * d`` (the RecPipe artifact's choice); top MLP ``top = [(T + 1) * d, t1, ..., 1]``."""

    dense: int
    bottom: tuple[int, ...]
    tables: int
    top: tuple[int, ...]

    def __post_init__(self) -> None:
        check_int("model.dense", self.dense, 1, 4096)
        check_int("model.tables", self.tables, 1, 64)
        for name in ("bottom", "top"):
            v = getattr(self, name)
            if not isinstance(v, (list, tuple)) or len(v) < 2:
                raise ValueError(f"model.{name} must be a list of at least 2 layer widths, got {v!r}")
            for w in v:
                check_int(f"model.{name} entries", w, 1, 1 << 16)
            object.__setattr__(self, name, tuple(v))
        if self.bottom[0] != self.dense:
            raise ValueError(f"model.bottom[0] must equal model.dense={self.dense} (layer widths "
                             f"chain), got {self.bottom[0]}")
        if self.top[0] != (self.tables + 1) * self.dim:
            raise ValueError(f"model.top[0] must be (tables + 1) * d = ({self.tables} + 1) * "
                             f"{self.dim} = {(self.tables + 1) * self.dim} (the interaction "
                             f"concatenates the bottom output and {self.tables} embeddings of "
                             f"dim d = bottom[-1]), got {self.top[0]}")
        if self.top[-1] != 1:
            raise ValueError(f"model.top[-1] must be 1 (the score), got {self.top[-1]}")

    @property
    def dim(self) -> int:
        return self.bottom[-1]

    def layers(self) -> list[tuple[str, int, int, int]]:
        """``(mlp, index, K, N)`` of every GEMM layer: the bottom MLP's, then the top MLP's."""
        out = [("bottom", i, k, n) for i, (k, n) in enumerate(zip(self.bottom, self.bottom[1:]))]
        out += [("top", i, k, n) for i, (k, n) in enumerate(zip(self.top, self.top[1:]))]
        return out

    def macs_per_item(self) -> int:
        return sum(k * n for _, _, k, n in self.layers())

    def to_dict(self) -> dict[str, Any]:
        return {"dense": self.dense, "bottom": list(self.bottom), "tables": self.tables,
                "top": list(self.top)}


def _rm(dim: int, bottom: tuple[int, ...], top_hidden: int) -> ModelSpec:
    return ModelSpec(dense=13, bottom=bottom, tables=26, top=(27 * dim, top_hidden, 1))


#: RecPipe's RM-small / RM-med / RM-large (Criteo Kaggle DLRMs: 13 dense features, 26 tables,
#: dims 4 / 16 / 32; see shared/reference/RECPIPE.md). The system studies' catalog
#: (:mod:`rpaccel.sched.models`) builds its RecPipe entries from these.
RECPIPE_RM: dict[str, ModelSpec] = {
    "rm-small": _rm(4, (13, 64, 4), 64),
    "rm-med": _rm(16, (13, 64, 16), 64),
    "rm-large": _rm(32, (13, 512, 256, 128, 64, 32), 96),
}


@dataclass(frozen=True, slots=True)
class StageSpec:
    """One pipeline stage: its model (and the model's name, for reports), ``items`` candidates,
    and ``subarrays`` sub-arrays of the split array (0: the whole array in monolithic mode, for a
    one-stage pipeline)."""

    model: ModelSpec
    items: int
    subarrays: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A multi-stage ranking query's shape (see :mod:`rpaccel.perfmodel.query`)."""

    stages: tuple[StageSpec, ...]
    k_out: int
    sub_batch: int | None = None     # default: the first stage's items (no sub-batching)
    filter: str = "global"
    skew: float = 1.0                # Zipf skew of the sparse ids
    name: str = ""

    def __post_init__(self) -> None:
        if not 1 <= len(self.stages) <= 4:
            raise ValueError(f"stage: a pipeline has 1..4 stages, got {len(self.stages)}")
        items = self.items
        check_int("stage[0].items", items[0], 1, 1 << 16)
        for s in range(1, len(items)):
            check_int(f"stage[{s}].items", items[s], 1, items[s - 1])
        check_int("k_out", self.k_out, 1, items[-1])
        dense = self.stages[0].model.dense
        for s, st in enumerate(self.stages):
            if st.model.dense != dense:
                raise ValueError(f"stage[{s}].model.dense must equal stage[0]'s ({dense}): all "
                                 f"stages see the same item's dense features, got {st.model.dense}")
        if self.filter not in FILTERS:
            raise ValueError(f"filter must be one of {', '.join(FILTERS)}, got {self.filter!r}")
        if self.sub_batch is not None:
            check_int("sub_batch", self.sub_batch, 1, items[0])
        if isinstance(self.skew, bool) or not isinstance(self.skew, (int, float)) or \
                not 0.0 <= self.skew <= 4.0:
            raise ValueError(f"skew must be a number in [0, 4], got {self.skew!r}")

    @property
    def items(self) -> list[int]:
        return [s.items for s in self.stages]

    @property
    def dense(self) -> int:
        return self.stages[0].model.dense

    @property
    def sparse(self) -> int:
        """Sparse ids per item: the most tables any stage has (stage s uses the first T_s)."""
        return max(s.model.tables for s in self.stages)

    def with_options(self, sub_batch: int | None = None, filter: str | None = None
                     ) -> "Pipeline":
        """The same pipeline with a sub-batch size and/or filter policy overridden."""
        return dataclasses.replace(self, sub_batch=self.sub_batch if sub_batch is None
                                   else sub_batch, filter=filter or self.filter)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "k_out": self.k_out, "sub_batch": self.sub_batch,
                "filter": self.filter, "skew": self.skew,
                "stage": [{"items": s.items, "subarrays": s.subarrays,
                           "model": s.name or s.model.to_dict()} for s in self.stages]}


#: The fidelity switches of the system-study platform (:mod:`rpaccel.sched.rpaccel`), in the
#: fidelity ladder's order: ``switch -> (the RecPipe artifact's setting, rpaccel's exact one)``.
FIDELITY_SWITCHES: dict[str, tuple[str, str]] = {
    "gemm": ("formula", "exact"),        # MLP layers: tiles x (min(out,A) + min(in,A) + B) vs gemm_cycles
    "weights": ("refetch", "resident"),  # weights re-fetched from DRAM per query vs preloaded
    "data": ("fp32", "int8"),            # bytes per embedding element (and re-fetched weight)
    "hits": ("fixed", "trace"),          # embedding miss rate: fixed_miss_rate vs the cache on the trace
    "embedding": ("formula", "exact"),   # gather time: DRAM + SRAM formula vs the non-blocking unit
    "topk": ("formula", "exact"),        # on-chip filter: B/128 vs the top-k unit's ceil(B/lanes) + k
    "host": ("formula", "exact"),        # host link: PCIe constants as kilo-cycles vs the link model
    "schedule": ("serial", "exact"),     # phases in series vs the executor on the compiled program
}


@dataclass(frozen=True, slots=True)
class Fidelity:
    """How the system studies time this accelerator (``[fidelity]`` in an accelerator file).

    Every switch of :data:`FIDELITY_SWITCHES` is the artifact's setting or rpaccel's exact one
    (default: all exact, i.e. the executor on the compiled program, proven against the RTL).
    ``schedule = "exact"`` needs every other switch exact; otherwise the phases are timed one by
    one and added in series, as the RecPipe artifact's ``RecPipeAccelModel.py`` does. The
    constants are the artifact's (``shared/reference/RECPIPE.md`` sections 3-4) and are read
    only by the switches set to the artifact's side: ``dram_gib_s`` (hardconf_1: 32 GiB/s),
    ``weight_sram_bytes`` (1,000,000 B), ``fixed_miss_rate`` (0.5), ``sram_bytes_per_cycle``
    (64)."""

    gemm: str = "exact"
    weights: str = "resident"
    data: str = "int8"
    hits: str = "trace"
    embedding: str = "exact"
    topk: str = "exact"
    host: str = "exact"
    schedule: str = "exact"
    dram_gib_s: float = 32.0
    weight_sram_bytes: int = 1_000_000
    fixed_miss_rate: float = 0.5
    sram_bytes_per_cycle: int = 64

    def __post_init__(self) -> None:
        for sw, allowed in FIDELITY_SWITCHES.items():
            v = getattr(self, sw)
            if v not in allowed:
                raise ValueError(f"fidelity.{sw} must be {allowed[0]!r} or {allowed[1]!r}, "
                                 f"got {v!r}")
        if self.schedule == "exact" and not self.exact:
            bad = [sw for sw, (_, ex) in FIDELITY_SWITCHES.items() if getattr(self, sw) != ex]
            raise ValueError(f"fidelity.schedule = 'exact' (the executor) needs every switch "
                             f"exact; fidelity.{bad[0]} is {getattr(self, bad[0])!r}")
        if isinstance(self.dram_gib_s, bool) or not isinstance(self.dram_gib_s, (int, float)) \
                or not 0.001 <= self.dram_gib_s <= 1e5:
            raise ValueError(f"fidelity.dram_gib_s must be a number in [0.001, 1e5], got "
                             f"{self.dram_gib_s!r}")
        check_int("fidelity.weight_sram_bytes", self.weight_sram_bytes, 1, 1 << 40)
        if isinstance(self.fixed_miss_rate, bool) or \
                not isinstance(self.fixed_miss_rate, (int, float)) or \
                not 0.0 <= self.fixed_miss_rate <= 1.0:
            raise ValueError(f"fidelity.fixed_miss_rate must be a number in [0, 1], got "
                             f"{self.fixed_miss_rate!r}")
        check_int("fidelity.sram_bytes_per_cycle", self.sram_bytes_per_cycle, 1, 1 << 20)

    @property
    def exact(self) -> bool:
        """Every switch but ``schedule`` on rpaccel's side."""
        return all(getattr(self, sw) == ex for sw, (_, ex) in FIDELITY_SWITCHES.items()
                   if sw != "schedule")

    @property
    def executor(self) -> bool:
        return self.schedule == "exact"

    @classmethod
    def artifact(cls) -> "Fidelity":
        return cls(**{sw: art for sw, (art, _) in FIDELITY_SWITCHES.items()})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True, slots=True)
class Serve:
    """How a system study serves a one-stage query of n items on this accelerator (``[serve]``):
    ``sub_batch`` items per sub-batch (0: the whole query, no sub-batching), ``k_out`` results
    returned (at most n), ``subarrays``: sub-arrays of the split array the stage runs on (0: the
    whole array in monolithic mode), ``skew``: the Zipf skew of the workload's sparse ids (the
    embedding caches' hit rates follow from it)."""

    sub_batch: int = 256
    k_out: int = 64
    subarrays: int = 0
    skew: float = 1.0

    def __post_init__(self) -> None:
        check_int("serve.subarrays", self.subarrays, 0, 64)
        check_int("serve.sub_batch", self.sub_batch, 0, 1 << 16)
        check_int("serve.k_out", self.k_out, 1, 1 << 16)
        if isinstance(self.skew, bool) or not isinstance(self.skew, (int, float)) or \
                not 0.0 <= self.skew <= 4.0:
            raise ValueError(f"serve.skew must be a number in [0, 4], got {self.skew!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"sub_batch": self.sub_batch, "k_out": self.k_out, "subarrays": self.subarrays,
                "skew": self.skew}


@dataclass(frozen=True, slots=True)
class AccelConfig:
    """The integrated accelerator (see the module docstring and :mod:`rpaccel.isa`).

    ``on_chip_filter = false`` (the TPU-like baseline, model only: the RTL top always filters
    on chip): the last stage's scores all go to the host, which sorts them (one-stage pipelines).
    ``fidelity`` and ``serve``: how the system studies time it (:class:`Fidelity`,
    :class:`Serve`); the RTL and ``rpaccel model accel`` read neither.

    ``weight_bytes``: the weight memory of each sub-array (and of the monolithic array): every
    layer of the stage's model is stored there once, tiled for the array (``k_tiles * n_tiles *
    cols`` words of ``rows * in_width`` bits per layer); a model that does not fit is a compile
    error. ``max_items``: item memory capacity (candidates per query, per query slot).
    ``host_latency`` / ``host_bytes_per_cycle``: the host link, each direction (a beat sent on
    cycle c arrives on c + latency)."""

    array: GemmConfig
    embedding: EmbCacheConfig
    topk: TopkConfig
    clock_ns: float = 8.0
    host_latency: int = 125
    host_bytes_per_cycle: int = 128
    weight_bytes: int = 1 << 19
    max_items: int = 4096
    on_chip_filter: bool = True
    fidelity: Fidelity = Fidelity()
    serve: Serve = Serve()
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.on_chip_filter, bool):
            raise ValueError(f"on_chip_filter must be true or false, got {self.on_chip_filter!r}")
        if isinstance(self.clock_ns, bool) or not isinstance(self.clock_ns, (int, float)) or \
                not 0.01 <= self.clock_ns <= 1000:
            raise ValueError(f"clock_ns must be a number in [0.01, 1000], got {self.clock_ns!r}")
        check_int("host_latency", self.host_latency, 0, 1 << 20)
        check_int("host_bytes_per_cycle", self.host_bytes_per_cycle, 1, 1 << 16)
        check_int("weight_bytes", self.weight_bytes, 1, 1 << 32)
        check_int("max_items", self.max_items, 1, 1 << 16)
        a, e, t = self.array, self.embedding, self.topk
        if a.in_width != 8:
            raise ValueError(f"array.in_width must be 8 (int8 operands: the query contract), "
                             f"got {a.in_width}")
        if e.elem_width != a.in_width:
            raise ValueError(f"embedding.elem_width must equal array.in_width={a.in_width} "
                             f"(embeddings are activations), got {e.elem_width}")
        if e.blocking:
            raise ValueError("embedding: the accelerator uses the non-blocking unit: lanes >= 2 "
                             "or mshrs >= 2")
        if e.dram_interval > e.dram_latency:
            raise ValueError(f"embedding.dram_interval must be <= dram_latency={e.dram_latency} "
                             f"(gathers then start with an idle DRAM channel), got "
                             f"{e.dram_interval}")
        if not t.signed_scores or t.score_width != a.acc_width:
            raise ValueError(f"topk scores must be signed array.acc_width={a.acc_width}-bit "
                             f"accumulators")
        if (1 << t.id_width) < self.max_items:
            raise ValueError(f"topk.id_width={t.id_width} cannot name max_items={self.max_items} "
                             f"items")

    # -- derived --------------------------------------------------------------------------------
    def group_array(self, split: bool) -> GemmConfig:
        """The engine a stage's sub-array behaves as: a sub-array in split mode, the whole array
        in monolithic mode."""
        return self.array.subarray if split else dataclasses.replace(self.array, split=(1, 1))

    def weight_words(self, split: bool) -> int:
        g = self.group_array(split)
        return self.weight_bytes // (g.rows * g.in_width // 8)

    def result_bytes(self) -> int:
        """Bytes of one result on the host link: an int32 id and the score."""
        return ID_BYTES + ceil_div(self.array.acc_width, 8)

    def seconds(self, cycles: int) -> float:
        return cycles * self.clock_ns * 1e-9

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "clock_ns": self.clock_ns, "host_latency": self.host_latency,
                "host_bytes_per_cycle": self.host_bytes_per_cycle,
                "weight_bytes": self.weight_bytes, "max_items": self.max_items,
                "on_chip_filter": self.on_chip_filter,
                "array": self.array.to_dict(),
                "embedding": {k: v for k, v in self.embedding.to_dict().items()
                              if k != "elem_width"},
                "topk": {"k_max": self.topk.k_max, "lanes": self.topk.lanes},
                "fidelity": self.fidelity.to_dict(), "serve": self.serve.to_dict()}

    def hardware_key(self) -> str:
        """Key of the hardware alone (without the study settings ``fidelity`` and ``serve``)."""
        d = self.to_dict()
        for k in ("name", "fidelity", "serve"):
            d.pop(k)
        return _config_key("accel", d)

    def key(self) -> str:
        d = self.to_dict()
        d.pop("name")
        return _config_key("accel", d)


# -- dict / TOML loading (strict) ---------------------------------------------------------------
def _strict(data: Any, allowed: set[str], where: str) -> dict:
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a table, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (allowed: "
                         f"{', '.join(sorted(allowed))})")
    return data


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def accel_from_dict(data: dict, where: str = "accelerator config") -> AccelConfig:
    """Build an :class:`AccelConfig` from a mapping (TOML tables ``array``, ``embedding``,
    ``topk``); unknown keys are errors naming the key and ``where``."""
    top = {"name", "clock_ns", "host_latency", "host_bytes_per_cycle", "weight_bytes",
           "max_items", "on_chip_filter", "array", "embedding", "topk", "fidelity", "serve"}
    data = _strict(data, top, where)
    for need in ("array", "embedding", "topk"):
        if need not in data:
            raise ValueError(f"{where}: missing table [{need}]")
    try:
        arr = dict(_strict(data["array"], _fields(GemmConfig), f"{where} [array]"))
        if "split" in arr:
            arr["split"] = tuple(arr["split"])
        array = GemmConfig(**arr)
        emb = dict(_strict(data["embedding"], _fields(EmbCacheConfig) - {"elem_width"},
                           f"{where} [embedding]"))
        if "stage_ways" in emb:
            emb["stage_ways"] = tuple(emb["stage_ways"])
        emb["elem_width"] = array.in_width
        embedding = EmbCacheConfig(**emb)
        tk = _strict(data["topk"], {"k_max", "lanes"}, f"{where} [topk]")
        topk = TopkConfig(k_max=tk.get("k_max", 64), lanes=tk.get("lanes", 1),
                          score_width=array.acc_width, id_width=16, signed_scores=True)
        fid = Fidelity(**_strict(data.get("fidelity", {}), _fields(Fidelity),
                                 f"{where} [fidelity]"))
        serve = Serve(**_strict(data.get("serve", {}), _fields(Serve), f"{where} [serve]"))
        rest = {k: v for k, v in data.items()
                if k not in ("array", "embedding", "topk", "fidelity", "serve")}
        return AccelConfig(array=array, embedding=embedding, topk=topk, fidelity=fid,
                           serve=serve, **rest)
    except (TypeError, ValueError) as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from None


def pipeline_from_dict(data: dict, where: str = "pipeline") -> Pipeline:
    """Build a :class:`Pipeline` from a mapping (``[[stage]]`` tables, each with ``items``,
    ``subarrays`` and ``model``: a name of :data:`RECPIPE_RM` or a table of :class:`ModelSpec`
    fields)."""
    data = _strict(data, {"name", "k_out", "sub_batch", "filter", "skew", "stage"}, where)
    stages_in = data.get("stage")
    if not isinstance(stages_in, list) or not stages_in:
        raise ValueError(f"{where}: needs at least one [[stage]] table")
    try:
        stages = []
        for s, st in enumerate(stages_in):
            w = f"{where} stage[{s}]"
            st = _strict(st, {"items", "subarrays", "model"}, w)
            for need in ("items", "model"):
                if need not in st:
                    raise ValueError(f"{w}: missing key {need!r}")
            m = st["model"]
            if isinstance(m, str):
                if m not in RECPIPE_RM:
                    raise ValueError(f"{w}: unknown model {m!r} (known: "
                                     f"{', '.join(RECPIPE_RM)}, or a [stage.model] table)")
                model, name = RECPIPE_RM[m], m
            else:
                m = _strict(m, _fields(ModelSpec), f"{w} model")
                model, name = ModelSpec(**m), ""
            sub = st.get("subarrays", 0 if len(stages_in) == 1 else None)
            if sub is None:
                raise ValueError(f"{w}: missing key 'subarrays' (sub-arrays of the split array "
                                 f"for this stage; needed with more than one stage)")
            stages.append(StageSpec(model=model, items=check_int(f"stage[{s}].items",
                                                                 st["items"], 1, 1 << 16),
                                    subarrays=check_int(f"stage[{s}].subarrays", sub, 0, 64),
                                    name=name))
        if "k_out" not in data:
            raise ValueError("missing key 'k_out'")
        return Pipeline(stages=tuple(stages), k_out=data["k_out"], sub_batch=data.get("sub_batch"),
                        filter=data.get("filter", "global"), skew=data.get("skew", 1.0),
                        name=data.get("name", ""))
    except (TypeError, ValueError) as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from None


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, (int, float)):
        return repr(v)
    raise TypeError(f"cannot write {v!r} as TOML")


def accel_toml(accel: AccelConfig) -> str:
    """The config as a TOML file :func:`load_accel` reads back to an equal config."""
    d = accel.to_dict()
    lines = [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
    for k, v in d.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]", *(f"{kk} = {_toml_value(vv)}" for kk, vv in v.items())]
    return "\n".join(lines) + "\n"


def _read_toml(path: str | Path, what: str) -> dict:
    p = Path(path)
    try:
        return tomllib.loads(p.read_text())
    except OSError as e:
        raise ValueError(f"{what} file {p}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{what} file {p}: {e}") from None


def load_accel(spec: str | Path) -> AccelConfig:
    """An accelerator config from a preset name (:data:`PRESETS`) or a TOML file."""
    if isinstance(spec, str) and spec in PRESETS:
        return accel_from_dict(_read_toml(PRESETS[spec], "preset"), f"preset {spec}")
    if isinstance(spec, str) and not spec.endswith(".toml") and not Path(spec).exists():
        raise ValueError(f"--config: {spec!r} is neither a preset ({', '.join(PRESETS)}) nor a "
                         f"TOML file")
    return accel_from_dict(_read_toml(spec, "accelerator config"),
                           f"accelerator config file {spec}")


def load_pipeline(spec: str | Path) -> Pipeline:
    """A pipeline from a preset name (:data:`PIPELINE_PRESETS`) or a TOML file."""
    if isinstance(spec, str) and spec in PIPELINE_PRESETS:
        return pipeline_from_dict(_read_toml(PIPELINE_PRESETS[spec], "pipeline preset"),
                                  f"pipeline preset {spec}")
    if isinstance(spec, str) and not spec.endswith(".toml") and not Path(spec).exists():
        raise ValueError(f"--pipeline: {spec!r} is neither a preset "
                         f"({', '.join(PIPELINE_PRESETS)}) nor a TOML file")
    return pipeline_from_dict(_read_toml(spec, "pipeline"), f"pipeline file {spec}")


# -- presets ------------------------------------------------------------------------------------
_PRESET_DIR = Path(__file__).with_name("presets")
#: Built-in accelerator configs, TOML files in ``rpaccel/presets`` (``accel-NAME.toml``; the
#: sources of every figure are in the files): ``rpaccel`` (RPAccel at full size) and ``tiny``
#: (the 2-stage configuration the RTL runs in seconds).
PRESETS: dict[str, Path] = {p.stem[len("accel-"):]: p
                            for p in sorted(_PRESET_DIR.glob("accel-*.toml"))}
#: Built-in pipelines (``pipeline-NAME.toml``): ``rm-large`` (RecPipe's RM-large on 4,096
#: items), ``s-l`` (S->L [4096, 512]) and ``tiny``.
PIPELINE_PRESETS: dict[str, Path] = {p.stem[len("pipeline-"):]: p
                                     for p in sorted(_PRESET_DIR.glob("pipeline-*.toml"))}
