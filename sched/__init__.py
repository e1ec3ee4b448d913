"""System studies: workloads, CPU/GPU/accelerator platforms, the at-scale simulator in simulated
time, placement and design-space searches, DeepRecSched, quality, energy and QPS/W.

Subpackages: :mod:`.serving` (the simulator, workloads, accelerator groups), :mod:`.platforms`
(where a stage runs: CPU, GPU, the RecPipe artifact's slices, RPAccel timed by the executor),
:mod:`.quality` (NDCG and the funnel's quality), :mod:`.cost` (energy, power, QPS/W) and
:mod:`.studies` (the ``rpaccel study`` commands and their reports). RPAccel platforms are timed
by :mod:`rpaccel.perfmodel`'s executor, the model proven cycle for cycle against the RTL.
Pipelines, stages and models are the core's (:mod:`rpaccel.query`, :mod:`rpaccel.models`). It
never imports Amaranth, cocotb, :mod:`rpaccel.rtl`, :mod:`rpaccel.verif` or the CLI
(tests/test_import_rules.py).

Never import this package as a bare ``sched``: that name belongs to the standard library.
"""
