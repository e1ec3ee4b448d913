"""The integrated RPAccel: accelerator configs and their strict TOML files.

Pure Python (no Amaranth): the RTL top, the compiler/executor (:mod:`rpaccel.perfmodel.compiler`,
:mod:`rpaccel.perfmodel.executor`), the testbench and the CLI all read these objects.

An **accelerator config** (:class:`AccelConfig`) is the hardware: the reconfigurable array
(:class:`~rpaccel.config.GemmConfig`, its split grid and buffer capacities), the weight memory of
each sub-array, the embedding unit (:class:`~rpaccel.config.EmbCacheConfig`, non-blocking: dual
static + dynamic caches, lanes, MSHRs, the DRAM model), one top-k unit per stage
(:class:`~rpaccel.config.TopkConfig`: ``k_max``, ``lanes``), the host link and the clock.

The work it runs is a pipeline (:class:`rpaccel.query.Pipeline`, the one pipeline class and
file format). File format of a config (strict TOML: an unknown key is an error naming the key and
the file)::

    name = "tiny"
    clock_ns = 8.0
    host_latency = 20
    host_bytes_per_cycle = 16
    weight_bytes = 4096
    max_items = 512
    [array]          # GemmConfig fields
    rows = 4
    split = [2, 2]
    ...
    [embedding]      # EmbCacheConfig fields
    ...
    [topk]
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
from .query import ID_BYTES, MAX_POOLING, RECPIPE_RM, _strict, check_skew, record_bytes

__all__ = ["AccelConfig", "Fidelity", "Serve", "PRESETS", "FIDELITY_SWITCHES", "accel_toml",
           "load_accel", "accel_from_dict"]

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
        check_skew("serve.skew", self.skew)

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
    error. ``max_items``: item memory capacity (candidates per query, per query slot, of
    :attr:`max_record_bytes` each; a pipeline with longer records fits fewer).
    ``max_pooling``: lookups per (item, table) the gather engine sums (SparseLengthsSum,
    :func:`rpaccel.query.pool_acc_bits`); 1 = pooling disabled (one-hot tables only).
    ``max_lookups``: sparse ids per item the gather engine's id buffer holds (0: one per table
    of the embedding unit).
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
    max_pooling: int = 1
    max_lookups: int = 0
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
        check_int("max_pooling", self.max_pooling, 1, MAX_POOLING)
        check_int("max_lookups", self.max_lookups, 0, 1 << 16)
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

    @property
    def lookups_per_item(self) -> int:
        """Sparse ids per item the gather engine holds (``max_lookups``, default one per
        table)."""
        return self.max_lookups or self.embedding.tables

    def result_bytes(self) -> int:
        """Bytes of one result on the host link: an int32 id and the score."""
        return ID_BYTES + ceil_div(self.array.acc_width, 8)

    @property
    def max_record_bytes(self) -> int:
        """The candidate record the area and energy models size the item memory for: RecPipe's
        13 dense features and one id per table of the embedding unit
        (:func:`rpaccel.query.record_bytes`)."""
        return record_bytes(RECPIPE_RM["rm-small"].dense, self.embedding.tables)

    def slot_items(self, record: int) -> int:
        """Candidates of ``record`` bytes that one query slot of the item memory holds:
        ``max_items`` records of :attr:`max_record_bytes`, so fewer of longer records."""
        return max(1, min(self.max_items, self.max_items * self.max_record_bytes // record))

    @property
    def item_memory_bytes(self) -> int:
        """The item memory: two query slots of ``max_items`` records of
        :attr:`max_record_bytes`."""
        return 2 * self.max_items * self.max_record_bytes

    def seconds(self, cycles: int) -> float:
        return cycles * self.clock_ns * 1e-9

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "clock_ns": self.clock_ns, "host_latency": self.host_latency,
                "host_bytes_per_cycle": self.host_bytes_per_cycle,
                "weight_bytes": self.weight_bytes, "max_items": self.max_items,
                **({"max_pooling": self.max_pooling} if self.max_pooling != 1 else {}),
                **({"max_lookups": self.max_lookups} if self.max_lookups else {}),
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
def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def accel_from_dict(data: dict, where: str = "accelerator config") -> AccelConfig:
    """Build an :class:`AccelConfig` from a mapping (TOML tables ``array``, ``embedding``,
    ``topk``); unknown keys are errors naming the key and ``where``."""
    top = {"name", "clock_ns", "host_latency", "host_bytes_per_cycle", "weight_bytes",
           "max_items", "max_pooling", "max_lookups", "on_chip_filter", "array", "embedding", "topk", "fidelity", "serve"}
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


def load_accel(spec: str | Path, flag: str = "--config") -> AccelConfig:
    """An accelerator config from a preset name (:data:`PRESETS`) or a TOML file (``flag``:
    the parameter an unknown name is blamed on)."""
    if isinstance(spec, str) and spec in PRESETS:
        return accel_from_dict(_read_toml(PRESETS[spec], "preset"), f"preset {spec}")
    if isinstance(spec, str) and not spec.endswith(".toml") and not Path(spec).exists():
        raise ValueError(f"{flag}: {spec!r} is neither a preset ({', '.join(PRESETS)}) nor a "
                         f"TOML file")
    return accel_from_dict(_read_toml(spec, "accelerator config"),
                           f"accelerator config file {spec}")


# -- presets ------------------------------------------------------------------------------------
_PRESET_DIR = Path(__file__).with_name("presets")
#: Built-in accelerator configs, TOML files in ``rpaccel/presets`` (``accel-NAME.toml``; the
#: sources of every figure are in the files): ``rpaccel`` (RPAccel at full size) and ``tiny``
#: (the 2-stage configuration the RTL runs in seconds).
PRESETS: dict[str, Path] = {p.stem[len("accel-"):]: p
                            for p in sorted(_PRESET_DIR.glob("accel-*.toml"))}
