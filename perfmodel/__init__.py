"""Cycle-exact performance models and golden functional models. Pure Python + numpy."""

from rpaccel.config import GemmConfig, TopkConfig
from .gemm import (GemmCycles, MultiGemmCycles, beat_read_cycles, gemm, gemm_cycles, gemm_events,
                   gemm_multi_cycles, output_beat_cycles, pack_a, pack_w, random_operands,
                   unpack_c, wrap_signed)
from .topk import (QueryTiming, query_beats, result_beats, topk, topk_batch, topk_cycles,
                   topk_timeline)
from .compiler import compile_query
from .executor import ExecResult, execute, model_accel
from .query import run_query

__all__ = ["GemmConfig", "GemmCycles", "MultiGemmCycles", "beat_read_cycles", "gemm",
           "gemm_cycles", "gemm_events", "gemm_multi_cycles", "output_beat_cycles", "pack_a", "pack_w",
           "random_operands", "unpack_c", "wrap_signed", "TopkConfig", "QueryTiming",
           "query_beats", "result_beats", "topk", "topk_batch", "topk_cycles", "topk_timeline",
           "compile_query", "execute", "model_accel", "ExecResult", "run_query"]
