"""Power of a simulated pipeline and its QPS per watt (columns ``power_w`` and ``qps_per_w`` of
every study row): engines powered for the whole run, plus each accelerator's dynamic energy per
query (:mod:`rpaccel.sched.energy`) x the achieved QPS."""

from __future__ import annotations

from .energy import default_table, static_w

__all__ = ["pipeline_power"]


def pipeline_power(pipeline, records: dict, measured, achieved_qps: float | None
                   ) -> dict[str, float | None]:
    """Average power (W) of a simulated pipeline and its QPS per watt: every pool's engines
    are powered for the whole run (CPU cores at ``cpu_core_w``, GPUs at ``gpu_w``,
    accelerators at their static power), plus each accelerator's dynamic energy per query x
    the achieved QPS. None when a pool has no energy model (the ``recpipe-artifact`` slices,
    fidelity switches not all exact)."""
    import numpy as np

    from .models import get_model
    from .platforms import get_platform
    from .sim import accel_groups, stage_items

    t = default_table()
    if achieved_qps is None:
        return {"power_w": None, "qps_per_w": None}
    groups = {g[0]: g for g in accel_groups(pipeline)}
    skip = {i for g in groups.values() for i in g[1:]}
    n0 = np.asarray(records["items"])[measured]
    watts = 0.0
    for si, st, n in stage_items(pipeline, n0):
        if si in skip:
            continue
        plat = get_platform(st.platform)
        if si in groups:
            e = _group_energy_j(pipeline, groups[si], n)
            watts += st.engines * static_w(plat.accel, t) + float(np.mean(e)) * achieved_qps
            continue
        if st.platform.startswith("rpaccel:"):
            e = plat.energy_j(get_model(st.model), n)
            if np.isnan(e).any():
                return {"power_w": None, "qps_per_w": None}
            watts += st.engines * plat.static_w() + float(np.mean(e)) * achieved_qps
        elif st.platform.startswith("cpu"):
            watts += st.engines * t.cpu_core_w
        elif st.platform.startswith("gpu"):
            watts += st.engines * t.gpu_w
        else:
            return {"power_w": None, "qps_per_w": None}
        if st.gpu_threshold is not None:
            watts += st.gpu_engines * t.gpu_w
    return {"power_w": watts, "qps_per_w": achieved_qps / watts if watts > 0 else None}


def _group_energy_j(pipeline, g, n):
    import numpy as np

    from .accelplat import group_pipeline, group_profile
    from .platforms import get_platform
    from .sim import group_specs

    st0 = pipeline.stages[g[0]]
    accel = get_platform(st0.platform).accel
    uniq, inv = np.unique(np.asarray(n, dtype=np.int64), return_inverse=True)
    specs = group_specs(pipeline, g)
    items = [pipeline.stages[i].items or int(uniq.max()) for i in g]
    e = []
    for u in uniq.tolist():
        gp, b = group_pipeline(accel, specs, items, st0.sub_batch, st0.filter or "global",
                               pipeline.stages[g[-1]].k_out, u)
        e.append(group_profile(accel, gp, b)["energy_pj"] * 1e-12)
    return np.asarray(e)[inv]
