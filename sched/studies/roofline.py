"""RPAccel against its own roofline: one query's executor cycles beside the bound its work sets.

For a pipeline on an accelerator and a workload (the executor, cycle-exact against the RTL, on
the workload's ids, seed 0, one query from a cold cache):

* **MAC bound**: the query's multiply-accumulates over the array's PEs (one MAC per PE per
  cycle, every sub-array busy): ``macs / (rows x cols)``;
* **embedding bound**: the larger of the DRAM bandwidth term (rows fetched x row bytes /
  bytes per cycle, ``mem_bits / 8 / dram_interval``) and the MSHR term (rows fetched x DRAM
  latency / MSHRs: at most ``mshrs`` misses in flight, each ``dram_latency`` cycles);
* **bound** = ``max(MAC bound, embedding bound)``; the gap = cycles / bound.

The busy cycles of each unit (gathers, A loads, GEMMs, top-k) show where the rest goes. The
bound ignores the host link, the dependency between stages (stage 1 gathers only once stage 0
has filtered) and the lanes' issue rate, so no schedule reaches it exactly.
"""

from __future__ import annotations

from typing import Any

from rpaccel.accel import AccelConfig
from rpaccel.query import Pipeline

__all__ = ["roofline", "ROOFLINE_GOAL"]

#: The goal for the ``rpaccel`` preset on ``criteo-kaggle``: within this factor of its bound.
ROOFLINE_GOAL = 1.25


def roofline(accel: AccelConfig, pipe: Pipeline) -> dict[str, Any]:
    """One query's cycles, its bound and the busy cycles per unit (module docstring)."""
    from rpaccel.perfmodel.executor import model_accel

    r = model_accel(accel, pipe, seed=0)
    ev, emb = r.events, accel.embedding
    pes = accel.array.rows * accel.array.cols
    mac = ev["macs"] / pes
    fetched = ev["dram_requests"]
    bw = fetched * emb.row_bytes / (emb.mem_bits / 8 / emb.dram_interval)
    mshr = fetched * emb.dram_latency / emb.mshrs
    bound = max(mac, bw, mshr)
    return {"cycles": r.cycles, "mac_bound": mac, "dram_bw_bound": bw, "mshr_bound": mshr,
            "bound": bound, "bound_by": "MACs" if mac >= max(bw, mshr) else
            ("DRAM bandwidth" if bw >= mshr else "MSHRs"),
            "gap_x": r.cycles / bound if bound else None,
            "gather_busy": sum(st["gather"] for st in r.stages),
            "loada_busy": sum(st["loada"] for st in r.stages),
            "gemm_busy": sum(st["gemm"] for st in r.stages),
            "topk_busy": sum(st["topk"] for st in r.stages),
            "host_in_busy": r.queues["host"]["busy"],
            "lookups": ev["lookups"], "dram_rows": fetched, "macs": ev["macs"]}
