"""The registry of hardware units: one record per unit, read by every per-unit loop.

Verilog generation (:mod:`rpaccel.rtl.emit`), builds and runs (:mod:`rpaccel.verif.run`), the
co-verification matrix (``make sim``, :mod:`rpaccel.verif.suite`), lint (``make lint``), the
random campaign (``rpaccel verify``), pytest and the CLI (``rpaccel verilog|model|sim UNIT``)
all loop over :data:`UNITS`. This module is pure Python: the RTL, testbench and CLI parts are
named by dotted path and imported only when used, so importing the registry never imports
Amaranth or cocotb.

Adding a unit (see README, "Adding a unit"): write its config class (with field metadata and its
contract: latencies and payload layouts) in :mod:`rpaccel.config`, its component in ``rtl/``, its
perf model in ``perfmodel/``, its testbench ``verif/tb_<unit>.py``, its cases
``verif/cases_<unit>.py`` (fixed matrix, random configurations and scenarios) and its CLI glue
``src/rpaccel/cli/unit_<unit>.py``; then add one :class:`Unit` entry below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .config import EmbCacheConfig, GemmConfig, HistkConfig, TopkConfig

__all__ = ["Unit", "UNITS", "get_unit"]


def _load(path: str) -> Any:
    """Import ``module`` or ``module:attribute``."""
    mod, _, attr = path.partition(":")
    m = importlib.import_module(mod)
    return getattr(m, attr) if attr else m


@dataclass(frozen=True)
class Unit:
    """One hardware unit.

    Members
    -------
    name:
        Short name used on the command line and in build folders (``gemm``).
    title:
        One line for ``--help``.
    config:
        The frozen config class; its field metadata gives the CLI flags and ranges.
    toplevel:
        Verilog top module name.
    component:
        ``module:Class`` of the Amaranth component, constructed as ``Class(cfg)``.
    testbench:
        cocotb test module run by :func:`rpaccel.verif.run.run_unit`.
    cases:
        Module with ``SUITE`` (fixed configurations), ``matrix(cfg)`` (fixed scenarios),
        ``random_config(rng)``, ``random_scenario(cfg, rng)``, ``validate(cfg, sc)``,
        ``describe(result)``, ``sim_argv(sc)`` (the ``rpaccel sim`` flags that replay a scenario)
        and ``LINT_EXTRA``.
    cli:
        Module with the unit's ``model``/``sim`` arguments and handlers.
    contract:
        Names of the config attributes that form the unit's contract (latencies and payload
        layouts), read by the RTL, the perf model and the testbench alike.
    ports:
        Map from stream port name to the config attribute holding its payload layout; a test
        checks every RTL port's payload width against it.
    """

    name: str
    title: str
    config: type
    toplevel: str
    component: str
    testbench: str
    cases: str
    cli: str
    contract: tuple[str, ...] = ()
    ports: tuple[tuple[str, str], ...] = ()

    def component_class(self) -> type:
        return _load(self.component)

    def cases_module(self) -> Any:
        return _load(self.cases)

    def cli_module(self) -> Any:
        return _load(self.cli)


UNITS: dict[str, Unit] = {u.name: u for u in [
    Unit("gemm", "the systolic GEMM engine", GemmConfig, "rpaccel_gemm",
         "rpaccel.rtl.gemm:GemmEngine", "rpaccel.verif.tb_gemm", "rpaccel.verif.cases_gemm",
         "rpaccel.cli.unit_gemm",
         contract=("control_cycles", "tile_gap_cycles", "drain_cycles", "mode_change_cycles",
                   "cmd_layout", "c_out_layout"),
         ports=(("cmd", "cmd_layout"), ("c_out", "c_out_layout"))),
    Unit("topk", "the streaming top-k filter", TopkConfig, "rpaccel_topk",
         "rpaccel.rtl.topk:TopkFilter", "rpaccel.verif.tb_topk", "rpaccel.verif.cases_topk",
         "rpaccel.cli.unit_topk",
         contract=("result_latency", "in_layout", "out_layout"),
         ports=(("i", "in_layout"), ("o", "out_layout"))),
    Unit("histk", "the approximate (histogram) top-k filter, RecPipe's sortvals",
         HistkConfig, "rpaccel_histk", "rpaccel.rtl.histk:HistogramFilter",
         "rpaccel.verif.tb_histk", "rpaccel.verif.cases_histk", "rpaccel.cli.unit_histk",
         contract=("walk_latency", "drain_latency", "in_layout", "out_layout"),
         ports=(("i", "in_layout"), ("o", "out_layout"))),
    Unit("embcache", "the dual static + dynamic embedding cache", EmbCacheConfig,
         "rpaccel_embcache", "rpaccel.rtl.embcache:EmbeddingCache", "rpaccel.verif.tb_embcache",
         "rpaccel.verif.cases_embcache", "rpaccel.cli.unit_embcache",
         contract=("clear_cycles", "hit_latency", "miss_request_latency", "miss_latency",
                   "req_layout", "resp_layout", "nb_lookup_delay", "nb_hit_ready",
                   "nb_fill_ready", "nb_mem_request_delay", "banks", "rtl_max_lines",
                   "nonblocking_counters"),
         ports=(("req", "req_layout"), ("resp", "resp_layout"))),
]}


def get_unit(name: str) -> Unit:
    """The registry entry of ``name``; a one-line ``ValueError`` for an unknown unit."""
    try:
        return UNITS[name]
    except KeyError:
        raise ValueError(f"unknown unit {name!r}; known units: {', '.join(UNITS)}") from None
