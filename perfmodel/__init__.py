"""Cycle-exact performance models and golden functional models. Pure Python + numpy."""

from rpaccel.config import GemmConfig
from .gemm import (GemmCycles, gemm, gemm_cycles, output_beat_cycles, pack_a, pack_w,
                   random_operands, unpack_c, wrap_signed)

__all__ = ["GemmConfig", "GemmCycles", "gemm", "gemm_cycles", "output_beat_cycles", "pack_a",
           "pack_w", "random_operands", "unpack_c", "wrap_signed"]
