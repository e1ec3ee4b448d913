"""Study plots on small inputs with known answers: one colour per pipeline across a study's
plots, saturated points kept and marked, crowded legends reduced to the front, missing figures
labelled instead of drawn as 0. Each study's own plots are rendered by its test
(tests/test_studies.py, tests/test_streams.py, tests/test_workloads.py) on its small
configuration."""

from __future__ import annotations

import numpy as np

from rpaccel.sched.studies import plots


def _png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    return data


def test_one_colour_per_pipeline_across_plots(tmp_path):
    names = ["S->L on CPU", "RM-large on accel", "S->M->L"]
    colors = plots.palette(names)
    rows = [{"config": n, "qps": q, "p95_s": 0.001 * (i + 1) * q / 50, "saturated": False}
            for i, n in enumerate(names) for q in (50, 100)]
    a = plots.p95_vs_qps(rows, tmp_path / "a.png", title="t", colors=colors)
    b = plots.latency_cdf({n: np.linspace(0.001, 0.002, 50) for n in names[::-1]},
                          tmp_path / "b.png", title="t", colors=colors,
                          labels={n: f"{n} @ 100 QPS" for n in names})
    assert a == b == colors and len(set(colors.values())) == 3
    _png(tmp_path / "a.png"), _png(tmp_path / "b.png")


def test_saturated_points_are_kept_and_crowded_legends_name_the_front(tmp_path):
    rows = []
    for c in range(30):                       # config 7 is best at every load; 29 saturates
        for q in (100, 200, 400):
            rows.append({"config": f"cfg{c:02d}", "qps": q, "saturated": c == 29,
                         "p95_s": 0.001 * (1 + abs(c - 7)) * q / 100})
    named = plots.p95_vs_qps(rows, tmp_path / "p.png", title="placements", sla_s=0.01)
    assert set(named) == {"cfg07"}
    _png(tmp_path / "p.png")
    only_sat = [{"config": "x", "qps": 10, "saturated": True, "p95_s": 5.0}]
    assert set(plots.p95_vs_qps(only_sat, tmp_path / "s.png", title="t")) == {"x"}
    _png(tmp_path / "s.png")


def test_bars_carry_their_values_and_missing_ones_say_why(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    texts = []
    text, annotate = plt.Axes.text, plt.Axes.annotate

    def spy_text(self, x, y, s, *a, **k):
        texts.append(s)
        return text(self, x, y, s, *a, **k)

    def spy_annotate(self, s, *a, **k):          # bar_label writes through annotate
        texts.append(s)
        return annotate(self, s, *a, **k)

    plt.Axes.text, plt.Axes.annotate = spy_text, spy_annotate
    try:
        plots.bar(["wnd", "dlrm-rmc1", "ncf"], [2.3456, None, 1.0], tmp_path / "g.png",
                  title="gain", ylabel="x", missing="baseline misses SLA")
    finally:
        plt.Axes.text, plt.Axes.annotate = text, annotate
    assert "baseline misses SLA" in texts and "2.35" in texts and "1" in texts
    _png(tmp_path / "g.png")
