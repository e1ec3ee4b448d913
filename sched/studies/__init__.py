"""The studies users run (``rpaccel study ...``): load sweeps, placement searches and
DeepRecSched (:mod:`.search`), RecPipe's design-space exploration (:mod:`.dse`) and headline
(:mod:`.headline`), the fidelity ladder (:mod:`.fidelity`), each study's folder of tables, plots
and manifest (:mod:`.runs`, :mod:`.report`, :mod:`.plots`), and parallel points on local workers
or Dask (:mod:`.sweep`)."""
