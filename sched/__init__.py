"""System studies (workloads, platforms, at-scale simulation).

What it imports, truthfully: the accelerator platform is the RecPipe artifact's analytic model
(:class:`rpaccel.sched.platforms.RecPipeArtifactAccel`), not rpaccel's cycle-exact model yet; the
only use of :mod:`rpaccel.perfmodel` is the embedding-cache study's hit-rate model. It never
imports Amaranth, cocotb, :mod:`rpaccel.rtl` or :mod:`rpaccel.verif` (a test checks).

Never import this package as a bare ``sched``: that name belongs to the standard library.
"""
