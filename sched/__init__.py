"""System studies (workloads, platforms, at-scale simulation). Uses :mod:`rpaccel.perfmodel` only.

Never import this package as a bare ``sched``: that name belongs to the standard library.
"""
