"""The accelerator's own knobs at equal area (``rpaccel study tune``).

Starting from a base accelerator (the ``rpaccel`` preset by default), a hill climb changes one
knob at a time and keeps the best change that fits the area budget, per workload:

* ``mshrs`` and ``lanes`` of the embedding unit;
* ``static-dynamic``: the static hot set against the dynamic cache at equal embedding SRAM
  (``tables x static_rows + sets x ways`` lines kept);
* ``sets``: the dynamic cache's sets (a quarter to four times), its area changing;
* ``ways``: the dynamic cache's associativity at equal lines;
* ``split``: the sub-array split of the array (S->L's stages get a quarter and the rest);
* ``sub-batch``: items per sub-batch;
* ``one-stage``: RM-large on the whole array in monolithic mode, or on all sub-arrays.

**Area**: the roll-up of :func:`rpaccel.area.rollup` (``recpipe-12nm``), with the filter units
at their measured cells per entry and the embedding unit's logic from the structural model fitted
to syntheses (:func:`rpaccel.area.embedding_cells_model`), so MSHRs, lanes and the reorder
buffer are priced. The budget defaults to the base accelerator's own area.

**Objective**: RPAccel's two roofline pipelines, RM-large [4096] and S->L [4096, 512], each as a
stream of back-to-back queries on the executor (cycle-exact against the RTL; the workload's
ids; the first ``warmup`` queries warm the caches and are not measured). A configuration's
throughput on a pipeline is ``clock / steady cycles per query`` (the cycles between the last
warm-up query's end and the last query's end, per measured query); its **score** is the
geometric mean over the two pipelines. Each step keeps the change with the highest score;
ties keep the current value.

**Should the preset change?** Every workload's best configuration is evaluated on every
workload. Among those whose geometric-mean gain over the base is within
:data:`CHANGE_THRESHOLD` of the highest, the one changing the fewest knobs is recommended (a
knob changes only for a further 5 %), and the preset should change when its gain is at least
:data:`CHANGE_THRESHOLD`.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from rpaccel.accel import AccelConfig, accel_toml, load_accel
from rpaccel.query import Pipeline, load_pipeline
from rpaccel.sched.studies.config import TuneSettings
from rpaccel.sched.studies.report import manifest, output_dir, write_rows
from rpaccel.sched.studies.sweep import run_points

from . import plots

__all__ = ["tune_study", "KNOBS", "CHANGE_THRESHOLD", "accel_area_mm2", "build", "evaluate",
           "knob_values"]

#: The knobs, in the order a pass visits them.
KNOBS = ("mshrs", "lanes", "static-dynamic", "sets", "ways", "split", "sub-batch", "one-stage")
#: What a configuration is (the knobs' state).
_STATE = ("mshrs", "lanes", "static", "sets", "ways", "split", "sub-batch", "one-stage")
#: The smallest geometric-mean gain over the base for which the study recommends changing it.
CHANGE_THRESHOLD = 1.05
_MSHRS, _LANES, _WAYS = (16, 32, 64), (4, 8, 16), (4, 8, 16)
_SPLITS = ((1, 2), (2, 2), (2, 4))
_SUB_BATCHES = (128, 256, 512, 1024)


def accel_area_mm2(accel: AccelConfig) -> float:
    """The roll-up's total (mm^2), with the embedding unit's logic from the fitted model."""
    from rpaccel.area import embedding_cells_model, rollup

    return rollup(accel, embedding_cells=embedding_cells_model(accel.embedding)[0])["total_mm2"]


def _state(accel: AccelConfig, sub_batch: int, one_stage_subarrays: int) -> dict[str, Any]:
    e = accel.embedding
    return {"mshrs": e.mshrs, "lanes": e.lanes, "static": e.static_rows, "sets": e.sets,
            "ways": e.ways, "split": tuple(accel.array.split), "sub-batch": sub_batch,
            "one-stage": "all" if one_stage_subarrays else 0}


def knob_values(knob: str, state: dict, base: AccelConfig) -> list:
    """The values ``knob`` may take from ``state`` (the current one included)."""
    cur = _get(state, knob)
    if knob == "mshrs":
        vals = set(_MSHRS)
    elif knob == "lanes":
        vals = set(_LANES)
    elif knob == "sub-batch":
        vals = set(_SUB_BATCHES)
    elif knob == "split":
        vals = {s for s in _SPLITS if base.array.rows % s[0] == 0 and base.array.cols % s[1] == 0}
    elif knob == "one-stage":
        vals = {0, "all"}
    elif knob == "sets":
        vals = {cur * 2**j // 4 for j in (0, 1, 3, 4) if cur * 2**j >= 4}
    elif knob == "ways":
        lines = state["sets"] * state["ways"]
        vals = {w for w in _WAYS if lines % w == 0 and _pow2(lines // w)}
    else:                                   # static/dynamic at equal embedding lines
        static, sets = cur
        T, W = base.embedding.tables, state["ways"]
        total = T * static + sets * W
        vals = set()
        s = 1
        while s * W <= total:
            rest = total - s * W
            if rest % T == 0 and rest // T <= base.embedding.rows:
                vals.add((rest // T, s))
            s *= 2
    vals.add(cur)
    return sorted(vals, key=lambda v: (str(type(v)), v))


def moved(state: dict, knob: str, value) -> dict:
    """``state`` with ``knob`` set to ``value`` (a change of ways keeps the cache's lines)."""
    new = dict(state)
    if knob == "ways":
        new["sets"] = state["sets"] * state["ways"] // value
    if knob == "static-dynamic":
        new["static"], new["sets"] = value
    else:
        new[knob] = value
    return new


def _get(state: dict, knob: str):
    """``knob``'s value in ``state``."""
    return (state["static"], state["sets"]) if knob == "static-dynamic" else state[knob]


def _pow2(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def _accel(base: AccelConfig, state: dict) -> AccelConfig:
    """The accelerator of ``state`` (its ``[serve]`` table included)."""
    emb = dataclasses.replace(base.embedding, mshrs=state["mshrs"], lanes=state["lanes"],
                              static_rows=state["static"], sets=state["sets"],
                              ways=state["ways"], stage_ways=())
    split = tuple(state["split"])
    n = split[0] * split[1]
    one = 0 if state["one-stage"] == 0 else n         # "all": every sub-array
    return dataclasses.replace(base, array=dataclasses.replace(base.array, split=split),
                               embedding=emb,
                               serve=dataclasses.replace(base.serve, subarrays=one,
                                                         sub_batch=state["sub-batch"]))


def build(base: AccelConfig, state: dict) -> tuple[AccelConfig, int, dict[str, Pipeline]]:
    """The accelerator, the sub-batch and the two pipelines (:data:`_PIPES`, accelerator
    programs) of ``state``."""
    acc = _accel(base, state)
    n, one = acc.array.subarrays, acc.serve.subarrays
    rm = load_pipeline("rm-large").accel_program()
    rm = dataclasses.replace(rm, stages=(dataclasses.replace(rm.stages[0], subarrays=one),))
    sl = load_pipeline("s-l").accel_program()
    s0 = max(1, n // 4)
    sl = dataclasses.replace(sl, stages=(dataclasses.replace(sl.stages[0], subarrays=s0),
                                         dataclasses.replace(sl.stages[1], subarrays=n - s0)))
    return acc, state["sub-batch"], dict(zip(_PIPES, (rm, sl)))


#: The two pipelines a configuration is scored on.
_PIPES = ("RM-large [4096]", "S->L [4096, 512]")


def evaluate(pt: dict) -> dict:
    """One configuration on one workload: per pipeline the steady cycles per query, the mean
    latency and the on-chip hit rate of the measured queries; the score (module doc)."""
    from rpaccel.perfmodel.executor import model_accel

    acc, sb, pipes = build(pt["base"], pt["state"])
    Q, W = pt["queries"], pt["warmup"]
    out: dict[str, Any] = {"area_mm2": accel_area_mm2(acc)}
    qps = []
    for label, pipe in pipes.items():
        try:
            r = model_accel(acc, pipe, sub_batch=sb, seed=pt["seed"], queries=Q,
                            workload=pt["workload"])
        except ValueError as e:
            return {**out, "error": f"{label}: {e}"}
        ends = [f + lat for f, lat in zip(r.first_beat, r.latency)]
        cyc = (ends[-1] - (ends[W - 1] if W else 0)) / (Q - W)
        meas = r.per_query[W:]
        look = sum(p["lookups"] for p in meas)
        hits = sum(p["static_hits"] + p["dynamic_hits"] for p in meas)
        out[f"{label} cycles/query"] = cyc
        out[f"{label} queries/s"] = 1e9 / (cyc * acc.clock_ns)
        out[f"{label} latency_ms"] = sum(r.latency[W:]) / (Q - W) * acc.clock_ns * 1e-6
        out[f"{label} hit_rate"] = hits / look if look else None
        qps.append(out[f"{label} queries/s"])
    out["score"] = math.exp(sum(math.log(x) for x in qps) / len(qps))
    return out


def _key(state: dict) -> tuple:
    return tuple(state[k] for k in _STATE)


def _label(state: dict) -> str:
    st, sets = state["static"], state["sets"]
    one = "whole array" if state["one-stage"] == 0 else "all sub-arrays"
    return (f"mshrs {state['mshrs']}, lanes {state['lanes']}, static {st} rows/table, "
            f"{sets} sets x {state['ways']} ways, split {state['split'][0]}x{state['split'][1]}"
            f", sub-batch {state['sub-batch']}, RM-large on {one}")


class _Evaluator:
    """Evaluates configurations in batches (``run_points``), once each per workload."""

    def __init__(self, base, st: TuneSettings, budget: float, progress) -> None:
        self.base, self.st, self.budget, self.progress = base, st, budget, progress
        self.seen: dict[tuple, dict] = {}
        self.rows: list[dict] = []

    def __call__(self, wl, states: list[dict], step: str) -> list[dict]:
        todo, pts = [], []
        for s in states:
            k = (wl.name, _key(s))
            if k in self.seen:
                continue
            area = accel_area_mm2(_accel(self.base, s))
            if area > self.budget * (1 + 1e-12):
                self.seen[k] = {"area_mm2": area, "error": f"over budget ({area:.3f} mm^2)"}
                continue
            todo.append(k)
            pts.append({"base": self.base, "state": s, "workload": wl, "seed": self.st.seed,
                        "queries": self.st.queries, "warmup": self.st.warmup})
        res = run_points(evaluate, pts, workers=self.st.workers, dask=self.st.dask,
                         progress=self.progress, label=f"tune {wl.name} {step}")
        for k, r in zip(todo, res):
            self.seen[k] = r
        out = []
        for s in states:
            r = self.seen[(wl.name, _key(s))]
            self.rows.append({"workload": wl.name, "step": step,
                              **{k: (list(v) if isinstance(v, tuple) else v)
                                 for k, v in s.items()}, **r})
            out.append(r)
        return out


def _climb(ev: _Evaluator, wl, start: dict, passes: int, knobs) -> tuple[dict, dict, list[dict]]:
    """Hill climb from ``start`` on one workload: the best state, its result and the path."""
    cur, res = start, ev(wl, [start], "base")[0]
    if "score" not in res:
        raise ValueError(f"accel: the base accelerator cannot run the tune's pipelines on "
                         f"{wl.name}: {res['error']}")
    path = [{"workload": wl.name, "pass": 0, "knob": "base", "value": _label(cur),
             "score": res.get("score"), "area_mm2": res["area_mm2"]}]
    for p in range(1, passes + 1):
        changed = False
        for knob in knobs:
            vals = [v for v in knob_values(knob, cur, ev.base) if v != _get(cur, knob)]
            cands = [moved(cur, knob, v) for v in vals]
            rs = ev(wl, cands, f"pass {p}: {knob}")
            best = max(((r["score"], i) for i, r in enumerate(rs) if "score" in r),
                       default=None)
            if best is not None and best[0] > res["score"]:
                cur, res, changed = cands[best[1]], rs[best[1]], True
                path.append({"workload": wl.name, "pass": p, "knob": knob,
                             "value": _value(knob, _get(cur, knob)), "score": res["score"],
                             "area_mm2": res["area_mm2"]})
        if not changed:
            break
    return cur, res, path


def tune_study(out: Path, settings: TuneSettings | None = None, *, workloads, base="rpaccel",
               knobs=KNOBS, progress: bool | None = None, **kw) -> dict:
    """Run the search and write its folder: ``tune.csv`` (every evaluation), ``path.csv`` (each
    workload's accepted changes), ``best.csv`` (per workload, the base and its best),
    ``cross.csv`` (every best on every workload), ``roofline.csv``, ``tune.md``, ``tune.png``,
    ``configs/`` (each best as an accelerator file) and ``manifest.json``. ``base``: a preset
    name, a file or an :class:`~rpaccel.accel.AccelConfig`; ``workloads``: workload objects;
    ``knobs``: the knobs searched (a subset of :data:`KNOBS`, visited in its order)."""
    st = settings if settings is not None else TuneSettings(**kw)
    bad = [k for k in knobs if k not in KNOBS]
    if bad or not knobs:
        raise ValueError(f"knobs must be one or more of {', '.join(KNOBS)}, got "
                         f"{', '.join(map(repr, bad)) or 'none'}")
    knobs = tuple(k for k in KNOBS if k in knobs)
    acc0 = base if isinstance(base, AccelConfig) else load_accel(base, "--accel")
    if not workloads:
        raise ValueError("workloads must name at least one workload")
    area0 = accel_area_mm2(acc0)
    budget = st.budget_mm2 if st.budget_mm2 is not None else area0
    if budget < area0 * (1 - 1e-12):
        raise ValueError(f"budget_mm2 must be >= the base accelerator's area ({area0:.3f} mm^2: "
                         f"the search starts there), got {budget:g}")
    # a base serving whole queries (sub_batch 0) starts from the pipelines' own sub-batch
    start = _state(acc0, acc0.serve.sub_batch or load_pipeline("rm-large").sub_batch,
                   acc0.serve.subarrays)
    with output_dir(out) as d:
        ev = _Evaluator(acc0, st, budget, progress)
        bests, paths = {}, []
        for wl in workloads:
            s, r, path = _climb(ev, wl, start, st.passes, knobs)
            bests[wl.name] = s
            paths += path
        # every workload's best on every workload
        distinct = list({_key(s): s for s in bests.values()}.values())
        cross = []
        for wl in workloads:
            rs = ev(wl, [start, *distinct], "cross")
            b = rs[0]
            for s, r in zip(distinct, rs[1:]):
                cross.append({"config": _label(s), "workload": wl.name,
                              "score": r.get("score"), "gain_x": r["score"] / b["score"]
                              if "score" in r else None, "area_mm2": r["area_mm2"]})
        gains = {}
        for s in distinct:
            g = [c["gain_x"] for c in cross if c["config"] == _label(s)]
            gains[_key(s)] = math.exp(sum(map(math.log, g)) / len(g)) if all(g) else 0.0
        best_all = max(distinct, key=lambda s: gains[_key(s)])
        # the fewest knobs changed among those within CHANGE_THRESHOLD of the best gain
        close = [s for s in distinct
                 if gains[_key(s)] * CHANGE_THRESHOLD >= gains[_key(best_all)]]
        top = min(close, key=lambda s: (_n_changes(start, s), -gains[_key(s)]))
        top_gain = gains[_key(top)]
        change = top_gain >= CHANGE_THRESHOLD and _key(top) != _key(start)
        best_rows = []
        for wl in workloads:
            for role, s in (("base", start), ("best", bests[wl.name])):
                r = ev.seen[(wl.name, _key(s))]
                best_rows.append({"workload": wl.name, "role": role, "config": _label(s),
                                  "area_mm2": r["area_mm2"], "score": r["score"],
                                  **{f"{p} {m}": r[f"{p} {m}"] for p in _PIPES
                                     for m in ("queries/s", "latency_ms", "hit_rate")}})
        roof = _roofline(acc0, start, top, workloads)
        cfg = d / "configs"
        cfg.mkdir()
        for name, s in [*((f"best-{w}", s) for w, s in bests.items()), ("recommended", top)]:
            a = _accel(acc0, s)
            (cfg / f"{name}.toml").write_text(
                f"# rpaccel study tune: {_label(s)}\n"
                + accel_toml(dataclasses.replace(a, name=f"{acc0.name}-{name}")))
        write_rows(ev.rows, d / "tune.csv")
        write_rows(paths, d / "path.csv")
        write_rows(best_rows, d / "best.csv")
        write_rows(cross, d / "cross.csv")
        write_rows(roof, d / "roofline.csv")
        _plot(d / "tune.png", ev.rows, budget, [w.name for w in workloads])
        summary = {"base": _label(start), "base_area_mm2": area0, "budget_mm2": budget,
                   "recommended": _label(top), "recommended_gain_x": top_gain,
                   "recommended_changes": _changes(start, top), "change_preset": change,
                   "highest_gain": _label(best_all),
                   "highest_gain_x": gains[_key(best_all)],
                   "highest_gain_changes": _changes(start, best_all)}
        (d / "tune.md").write_text(_report(acc0, st, summary, best_rows, paths, cross, roof))
        manifest(d / "manifest.json",
                 config={"base": acc0.name, "workloads": [w.name for w in workloads],
                         "queries": st.queries, "warmup": st.warmup, "budget_mm2": budget,
                         "passes": st.passes, "knobs": list(knobs),
                         "change_threshold": CHANGE_THRESHOLD},
                 seed=st.seed, files=["tune.csv", "path.csv", "best.csv", "cross.csv",
                                      "roofline.csv", "tune.md", "tune.png", "configs/"])
    return {**summary, "best": best_rows, "path": paths, "cross": cross, "roofline": roof}


def _n_changes(a: dict, b: dict) -> int:
    return sum(a[k] != b[k] for k in _STATE)


def _changes(a: dict, b: dict) -> str:
    """The knobs ``b`` sets differently from ``a``, as ``knob old -> new``; "none"."""
    out = [f"{k} {_value(k, a[k])} -> {_value(k, b[k])}" for k in _STATE if a[k] != b[k]]
    return "; ".join(out) or "none"


def _value(knob: str, v) -> str:
    if knob == "split":
        return f"{v[0]}x{v[1]}"
    if knob == "static-dynamic":
        return f"{v[0]} static rows/table + {v[1]} sets"
    if knob == "one-stage":
        return "whole array" if v == 0 else "all sub-arrays"
    return str(v)


def _roofline(acc0, start, top, workloads) -> list[dict]:
    """Both pipelines against their bound (:mod:`.roofline`), base and recommended, per
    workload."""
    from .roofline import roofline

    out = []
    for role, s in (("base", start), ("recommended", top)):
        acc, sb, pipes = build(acc0, s)
        for wl in workloads:
            for label, pipe in pipes.items():
                r = roofline(acc, pipe.with_options(sub_batch=sb).with_workload(wl))
                out.append({"role": role, "workload": wl.name, "pipeline": label,
                            "cycles": r["cycles"], "bound": r["bound"], "bound_by": r["bound_by"],
                            "gap_x": r["gap_x"]})
    return out


def _plot(path: Path, rows: list[dict], budget: float, wls: list[str]) -> None:
    """Score against area per workload: every configuration the climb evaluated, the base, the
    climb's best, and the other workloads' bests run on this one."""
    plt = plots._plt()
    fig, axes = plt.subplots(1, len(wls), figsize=(4.2 * len(wls), 3.8), squeeze=False)
    for ax, w in zip(axes[0], wls):
        rs = [r for r in rows if r["workload"] == w and r.get("score")]
        climb = [r for r in rs if r["step"] != "cross"]
        cross = [r for r in rs if r["step"] == "cross"]
        ax.scatter([r["area_mm2"] for r in climb], [r["score"] for r in climb], s=14,
                   c="tab:blue", alpha=0.6, label="evaluated")
        if cross:
            ax.scatter([r["area_mm2"] for r in cross], [r["score"] for r in cross], s=40,
                       marker="s", facecolors="none", edgecolors="tab:purple",
                       label="bests of all workloads")
        base = [r for r in climb if r["step"] == "base"]
        if base:
            ax.scatter([base[0]["area_mm2"]], [base[0]["score"]], marker="*", s=160,
                       c="tab:orange", label="base", zorder=3)
        bst = max(climb, key=lambda r: r["score"], default=None)
        if bst:
            ax.scatter([bst["area_mm2"]], [bst["score"]], marker="D", s=50, c="tab:green",
                       label="this workload's best", zorder=3)
        ax.axvline(budget, color="grey", ls=":", label="budget")
        ax.set_title(w)
        ax.set_xlabel("area (mm²)")
        ax.set_ylabel("score (geomean queries/s)")
        ax.legend(fontsize=7)
    fig.suptitle("rpaccel study tune: equal-area search (RM-large and S->L, back to back)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _report(acc0, st, summary, best_rows, paths, cross, roof) -> str:
    from .roofline import ROOFLINE_GOAL

    L = ["# rpaccel study tune", "",
         f"Base: `{acc0.name}` ({summary['base']}), {summary['base_area_mm2']:.3f} mm²; budget "
         f"{summary['budget_mm2']:.3f} mm² (area roll-up, `recpipe-12nm`, embedding-unit logic "
         f"from the fitted structural model). Each evaluation: {st.queries} back-to-back "
         f"queries on the executor, the first {st.warmup} only warming the caches; score = "
         f"geometric mean of RM-large [4096] and S->L [4096, 512] queries/s.", "",
         "## Best configuration per workload", "",
         "| workload | role | configuration | area (mm²) | RM-large q/s | S->L q/s | score | "
         "gain |", "|---|---|---|---|---|---|---|---|"]
    for r in best_rows:
        b = next(x for x in best_rows if x["workload"] == r["workload"] and x["role"] == "base")
        L.append(f"| {r['workload']} | {r['role']} | {r['config']} | {r['area_mm2']:.3f} | "
                 f"{r['RM-large [4096] queries/s']:,.0f} | {r['S->L [4096, 512] queries/s']:,.0f}"
                 f" | {r['score']:,.0f} | {r['score'] / b['score']:.3f}x |")
    L += ["", "## Accepted changes", "", "| workload | pass | knob | value | score | area (mm²) |",
          "|---|---|---|---|---|---|"]
    L += [f"| {p['workload']} | {p['pass']} | {p['knob']} | {p['value']} | {p['score']:,.0f} | "
          f"{p['area_mm2']:.3f} |" for p in paths]
    L += ["", "## Every best on every workload (gain over the base)", "",
          "| configuration | " + " | ".join(dict.fromkeys(c["workload"] for c in cross)) + " |",
          "|---|" + "---|" * len(dict.fromkeys(c["workload"] for c in cross))]
    for cfg in dict.fromkeys(c["config"] for c in cross):
        L.append(f"| {cfg} | " + " | ".join(
            "—" if c["gain_x"] is None else f"{c['gain_x']:.3f}x"
            for c in cross if c["config"] == cfg) + " |")
    L += ["", "## Should the preset change?", ""]
    if summary["change_preset"]:
        L.append(f"Yes: {summary['recommended']} gains {summary['recommended_gain_x']:.3f}x "
                 f"(geometric mean over the workloads) within the area budget, above the "
                 f"{CHANGE_THRESHOLD:.2f}x threshold (`configs/recommended.toml`). The change: "
                 f"{summary['recommended_changes']}.")
    else:
        L.append(f"No: the best configuration across the workloads gains "
                 f"{summary['recommended_gain_x']:.3f}x over the base, below the "
                 f"{CHANGE_THRESHOLD:.2f}x threshold.")
    if summary["highest_gain"] != summary["recommended"]:
        L += ["", f"The highest geometric-mean gain, {summary['highest_gain_x']:.3f}x, is "
                  f"{summary['highest_gain']} ({summary['highest_gain_changes']}). It is within "
                  f"{CHANGE_THRESHOLD:.2f}x of the recommended one, which changes fewer knobs, "
                  f"so the smaller change is recommended."]
    L += ["", "## Against the roofline", "",
          "One cold query (`rpaccel.sched.studies.roofline`); goal: within "
          f"{ROOFLINE_GOAL:g}x on criteo-kaggle.", "",
          "| role | workload | pipeline | cycles | bound | bound by | cycles / bound |",
          "|---|---|---|---|---|---|---|"]
    L += [f"| {r['role']} | {r['workload']} | {r['pipeline']} | {r['cycles']:,} | "
          f"{r['bound']:,.0f} | {r['bound_by']} | {r['gap_x']:.2f}x |" for r in roof]
    return "\n".join(L) + "\n"
