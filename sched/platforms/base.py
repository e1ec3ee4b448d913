"""The platform interface and the RecPipe artifact's accelerator formulas, shared by
:mod:`rpaccel.sched.platforms.hosts` and :mod:`rpaccel.sched.platforms.rpaccel` (no imports between them)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rpaccel.models import Model

__all__ = ["Platform", "artifact_terms", "artifact_host_sort_s"]


def _items(n: Any) -> np.ndarray:
    a = np.asarray(n, dtype=np.float64)
    if np.any(a < 0) or np.any(~np.isfinite(a)):
        raise ValueError("n_items must be finite and >= 0")
    return a


class Platform:
    """Base: a per-query service-time model for one engine."""

    name = "platform"
    #: True when the platform filters (top-k) on chip, so no host sort is charged between stages.
    on_chip_filter = False

    def service_time(self, model: Model, n_items: Any) -> Any:
        """Seconds to run ``model`` on ``n_items`` items (scalar or array)."""
        raise NotImplementedError

    def breakdown(self, model: Model, n_items: int) -> dict[str, float]:
        """Named components (seconds, and cycles for accelerators) of one service time."""
        return {"total_s": float(self.service_time(model, n_items))}

    def sort_time(self, n_items: Any) -> Any:
        """Host-side top-k sort cost between stages (seconds); 0 for on-chip filtering."""
        return np.zeros_like(_items(n_items))


def artifact_terms(layers: list[tuple[int, int]], dim: int, lookups: int, b: Any, *, rows: int,
                   cols: int, dram_gib_s: float, dram_latency: float, clock_ns: float,
                   weight_sram_bytes: int, element_bytes: int = 4, miss_rate: float = 0.5,
                   sram_bytes_per_cycle: int = 64, on_chip_filter: bool = True
                   ) -> dict[str, Any]:
    """The RecPipe artifact's per-query phases in cycles (``RecPipeAccelModel.py``; the
    formulas of :class:`RecPipeArtifactAccel`), for ``b`` items (array), an array of ``rows``
    (fan-in side) x ``cols`` (fan-out side), and the artifact's constants. Fractional cycles are
    kept. ``on_chip_filter = False``: no on-chip sort; all B scores go out over PCIe."""
    bw = dram_gib_s * 2**30 / 1e9        # bytes per ns
    L = dram_latency
    pcie_in = (5 + 12 * b / 4096) * 1000
    e = element_bytes * dim * lookups * b
    dram = np.where(e > 0, L + (miss_rate * e / bw) / clock_ns, 0.0)
    sram = (1 - miss_rate) * e / sram_bytes_per_cycle
    load = 0.0
    compute = np.zeros_like(b)
    for fan_in, fan_out in layers:
        wb = element_bytes * fan_in * fan_out
        slices = math.ceil(wb / weight_sram_bytes)
        load += slices * (L + min(weight_sram_bytes, wb) / bw / clock_ns)
        tiles = math.ceil(fan_in / rows) * math.ceil(fan_out / cols)
        compute = compute + tiles * (min(fan_out, cols) + min(fan_in, rows) + b)
    if on_chip_filter:
        sort, pcie_out = b / 128, np.full_like(b, 5000.0)
    else:
        sort, pcie_out = np.zeros_like(b), (5 + 5 * b / 4096) * 1000
    total = pcie_in + dram + sram + load + compute + sort + pcie_out
    return {"pcie_in": pcie_in, "emb_dram": dram, "emb_sram": sram, "weight_load": load,
            "compute": compute, "sort": sort, "pcie_out": pcie_out, "total": total}


def artifact_host_sort_s(n_items: Any) -> Any:
    """The artifact's host-sort table (seconds): 0.03 ms below 512 items, 0.07 ms up to 1,024,
    0.35 ms up to 4,096 (RECPIPE.md section 4, step 5). The artifact leaves larger queries
    undefined; here they scale as n log2 n from the 4,096-item point."""
    n = _items(n_items)
    big = 0.35e-3 * (n * np.log2(np.maximum(n, 2))) / (4096 * 12)
    return np.where(n <= 0, 0.0, np.where(n < 512, 0.03e-3, np.where(
        n <= 1024, 0.07e-3, np.where(n <= 4096, 0.35e-3, big))))
