"""Amaranth HDL of RPAccel's units. Importing this package imports Amaranth."""

from .gemm import GemmEngine
from .topk import TopkFilter
from .systolic import ProcessingElement, SystolicArray, pe_logic

__all__ = ["GemmEngine", "ProcessingElement", "SystolicArray", "pe_logic", "TopkFilter"]
