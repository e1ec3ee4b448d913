# amaranth: UnusedElaboratable=no
"""Fast pure-Python (amaranth.sim) tests of the PE and the systolic array, and RTL/model agreement."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from rpaccel.config import GemmConfig
from rpaccel.perfmodel import gemm_cycles
from rpaccel.rtl import GemmEngine, ProcessingElement, SystolicArray


def _wrap(x, bits):
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def test_pe_random_against_register_model():
    seed = 2024
    print(f"seed={seed}")
    rng = random.Random(seed)
    dut = ProcessingElement(in_width=8, acc_width=16)
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def tb(ctx):
        w = a = p = 0  # the PE's registers (reset 0)
        for cycle in range(300):
            a_in, w_in = rng.randint(-128, 127), rng.randint(-128, 127)
            psum_in, shift = rng.randint(-(1 << 15), (1 << 15) - 1), rng.random() < 0.3
            ctx.set(dut.a_in, a_in)
            ctx.set(dut.w_in, w_in)
            ctx.set(dut.psum_in, psum_in)
            ctx.set(dut.w_shift, shift)
            await ctx.tick()
            p = _wrap(psum_in + a_in * w, 16)   # uses the weight held before this edge
            a = a_in
            if shift:
                w = w_in
            assert (ctx.get(dut.psum_out), ctx.get(dut.a_out), ctx.get(dut.w_out)) == (p, a, w), \
                f"cycle {cycle}"

    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("rows, cols", [(1, 1), (2, 3), (3, 2)])
def test_array_timing_and_values(rows, cols):
    """Weights shift in last column first; column j of the vector fed (skewed) at cycle t appears
    on psum_out at cycle t + rows + j, as the array's docstring and ``latency`` say."""
    seed = 7 * rows + cols
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    W = rng.integers(-128, 128, size=(rows, cols))
    X = rng.integers(-128, 128, size=(5, rows))     # 5 vectors
    expect = X @ W
    dut = SystolicArray(rows=rows, cols=cols, in_width=8, acc_width=32)
    assert dut.latency == rows
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    seen = {}

    async def tb(ctx):
        ctx.set(dut.w_shift, 1)
        for s in range(cols):
            for i in range(rows):
                ctx.set(dut.w_in[i], int(W[i, cols - 1 - s]))
            await ctx.tick()
        ctx.set(dut.w_shift, 0)
        for t in range(5 + rows + cols + 2):
            for i in range(rows):
                v = t - i                      # row i is fed i cycles late (skew)
                ctx.set(dut.a_in[i], int(X[v, i]) if 0 <= v < 5 else 0)
            for j in range(cols):
                v = t - rows - j               # vector whose column j is visible now
                if 0 <= v < 5:
                    seen[(v, j)] = ctx.get(dut.psum_out[j])
            await ctx.tick()

    sim.add_testbench(tb)
    sim.run()
    assert len(seen) == 5 * cols
    for (v, j), got in seen.items():
        assert got == expect[v, j], (v, j)


@pytest.mark.parametrize("rows, cols", [(1, 1), (2, 3), (16, 16), (5, 1)])
def test_engine_contract_matches_perf_model(rows, cols):
    """The RTL's schedule properties and the perf model's breakdown are the same numbers."""
    cfg = GemmConfig(rows=rows, cols=cols)
    eng = GemmEngine(cfg)
    for m, k, n in [(1, 1, 1), (3, 5 * rows, 2 * cols + 1)]:
        c = gemm_cycles(cfg, m, k, n)
        assert c.fill_drain == (c.tiles - 1) * eng.gap_cycles + eng.drain_cycles
    assert eng.cfg is cfg


def test_engine_rejects_non_config():
    with pytest.raises(TypeError, match="cfg must be a GemmConfig"):
        GemmEngine({"rows": 2, "cols": 2})


def test_topk_contract_shared_with_model():
    from rpaccel.config import TopkConfig
    from rpaccel.perfmodel import topk_cycles
    from rpaccel.rtl import TopkFilter

    f = TopkFilter(TopkConfig(k_max=4, lanes=2))
    # one item, k=1: the item's (last) beat, then the result after result_latency cycles
    assert topk_cycles(f.cfg, 1, 1) == f.result_latency


def test_topk_rejects_non_config():
    from rpaccel.rtl import TopkFilter

    with pytest.raises(TypeError, match="cfg must be a TopkConfig"):
        TopkFilter({"k_max": 4})


def test_embcache_contract_shared_with_model():
    from rpaccel.config import EmbCacheConfig
    from rpaccel.perfmodel.embcache import embcache_timeline
    from rpaccel.rtl.embcache import EmbeddingCache

    cfg = EmbCacheConfig(dim=4, rows=64, static_rows=2, sets=8, ways=2)
    dut = EmbeddingCache(cfg)
    # the model's first acceptance after reset is the RTL's clear time
    tl = embcache_timeline(cfg, [(0, 1, 0)], start=0, ready_from=dut.clear_cycles)
    assert tl[0].accept == dut.clear_cycles == cfg.sets
    with pytest.raises(TypeError, match="cfg must be an EmbCacheConfig"):
        EmbeddingCache({"dim": 4})
