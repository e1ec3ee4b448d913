"""Regenerate the shipped sample trace ``src/rpaccel/presets/criteo-sample.npz`` (linked from
``examples/traces/``): 2,000 items of
the ``criteo-kaggle`` workload (26 tables, one lookup per item and table, seed 7), item-major,
in queries of 100 items, with the tables' cardinalities. Run:
``.venv/bin/python tools/make_sample_trace.py``."""

from pathlib import Path

from rpaccel.perfmodel.feed import workload_trace
from rpaccel.trace import write_trace
from rpaccel.workload import load_workload

OUT = Path(__file__).resolve().parents[1] / "src" / "rpaccel" / "presets" / "criteo-sample.npz"

tr = workload_trace(load_workload("criteo-kaggle"), items=2000, seed=7, items_per_query=100)
write_trace(tr, OUT)
print(f"wrote {OUT} ({len(tr):,} lookups, {int(tr.query[-1]) + 1} queries)")
