"""Platforms: ``service_time(model, n_items) -> seconds`` (vectorised over ``n_items``).

* :class:`RecPipeArtifactAccel` -- the RecPipe artifact's analytic RPAccel model, formula for
  formula (including its quirks: PCIe constants added as kilo-cycles, fixed 0.5 embedding miss
  rate, strictly serial phases, sort = B/128 cycles). Fidelity: *analytic (artifact)*. It is not
  rpaccel's cycle-exact RTL model; that one is ``rpaccel:PRESET`` (:mod:`rpaccel.sched.
  accelplat`), whose ``artifact`` preset reproduces this formula through its fidelity switches.
* :class:`CpuCore` -- one single-threaded CPU engine: overhead + per-item cost from a per-lookup,
  a per-embedding-byte and a per-MAC term, plus preprocessing and a host sort. The default
  constants are fitted to RecPipe's measured CPU figures (section 6.2 of RECPIPE.md).
* :class:`Gpu` -- transfer + launch overhead + compute, fitted to RecPipe's GPU figures; slower
  than a CPU core at batch 1 and faster at 1024 for every catalog model.
* :class:`CpuTable` -- the same table form for one CPU engine, measured on this machine by
  ``rpaccel calibrate cpu --table`` (per-item cost falls with the batch).
* :class:`GpuTable` -- DeepRecSys's lookup-table form: times at batch 1, 4, ..., 1024,
  interpolated linearly in log4(n) and clamped above 1024.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rpaccel.datafile import load_data
from rpaccel.models import CATALOG, Model
from rpaccel.sched.platforms.base import Platform, _items, artifact_host_sort_s, artifact_terms

__all__ = ["Platform", "RecPipeArtifactAccel", "artifact_terms", "artifact_host_sort_s",
           "HARDCONFS", "CpuCore", "CpuTable", "Gpu", "GpuTable",
           "get_platform", "load_calibration"]


# -- RecPipe artifact accelerator model ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Hardconf:
    name: str
    array: int              # systolic array side A
    dram_gib_s: float       # DRAM bandwidth, GiB/s
    clock_ns: float = 8.0
    dram_latency: int = 100  # cycles
    weight_sram_bytes: int = 1_000_000


#: The artifact's hardconf_N: a 1/N slice of the monolithic accelerator (hc64's 0.125 GiB/s
#: is the artifact's value, not the proportional 0.5).
HARDCONFS = {
    "hc1": Hardconf("hc1", 128, 32.0), "hc4": Hardconf("hc4", 64, 8.0),
    "hc16": Hardconf("hc16", 32, 2.0), "hc64": Hardconf("hc64", 16, 0.125),
}


class RecPipeArtifactAccel(Platform):
    """RecPipe artifact's analytic RPAccel model (``RecPipeAccelModel.py``), reproduced exactly.

    Per query of B items, in cycles, all phases serial: PCIe in ``(5 + 12 B/4096) * 1000``;
    embeddings ``L + 0.5 E / BW / clk`` (DRAM) + ``0.5 E / 64`` (SRAM) with ``E = 4 d T B``;
    per MLP layer ``slices * (L + min(Wsram, Wb) / BW / clk)`` weight load plus
    ``ceil(in/A) ceil(out/A) (min(out, A) + min(in, A) + B)`` compute; sort ``B / 128``; PCIe out
    5000 (on-chip sort). Fractional cycles are kept, as in the artifact.
    """

    on_chip_filter = True
    miss_rate = 0.5
    element_bytes = 4

    def __init__(self, hardconf: str = "hc1") -> None:
        if hardconf not in HARDCONFS:
            raise ValueError(f"unknown hardconf {hardconf!r}; known: {sorted(HARDCONFS)}")
        self.hc = HARDCONFS[hardconf]
        self.name = f"recpipe-artifact:{hardconf}"

    def _bw(self) -> float:
        return self.hc.dram_gib_s * 2**30 / 1e9        # bytes per ns

    def cycles(self, model: Model, n_items: Any) -> dict[str, Any]:
        hc = self.hc
        return artifact_terms(model.mlp_layers, model.emb_dim, model.lookups_per_item,
                              _items(n_items), rows=hc.array, cols=hc.array,
                              dram_gib_s=hc.dram_gib_s, dram_latency=hc.dram_latency,
                              clock_ns=hc.clock_ns, weight_sram_bytes=hc.weight_sram_bytes,
                              element_bytes=self.element_bytes, miss_rate=self.miss_rate)

    def service_time(self, model: Model, n_items: Any) -> Any:
        return self.cycles(model, n_items)["total"] * self.hc.clock_ns * 1e-9

    def breakdown(self, model: Model, n_items: int) -> dict[str, float]:
        c = self.cycles(model, n_items)
        out = {f"{k}_cycles": float(v) for k, v in c.items()}
        out["total_s"] = float(c["total"]) * self.hc.clock_ns * 1e-9
        out["clock_ns"] = self.hc.clock_ns
        return out


# -- CPU -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CpuConstants:
    """Per-engine CPU cost model (seconds). Defaults fitted to RecPipe's CPU measurements."""

    overhead_s: float = 50e-6          # per query: framework dispatch
    per_lookup_s: float = 0.0          # per embedding row gathered (cache miss)
    per_emb_byte_s: float = 0.0        # per embedding byte pooled
    per_mac_s: float = 0.0             # per multiply-accumulate
    preprocess_per_item_s: float = 0.0  # indexing the query's rows, per item
    sort_per_nlogn_s: float = 0.0      # host sort: c * n * log2(n)


def _fit_recpipe_cpu() -> CpuConstants:
    """Solve the three per-item constants so RM-small/med/large on 4096 items give RecPipe's
    measured 23.8 / 26.5 / 47.5 ms inference on one core, with a 50 us per-query overhead; and
    the preprocess (5.1-5.4 ms) and sort (1.3-1.4 ms) components at 4096 items."""
    ms = [CATALOG[n] for n in ("rm-small", "rm-med", "rm-large")]
    target = np.array([23.8e-3, 26.5e-3, 47.5e-3]) - 50e-6
    a = np.array([[m.lookups_per_item, m.emb_bytes_per_item, m.macs_per_item] for m in ms],
                 dtype=np.float64) * 4096
    lookup, byte, mac = np.linalg.solve(a, target)
    return CpuConstants(overhead_s=50e-6, per_lookup_s=float(lookup), per_emb_byte_s=float(byte),
                        per_mac_s=float(mac), preprocess_per_item_s=5.27e-3 / 4096,
                        sort_per_nlogn_s=1.33e-3 / (4096 * 12))


class CpuCore(Platform):
    """One single-threaded CPU engine (see :class:`CpuConstants`)."""

    def __init__(self, constants: CpuConstants | None = None, *, name: str = "cpu") -> None:
        self.c = constants or _fit_recpipe_cpu()
        for f in ("overhead_s", "per_lookup_s", "per_emb_byte_s", "per_mac_s",
                  "preprocess_per_item_s", "sort_per_nlogn_s"):
            if getattr(self.c, f) < 0:
                raise ValueError(f"cpu constant {f} must be >= 0, got {getattr(self.c, f)}")
        self.name = name

    def _parts(self, model: Model, n_items: Any) -> dict[str, Any]:
        n = _items(n_items)
        c = self.c
        per_item = (c.per_lookup_s * model.lookups_per_item
                    + c.per_emb_byte_s * model.emb_bytes_per_item + c.per_mac_s * model.macs_per_item)
        return {"inference_s": np.where(n > 0, c.overhead_s + n * per_item, 0.0),
                "preprocess_s": n * c.preprocess_per_item_s}

    def service_time(self, model: Model, n_items: Any) -> Any:
        p = self._parts(model, n_items)
        return p["inference_s"] + p["preprocess_s"]

    def sort_time(self, n_items: Any) -> Any:
        n = _items(n_items)
        return self.c.sort_per_nlogn_s * n * np.log2(np.maximum(n, 2))

    def breakdown(self, model: Model, n_items: int) -> dict[str, float]:
        p = {k: float(v) for k, v in self._parts(model, n_items).items()}
        p["sort_s"] = float(self.sort_time(n_items))
        p["total_s"] = p["inference_s"] + p["preprocess_s"]
        return p


# -- GPU -----------------------------------------------------------------------------------------
class Gpu(Platform):
    """GPU engine: launch overhead + PCIe transfer of the inputs + compute.

    Per query: ``launch_s`` (0.3 ms) plus ``setup_per_lookup_s`` (0.3 us) for every lookup slot
    of an item (building the per-table index/offset tensors and copying them over PCIe; it does
    not grow with the batch). Per item: ``per_item_s`` (framework + input transfer), MACs at
    ``macs_per_s``, gathers at ``emb_bytes_per_s``. ``per_item_s`` and ``macs_per_s`` are solved
    so RecPipe's GPU inference figures (RM-small 4096: 4.7 ms, RM-large 4096: 6.2 ms) are met
    exactly. The setup term is what makes the GPU slower than a CPU core at batch 1 for the
    lookup-heavy DeepRecInfra models (RMC1/RMC2), as DeepRecSys measured for every model; at
    batch 1024 the GPU wins for every catalog model. Preprocess and sort as measured on RecPipe's
    GPU host (4.2-4.4 ms and 1.2 ms at 4096 items).
    """

    def __init__(self, *, launch_s: float = 0.3e-3, setup_per_lookup_s: float = 0.3e-6,
                 emb_bytes_per_s: float = 300e9, name: str = "gpu") -> None:
        self.launch_s, self.emb_bytes_per_s, self.name = launch_s, emb_bytes_per_s, name
        self.setup_per_lookup_s = setup_per_lookup_s
        small, large = CATALOG["rm-small"], CATALOG["rm-large"]
        rhs = np.array([4.7e-3, 6.2e-3]) - launch_s
        rhs -= setup_per_lookup_s * np.array([small.lookups_per_item, large.lookups_per_item])
        rhs -= 4096 * np.array([small.emb_bytes_per_item, large.emb_bytes_per_item]) / emb_bytes_per_s
        a = 4096 * np.array([[1.0, small.macs_per_item], [1.0, large.macs_per_item]])
        self.per_item_s, inv_rate = np.linalg.solve(a, rhs)
        self.macs_per_s = 1.0 / inv_rate
        self.preprocess_per_item_s = 4.3e-3 / 4096
        self.sort_per_nlogn_s = 1.2e-3 / (4096 * 12)

    def _inference(self, model: Model, n: np.ndarray) -> np.ndarray:
        per_item = (self.per_item_s + model.macs_per_item / self.macs_per_s
                    + model.emb_bytes_per_item / self.emb_bytes_per_s)
        setup = self.launch_s + self.setup_per_lookup_s * model.lookups_per_item
        return np.where(n > 0, setup + n * per_item, 0.0)

    def service_time(self, model: Model, n_items: Any) -> Any:
        n = _items(n_items)
        return self._inference(model, n) + n * self.preprocess_per_item_s

    def sort_time(self, n_items: Any) -> Any:
        n = _items(n_items)
        return self.sort_per_nlogn_s * n * np.log2(np.maximum(n, 2))

    def breakdown(self, model: Model, n_items: int) -> dict[str, float]:
        n = _items(n_items)
        inf = float(self._inference(model, n))
        pre = float(n * self.preprocess_per_item_s)
        return {"inference_s": inf, "preprocess_s": pre, "sort_s": float(self.sort_time(n)),
                "total_s": inf + pre}


class GpuTable(Platform):
    """DeepRecSys's GPU form: measured times at batch 1, 4, 16, 64, 256, 1024 (seconds),
    interpolated linearly in log4(n), clamped above 1024 (and at 1 below)."""

    POINTS = np.array([1, 4, 16, 64, 256, 1024], dtype=np.float64)

    def __init__(self, times_s: dict[str, list[float]], *, name: str = "gpu-table") -> None:
        self.table = {}
        for model, ts in times_s.items():
            try:
                ts = np.asarray(ts, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"gpu table for {model}: times must be numbers") from None
            if ts.shape != (6,) or np.any(ts <= 0):
                raise ValueError(f"gpu table for {model}: need 6 positive times for batch "
                                 f"1, 4, 16, 64, 256, 1024")
            self.table[model] = ts
        self.name = name

    @classmethod
    def load(cls, path: str) -> "GpuTable":
        """Times from JSON: ``{"model": [t1, t4, t16, t64, t256, t1024], ...}`` in seconds."""
        data = load_data(path, "gpu table")
        if not isinstance(data, dict):
            raise ValueError(f"gpu table {path}: must map model names to 6 times")
        t = cls(data, name=f"gpu-table:{path}")
        return t

    @classmethod
    def from_platform(cls, plat: Platform, models: list[Model]) -> "GpuTable":
        return cls({m.name: [float(plat.service_time(m, b)) for b in cls.POINTS] for m in models})

    def service_time(self, model: Model, n_items: Any) -> Any:
        if model.name not in self.table:
            raise ValueError(f"gpu table has no entry for model {model.name!r}")
        n = _items(n_items)
        x = np.log(np.clip(n, 1, 1024)) / np.log(4)
        t = np.interp(x, np.arange(6), self.table[model.name])
        return np.where(n > 0, t, 0.0)


class CpuTable(Platform):
    """A CPU engine timed by a measured table (DeepRecSys's form, as :class:`GpuTable`, for
    CPUs): per model, forward-pass seconds at batch 1, 4, 16, ..., 4**k (``rpaccel calibrate cpu
    --table``), interpolated linearly in log4(n); below 1 clamped, above the largest batch
    linear in n (the largest batch's per-item time). Preprocess and host sort as :class:`CpuCore`
    (RecPipe's measured per-item preprocess and n log n sort), so only the inference differs."""

    def __init__(self, batches: list[int], times_s: dict[str, list[float]], *,
                 name: str = "cpu-table") -> None:
        b = np.asarray(batches, dtype=np.float64)
        if b.ndim != 1 or len(b) < 2 or b[0] != 1 or np.any(b[1:] != 4 * b[:-1]):
            raise ValueError(f"cpu table: batches must be 1, 4, 16, ... (at least 2), got "
                             f"{batches!r}")
        self.batches = b
        self.table = {}
        for model, ts in times_s.items():
            try:
                ts = np.asarray(ts, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"cpu table for {model}: times must be numbers") from None
            if ts.shape != b.shape or np.any(~(ts > 0)):
                raise ValueError(f"cpu table for {model}: need {len(b)} positive times (batch "
                                 f"{', '.join(str(int(x)) for x in b)})")
            self.table[model] = ts
        self.name = name
        self._cpu = _fit_recpipe_cpu()

    @classmethod
    def load(cls, path: str) -> "CpuTable":
        """From ``rpaccel calibrate cpu --table``'s JSON (``kind`` ``rpaccel-cpu-table``)."""
        d = load_data(path, "cpu table")
        if not isinstance(d, dict) or d.get("kind") != "rpaccel-cpu-table":
            raise ValueError(f"cpu table {path}: not an rpaccel CPU table (rpaccel calibrate "
                             f"cpu --table)")
        return cls(d.get("batches"), d.get("times_s") or {}, name=f"cpu-table:{path}")

    def inference(self, model: Model, n: np.ndarray) -> np.ndarray:
        if model.name not in self.table:
            raise ValueError(f"cpu table {self.name} has no entry for model {model.name!r} "
                             f"(has: {', '.join(sorted(self.table))})")
        ts = self.table[model.name]
        top = self.batches[-1]
        x = np.log(np.clip(n, 1, top)) / np.log(4)
        t = np.interp(x, np.arange(len(ts)), ts)
        t = np.where(n > top, ts[-1] * n / top, t)
        return np.where(n > 0, t, 0.0)

    def service_time(self, model: Model, n_items: Any) -> Any:
        n = _items(n_items)
        return self.inference(model, n) + n * self._cpu.preprocess_per_item_s

    def sort_time(self, n_items: Any) -> Any:
        n = _items(n_items)
        return self._cpu.sort_per_nlogn_s * n * np.log2(np.maximum(n, 2))

    def breakdown(self, model: Model, n_items: int) -> dict[str, float]:
        n = _items(n_items)
        inf = float(self.inference(model, n))
        pre = float(n * self._cpu.preprocess_per_item_s)
        return {"inference_s": inf, "preprocess_s": pre, "sort_s": float(self.sort_time(n)),
                "total_s": inf + pre}


def _make_platform(spec: str) -> Platform:
    if spec == "cpu":
        return CpuCore()
    if spec.startswith("cpu:"):
        return CpuCore(load_calibration(spec[4:]), name=spec)
    if spec.startswith("cpu-table:"):
        return CpuTable.load(spec.split(":", 1)[1])
    if spec == "gpu":
        return Gpu()
    if spec == "gpu-table":
        t = GpuTable.from_platform(get_platform("gpu"), list(CATALOG.values()))
        t.name = "gpu-table"
        return t
    if spec.startswith("gpu-table:"):
        return GpuTable.load(spec.split(":", 1)[1])
    if spec.startswith("recpipe-artifact:"):
        return RecPipeArtifactAccel(spec.split(":", 1)[1])
    if spec.startswith("rpaccel:"):
        from rpaccel.sched.platforms.rpaccel import accel_platform

        return accel_platform(spec.split(":", 1)[1])
    raise ValueError(f"unknown platform {spec!r}; known: cpu, cpu:CALIBRATION.json, "
                     f"cpu-table:TABLE.json, gpu, "
                     f"gpu-table, gpu-table:TIMES.json, "
                     f"recpipe-artifact:{{{','.join(HARDCONFS)}}}, rpaccel:PRESET, "
                     f"rpaccel:FILE.toml")


def _file_stamp(spec: str) -> tuple[int, int] | None:
    """(mtime, size) of the file a ``kind:FILE`` spec names, so an edited file is re-read."""
    _, sep, path = spec.partition(":")
    if not sep:
        return None
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


_CACHE: dict[tuple[str, Any], Platform] = {}


def get_platform(spec: Any) -> Platform:
    """``cpu``, ``cpu:CALIBRATION.json``, ``cpu-table:TABLE.json``, ``gpu``, ``gpu-table[:TIMES.json]``,
    ``recpipe-artifact:hc1|hc4|hc16|hc64``, ``rpaccel:PRESET|FILE.toml``, or an
    :class:`~rpaccel.accel.AccelConfig` object (an RPAccel of that config).

    Parsed once per spec (and per version of the file it names): the SLA search calls this on
    every simulation, and a ``cpu:FILE`` calibration is not re-read each time.
    """
    from rpaccel.accel import AccelConfig

    if isinstance(spec, AccelConfig):
        key = ("config", spec)
        plat = _CACHE.get(key)
        if plat is None:
            from rpaccel.sched.platforms.rpaccel import RPAccelPlatform

            plat = _CACHE[key] = RPAccelPlatform(spec, f"rpaccel:{spec.name or spec.key()}")
        return plat
    if not isinstance(spec, str):
        raise ValueError(f"platform must be a name or an AccelConfig, got {spec!r}")
    key = (spec, _file_stamp(spec))
    plat = _CACHE.get(key)
    if plat is None:
        plat = _CACHE[key] = _make_platform(spec)
    return plat


def load_calibration(path: str | Path):
    """:class:`CpuConstants` from a calibration JSON (``rpaccel calibrate cpu``)."""
    p = Path(path)
    d = load_data(p, "calibration")
    if not isinstance(d, dict) or d.get("kind") != "rpaccel-cpu-calibration":
        raise ValueError(f"calibration file {p}: not an rpaccel CPU calibration")
    c = d.get("constants", {})
    keys = ("overhead_s", "per_lookup_s", "per_emb_byte_s", "per_mac_s")
    if any(not isinstance(c.get(k), (int, float)) or c[k] < 0 for k in keys):
        raise ValueError(f"calibration file {p}: constants {list(keys)} must be numbers >= 0")
    rp = _fit_recpipe_cpu()   # preprocess and sort are not measured: keep RecPipe's
    return CpuConstants(**{k: float(c[k]) for k in keys},
                        preprocess_per_item_s=rp.preprocess_per_item_s,
                        sort_per_nlogn_s=rp.sort_per_nlogn_s)

