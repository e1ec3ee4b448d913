"""rpaccel: RPAccel (RecPipe, MICRO 2021) as RTL, a cycle-exact performance model and system studies.

The core (pure Python, read by every layer): :mod:`rpaccel.query` (a query's contract: the one
pipeline class and file format, stages, models, the funnel, the candidate record, placement),
:mod:`rpaccel.accel` (accelerator configs), :mod:`rpaccel.config` (unit configs),
:mod:`rpaccel.isa` (the command ISA and its latencies), :mod:`rpaccel.models` (the model
catalog), :mod:`rpaccel.area` (the area roll-up).

Layers (``tests/test_import_rules.py`` checks which may import which):

* :mod:`rpaccel.perfmodel` -- cycle-exact performance models and golden functional models (numpy only).
* :mod:`rpaccel.rtl` -- Amaranth HDL of the hardware units (needs the ``hw`` extra).
* :mod:`rpaccel.verif` -- cocotb testbenches and the Verilator runner (needs the ``hw`` extra).
* :mod:`rpaccel.sched` -- system studies (uses :mod:`rpaccel.perfmodel` only).
* :mod:`rpaccel.cli` -- the ``rpaccel`` command: parses and prints.
"""

__version__ = "0.1.0"
