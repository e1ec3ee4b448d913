"""Serving in simulated time: the at-scale discrete-event simulator (:mod:`.sim`: FIFO engine
pools, DeepRecSys's batch splitting and GPU offload, accelerator groups reserved resource by
resource), its workloads (:mod:`.workload`: arrival processes and query-size distributions) and
the accelerator groups of a pipeline (:mod:`.group`: consecutive stages on one accelerator,
built once, with a memoised no-contention profile per query size)."""
