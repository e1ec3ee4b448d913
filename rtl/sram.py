"""SRAM macro instantiation (see ``verilog/rpaccel_sram.v`` for the behavioural model)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from amaranth.hdl import ClockSignal, Instance, Module, Signal

__all__ = ["SRAM", "SRAM_MODEL_PATH", "PUBLIC_VLT_PATH"]

SRAM_MODEL_PATH: Path = Path(str(resources.files("rpaccel.rtl") / "verilog" / "rpaccel_sram.v"))
#: Verilator control file making the SRAM arrays reachable from cocotb (back-door access).
PUBLIC_VLT_PATH: Path = Path(str(resources.files("rpaccel.rtl") / "verilog" / "public.vlt"))


class SRAM:
    """Ports of one ``rpaccel_sram`` macro, added to ``m`` as submodule ``name``.

    Members
    -------
    raddr, re, rdata:
        Read port: ``rdata`` holds ``mem[raddr]`` from the cycle after ``re`` was high.
    waddr, we, wdata:
        Write port: ``mem[waddr] <= wdata`` at the end of a cycle with ``we`` high.
    """

    def __init__(self, m: Module, name: str, *, width: int, depth: int) -> None:
        if width < 1 or depth < 1:
            raise ValueError(f"SRAM {name}: width and depth must be >= 1, got {width} x {depth}")
        self.width, self.depth = width, depth
        self.abits = max(1, (depth - 1).bit_length())
        self.raddr = Signal(self.abits, name=f"{name}_raddr")
        self.re = Signal(name=f"{name}_re")
        self.rdata = Signal(width, name=f"{name}_rdata")
        self.waddr = Signal(self.abits, name=f"{name}_waddr")
        self.we = Signal(name=f"{name}_we")
        self.wdata = Signal(width, name=f"{name}_wdata")
        m.submodules[name] = Instance(
            "rpaccel_sram",
            p_WIDTH=width, p_DEPTH=depth, p_ABITS=self.abits,
            i_clk=ClockSignal("sync"),
            i_re=self.re, i_raddr=self.raddr, o_rdata=self.rdata,
            i_we=self.we, i_waddr=self.waddr, i_wdata=self.wdata,
        )
