"""Where a stage runs and how long a query takes there: the platform interface
(:mod:`.base`), CPU cores, GPUs and the RecPipe artifact's accelerator slices (:mod:`.hosts`,
with :func:`~.hosts.get_platform` for every platform name), RPAccel timed by the executor
(:mod:`.rpaccel`, ``rpaccel:PRESET`` or an :class:`~rpaccel.accel.AccelConfig`), and the CPU
calibration (:mod:`.calibrate`)."""
