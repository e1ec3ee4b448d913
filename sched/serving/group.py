"""Accelerator groups of a system pipeline: consecutive stages on one accelerator's sub-arrays
(:meth:`rpaccel.query.Pipeline.groups`), each built once with a memoised per-size profile."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from rpaccel.accel import AccelConfig
from rpaccel.query import Pipeline, place

from rpaccel.sched.platforms.hosts import get_platform
from rpaccel.sched.platforms.rpaccel import _resources, group_profile

__all__ = ["AccelGroup", "accel_group"]


class AccelGroup:
    """An accelerator group of a system pipeline (:meth:`rpaccel.query.Pipeline.groups`), built
    once: its accelerator, its stages as one pipeline, and a memoised no-contention profile per
    first-stage query size (with its energy). The simulator, the power model, the capacity
    bisection and every study read it (:func:`accel_group`).

    A query of ``n0`` first-stage items runs the program :meth:`rpaccel.query.Pipeline.program`
    gives: stage s ranks ``min(n0, items[s])`` padded up to whole sub-batches (the host pads the
    last sub-batch), in sub-batches of the pipeline's ``sub_batch``, else the config's
    ``serve.sub_batch``, else the whole query; the Zipf skew is the pipeline's, else the config's
    ``serve.skew``."""

    def __init__(self, pipeline: Pipeline, g: tuple[int, ...]) -> None:
        self.g = g
        sts = [pipeline.stages[i] for i in g]
        self.platform = get_platform(sts[0].platform)
        self.accel: AccelConfig = self.platform.accel
        self.pipeline = Pipeline(stages=tuple(sts), k_out=pipeline.k_out,
                                 sub_batch=pipeline.sub_batch, filter=pipeline.filter,
                                 skew=pipeline.skew, name=pipeline.name,
                                 workload=pipeline.workload)
        self.resources = _resources(len(g))
        self._memo: dict[int, dict[str, Any]] = {}

    @property
    def where(self) -> str:
        g = self.g
        return f"accelerator group stage[{g[0]}..{g[-1]}] on {self.pipeline.stages[0].platform_name}"

    def program(self, n0: int) -> tuple[Pipeline, int]:
        """The accelerator pipeline of a query of ``n0`` first-stage items, and its
        sub-batch."""
        if n0 > self.accel.max_items:
            raise ValueError(f"a query of {n0} items exceeds the accelerator's max_items="
                             f"{self.accel.max_items}")
        p = self.pipeline.program(n0, pad=True, skew=self.accel.serve.skew,
                                  sub_batch=self.accel.serve.sub_batch or None)
        return p, p.sub_batch

    def check(self) -> None:
        """The group can be placed (a one-line ``ValueError`` naming the group otherwise), for
        the stages' own items (the first stage's: the second's if unset)."""
        sts = self.pipeline.stages
        n0 = sts[0].items if sts[0].items is not None else sts[1].items if len(sts) > 1 else 1
        b = self.pipeline.sub_batch
        try:
            if b is not None and b <= n0:
                for i, st in zip(self.g, sts):
                    n = st.items or n0
                    if n % min(b, n):
                        raise ValueError(f"sub_batch={b} must divide stage[{i}].items={n} (or "
                                         f"exceed it)")
            p, sb = self.program(n0)
            place(self.accel, p, sb)
        except ValueError as e:
            raise ValueError(f"{self.where}: {e}") from None

    def profile(self, n0: int) -> dict[str, Any]:
        """One query's occupancy (:func:`group_profile`, cycles) with its energy, memoised."""
        hit = self._memo.get(n0)
        if hit is None:
            try:
                p, sb = self.program(n0)
                hit = self._memo[n0] = group_profile(self.accel, p, sb)
            except ValueError as e:
                raise ValueError(f"{self.where}, a query of {n0} items: {e}") from None
        return hit

    def profiles(self, n_items: np.ndarray):
        """No-contention profiles for the distinct first-stage sizes of ``n_items``: ``(profile
        index per query, first, end, stage_end, latency, busy)`` in seconds."""
        clock = self.accel.clock_ns * 1e-9
        uniq, inv = np.unique(np.asarray(n_items, dtype=np.int64), return_inverse=True)
        profs = [self.profile(n) for n in uniq.tolist()]
        first = np.array([[x * clock if x >= 0 else -1.0 for x in p["first"]] for p in profs])
        end = np.array([[x * clock for x in p["end"]] for p in profs])
        stage_end = np.array([p["stage_end"] for p in profs], dtype=np.float64) * clock
        latency = np.array([p["latency"] for p in profs], dtype=np.float64) * clock
        busy = np.array([p["busy"] for p in profs], dtype=np.float64) * clock
        return inv, first, end, stage_end, latency, busy

    def energy_j(self, n_items: np.ndarray) -> np.ndarray:
        """Dynamic energy of each query (joules)."""
        uniq, inv = np.unique(np.asarray(n_items, dtype=np.int64), return_inverse=True)
        return np.array([self.profile(n)["energy_pj"] * 1e-12 for n in uniq.tolist()])[inv]


@lru_cache(maxsize=256)
def accel_group(pipeline: Pipeline, g: tuple[int, ...]) -> AccelGroup:
    """The :class:`AccelGroup` of stages ``g`` of ``pipeline``, built once per (pipeline, g)."""
    return AccelGroup(pipeline, g)
