"""Print the Markdown table of DeepRecInfra's eight models on RPAccel (README, "Pooled gathers"):
per model and accelerator, one query's cycles from the executor (cycle-exact against the RTL
top), its gather and GEMM busy cycles, lookups and DRAM misses; or the one-line reason a model
cannot run. Run from the repository root: ``python tools/deeprecinfra_table.py [ITEMS]``."""

from __future__ import annotations

import sys

from rpaccel.models import CATALOG
from rpaccel.sched.platforms.hosts import get_platform

ACCELS = ["rpaccel:rpaccel", "rpaccel:examples/accelerators/rpaccel-dlrm.toml"]
MODELS = ["dlrm-rmc1", "dlrm-rmc2", "dlrm-rmc3", "wnd", "mt-wnd", "ncf", "din", "dien"]


def main(items: int = 256) -> None:
    print(f"| model | pooling | accelerator | cycles ({items} items) | latency | gather busy | "
          f"GEMM busy | lookups | DRAM misses |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in MODELS:
        model = CATALOG[name]
        pool = "/".join(sorted({str(t.lookups) for t in model.tables}))
        rows = []
        for acc in ACCELS:
            label = acc.split("/")[-1].removesuffix(".toml").removeprefix("rpaccel:")
            try:
                rows.append((label, get_platform(acc).breakdown(model, items)))
            except ValueError as e:
                rows.append((label, str(e).split(": ", 1)[-1] if "cannot run" in str(e)
                             else str(e)))
        if all(isinstance(b, str) for _, b in rows) and len({b for _, b in rows}) == 1:
            rows = [("any", rows[0][1])]            # the model itself cannot run
        for label, b in rows:
            if isinstance(b, str):
                print(f"| {name} | {pool} | {label} | — | cannot run: {b} | | | | |")
                continue
            print(f"| {name} | {pool} | {label} | {b['cycles']:,.0f} | "
                  f"{b['total_s'] * 1e3:.3f} ms | {b['gather_cycles']:,.0f} | "
                  f"{b['gemm_cycles']:,.0f} | {b['lookups']:,.0f} | {b['emb_misses']:,.0f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 256)
