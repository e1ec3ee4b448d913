"""A query's contract: the one pipeline, its stages and models, the funnel, the candidate record,
and where the stages sit on an accelerator.

Pure Python (no numpy, Amaranth, cocotb or numba): every layer reads these objects. The
compiler and executor (:mod:`rpaccel.perfmodel`), the RTL top (:mod:`rpaccel.rtl.accel`, which
takes a typed :class:`Placement`), the testbenches, the system studies (:mod:`rpaccel.sched`)
and the CLI.

A **pipeline** (:class:`Pipeline`) is S ranking stages. Stage s runs a model on ``items[s]``
candidates and keeps the best ``items[s + 1]`` (the last stage: ``k_out``). Each stage names
where it runs:

* ``platform`` unset: the accelerator the command is given (``rpaccel model accel --config``);
  with more than one stage each stage needs ``subarrays``;
* ``platform = "rpaccel:PRESET"`` (or an :class:`~rpaccel.accel.AccelConfig` object) with
  ``subarrays``: consecutive such stages on the same platform form an **accelerator group**, one
  multi-stage program on one accelerator (``engines`` accelerators serve the queries). A
  pipeline whose stages all sit on one accelerator *is* the accelerator pipeline that
  ``rpaccel model accel``, ``sim accel`` and ``compile`` run;
* any other platform (``cpu``, ``gpu``, ``recpipe-artifact:hcN``, ``rpaccel:X`` without
  ``subarrays``): a pool of ``engines`` engines of the system studies.

``sub_batch``, ``filter``, ``k_out`` and ``skew`` are the pipeline's: they apply to every
accelerator group. The file format (strict TOML or JSON: an unknown key is an error naming the
key and the file)::

    name = "tiny S->L [128, 32]"
    k_out = 8                    # results returned (default: min(64, the last stage's items))
    sub_batch = 32               # default: the first stage's items (no sub-batching)
    filter = "global"            # or "per-sub-batch" (default "global")
    skew = 1.0                   # Zipf skew of the sparse ids (default: 1.0, on a platform the
                                 # accelerator's serve.skew)
    [[stage]]
    items = 128                  # optional on the first stage of a system pipeline
    subarrays = 1                # sub-arrays of the split array (0: the whole array)
    model = "rm-small"           # a catalog name, a model file, or an inline table:
                                 # { dense, bottom, tables, top } (ModelSpec) or a catalog model
    platform = "rpaccel:tiny"    # optional (see above); engines = 1 by default
    engines = 1

System-only keys of a stage: ``batch``, ``gpu_threshold``, ``gpu_engines``, ``gpu_platform``
(:mod:`rpaccel.sched.serving.sim`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .config import ceil_div, check_int

if TYPE_CHECKING:
    from .accel import AccelConfig
    from .models import Model

__all__ = ["FILTERS", "DEFAULT_FILTER", "ID_BYTES", "DEFAULT_K_OUT", "DEFAULT_SKEW",
           "MAX_CANDIDATES", "STAGE_LIMITS", "MAX_POOLING", "POOL_MIN", "POOL_MAX",
           "pool_acc_bits", "record_bytes", "check_filter", "check_skew",
           "ModelSpec", "RECPIPE_RM", "StageSpec", "Pipeline", "model_spec", "as_spec",
           "as_model", "StagePlan", "stage_plan", "stage_sub_batch", "check_funnel",
           "host_beats", "gather_beats", "pad_to_sub_batch", "Placement", "place", "split_mode",
           "pipeline_from_dict", "load_pipeline", "PIPELINE_PRESETS"]

#: Filter policies between stages (see :mod:`rpaccel.perfmodel.funnel`), and the default.
FILTERS = ("global", "per-sub-batch")
DEFAULT_FILTER = "global"
#: How an accelerator group is timed in a serving simulation: ``profile`` (one no-contention
#: executor run per query size, replayed) or ``exact`` (every query on its accelerator's
#: stateful executor at its arrival cycle, :mod:`rpaccel.perfmodel.stateful`).
ACCEL_MODES = ("profile", "exact")
#: How an exact-mode group with several accelerators picks one for a query.
DISPATCH = ("round-robin", "join-shortest-queue", "least-work-left")
#: Bytes of one sparse id on the host link and in the item memory (int32).
ID_BYTES = 4
#: Results a query returns when the pipeline does not say (at most the last stage's items).
DEFAULT_K_OUT = 64
#: Zipf skew of the sparse ids when the pipeline does not say.
DEFAULT_SKEW = 1.0
#: Candidates per query: at most 2**16 (the funnel's tie-break field, the item memory's ids).
MAX_CANDIDATES = 1 << 16
#: Upper bounds of a stage's integer fields (lower bound 1 for all).
STAGE_LIMITS = {"engines": 4096, "items": 1 << 24, "batch": 1 << 24, "gpu_threshold": 1 << 24,
                "gpu_engines": 4096}


def record_bytes(dense: int, sparse: int) -> int:
    """Bytes of one candidate record on the host link and in the item memory: ``dense`` int8
    features, then ``sparse`` int32 ids (:data:`ID_BYTES` each). Read by the compiler, the RTL
    top, the testbench, the platform, the energy model and the area roll-up."""
    return dense + ID_BYTES * sparse


#: Lookups pooled per (item, table) at most (a model's ``pooling`` entries).
MAX_POOLING = 256
#: Range of a pooled embedding element: the MLP's int8 operand.
POOL_MIN, POOL_MAX = -128, 127


def pool_acc_bits(lookups: int) -> int:
    """**The pooling rule** (SparseLengthsSum on int8 rows), read by the RTL gather engine, the
    golden model and the docs: a table's ``L`` rows are summed element by element, exactly, in
    a signed accumulator of ``8 + ceil(log2 L)`` bits (no sum of ``L`` int8 values overflows
    it), and the sum saturates to the int8 operand range ``[POOL_MIN, POOL_MAX]`` (no rounding:
    a sum is an integer). ``L = 1`` is the plain lookup (the row's element itself)."""
    return 8 + (lookups - 1).bit_length()


def check_filter(name: str, value: Any) -> str:
    if value not in FILTERS:
        raise ValueError(f"{name} must be one of {', '.join(FILTERS)}, got {value!r}")
    return value


def check_skew(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not 0.0 <= value <= 4.0:
        raise ValueError(f"{name} must be a number in [0, 4], got {value!r}")
    return value


# -- models ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A DLRM-style integer model: dense input width ``dense``; bottom MLP ``bottom =
    [dense, b1, ..., d]``; ``tables`` embedding tables of dim ``d = bottom[-1]``; ``pooling``:
    the lookups pooled per (item, table), one entry per table (empty: 1 each, one-hot), summed
    by :func:`pool_acc_bits`'s rule; interaction = the concatenation ``[bottom_out, e_1, ...,
    e_T]`` of width ``(T + 1) * d`` (the RecPipe artifact's choice); top MLP ``top = [(T + 1) *
    d, t1, ..., 1]``. An item carries ``lookups = sum(pooling)`` sparse ids: table 0's first,
    then table 1's, and so on."""

    dense: int
    bottom: tuple[int, ...]
    tables: int
    top: tuple[int, ...]
    pooling: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check_int("model.dense", self.dense, 1, 4096)
        check_int("model.tables", self.tables, 1, 64)
        pool = self.pooling
        if isinstance(pool, int) and not isinstance(pool, bool):
            pool = (pool,) * self.tables
        if not isinstance(pool, (list, tuple)):
            raise ValueError(f"model.pooling must be a list of lookups per table, got {pool!r}")
        pool = tuple(pool) or (1,) * self.tables
        if len(pool) != self.tables:
            raise ValueError(f"model.pooling must have one entry per table ({self.tables}), got "
                             f"{len(pool)}")
        for p in pool:
            check_int("model.pooling entries (lookups per table)", p, 1, MAX_POOLING)
        object.__setattr__(self, "pooling", pool)
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

    @property
    def lookups(self) -> int:
        """Sparse ids per item: ``sum(pooling)``."""
        return sum(self.pooling)

    @property
    def pooled(self) -> bool:
        return any(p != 1 for p in self.pooling)

    def lookup_tables(self) -> list[int]:
        """The table of each of an item's lookups, in id order."""
        return [t for t, p in enumerate(self.pooling) for _ in range(p)]

    def layers(self) -> list[tuple[str, int, int, int]]:
        """``(mlp, index, K, N)`` of every GEMM layer: the bottom MLP's, then the top MLP's."""
        out = [("bottom", i, k, n) for i, (k, n) in enumerate(zip(self.bottom, self.bottom[1:]))]
        out += [("top", i, k, n) for i, (k, n) in enumerate(zip(self.top, self.top[1:]))]
        return out

    def macs_per_item(self) -> int:
        return sum(k * n for _, _, k, n in self.layers())

    def to_dict(self) -> dict[str, Any]:
        d = {"dense": self.dense, "bottom": list(self.bottom), "tables": self.tables,
             "top": list(self.top)}
        if self.pooled:
            d["pooling"] = list(self.pooling)
        return d


def _rm(dim: int, bottom: tuple[int, ...], top_hidden: int) -> ModelSpec:
    return ModelSpec(dense=13, bottom=bottom, tables=26, top=(27 * dim, top_hidden, 1))


#: RecPipe's RM-small / RM-med / RM-large (Criteo Kaggle DLRMs: 13 dense features, 26 tables,
#: dims 4 / 16 / 32; see shared/reference/RECPIPE.md). The model catalog
#: (:mod:`rpaccel.models`) builds its RecPipe entries from these.
RECPIPE_RM: dict[str, ModelSpec] = {
    "rm-small": _rm(4, (13, 64, 4), 64),
    "rm-med": _rm(16, (13, 64, 16), 64),
    "rm-large": _rm(32, (13, 512, 256, 128, 64, 32), 96),
}


@lru_cache(maxsize=1024)
def model_spec(model: "Model") -> ModelSpec:
    """The integer DLRM form of a catalog model: RecPipe's RM-small/med/large as
    :data:`RECPIPE_RM`; any other model that is a concatenation DLRM (one lookup per table,
    equal dims, bottom MLP ending at the dim, top MLP from (T+1)*d to 1, no attention or RNN
    GEMMs) by its fields; pooled tables (DeepRecInfra's DLRM-RMC1/2/3) keep their lookups per
    table as ``pooling``. Table rows are the accelerator's (``embedding.table_rows``)."""
    if model.name in RECPIPE_RM:
        return RECPIPE_RM[model.name]
    why = None
    dims = {t.dim for t in model.tables}
    if model.extra:
        what = ", ".join(f"{g.m}x{g.k}x{g.n}" for g in model.extra)
        why = f"it has GEMM layers outside its MLPs ({what} per item)"
    elif model.interaction != "cat":
        why = "its interaction is not a concatenation"
    elif len(dims) != 1:
        why = "its tables have different dims"
    elif not model.bottom_mlp or not model.top_mlp:
        why = "it needs a bottom and a top MLP"
    if why is None:
        try:
            return ModelSpec(dense=model.dense_in or model.bottom_mlp[0],
                             bottom=model.bottom_mlp, tables=sum(t.count for t in model.tables),
                             top=model.top_mlp,
                             pooling=tuple(t.lookups for t in model.tables
                                           for _ in range(t.count)))
        except ValueError as e:
            why = str(e)
    raise ValueError(f"model {model.name!r} cannot run on an rpaccel platform: {why}")


def as_spec(model: "ModelSpec | Model") -> ModelSpec:
    """A stage model's integer form (:class:`ModelSpec` as it is; a catalog model by
    :func:`model_spec`)."""
    return model if isinstance(model, ModelSpec) else model_spec(model)


def as_model(model: "ModelSpec | Model", name: str = "") -> "Model":
    """A stage model as a catalog :class:`~rpaccel.models.Model` (what the system platforms
    time): a :class:`ModelSpec` becomes a concatenation DLRM of ``tables`` tables of its dim."""
    from .models import CATALOG, Model, Tables

    if not isinstance(model, ModelSpec):
        return model
    if name in CATALOG and model_spec(CATALOG[name]) == model:
        return CATALOG[name]
    return Model(name=name or "inline", tables=(Tables(count=model.tables, rows=1,
                                                       dim=model.dim),),
                 bottom_mlp=model.bottom, top_mlp=model.top, dense_in=model.dense)


# -- stages and the pipeline ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StageSpec:
    """One pipeline stage (see the module docstring): its ``model`` (a :class:`ModelSpec` or a
    catalog model), ``items`` candidates (None: the query's size, first stage of a system
    pipeline only), where it runs (``platform``, ``engines``, ``subarrays``; 0 sub-arrays: the
    whole array in monolithic mode, one-stage pipelines only), DeepRecSys's data-parallel
    ``batch`` and GPU offload (``gpu_threshold``, ``gpu_engines``, ``gpu_platform``), and
    ``name``, the model's name in reports."""

    model: Any
    platform: Any = None
    engines: int = 1
    items: int | None = None
    batch: int | None = None
    gpu_threshold: int | None = None
    gpu_engines: int = 1
    gpu_platform: str = "gpu"
    subarrays: int | None = None
    name: str = ""
    #: an accelerator group's timing in serving simulations (:data:`ACCEL_MODES`; None:
    #: profile), set on the group's first stage
    accel_mode: str | None = None
    #: exact mode, several accelerators: which one takes a query (:data:`DISPATCH`; None:
    #: round-robin)
    dispatch: str | None = None

    def __post_init__(self) -> None:
        m = self.model
        if isinstance(m, str):
            from .models import get_model

            m = get_model(m)
            object.__setattr__(self, "model", m)
        if not isinstance(m, ModelSpec) and not hasattr(m, "mlp_layers"):
            raise ValueError(f"stage model must be a ModelSpec or a catalog model, got {m!r}")
        if not self.name and not isinstance(m, ModelSpec):
            object.__setattr__(self, "name", m.name)
        for name, hi in STAGE_LIMITS.items():
            v = getattr(self, name)
            if v is not None:
                check_int(f"stage {name}", v, 1, hi)
        if self.subarrays is not None:
            check_int("stage subarrays", self.subarrays, 0, 64)
        if self.accel_mode is not None and self.accel_mode not in ACCEL_MODES:
            raise ValueError(f"stage accel_mode must be one of {list(ACCEL_MODES)}, got "
                             f"{self.accel_mode!r}")
        if self.dispatch is not None and self.dispatch not in DISPATCH:
            raise ValueError(f"stage dispatch must be one of {list(DISPATCH)}, got "
                             f"{self.dispatch!r}")
        if (self.accel_mode is not None or self.dispatch is not None) and \
                not self.accel_platform:
            raise ValueError(f"stage accel_mode / dispatch are for stages on an rpaccel: "
                             f"platform, not {self.platform_name}")
        p = self.platform
        if p is not None and not isinstance(p, str) and not hasattr(p, "hardware_key"):
            raise ValueError(f"stage platform must be a name or an AccelConfig, got {p!r}")
        if self.on_accel:
            if self.batch is not None or self.gpu_threshold is not None:
                raise ValueError("stage batch / gpu_threshold do not apply to a stage placed on "
                                 "an accelerator's sub-arrays")
        elif self.subarrays is not None:
            raise ValueError(f"stage subarrays is for stages on an rpaccel: platform (or on the "
                             f"accelerator a command is given), not {self.platform_name}")

    @property
    def accel_platform(self) -> bool:
        """On an accelerator: no platform (the command's), an ``rpaccel:`` name or a config."""
        p = self.platform
        return p is None or not isinstance(p, str) or p.startswith("rpaccel:")

    @property
    def on_accel(self) -> bool:
        """Placed on sub-arrays of an accelerator (part of an accelerator group)."""
        return self.accel_platform and (self.subarrays is not None or self.platform is None)

    @property
    def platform_name(self) -> str:
        p = self.platform
        if p is None:
            return "accelerator"
        return p if isinstance(p, str) else f"rpaccel:{p.name or p.key()}"

    @property
    def spec(self) -> ModelSpec:
        """The model's integer form (raises for models an accelerator cannot run)."""
        return as_spec(self.model)

    @property
    def catalog(self) -> "Model":
        """The model as a catalog model (what a system platform times)."""
        return as_model(self.model, self.name)

    def to_dict(self) -> dict[str, Any]:
        m = self.model
        if isinstance(m, ModelSpec):
            model: Any = self.name if self.name in RECPIPE_RM else m.to_dict()
        else:
            model = m.name
        d: dict[str, Any] = {"model": model}
        if self.platform is not None:
            d["platform"] = self.platform_name
            d["engines"] = self.engines
        for k in ("items", "batch", "gpu_threshold", "subarrays", "accel_mode", "dispatch"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.gpu_threshold is not None:
            d["gpu_engines"], d["gpu_platform"] = self.gpu_engines, self.gpu_platform
        return d


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A multi-stage ranking query's shape and where its stages run (module docstring; what a
    query computes: :mod:`rpaccel.perfmodel.query`)."""

    stages: tuple[StageSpec, ...]
    k_out: int | None = None
    sub_batch: int | None = None     # default: the first stage's items (no sub-batching)
    filter: str = DEFAULT_FILTER
    skew: float | None = None        # Zipf skew of the sparse ids (default DEFAULT_SKEW)
    name: str = ""
    #: where the sparse ids come from (:class:`rpaccel.workload.Workload`); ``None``: Zipf
    #: ranks (``skew``) over the accelerator's rows
    workload: Any = None

    def __post_init__(self) -> None:
        stages = tuple(self.stages)
        object.__setattr__(self, "stages", stages)
        if not stages:
            raise ValueError("stage: a pipeline needs at least one stage")
        for s, st in enumerate(stages):
            if not isinstance(st, StageSpec):
                raise ValueError(f"stage[{s}] must be a StageSpec, got {type(st).__name__}")
        check_shrinks([st.items for st in stages])
        accel_only = all(st.platform is None for st in stages)
        if accel_only and not 1 <= len(stages) <= 4:
            raise ValueError(f"stage: a pipeline has 1..4 stages, got {len(stages)}")
        prev = None
        for s, st in enumerate(stages):
            if st.items is None:
                if s and st.on_accel:
                    raise ValueError(f"stage[{s}].items is needed (a later stage on an "
                                     f"accelerator)")
                if accel_only:
                    raise ValueError(f"stage[{s}]: missing key 'items'")
            elif prev is not None and st.on_accel:
                check_int(f"stage[{s}].items", st.items, 1, prev)
            elif s == 0 and st.on_accel:
                check_int(f"stage[{s}].items", st.items, 1, MAX_CANDIDATES)
            if st.items is not None:
                prev = st.items if prev is None else min(prev, st.items)
            if st.platform is None and len(stages) > 1 and st.subarrays is None:
                raise ValueError(f"stage[{s}]: missing key 'subarrays' (sub-arrays of the split "
                                 f"array for this stage; needed with more than one stage)")
        check_filter("filter", self.filter)
        if self.skew is not None:
            check_skew("skew", self.skew)
        groups = self.groups()
        if not groups:
            for name in ("sub_batch", "k_out"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is for pipelines with stages on an accelerator's "
                                     f"sub-arrays (an rpaccel: platform with subarrays)")
        for g in groups:
            first, last = stages[g[0]], stages[g[-1]]
            for i in g[1:]:
                if stages[i].engines != first.engines:
                    raise ValueError(f"stage[{i}].engines must equal stage[{g[0]}]'s "
                                     f"({first.engines}): the stages share one accelerator per "
                                     f"engine")
                if stages[i].spec.dense != first.spec.dense:
                    raise ValueError(f"stage[{i}].model.dense must equal stage[{g[0]}]'s "
                                     f"({first.spec.dense}): all stages see the same item's "
                                     f"dense features, got {stages[i].spec.dense}")
            if last.items is not None:
                if self.k_out is None:
                    object.__setattr__(self, "k_out", min(DEFAULT_K_OUT, last.items))
                check_int("k_out", self.k_out, 1, last.items)
            elif self.k_out is not None:
                check_int("k_out", self.k_out, 1, MAX_CANDIDATES)
            if self.sub_batch is not None:
                # an accelerator pipeline's sub-batch fits its first stage; a system pipeline's
                # is cut to each query's size (Pipeline.program)
                hi = first.items if first.items is not None and first.platform is None \
                    else MAX_CANDIDATES
                check_int("sub_batch", self.sub_batch, 1, hi)

    # -- accelerator groups ---------------------------------------------------------------------
    def groups(self) -> list[list[int]]:
        """Stage indices of every accelerator group: a maximal run of consecutive stages placed
        on sub-arrays of the same accelerator. Each group is one accelerator running a
        multi-stage program: the stages' survivors stay on chip, and with sub-batch pipelining
        the stages overlap on their own sub-arrays."""
        out: list[list[int]] = []
        for i, st in enumerate(self.stages):
            if not st.on_accel:
                continue
            if out and out[-1][-1] == i - 1 and self.stages[i - 1].platform == st.platform:
                out[-1].append(i)
            else:
                out.append([i])
        return out

    def program(self, n0: int | None = None, *, pad: bool = False, skew: float | None = None,
                sub_batch: int | None = None) -> "Pipeline":
        """The accelerator pipeline of the whole pipeline (every stage in one accelerator group)
        for a query of ``n0`` first-stage items (default: the first stage's ``items``): stage s
        ranks ``min(n0, items[s])``, padded up to a multiple of its sub-batch with ``pad`` (the
        host pads the last sub-batch, the hardware computes it whole); ``k_out`` at most the
        last stage's items; ``skew`` and ``sub_batch``: the defaults where the pipeline has none.
        Platform fields dropped: what :func:`place` and the compiler run."""
        g = self.groups()
        if len(g) != 1 or len(g[0]) != len(self.stages):
            raise ValueError(f"pipeline {self.name or ''!s}: every stage must sit on one "
                             f"accelerator's sub-arrays (an accelerator pipeline); its "
                             f"accelerator groups are {g}")
        if not 1 <= len(self.stages) <= 4:
            raise ValueError(f"stage: a pipeline has 1..4 stages, got {len(self.stages)}")
        items = [st.items for st in self.stages]
        if n0 is None:
            if items[0] is None:
                raise ValueError("stage[0]: missing key 'items' (the query size)")
            n0 = items[0]
        its, prev = [], None
        b = self.sub_batch or sub_batch or n0
        b0 = min(b, n0)
        for s, it in enumerate(items):
            n = n0 if s == 0 else min(prev, it)
            if pad:
                n = pad_to_sub_batch(n, min(b0, n))
            its.append(n)
            prev = n
        subs = [0 if st.subarrays is None else st.subarrays for st in self.stages]
        stages = tuple(StageSpec(model=st.spec, items=n, subarrays=g_, name=st.name)
                       for st, n, g_ in zip(self.stages, its, subs))
        k = self.k_out if self.k_out is not None else DEFAULT_K_OUT
        sk = self.skew if self.skew is not None else skew
        return Pipeline(stages=stages, k_out=min(k, its[-1]),
                        sub_batch=b0 if (pad or self.sub_batch or sub_batch) else None,
                        filter=self.filter, skew=sk, name=self.name, workload=self.workload)

    @property
    def is_program(self) -> bool:
        """An accelerator pipeline as the compiler takes it: no platform named, every stage's
        items and sub-arrays given."""
        return all(st.platform is None and st.items is not None and st.subarrays is not None
                   for st in self.stages)

    def accel_program(self) -> "Pipeline":
        """This pipeline as the compiler takes it (itself, or :meth:`program`)."""
        return self if self.is_program else self.program()

    # -- derived --------------------------------------------------------------------------------
    @property
    def items(self) -> list[int]:
        return [s.items for s in self.stages]

    @property
    def dense(self) -> int:
        return self.stages[0].spec.dense

    @property
    def sparse(self) -> int:
        """Sparse ids per item: the most lookups any stage has (stage s uses the first
        ``lookups_s``; one per table unless its model pools)."""
        return max(s.spec.lookups for s in self.stages)

    @property
    def widest_stage(self) -> StageSpec:
        """The (first) stage with the most lookups per item: its tables name the sparse-id
        columns (column c is lookup c of its model, ``lookup_tables()[c]``) when a workload
        supplies them."""
        return max(self.stages, key=lambda s: s.spec.lookups)

    @property
    def record_bytes(self) -> int:
        """Bytes of one candidate record (:func:`record_bytes`)."""
        return record_bytes(self.dense, self.sparse)

    @property
    def ids_skew(self) -> float:
        """Zipf skew of the sparse ids (:data:`DEFAULT_SKEW` unless the pipeline says)."""
        return DEFAULT_SKEW if self.skew is None else self.skew

    def with_options(self, sub_batch: int | None = None, filter: str | None = None
                     ) -> "Pipeline":
        """The same pipeline with a sub-batch size and/or filter policy overridden."""
        return dataclasses.replace(self, sub_batch=self.sub_batch if sub_batch is None
                                   else sub_batch, filter=filter or self.filter)

    def with_workload(self, workload: Any) -> "Pipeline":
        """The same pipeline with its sparse ids from ``workload`` (a
        :class:`rpaccel.workload.Workload`, or ``None``)."""
        if workload is not None and self.skew is not None:
            raise ValueError(f"pipeline {self.name}: skew and a workload both describe the "
                             "sparse ids; drop skew (the workload states popularity)")
        return dataclasses.replace(self, workload=workload)

    def with_platform(self, platform: Any) -> "Pipeline":
        """The same pipeline with every accelerator stage's platform replaced (an
        :class:`~rpaccel.accel.AccelConfig` or an ``rpaccel:`` name)."""
        return dataclasses.replace(self, stages=tuple(
            dataclasses.replace(st, platform=platform) if st.accel_platform else st
            for st in self.stages))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name}
        for k in ("k_out", "sub_batch", "skew"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        d["filter"] = self.filter
        if self.workload is not None and self.workload.origin:
            d["workload"] = self.workload.origin
        d["stage"] = [s.to_dict() for s in self.stages]
        return d


# -- the funnel and its sub-batches ----------------------------------------------------------------
def stage_sub_batch(sub_batch: int, items_s: int) -> int:
    """Sub-batch size of a stage with ``items_s`` candidates: ``min(B, items_s)``."""
    return min(sub_batch, items_s)


def pad_to_sub_batch(n: int, sub_batch: int) -> int:
    """Items of a query of ``n`` padded up to whole sub-batches (the host pads the last one)."""
    return ceil_div(n, sub_batch) * sub_batch


def check_shrinks(items: Sequence[int | None]) -> None:
    """The funnel rule every command applies (one-line ``ValueError``): a stage keeps at most
    what it receives, ``1 <= items[s] <= items[s-1]`` (stages without items are skipped: the
    query's size)."""
    prev = None
    for s, n in enumerate(items):
        if n is None:
            continue
        if prev is not None and not 1 <= n <= prev[1]:
            raise ValueError(f"items[{s}] must be in [1, {prev[1]}] (a stage keeps at most "
                             f"what it receives: items[{prev[0]}] = {prev[1]}), got {n}")
        prev = (s, n)


def check_funnel(n: int, items: Sequence[int], policy: str, sub_batch: int | None,
                 k_out: int) -> list[int]:
    """The funnel's rules (one-line ``ValueError``): ``items[0] = n`` candidates, each stage
    keeps at most what it receives, an integral per-sub-batch quota, ``1 <= k_out <=
    items[-1]``."""
    items = [int(x) for x in items]
    if not items or items[0] != n:
        raise ValueError(f"items[0] must be the candidate count {n}, got {items[:1]}")
    if n > MAX_CANDIDATES:
        raise ValueError(f"candidates per query must be <= {MAX_CANDIDATES}, got {n}")
    check_shrinks(items)
    if policy not in FILTERS:
        raise ValueError(f"policy must be {' or '.join(map(repr, FILTERS))}, got {policy!r}")
    if policy == "per-sub-batch":
        if sub_batch is None or sub_batch < 1:
            raise ValueError(f"sub_batch must be an integer >= 1 for per-sub-batch filtering, "
                             f"got {sub_batch}")
        for s in range(len(items) - 1):
            b = stage_sub_batch(sub_batch, items[s])
            if items[s] % b or (items[s + 1] * b) % items[s]:
                raise ValueError(f"stage {s}: sub-batch {b} must divide items[{s}]={items[s]} "
                                 f"and keep an integral quota items[{s + 1}]*{b}/{items[s]}")
    if not 1 <= k_out <= items[-1]:
        raise ValueError(f"k_out must be in [1, {items[-1]}], got {k_out}")
    return items


@dataclass(frozen=True)
class StagePlan:
    """How a stage's candidates are cut: sub-batch size ``B_s``, sub-batches, the survivors each
    sub-batch keeps (``quota``; the whole stage's survivors with global filtering, where only
    the last sub-batch's filter emits) and ``keep`` (the stage's survivors)."""

    items: int
    sub_batch: int
    sub_batches: int
    keep: int
    per_sub_batch: bool

    @property
    def quota(self) -> int:
        return self.keep * self.sub_batch // self.items if self.per_sub_batch else self.keep


def stage_plan(pipeline: Pipeline, sub_batch: int | None = None, policy: str | None = None
               ) -> list[StagePlan]:
    """Every stage's :class:`StagePlan`; raises a one-line ``ValueError`` for a sub-batch that
    does not divide a stage's items or a per-sub-batch quota that is not integral."""
    items = pipeline.items
    b = pipeline.sub_batch if sub_batch is None else sub_batch
    b = items[0] if b is None else b
    pol = policy or pipeline.filter
    if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= items[0]:
        raise ValueError(f"sub_batch must be an integer in [1, {items[0]}] (items[0]), got {b!r}")
    check_funnel(items[0], items, pol, b, pipeline.k_out)
    out = []
    for s, n in enumerate(items):
        bs = stage_sub_batch(b, n)
        if n % bs:
            raise ValueError(f"sub_batch {b} must divide stage[{s}].items={n} (or exceed it)")
        last = s == len(items) - 1
        keep = pipeline.k_out if last else items[s + 1]
        out.append(StagePlan(n, bs, n // bs, keep, pol == "per-sub-batch" and not last))
    return out


def gather_beats(tables: int, lanes: int) -> list[int]:
    """Lookups in each beat of one item's gather: its ``tables`` ids (its model's lookups:
    ``sum(pooling)``), ``lanes`` per beat (the last beat the remainder)."""
    return [lanes] * (tables // lanes) + ([tables % lanes] if tables % lanes else [])


def host_beats(nbytes: int, bytes_per_cycle: int) -> int:
    """Beats of a host-link packet of ``nbytes`` bytes."""
    return max(1, ceil_div(nbytes, bytes_per_cycle))


# -- placement --------------------------------------------------------------------------------------
def split_mode(accel: "AccelConfig", pipeline: Pipeline) -> bool:
    """Whether a pipeline runs on the split array: not a one-stage pipeline on the whole array
    (``subarrays = 0``), and the array has a split grid."""
    S = len(pipeline.stages)
    return not (S == 1 and pipeline.stages[0].subarrays == 0) and accel.array.split != (1, 1)


@dataclass(frozen=True)
class Placement:
    """Where a pipeline runs: ``split`` mode, each stage's sub-arrays (first index, count),
    rows per sub-array chunk, each layer's weight-memory base word, and the plans."""

    split: bool
    groups: tuple[tuple[int, int], ...]
    chunk_rows: tuple[int, ...]
    wbase: tuple[tuple[int, ...], ...]
    weight_words: tuple[int, ...]
    bbase: tuple[tuple[int, ...], ...]
    plans: tuple[StagePlan, ...]
    cache_stage: tuple[int, ...]


def place(accel: "AccelConfig", pipeline: Pipeline, sub_batch: int | None = None,
          policy: str | None = None) -> Placement:
    """Check that the pipeline fits the accelerator and place it (a one-line ``ValueError``
    naming the field otherwise):

    * **Array mode.** A one-stage pipeline with ``subarrays = 0`` runs on the whole array
      (monolithic mode); otherwise the array runs split and stage s owns ``subarrays[s]``
      consecutive sub-arrays (stage 0 first), at most the grid's ``GR * GC`` in all.
    * **Rows.** A stage's sub-batch of ``B_s`` candidates is cut into ``ceil(B_s / g)``-row
      chunks, one per sub-array of its group of g (the last smaller, or empty); every sub-array
      runs every layer on its chunk, in lockstep. Chunk rows <= ``array.max_m``, layer K <=
      ``max_k``, N <= ``max_n``.
    * **Weights.** Every layer of a stage's model is stored once in the weight memory of each
      sub-array of its group (``k_tiles * n_tiles * cols`` words per layer, layer after layer);
      a model whose words exceed ``weight_bytes`` cannot be placed (no spilling). Biases:
      ``n_tiles`` words of ``cols`` int32 per layer, layer after layer (``bbase``).
    * **Embeddings.** Stage s's tables are the unit's tables ``sum_{r<s} T_r ..``; their total
      <= ``embedding.tables``; ``d_s <= embedding.dim``; the unit's way partition has one entry
      (shared by every stage) or one per stage. A pooled model needs ``max_pooling`` >= its
      largest pooling factor (1: pooling disabled) and ``max_lookups`` >= its lookups per item.
    * **Item memory.** A query slot holds ``max_items`` records of the accelerator's
      ``max_record_bytes``: ``items[0]`` records of the pipeline's record must fit in it.
    * **Filters.** Each stage's top-k unit keeps at most ``topk.k_max`` (global:
      ``items[s+1]``; per-sub-batch: the quota; last stage: ``k_out``); candidates per query <=
      ``max_items``.
    """
    pipeline = pipeline.accel_program()
    plans = stage_plan(pipeline, sub_batch, policy)
    S = len(pipeline.stages)
    subs = [st.subarrays for st in pipeline.stages]
    grid = accel.array.subarrays
    split = split_mode(accel, pipeline)
    if not split:
        if S > 1:
            raise ValueError(f"stage[*].subarrays: a {S}-stage pipeline needs a split array "
                             f"(array.split is 1x1)")
        groups: tuple[tuple[int, int], ...] = ((0, 1),)
    else:
        for s, g in enumerate(subs):
            if g < 1:
                raise ValueError(f"stage[{s}].subarrays must be >= 1 on the split array "
                                 f"(0 = the whole array, one-stage pipelines only), got {g}")
        if sum(subs) > grid:
            raise ValueError(f"stage[*].subarrays must sum to at most the array's "
                             f"{accel.array.split[0]}x{accel.array.split[1]} = {grid} "
                             f"sub-arrays, got {sum(subs)}")
        starts = [sum(subs[:s]) for s in range(S)]
        groups = tuple(zip(starts, subs))
    eng = accel.group_array(split)
    if pipeline.items[0] > accel.max_items:
        raise ValueError(f"stage[0].items must be <= max_items={accel.max_items}, got "
                         f"{pipeline.items[0]}")
    emb = accel.embedding
    total_tables = sum(st.spec.tables for st in pipeline.stages)
    if total_tables > emb.tables:
        raise ValueError(f"embedding.tables must be >= the stages' {total_tables} tables, got "
                         f"{emb.tables}")
    for s, st in enumerate(pipeline.stages):
        m = st.spec
        if m.pooled and accel.max_pooling == 1:
            raise ValueError(f"stage[{s}].model pools up to {max(m.pooling)} lookups per table, "
                             f"but the accelerator's max_pooling = 1 (pooling disabled): allowed "
                             f"pooling 1 (one lookup per table)")
        if max(m.pooling) > accel.max_pooling:
            raise ValueError(f"stage[{s}].model.pooling = {max(m.pooling)} lookups per table "
                             f"exceeds max_pooling = {accel.max_pooling}: allowed 1.."
                             f"{accel.max_pooling}")
        if m.lookups > accel.lookups_per_item:
            raise ValueError(f"stage[{s}].model: {m.lookups} lookups per item exceed the gather "
                             f"engine's id buffer (max_lookups = {accel.lookups_per_item}): "
                             f"allowed 1..{accel.lookups_per_item}")
    fit = accel.slot_items(pipeline.record_bytes)
    if pipeline.items[0] > fit:
        raise ValueError(f"stage[0].items: {pipeline.items[0]} records of "
                         f"{pipeline.record_bytes} bytes exceed the item memory's query slot "
                         f"(max_items x {accel.max_record_bytes} = "
                         f"{accel.max_items * accel.max_record_bytes} bytes): allowed 1..{fit} "
                         f"items")
    if emb.stages not in (1, S):
        raise ValueError(f"embedding.stage_ways must have 1 entry or one per stage ({S}), got "
                         f"{list(emb.stage_ways)}")
    if not accel.on_chip_filter and S > 1:
        raise ValueError(f"on_chip_filter = false (host sort) runs one-stage pipelines, got "
                         f"{S} stages")
    chunk, wbase, wwords, bbase = [], [], [], []
    cap = accel.weight_words(split)
    for s, (st, plan) in enumerate(zip(pipeline.stages, plans)):
        m = st.spec
        if m.dim > emb.dim:
            raise ValueError(f"stage[{s}].model: d={m.dim} exceeds embedding.dim={emb.dim}")
        g = groups[s][1]
        c = ceil_div(plan.sub_batch, g)
        if c > eng.max_m:
            raise ValueError(f"stage[{s}]: {c} rows per sub-array (sub-batch {plan.sub_batch} "
                             f"over {g} sub-arrays) exceed array.max_m={eng.max_m}")
        base, bases, bb, bbs = 0, [], 0, []
        for mlp, i, k, n in m.layers():
            if k > eng.max_k or n > eng.max_n:
                raise ValueError(f"stage[{s}].model.{mlp}[{i}]: layer {k}x{n} exceeds "
                                 f"array.max_k={eng.max_k} / max_n={eng.max_n}")
            bases.append(base)
            base += eng.k_tiles(k) * eng.n_tiles(n) * eng.cols
            bbs.append(bb)
            bb += eng.n_tiles(n)
        if base > cap:
            raise ValueError(f"stage[{s}].model: its weights need {base} words of "
                             f"{eng.rows * eng.in_width // 8} bytes per (sub-)array, weight_bytes="
                             f"{accel.weight_bytes} holds {cap}: the model cannot be placed")
        k_filter = plan.quota
        if k_filter > accel.topk.k_max and accel.on_chip_filter:
            what = "k_out" if s == S - 1 else (f"stage[{s}]'s per-sub-batch quota"
                                                if plan.per_sub_batch else f"stage[{s + 1}].items")
            raise ValueError(f"{what} = {k_filter} exceeds topk.k_max={accel.topk.k_max}")
        chunk.append(c)
        wbase.append(tuple(bases))
        wwords.append(base)
        bbase.append(tuple(bbs))
    cache_stage = tuple(s if emb.stages == S else 0 for s in range(S))
    return Placement(split, groups, tuple(chunk), tuple(wbase), tuple(wwords), tuple(bbase),
                     tuple(plans), cache_stage)


# -- loading (strict) -------------------------------------------------------------------------------
_PIPELINE_KEYS = {"name", "k_out", "sub_batch", "filter", "skew", "stage", "workload"}
_STAGE_KEYS = {f.name for f in dataclasses.fields(StageSpec)} - {"name"}
_MODELSPEC_KEYS = {f.name for f in dataclasses.fields(ModelSpec)}


def _strict(data: Any, allowed: set[str], where: str) -> dict:
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a table, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (allowed: "
                         f"{', '.join(sorted(allowed))})")
    return data


def _stage_model(m: Any, w: str, base: Path | None) -> tuple[Any, str]:
    from .models import CATALOG, get_model, model_from_dict

    if isinstance(m, str):
        if m in RECPIPE_RM:
            return RECPIPE_RM[m], m
        if m.lower() in CATALOG:
            return CATALOG[m.lower()], m.lower()
        if m.endswith((".json", ".toml")):
            p = Path(m)
            if not p.is_absolute() and base is not None and not p.exists() and \
                    (base / p).exists():
                p = base / p
            model = get_model(str(p))
            return model, model.name
        raise ValueError(f"{w}: unknown model {m!r} (known: {', '.join(sorted(CATALOG))}, a "
                         f".toml/.json model file, or a [stage.model] table)")
    if isinstance(m, dict) and set(m) <= _MODELSPEC_KEYS:
        return ModelSpec(**_strict(m, _MODELSPEC_KEYS, f"{w} model")), ""
    model = model_from_dict(m, f"{w} model")
    return model, model.name


def pipeline_from_dict(data: dict, where: str = "pipeline", base: str | Path | None = None
                       ) -> Pipeline:
    """Build a :class:`Pipeline` from a mapping (the module docstring's format): ``[[stage]]``
    tables with ``model`` (a catalog name such as ``rm-small``, a model file, or a table) and
    the stage keys. ``base``: the folder relative model files are also looked up in."""
    data = _strict(data, _PIPELINE_KEYS, where)
    stages_in = data.get("stage")
    if not isinstance(stages_in, list) or not stages_in:
        raise ValueError(f"{where}: needs at least one [[stage]] table")
    b = Path(base) if base is not None else None
    try:
        stages = []
        for s, st in enumerate(stages_in):
            w = f"{where} stage[{s}]"
            st = dict(_strict(st, _STAGE_KEYS, w))
            if "model" not in st:
                raise ValueError(f"{w}: missing key 'model'")
            model, name = _stage_model(st.pop("model"), w, b)
            if len(stages_in) == 1 and "platform" not in st and "subarrays" not in st:
                st["subarrays"] = 0
            try:
                stages.append(StageSpec(model=model, name=name, **st))
            except ValueError as e:
                msg = str(e)
                raise ValueError(msg if msg.startswith("stage[") else f"stage[{s}]: {msg}"
                                 ) from None
        pipe = Pipeline(stages=tuple(stages), k_out=data.get("k_out"),
                        sub_batch=data.get("sub_batch"),
                        filter=data.get("filter", DEFAULT_FILTER), skew=data.get("skew"),
                        name=data.get("name", ""))
        if "workload" in data:
            from .workload import WORKLOAD_PRESETS, load_workload

            w = data["workload"]
            if not isinstance(w, str):
                raise ValueError(f"workload must be a preset name or a file, got {w!r}")
            if w not in WORKLOAD_PRESETS and b is not None and not Path(w).is_absolute() and \
                    (b / w).exists():
                w = str(b / w)
            pipe = pipe.with_workload(load_workload(w))
        return pipe
    except (TypeError, ValueError) as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from None


def load_pipeline(spec: str | Path) -> Pipeline:
    """A pipeline from a preset name (:data:`PIPELINE_PRESETS`) or a TOML/JSON file. Model
    files named in it are found relative to the working folder or to the pipeline file."""
    from .datafile import load_data

    if isinstance(spec, str) and spec in PIPELINE_PRESETS:
        return pipeline_from_dict(load_data(PIPELINE_PRESETS[spec], "pipeline preset"),
                                  f"pipeline preset {spec}")
    if isinstance(spec, str) and not spec.endswith((".toml", ".json")) and \
            not Path(spec).exists():
        raise ValueError(f"--pipeline: {spec!r} is neither a preset "
                         f"({', '.join(PIPELINE_PRESETS)}) nor a TOML/JSON file")
    return pipeline_from_dict(load_data(spec, "pipeline"), f"pipeline file {spec}",
                              base=Path(spec).parent)


_PRESET_DIR = Path(__file__).with_name("presets")
#: Built-in pipelines (``pipeline-NAME.toml``): ``rm-large`` (RecPipe's RM-large on 4,096
#: items), ``s-l`` (S->L [4096, 512]) and ``tiny``.
PIPELINE_PRESETS: dict[str, Path] = {p.stem[len("pipeline-"):]: p
                                     for p in sorted(_PRESET_DIR.glob("pipeline-*.toml"))}
