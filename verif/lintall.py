"""``make verilog`` / ``make lint``: Verilog for every configuration of the matrix (plus the
benchmark arrays), each checked with ``verilator --lint-only -Wall`` and the documented waivers
(:data:`rpaccel.verif.toolchain.LINT_WAIVERS`)."""

from __future__ import annotations

import sys

from rpaccel.config import GemmConfig

from . import toolchain
from .run import embcache_sources, gemm_sources, topk_sources
from .suite import EMBCACHE_SUITE, GEMM_SUITE, TOPK_SUITE

#: Extra configurations beyond the test matrix: the benchmark arrays.
EXTRA = [("32x32", GemmConfig(rows=32, cols=32)), ("16x16_bench", GemmConfig(rows=16, cols=16))]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verilog_only = "--verilog-only" in argv
    from rpaccel.config import TopkConfig
    from rpaccel.rtl.emit import TOPLEVEL_EMBCACHE, TOPLEVEL_GEMM, TOPLEVEL_TOPK

    units = [(label, cfg, gemm_sources, TOPLEVEL_GEMM) for label, cfg in [*GEMM_SUITE, *EXTRA]]
    units += [(label, cfg, topk_sources, TOPLEVEL_TOPK) for label, cfg in
              [*TOPK_SUITE, ("k64_l4", TopkConfig(k_max=64, lanes=4))]]
    units += [(label, cfg, embcache_sources, TOPLEVEL_EMBCACHE) for label, cfg in EMBCACHE_SUITE]
    bad = 0
    for label, cfg, sources_fn, top in units:
        sources = sources_fn(cfg)
        if verilog_only:
            print(f"{label:<14} {sources[0]}")
            continue
        res = toolchain.lint([s for s in sources if s.suffix == ".v"], top)
        status = "clean" if res.returncode == 0 and "%Warning" not in res.stderr else "FAIL"
        bad += status != "clean"
        print(f"{label:<14} {status:<6} {sources[0].name}")
        if status != "clean":
            print(res.stderr[-4000:])
    if not verilog_only:
        print(f"waivers (rpaccel.verif.toolchain.LINT_WAIVERS): {' '.join(toolchain.LINT_WAIVERS)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
