"""The histogram filter's golden model and cycle model, by hand: which items it returns, the
threshold walk, and the stall-free cycle formula; and its quality form."""

import numpy as np
import pytest

from rpaccel.config import HistkConfig
from rpaccel.perfmodel.histk import histk, histk_cycles, histk_select, score_bins
from rpaccel.perfmodel.topk import topk


def test_bins_cover_the_score_range():
    c = HistkConfig(bins=4, max_items=64, score_width=4, id_width=6)
    assert score_bins(c, [0, 3, 4, 7, 8, 15]).tolist() == [0, 0, 1, 1, 2, 3]
    s = HistkConfig(bins=4, max_items=64, score_width=4, id_width=6, signed_scores=True)
    assert score_bins(s, [-8, -5, -4, -1, 0, 7]).tolist() == [0, 0, 1, 1, 2, 3]


def test_by_hand():
    c = HistkConfig(bins=4, max_items=64, score_width=4, id_width=6)
    scores = [1, 13, 6, 15, 9, 2, 12, 5]     # bins 0 3 1 3 2 0 3 1 -> counts [2, 2, 1, 3]
    r = histk(c, scores, 3)                  # the top bin alone holds 3
    assert (r.threshold, r.count, r.index.tolist()) == (3, 3, [1, 3, 6])
    r = histk(c, scores, 4)                  # 3 + bin 2's one item
    assert (r.threshold, r.count, r.index.tolist()) == (2, 4, [1, 3, 4, 6])
    r = histk(c, scores, 5)                  # 4 + bin 1's two: 6 items, at least k
    assert (r.threshold, r.count) == (1, 6)
    r = histk(c, scores, 60)                 # never reached: bin 0, everything
    assert (r.threshold, r.count) == (0, 8)
    # stall-free cycles: n - 1 + 1 (walk latency) + walk (4 - thr) + 2 (drain) + last index
    assert histk_cycles(c, scores, 3) == 7 + 1 + 1 + 2 + 6
    assert histk_cycles(c, scores, 60) == 7 + 1 + 4 + 2 + 7


@pytest.mark.parametrize("seed", range(20))
def test_superset_of_the_exact_topk(seed):
    rng = np.random.default_rng(seed)
    c = HistkConfig(bins=16, max_items=512, score_width=10, id_width=9)
    n = int(rng.integers(1, 513))
    k = int(rng.integers(1, 513))
    s = rng.integers(0, 1024, size=n)
    r = histk(c, s, k)
    _, ids = topk(s, np.arange(n), k)
    assert set(ids.tolist()) <= set(r.index.tolist())
    assert r.count >= min(k, n)
    print(f"seed={seed} n={n} k={k} returned={r.count}; reproduce: test_superset_of_the_exact_"
          f"topk[{seed}]")


def test_quality_form_matches_the_integer_filter():
    """`histk_select` (float scores, the quality engine's) keeps what the integer filter keeps
    when the scores are the bins' integers."""
    rng = np.random.default_rng(3)
    c = HistkConfig(bins=16, max_items=256, score_width=8, id_width=8)
    s = rng.integers(0, 256, size=(5, 256))
    mask = histk_select(s.astype(float), 32, 16, 0.0, 256.0)
    for q in range(5):
        assert np.flatnonzero(mask[q]).tolist() == histk(c, s[q], 32).index.tolist()


def test_histogram_funnel_by_hand_and_cli(tmp_path):
    """Stage 0 keeps every candidate in the bins from the top until 2 are reached; the last
    stage ranks exactly among them."""
    import json
    import subprocess
    import sys

    from rpaccel.sched.quality.metrics import histogram_funnel

    s0 = np.array([[0.0, 9.9, 5.0, 9.0, 1.0, 8.0, 2.0, 3.0]])    # 8 candidates, 4 bins of 2.475
    s1 = np.array([[0.0, 1.0, 0.0, 3.0, 0.0, 2.0, 9.0, 0.0]])
    ranked, kept = histogram_funnel([s0, s1], [8, 2], k_out=2, bins=4)
    # top bin [7.425, 9.9]: candidates 1, 3, 5 (3 >= 2): stage 1 ranks those three
    assert kept == [3.0]
    assert ranked.tolist() == [[3, 5]]
    pipe = tmp_path / "p.toml"
    pipe.write_text('[[stage]]\nmodel = "rm-small"\nplatform = "cpu"\nengines = 1\nitems = 1024\n'
                    '[[stage]]\nmodel = "rm-large"\nplatform = "cpu"\nengines = 1\nitems = 128\n')
    r = subprocess.run([sys.executable, "-m", "rpaccel.cli", "quality", "--pipeline", str(pipe),
                        "--filter", "histogram", "--queries", "50", "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["filter"] == "histogram" and d["histogram_kept"][0] >= 128


def test_model_histk_runs_without_cocotb():
    """`rpaccel model histk` needs neither cocotb nor Amaranth: a fresh interpreter with both
    blocked from importing runs it."""
    import json
    import subprocess
    import sys

    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('cocotb', 'cocotb_tools', 'amaranth'):\n"
            "            raise ImportError('blocked ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "from rpaccel.cli import main\n"
            "sys.exit(main(['model', 'histk', '--n', '64', '--k', '8', '--json']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["n"] == 64 and out["returned"] >= 8
