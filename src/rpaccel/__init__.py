"""rpaccel: RPAccel (RecPipe, MICRO 2021) as RTL, a cycle-exact performance model and system studies.

Sub-packages:

* :mod:`rpaccel.perfmodel` -- cycle-exact performance models and golden functional models (numpy only).
* :mod:`rpaccel.rtl` -- Amaranth HDL of the hardware units (needs the ``hw`` extra).
* :mod:`rpaccel.verif` -- cocotb testbenches and the Verilator runner (needs the ``hw`` extra).
* :mod:`rpaccel.sched` -- system studies (uses :mod:`rpaccel.perfmodel` only).
"""

__version__ = "0.1.0"
