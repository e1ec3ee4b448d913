"""Print the SCALE-Sim comparison table of docs/hardware/gemm.md (Markdown) from the stored
SCALE-Sim 3.0 counts (tests/data/scalesim_ws_m4096.json) and our GEMM cycle model.

    .venv/bin/python tools/scalesim_table.py
"""

from __future__ import annotations

import json
from pathlib import Path

from rpaccel.config import GemmConfig
from rpaccel.perfmodel import gemm_cycles

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "scalesim_ws_m4096.json"


def rows() -> list[dict]:
    """Per layer: SCALE-Sim's count and ours in the three engine variants."""
    out = []
    for r in json.loads(DATA.read_text())["layers"]:
        a, m, k, n = r["array"], r["m"], r["k"], r["n"]

        def cyc(b: int, p: int):
            return gemm_cycles(GemmConfig(rows=a, cols=a, max_m=m, max_k=k, max_n=n,
                                          weight_buffering=b, c_read_ports=p), m, k, n)
        serial, one, two = cyc(1, 1), cyc(2, 1), cyc(2, 2)
        out.append({**r, "tiles": two.tiles, "serial": serial.total - 4 - serial.beats,
                    "one_port": one.total, "total": two.total,
                    "two_ports": two.total - 4 - two.output})
    return out


def main() -> None:
    print("| array | model | layer K x N | tiles | SCALE-Sim WS | single-buffered, 1 C port, "
          "- 4 - beats | double-buffered, 1 C port, total | default (2 C ports), total | "
          "default - 4 - 1 | default vs SCALE-Sim |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows():
        ref = r["scalesim_ws_cycles"]
        print(f"| {r['array']}x{r['array']} | {r['model']} | {r['k']} x {r['n']} | {r['tiles']} "
              f"| {ref:,} | {r['serial']:,} | {r['one_port']:,} | {r['total']:,} "
              f"| {r['two_ports']:,} | {100 * (r['two_ports'] / ref - 1):+.1f} % |")


if __name__ == "__main__":
    main()
