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
    raddr2, re2, rdata2:
        With ``read_ports=2`` (macro ``rpaccel_sram_2r``): a second read port, same timing.
    """

    def __init__(self, m: Module, name: str, *, width: int, depth: int,
                 read_ports: int = 1) -> None:
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
        second = {}
        if read_ports == 2:
            self.raddr2 = Signal(self.abits, name=f"{name}_raddr2")
            self.re2 = Signal(name=f"{name}_re2")
            self.rdata2 = Signal(width, name=f"{name}_rdata2")
            second = dict(i_re2=self.re2, i_raddr2=self.raddr2, o_rdata2=self.rdata2)
        elif read_ports != 1:
            raise ValueError(f"SRAM {name}: read_ports must be 1 or 2, got {read_ports}")
        m.submodules[name] = Instance(
            "rpaccel_sram" if read_ports == 1 else "rpaccel_sram_2r",
            p_WIDTH=width, p_DEPTH=depth, p_ABITS=self.abits,
            i_clk=ClockSignal("sync"),
            i_re=self.re, i_raddr=self.raddr, o_rdata=self.rdata,
            i_we=self.we, i_waddr=self.waddr, i_wdata=self.wdata, **second,
        )
