"""Plots for system studies (matplotlib, Agg backend: no display needed). Reads result tables."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

__all__ = ["p95_vs_qps", "latency_cdf", "bar", "lines", "waterfall", "timeline", "palette",
           "miss_ratio", "scatter"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: More series than this: only the front (best at some load) is coloured and named.
MAX_LEGEND = 10


def palette(names) -> dict[str, tuple]:
    """One colour per name, in the order given: pass the same mapping to every plot of one
    study so a pipeline keeps its colour from plot to plot."""
    import matplotlib

    names = list(dict.fromkeys(names))
    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def value_label(v: float) -> str:
    """A bar's value as printed on it: three significant digits, whole numbers from 1,000."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _legend(ax, entries: int) -> None:
    """The legend inside when it is small, outside on the right otherwise (never over data)."""
    if entries == 0:
        return
    if entries <= 6:
        ax.legend(fontsize=7, loc="best")
    else:
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                  ncol=1 + entries // 25)


def p95_vs_qps(rows: list[dict], path: Path, *, title: str, sla_s: float | None = None,
               key: str = "config", colors: dict | None = None) -> dict:
    """p95 latency against offered QPS, one line per configuration. A saturated point has no
    meaningful p95: it is drawn as an ``x`` on the top edge, in its configuration's colour.
    With more than :data:`MAX_LEGEND` configurations, those best at no load are drawn grey
    and unnamed. Returns the colours of the named configurations."""
    plt = _plt()
    by = defaultdict(list)
    for r in rows:
        by[r[key]].append((r["qps"], None if r["saturated"] else r["p95_s"] * 1e3))
    colors = dict(colors or palette(sorted(by)))
    for name in by:
        colors.setdefault(name, palette([*colors, name])[name])
    front = set(by)
    if len(by) > MAX_LEGEND:
        best: dict = {}
        for name, pts in by.items():
            for q, v in pts:
                if v is not None and (q not in best or v < best[q][0]):
                    best[q] = (v, name)
        front = {n for _, n in best.values()}
    fig, ax = plt.subplots(figsize=(8.5 if len(front) > 6 else 7, 4.5))
    ok = [v for pts in by.values() for _, v in pts if v is not None]
    top = (max(ok) * 2.0) if ok else 1.0
    entries, others, sat = 0, 0, 0
    for name, pts in sorted(by.items()):
        pts.sort(key=lambda p: p[0])
        good = [(q, v) for q, v in pts if v is not None]
        bad = [q for q, v in pts if v is None]
        named = name in front
        col = colors[name] if named else "0.7"
        ax.plot([p[0] for p in good], [p[1] for p in good], marker="o", ms=3, color=col,
                lw=1.5 if named else 0.8, label=name if named else None, zorder=3 if named else 1)
        if bad:
            ax.scatter(bad, [top] * len(bad), marker="x", color=col, s=30, zorder=4,
                       clip_on=False)
            sat += len(bad)
        entries += named
        others += not named
    if others:
        ax.plot([], [], color="0.7", lw=0.8, label=f"{others} other configurations")
        entries += 1
    if sat:
        ax.scatter([], [], marker="x", color="k", label="saturated (p95 unbounded)")
        entries += 1
    if sla_s:
        ax.axhline(sla_s * 1e3, color="k", ls="--", lw=1, label="SLA")
        entries += 1
    ax.set_xlabel("offered load (queries/s)")
    ax.set_ylabel("p95 latency (ms)")
    ax.set_yscale("log")
    if ok:
        ax.set_ylim(top=top * 1.15)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _legend(ax, entries)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return {n: colors[n] for n in by if n in front}


def latency_cdf(curves: dict[str, np.ndarray], path: Path, *, title: str,
                colors: dict | None = None, labels: dict[str, str] | None = None) -> dict:
    """Empirical CDF of per-query latency, one curve per key (coloured by ``colors``, named by
    ``labels``, both keyed like ``curves``). Returns the colours used."""
    plt = _plt()
    colors = dict(colors or palette(curves))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, lat in curves.items():
        x = np.sort(np.asarray(lat)) * 1e3
        colors.setdefault(name, palette([*colors, name])[name])
        ax.plot(x, np.arange(1, len(x) + 1) / len(x), color=colors[name],
                label=(labels or {}).get(name, name))
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of queries")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _legend(ax, len(curves))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return {n: colors[n] for n in curves}


def labelled_bars(ax, labels: list[str], values: list[float | None], *, missing: str,
                  color: str = "tab:blue") -> None:
    """Bars on ``ax`` with their values written on them; a value of None has no bar but the
    ``missing`` text where it would stand (never a bar of height 0); slanted tick labels."""
    x = np.arange(len(labels))
    bars = ax.bar(x, [v if v is not None else 0.0 for v in values], color=color)
    ax.bar_label(bars, labels=["" if v is None else value_label(v) for v in values],
                 fontsize=8)
    for i, v in enumerate(values):
        if v is None:
            ax.text(i, 0, missing, rotation=90, ha="center", va="bottom", fontsize=8,
                    color="tab:red")
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.margins(y=0.15)


def bar(labels: list[str], values: list[float | None], path: Path, *, title: str,
        ylabel: str, missing: str = "n/a", ref: float | None = 1.0) -> None:
    """One bar per label, its value written on it; a value of None has no bar but the
    ``missing`` text where the bar would stand (never a bar of height 0)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(7, 0.9 * len(labels)), 4))
    labelled_bars(ax, labels, values, missing=missing)
    if ref is not None:
        ax.axhline(ref, color="k", lw=1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def lines(curves: dict, path: Path, *, label: str, xlabel: str, ylabel: str, title: str,
          logx: bool = False, ylim: tuple[float, float] | None = None) -> None:
    """One line per key of ``curves`` (a list of (x, y) points); ``label`` formats the key."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, pts in curves.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label.format(k))
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    _legend(ax, len(curves))
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def miss_ratio(rows: list[dict], path: Path, *, working_set: int, title: str,
               mark: tuple[int, str] | None = None) -> None:
    """Miss ratio vs capacity (log x), one line per policy; the region below OPT (no policy
    that inserts every miss reaches it) shaded. ``rows``: policy, capacity, miss_ratio.
    ``mark``: a capacity to draw as a dotted vertical line, with its label."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    pols = list(dict.fromkeys(r["policy"] for r in rows))
    for p in pols:
        pts = sorted((r["capacity"], r["miss_ratio"]) for r in rows if r["policy"] == p)
        x, y = [a for a, _ in pts], [b for _, b in pts]
        lbl = p + (" (RTL)" if p == "lru" else " (bound)" if p == "opt" else " (model-only)")
        ax.plot(x, y, marker="o", ms=3, label=lbl, lw=2 if p in ("lru", "opt") else 1.2,
                ls="--" if p == "opt" else "-")
        if p == "opt":
            ax.fill_between(x, 0, y, color="grey", alpha=0.15, label="below OPT: unreachable")
    if mark is not None:
        ax.axvline(mark[0], color="black", ls=":", lw=1)
        ax.text(mark[0], 0.97, f" {mark[1]}", fontsize=8, va="top")
    ax.set_xscale("log")
    ax.set_xlabel(f"dynamic cache capacity (lines; working set {working_set:,})")
    ax.set_ylabel("miss ratio")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def scatter(points: list[tuple[float, float, str]], path: Path, *, xlabel: str, ylabel: str,
            title: str, hline: float | None = None) -> None:
    """(x, y, group) points, one colour per group; log x."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by = defaultdict(list)
    for x, y, g in points:
        by[g].append((x, y))
    for g, pts in sorted(by.items()):
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=10, label=g)
    if hline is not None:
        ax.axhline(hline, color="k", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _legend(ax, len(by))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def waterfall(steps: list[str], series: dict[str, list[float]], path: Path, *, title: str,
              ylabel: str) -> None:
    """One waterfall panel per series: the first bar is the starting value, each later bar the
    step's change (green: faster, red: slower) floating on the running total, and a final bar
    the result."""
    plt = _plt()
    fig, axes = plt.subplots(len(series), 1, figsize=(9, 3.6 * len(series)), squeeze=False)
    for ax, (name, vals) in zip(axes[:, 0], series.items()):
        x = np.arange(len(vals) + 1)
        ax.bar(0, vals[0], color="tab:gray")
        for i in range(1, len(vals)):
            d = vals[i] - vals[i - 1]
            ax.bar(i, abs(d), bottom=min(vals[i], vals[i - 1]),
                   color="tab:red" if d > 0 else "tab:green")
            ax.plot([i - 1.4, i + 0.4], [vals[i - 1]] * 2, color="k", lw=0.5)
        ax.bar(len(vals), vals[-1], color="tab:blue")
        ax.set_xticks(x, [*steps, "result"], rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}: {name}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def timeline(tl: list[dict], path: Path, title: str) -> None:
    """The executor's busy timeline (:attr:`rpaccel.perfmodel.executor.ExecResult.timeline`):
    one row per command queue, a bar per command from its issue cycle to its done cycle."""
    plt = _plt()

    queues = list(dict.fromkeys(r["queue"] for r in tl))
    colors = {"RECV": "tab:gray", "GATHER": "tab:orange", "LOADA": "tab:blue",
              "GEMM": "tab:green", "TOPK": "tab:red", "SEND": "tab:purple"}
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(queues) + 1.2))
    for r in tl:
        y = queues.index(r["queue"])
        ax.broken_barh([(r["issue"], r["done"] - r["issue"] + 1)], (y - 0.4, 0.8),
                       color=colors[r["op"]])
    ax.set_yticks(range(len(queues)), queues)
    ax.invert_yaxis()
    ax.set_xlabel("cycle")
    ax.set_title(title)
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()],
              labels=list(colors), ncol=6, fontsize=8, loc="upper center",
              bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    from rpaccel.outputs import atomic_file

    try:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
