"""Power of a simulated pipeline and its QPS per watt (columns ``power_w`` and ``qps_per_w`` of
every study row): engines powered for the whole run, plus each accelerator's dynamic energy per
query (:mod:`rpaccel.sched.cost.energy`) x the achieved QPS."""

from __future__ import annotations

from rpaccel.sched.cost.energy import default_table, static_w

__all__ = ["pipeline_power"]


def pipeline_power(pipeline, records: dict, measured, achieved_qps: float | None
                   ) -> dict[str, float | None]:
    """Average power (W) of a simulated pipeline and its QPS per watt: every pool's engines
    are powered for the whole run (CPU cores at ``cpu_core_w``, GPUs at ``gpu_w``,
    accelerators at their static power, an offload pool at its platform's), plus each
    accelerator's dynamic energy per query (an offload accelerator's: of the queries it
    takes) x the achieved QPS. None when a pool has no energy model (the ``recpipe-artifact`` slices,
    fidelity switches not all exact)."""
    import numpy as np

    from rpaccel.sched.serving.group import accel_group
    from rpaccel.sched.platforms.hosts import get_platform
    from rpaccel.sched.serving.sim import stage_items

    t = default_table()
    if achieved_qps is None:
        return {"power_w": None, "qps_per_w": None}
    groups = {g[0]: g for g in pipeline.groups()}
    skip = {i for g in groups.values() for i in g[1:]}
    n0 = np.asarray(records["items"])[measured]
    watts = 0.0
    for si, st, n in stage_items(pipeline, n0):
        if si in skip:
            continue
        plat = get_platform(st.platform)
        if si in groups:
            e = accel_group(pipeline, tuple(groups[si])).energy_j(n)
            watts += st.engines * static_w(plat.accel, t) + float(np.mean(e)) * achieved_qps
            continue
        name = st.platform_name
        if name.startswith("rpaccel:"):
            e = plat.energy_j(st.catalog, n)
            if np.isnan(e).any():
                return {"power_w": None, "qps_per_w": None}
            watts += st.engines * plat.static_w() + float(np.mean(e)) * achieved_qps
        elif name.startswith("cpu"):
            watts += st.engines * t.cpu_core_w
        elif name.startswith("gpu"):
            watts += st.engines * t.gpu_w
        else:
            return {"power_w": None, "qps_per_w": None}
        if st.gpu_threshold is not None:
            if st.gpu_platform.startswith("rpaccel:"):     # offload to an accelerator
                from rpaccel.sched.serving.sim import gpu_offload

                acc = get_platform(st.gpu_platform)
                big = n[gpu_offload(st, n)]
                e = acc.energy_j(st.catalog, big) if len(big) else np.zeros(0)
                if np.isnan(e).any():
                    return {"power_w": None, "qps_per_w": None}
                watts += st.gpu_engines * acc.static_w() + \
                    float(np.sum(e)) / max(1, len(n)) * achieved_qps
            else:
                watts += st.gpu_engines * t.gpu_w
    return {"power_w": watts, "qps_per_w": achieved_qps / watts if watts > 0 else None}
