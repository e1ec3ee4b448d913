"""Study settings as dataclasses: each default, unit and allowed range is written once, on the
field (:func:`rpaccel.config._param`), and read by the study functions, the CLI's flags
(generated from the fields, :func:`rpaccel.cli.flags.add_config_flags`) and ``--help``.

Building a settings object validates it (a one-line ``ValueError`` naming the field).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rpaccel.config import SEED_MAX, _param, check_fields
from rpaccel.query import ACCEL_MODES, STAGE_LIMITS
from rpaccel.sched.serving.workload import LOGNORMAL_MU, LOGNORMAL_SIGMA, SIZE_CAP

__all__ = ["RunSettings", "LoadSettings", "PlacementSettings", "DeepRecSchedSettings",
           "QualitySettings", "RecPipeSettings", "HeadlineSettings", "TuneSettings",
           "QUALITY_DATA", "HEADLINE_WORKLOADS",
           "LOAD_ARRIVALS"]

#: The workloads the headline is measured on by default (workload presets): uniform
#: Zipf ids, Criteo Kaggle's cardinalities, lookups generated from the shipped sample's reuse
#: profile, and the shipped sample trace itself.
HEADLINE_WORKLOADS = ("uniform-1m", "criteo-kaggle", "criteo-reuse", "criteo-sample")
#: Quality data sources of the RecPipe studies.
QUALITY_DATA = ("synthetic", "movielens")
#: Arrival processes of a load sweep.
LOAD_ARRIVALS = ("poisson", "poisson-ms", "constant")


@dataclass(frozen=True)
class RunSettings:
    """How a study runs its points: queries per point, the workload seed, local workers or a
    Dask scheduler."""

    queries: int = _param("queries per point", "queries", default=10_000, lo=10, hi=1 << 26)
    seed: int = _param("seed of the arrivals and query sizes", default=0, lo=0, hi=SEED_MAX)
    workers: int = _param("local worker processes", default=1, lo=1, hi=256)
    dask: str | None = _param("run points on this Dask scheduler", default=None,
                              metavar="ADDRESS", default_text="local workers")

    def __post_init__(self) -> None:
        check_fields(self)

    def replace(self, **kw: Any):
        return dataclasses.replace(self, **kw)


def _accel_mode():
    """The ``accel_mode`` field of the studies that simulate accelerator groups."""
    return _param("how accelerator groups are timed: exact (every query on its accelerator's "
                  "stateful model) or profile", default=None, choices=ACCEL_MODES,
                  default_text="each group's own, else profile")


@dataclass(frozen=True)
class LoadSettings(RunSettings):
    """``rpaccel study load``: p95 against the offered load, per pipeline."""

    arrival: str = _param("arrival process", default="poisson", choices=LOAD_ARRIVALS)
    sla_ms: float | None = _param("draw this p95 target on the plot", "ms", default=None, lo=0,
                                  lo_open=True, default_text="none")
    accel_mode: str | None = _accel_mode()


@dataclass(frozen=True)
class PlacementSettings(RunSettings):
    """``rpaccel study placement``: RecPipe's placement search."""

    cpu_cores: int = _param("CPU cores shared by the CPU stages", "cores", default=32, lo=1,
                            hi=STAGE_LIMITS["engines"])
    accel_mode: str | None = _accel_mode()


@dataclass(frozen=True)
class DeepRecSchedSettings(RunSettings):
    """``rpaccel study deeprecsched``: DeepRecSched's gain over a fixed batch, per model."""

    queries: int = _param("queries per point", "queries", default=4000, lo=10, hi=1 << 26)
    sla_ms: float | None = _param("p95 target", "ms", default=None, lo=0, lo_open=True,
                                  default_text="the paper's medium target per model")
    engines: int = _param("CPU engines", "engines", default=32, lo=1,
                          hi=STAGE_LIMITS["engines"])
    gpu: bool = _param("also tune the GPU offload threshold", default=False, flag="--gpu")
    cpu: str = _param("CPU platform: cpu (the linear form), cpu:CAL.json or cpu-table:TABLE.json "
                      "(rpaccel calibrate cpu --table)", default="cpu")
    size_sigma: float | None = _param(
        "lognormal sigma of the query sizes", default=None, lo=0, lo_open=True,
        default_text=f"{LOGNORMAL_SIGMA}, DeepRecSys's, with its mu {LOGNORMAL_MU}; sizes "
                     f"capped at {SIZE_CAP}")


@dataclass(frozen=True)
class QualitySettings(RunSettings):
    """The funnel quality side of RecPipe's studies."""

    quality_queries: int = _param("queries for each funnel's quality", "queries", default=1000,
                                  lo=1, hi=100_000)
    iso_ndcg: float | None = _param(
        "iso-quality threshold on NDCG@64", default=None, lo=0, hi=1, lo_open=True,
        default_text="RecPipe's 0.9225 mapped onto our data: our RM-large [4096] minus 0.0022")
    sub_batch: int = _param("sub-batch of the per-sub-batch funnels and of RPAccel", "items",
                            default=512, lo=1, hi=1 << 16)
    data: str = _param("quality data", default="synthetic", choices=QUALITY_DATA)


@dataclass(frozen=True)
class RecPipeSettings(QualitySettings):
    """``rpaccel study recpipe``: funnels x placements at every load."""

    queries: int = _param("queries per point", "queries", default=2000, lo=10, hi=1 << 26)
    sla_ms: float = _param("p95 cut-off", "ms", default=500.0, lo=0, lo_open=True)


@dataclass(frozen=True)
class HeadlineSettings(QualitySettings):
    """``rpaccel study headline``: RPAccel against the TPU-like baseline (and CPU, GPU) at
    iso-quality: p95 at a fixed load, and the highest load whose p95 meets a target."""

    queries: int = _param("queries per point", "queries", default=5000, lo=10, hi=1 << 26)
    qps: float = _param("fixed load for the p95 comparison (RecPipe's Medium class)",
                        "queries/s", default=400.0, lo=0, lo_open=True)
    sla_ms: float = _param("p95 target for the throughput comparison", "ms", default=10.0,
                           lo=0, lo_open=True)
    exact_queries: int = _param("queries per exact-mode point (the best configurations "
                                "re-measured on stateful accelerators)", "queries", default=200,
                                lo=10, hi=1 << 20)


@dataclass(frozen=True)
class TuneSettings(RunSettings):
    """``rpaccel study tune``: the accelerator's own knobs searched at equal area, per workload
    (:mod:`rpaccel.sched.studies.tune`)."""

    queries: int = _param("back-to-back queries per evaluation (the first --warmup of them "
                          "warm the caches and are not measured)", "queries", default=8, lo=2,
                          hi=10_000)
    warmup: int = _param("queries per evaluation that only warm the caches", "queries",
                         default=2, lo=0, hi=lambda c: c.queries - 1,
                         range_text="0..queries-1")
    budget_mm2: float | None = _param("area budget of a configuration (the area roll-up, "
                                      "recpipe-12nm)", "mm^2", default=None, lo=0,
                                      lo_open=True, default_text="the base accelerator's own")
    passes: int = _param("hill-climbing passes over the knobs (stops early when a pass "
                         "changes nothing)", "passes", default=2, lo=1, hi=10)
