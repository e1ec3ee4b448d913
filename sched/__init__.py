"""System studies: workloads, CPU/GPU/accelerator platforms, the at-scale simulator in simulated
time, placement and design-space searches, DeepRecSched, quality, energy and QPS/W.

Its RPAccel platforms (``rpaccel:``, :mod:`rpaccel.sched.accelplat`) are timed by the executor
(:mod:`rpaccel.perfmodel`), the model proven cycle for cycle against the RTL; stages placed on
one accelerator's sub-arrays run as accelerator groups (:mod:`rpaccel.sched.group`). Pipelines,
stages and models are the core's (:mod:`rpaccel.query`, :mod:`rpaccel.models`). It never imports
Amaranth, cocotb, :mod:`rpaccel.rtl`, :mod:`rpaccel.verif` or the CLI (tests/test_import_rules.py).

Never import this package as a bare ``sched``: that name belongs to the standard library.
"""
