"""The embedding-cache policy study (``rpaccel study cache``) on one workload.

One trace of the workload (:func:`rpaccel.perfmodel.feed.workload_trace`, ``items`` items,
item-major) is measured four ways:

1. **miss-ratio curves**: every policy (:data:`rpaccel.perfmodel.policies.POLICIES`) on a fully
   associative dynamic cache (no static set), capacities from 1 % to 100 % of the working set
   (distinct (table, row) keys of the trace), log-spaced; OPT is the bound no policy that
   inserts every miss can beat;
2. **static/dynamic split**: a fixed on-chip budget (``budget`` rows: the ``rpaccel`` preset's
   static rows x tables + dynamic lines, by default) shared between a static set -- chosen by
   profiling the first :data:`PROFILE_SHARE` of the trace, spread over tables by frequency --
   and a fully associative LRU dynamic cache;
3. **per-stage way split** (RecPipe's Fig. 10c): a two-stage trace -- stage 0 looks up every
   item; stage 1 looks up one item in 8 (the survivors, chosen at random) in its own tables --
   on the preset's set-associative geometry with the ways split between the stages, FIFO (the
   RecPipe artifact's cache study) and LRU side by side;
4. **cold vs warm**: the preset's geometry and profiled per-table static set, a query of
   ``items_per_query`` items run on a reset cache (cold) or on the cache the previous queries
   left (warm).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rpaccel.accel import load_accel
from rpaccel.perfmodel.feed import workload_trace
from rpaccel.perfmodel.policies import MODEL_ONLY, POLICIES, cache_counts, fa_counts, static_set
from rpaccel.trace import Trace
from rpaccel.workload import Workload

from . import plots
from .report import manifest, output_dir, write_rows

__all__ = ["cache_study", "PROFILE_SHARE", "DEFAULT_TABLES"]

#: Share of the trace profiled to choose a static set.
PROFILE_SHARE = 0.1
#: Tables of a workload that repeats one table spec (RecPipe's models have 26).
DEFAULT_TABLES = 26


def _sub(tr: Trace, sel) -> Trace:
    return Trace(tr.tables[sel], tr.rows[sel], source=tr.source)


def _two_stage(tr: Trace, item: np.ndarray, T: int, seed: int) -> tuple[Trace, np.ndarray]:
    """Stage 0: every lookup; stage 1: the lookups of one item in 8, tables offset by T,
    after each block of 512 items (a sub-batch's survivors). ``item``: each lookup's item."""
    rng = np.random.default_rng([seed, 41])
    keep = rng.random(int(item.max()) + 1) < 1 / 8
    block = item // 512
    bounds = np.searchsorted(block, np.arange(int(block.max()) + 2))
    tabs, rows, stages = [], [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        k = keep[item[a:b]]
        tabs += [tr.tables[a:b], tr.tables[a:b][k] + T]
        rows += [tr.rows[a:b], tr.rows[a:b][k]]
        stages += [np.zeros(b - a, dtype=np.int64), np.ones(int(k.sum()), dtype=np.int64)]
    return Trace(np.concatenate(tabs), np.concatenate(rows), source=tr.source), \
        np.concatenate(stages)


def cache_study(workload: Workload, out: Path, *, policies: tuple[str, ...] = POLICIES,
                capacities: list[int] | None = None, items: int = 50_000,
                items_per_query: int = 512, accel: str = "rpaccel", seed: int = 0,
                tables: int | None = None) -> dict:
    """Run the study (module doc) and write ``DIR``: ``miss_ratio.csv``, ``static_split.csv``,
    ``stage_split.csv``, ``cold_warm.csv``, ``cache.md``, ``miss_ratio.png``,
    ``static_split.png``, ``stage_split.png``, ``manifest.json``."""
    from tqdm import tqdm

    emb = load_accel(accel).embedding
    T = tables or workload.n_tables() or DEFAULT_TABLES
    tr = workload_trace(workload, items=items, tables=T, seed=seed, items_per_query=1)
    if workload.trace is None and tr.query is not None:      # drawn: query = item
        item = tr.query
    elif tr.lengths is not None:                             # bags of (item, table), in order
        item = np.repeat(np.arange(len(tr.lengths)) // T, tr.lengths)
    else:                                                    # one lookup per (item, table)
        item = np.arange(len(tr)) // T
    keys = tr.keys()
    ws = len(np.unique(keys))
    if capacities is None:
        capacities = sorted({max(1, int(round(ws * f))) for f in np.logspace(-2, 0, 9)})
    # 1. miss-ratio curves
    mrc = []
    for cap in tqdm(capacities, desc="miss-ratio curves", unit="capacity", leave=False):
        for pol in policies:
            c = fa_counts(tr, pol, cap)
            mrc.append({"policy": pol, "model_only": pol in MODEL_ONLY, "capacity": cap,
                        "capacity_share": cap / ws, "lookups": c["lookups"], "hits": c["hits"],
                        "miss_ratio": 1 - c["hit_rate"]})
    # 2. static/dynamic split at a fixed budget
    budget = emb.static_rows * T + emb.sets * emb.ways
    window = slice(0, max(1, int(len(tr) * PROFILE_SHARE)))
    split = []
    for share in (0.0, 0.125, 0.25, 0.5, 0.75, 0.875, 1.0):
        st_n = int(round(budget * share))
        ss = static_set(tr, st_n, split="global", window=window)
        dyn = budget - st_n
        c = fa_counts(tr, "lru", dyn, static=ss) if dyn else {
            **fa_counts(tr, "lru", 1, static=ss), "dynamic_hits": 0}
        hits = c["static_hits"] + c["dynamic_hits"]
        split.append({"static_share": share, "static_rows": st_n, "dynamic_lines": dyn,
                      "static_hits": c["static_hits"], "dynamic_hits": c["dynamic_hits"],
                      "hit_rate": hits / len(tr)})
    # 3. per-stage way split on the preset geometry
    two, stg = _two_stage(tr, item, T, seed)
    stage_rows = []
    for pol in ("fifo", "lru"):
        for w0 in range(1, emb.ways):
            c = cache_counts(two, pol, sets=emb.sets, ways=emb.ways, stages=stg,
                             stage_ways=(w0, emb.ways - w0))
            stage_rows.append({"policy": pol, "model_only": pol in MODEL_ONLY,
                               "stage0_ways": w0, "stage1_ways": emb.ways - w0,
                               "hit_rate": c["hit_rate"]})
    # 4. cold vs warm, the preset's geometry and per-table profiled static set
    ss = static_set(tr, emb.static_rows, split="per-table", window=window)
    cw = []
    for q_items in sorted({items_per_query, 4096}):
        query = item // q_items
        nq = max(1, min(int(query[-1]) + 1, 64))
        bounds = np.searchsorted(query, np.arange(nq + 1))
        sub = _sub(tr, slice(0, bounds[-1]))
        warm = cache_counts(sub, "lru", sets=emb.sets, ways=emb.ways, static=ss)
        cold_hits = sum(cache_counts(_sub(tr, slice(a, b)), "lru", sets=emb.sets,
                                     ways=emb.ways, static=ss,
                                     rows=1 << int(sub.rows.max()).bit_length())["hits"]
                        for a, b in zip(bounds[:-1], bounds[1:]))
        cw.append({"items_per_query": q_items, "queries": nq, "lookups": len(sub),
                   "cold_hit_rate": cold_hits / len(sub), "warm_hit_rate": warm["hit_rate"]})
    lru = {r["capacity"]: r["miss_ratio"] for r in mrc if r["policy"] == "lru"}
    opt = {r["capacity"]: r["miss_ratio"] for r in mrc if r["policy"] == "opt"}
    gap = {c: lru[c] - opt[c] for c in lru if c in opt}
    best = max(split, key=lambda r: r["hit_rate"])
    md = [f"# Embedding-cache study: {workload.name}", "",
          f"{len(tr):,} lookups over {T} tables ({items:,} items, seed {seed}); working set "
          f"{ws:,} distinct rows. Policies other than `lru` are model-only (the RTL builds LRU).",
          "", "## Miss ratio, fully associative, no static set", "",
          "| capacity (lines) | share of working set | "
          + " | ".join(f"{p}{' (model-only)' if p in MODEL_ONLY else ''}" for p in policies)
          + " |", "|---|---|" + "---|" * len(policies)]
    for cap in capacities:
        vals = {r["policy"]: r["miss_ratio"] for r in mrc if r["capacity"] == cap}
        md.append(f"| {cap:,} | {cap / ws:.1%} | "
                  + " | ".join(f"{vals[p]:.4f}" for p in policies) + " |")
    if gap:
        cmax = max(gap, key=gap.get)
        md += ["", f"LRU is at most {gap[cmax] * 100:.2f} points of miss ratio above OPT "
                   f"(at {cmax:,} lines, {cmax / ws:.1%} of the working set)."]
    md += ["", f"## Static/dynamic split of {budget:,} rows ({accel} preset's on-chip rows)", "",
           "| static share | static rows | dynamic lines | hit rate |", "|---|---|---|---|"]
    md += [f"| {r['static_share']:.3f} | {r['static_rows']:,} | {r['dynamic_lines']:,} | "
           f"{r['hit_rate']:.4f} |" for r in split]
    md += ["", f"Best: {best['static_share']:.3f} static ({best['hit_rate']:.4f})."]
    md += ["", f"## Per-stage way split ({emb.sets} sets x {emb.ways} ways)", "",
           "| policy | stage-0 ways | stage-1 ways | hit rate |", "|---|---|---|---|"]
    md += [f"| {r['policy']} | {r['stage0_ways']} | {r['stage1_ways']} | {r['hit_rate']:.4f} |"
           for r in stage_rows]
    md += ["", "## Cold vs warm (preset geometry, profiled static set)", "",
           "| items per query | queries | cold hit rate | warm hit rate |", "|---|---|---|---|"]
    md += [f"| {r['items_per_query']:,} | {r['queries']} | {r['cold_hit_rate']:.4f} | "
           f"{r['warm_hit_rate']:.4f} |" for r in cw]
    with output_dir(out) as d:
        write_rows(mrc, d / "miss_ratio.csv")
        write_rows(split, d / "static_split.csv")
        write_rows(stage_rows, d / "stage_split.csv")
        write_rows(cw, d / "cold_warm.csv")
        (d / "cache.md").write_text("\n".join(md) + "\n")
        plots.miss_ratio(mrc, d / "miss_ratio.png", working_set=ws,
                         title=f"miss ratio vs capacity: {workload.name} ({len(tr):,} lookups)",
                         mark=(emb.sets * emb.ways, f"{accel}: {emb.sets * emb.ways:,} lines"))
        plots.lines({"LRU": [(r["static_share"], r["hit_rate"]) for r in split]},
                    d / "static_split.png", label="{}", xlabel="static share of the budget",
                    ylabel="hit rate", title=f"static/dynamic split of {budget:,} rows")
        plots.lines({p: [(r["stage0_ways"], r["hit_rate"]) for r in stage_rows
                         if r["policy"] == p] for p in ("fifo", "lru")},
                    d / "stage_split.png", label="{}", xlabel="stage-0 ways",
                    ylabel="hit rate", title=f"per-stage way split ({emb.ways} ways)")
        manifest(d / "manifest.json",
                 config={"workload": workload.name, "policies": list(policies),
                         "capacities": capacities, "items": items, "tables": T,
                         "items_per_query": items_per_query, "accel": accel}, seed=seed,
                 files=["miss_ratio.csv", "static_split.csv", "stage_split.csv",
                        "cold_warm.csv", "cache.md", "miss_ratio.png", "static_split.png",
                        "stage_split.png"])
    return {"workload": workload.name, "lookups": len(tr), "working_set": ws,
            "capacities": capacities, "mrc": mrc, "lru_opt_gap": max(gap.values()) if gap
            else None, "static_split": split, "stage_split": stage_rows, "cold_warm": cw}
