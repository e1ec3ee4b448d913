"""``rpaccel cost area --unit UNIT [config flags] [--json]``: synthesis statistics of a unit.

The unit's configuration flags are the same as for ``rpaccel verilog UNIT`` (built from its
config metadata); they are parsed after ``--unit`` names the unit.
"""

from __future__ import annotations

import argparse

from rpaccel.units import UNITS, get_unit

from .common import Parser, info, print_json, print_table
from .flags import add_config_flags, config_from_args

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    co = sub.add_parser("cost", help="hardware cost: synthesis statistics")
    cos = co.add_subparsers(dest="what", required=True, parser_class=Parser)
    ar = cos.add_parser("area", help="Yosys cell counts of a unit (cells by type, flip-flops, "
                                     "multiplexers, SRAM bits)",
                        epilog=f"UNIT is one of {', '.join(UNITS)}; then that unit's "
                               f"configuration flags (see `rpaccel verilog UNIT --help`).")
    ar.add_argument("--unit", required=True, choices=list(UNITS), help="registered unit")
    ar.add_argument("--tech", default="recpipe-12nm",
                    help="technology for the area conversion (default recpipe-12nm: calibrated "
                         "on RecPipe's 12 nm synthesis, see rpaccel.area)")
    ar.add_argument("--json", action="store_true", help="print one JSON object")
    # the unit's own flags are parsed by cmd_cost_area, once --unit is known
    ar.set_defaults(handler=cmd_cost_area, takes_unit_flags=True)


def cmd_cost_area(args: argparse.Namespace) -> int:
    unit = get_unit(args.unit)
    p = Parser(prog=f"rpaccel cost area --unit {unit.name}")
    add_config_flags(p, unit.config, f"{unit.name} configuration")
    sub = p.parse_args(args.rest)
    sub.json = args.json
    cfg = config_from_args(unit.config, sub)
    from rpaccel.area import area_um2, get_technology

    get_technology(args.tech)
    from rpaccel.verif.synth import synth_stats

    if not sub.json:
        info(f"synthesising {cfg.label()} with Yosys (cached) ...")
    st = {**synth_stats(unit, cfg), "area": area_um2(synth_stats(unit, cfg), args.tech)}
    if sub.json:
        print_json(st)
        return 0
    print(f"{unit.name} {cfg.label()}: {st['cells']:,} cells (Yosys generic synth; a cell count, "
          f"not an area)")
    print_table([("logic cells", f"{st['logic']:,}"), ("flip-flops", f"{st['flip_flops']:,}"),
                 ("multiplexers", f"{st['muxes']:,}"),
                 ("SRAM macros", ", ".join(f"{s['instance']} {s['depth']}x{s['width']} "
                                           f"({s['bits']:,} bits, {s['ports']})"
                                           for s in st["sram"]) or "none"),
                 ("SRAM bits", f"{st['sram_bits']:,}"),
                 (f"area ({st['area']['technology']})",
                  f"{st['area']['total_um2']:,.0f} um^2 = logic {st['area']['logic_um2']:,.0f} "
                  f"+ SRAM {st['area']['sram_um2']:,.0f} (a calibrated conversion of the counts, "
                  f"not a synthesis in the technology)")])
    print("cells by type: " + ", ".join(f"{k} {v:,}" for k, v in st["cells_by_type"].items()))
    return 0
