"""``rpaccel cost area --unit UNIT [config flags] [--json]``: synthesis statistics of a unit.

The unit's configuration flags are the same as for ``rpaccel verilog UNIT`` (built from its
config metadata); they are parsed after ``--unit`` names the unit.
"""

from __future__ import annotations

from rpaccel.config import check_seed

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
    ar.add_argument("--unit", choices=list(UNITS), help="registered unit")
    ar.add_argument("--accel", metavar="CONFIG",
                    help="instead: roll up an integrated accelerator (preset such as rpaccel or "
                         "tpu-like, or a .toml), beside RecPipe's Figure-11 totals")
    ar.add_argument("--tech", default="recpipe-12nm",
                    help="technology for the area conversion (default recpipe-12nm: calibrated "
                         "on RecPipe's 12 nm synthesis, see rpaccel.area)")
    ar.add_argument("--json", action="store_true", help="print one JSON object")
    # the unit's own flags are parsed by cmd_cost_area, once --unit is known
    ar.set_defaults(handler=cmd_cost_area, takes_unit_flags=True)
    en = cos.add_parser("energy", help="energy of a query on the integrated accelerator: the "
                                       "executor's event counts x a per-action energy table")
    en.add_argument("--config", default="rpaccel", help="accelerator preset or .toml")
    en.add_argument("--pipeline", default="s-l", help="pipeline preset or .toml")
    en.add_argument("--sub-batch", type=int, help="sub-batch size (default: the pipeline's)")
    en.add_argument("--seed", type=int, default=0, help="query inputs' seed")
    en.add_argument("--energy", default="45nm",
                    help="energy table: preset (45nm) or a TOML file (see "
                         "src/rpaccel/presets/energy-45nm.toml)")
    en.add_argument("--json", action="store_true", help="print one JSON object")
    en.set_defaults(handler=cmd_cost_energy)


def cmd_cost_area(args: argparse.Namespace) -> int:
    if (args.unit is None) == (args.accel is None):
        raise ValueError("give exactly one of --unit UNIT or --accel CONFIG")
    if args.accel is not None:
        return _cost_accel(args)
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


def _cost_accel(args: argparse.Namespace) -> int:
    """The roll-up: the array from our 32x32 engine's measured cells, the filter and embedding
    units synthesised at the config (cached), the SRAMs by capacity."""
    if args.rest:
        raise ValueError(f"--accel takes no unit flags, got {' '.join(args.rest)}")
    from rpaccel.accel import load_accel
    from rpaccel.area import get_technology
    from rpaccel.verif.synth import accel_rollup

    get_technology(args.tech)
    accel = load_accel(args.accel, "--accel")
    if not args.json:
        info(f"synthesising the filter and embedding units of {accel.name or args.accel} with "
             f"Yosys (cached) ...")
    r = accel_rollup(accel, args.tech)
    ref = r["recpipe_mm2"]
    if args.json:
        print_json({"config": accel.name, **r})
        return 0
    print(f"{accel.name or args.accel}: {r['total_mm2']:.3f} mm^2 ({r['technology']})"
          + (f"; RecPipe's Figure 11: {ref} mm^2" if ref else ""))
    print_table([(k, f"{c['um2'] / 1e6:8.3f} mm^2  {c['how']}")
                 for k, c in r["components"].items()])
    return 0


def cmd_cost_energy(args: argparse.Namespace) -> int:
    from rpaccel.accel import load_accel
    from rpaccel.query import load_pipeline, split_mode
    from rpaccel.perfmodel import model_accel
    from rpaccel.sched.cost.energy import load_energy, query_energy, static_w

    table = load_energy(args.energy)
    accel, pipe = load_accel(args.config), load_pipeline(args.pipeline).accel_program()
    seed = check_seed(args.seed)
    r = model_accel(accel, pipe, sub_batch=args.sub_batch, seed=seed)
    e = query_energy(accel, r.events, r.embedding, table, split=split_mode(accel, pipe),
                     item_bytes=pipe.record_bytes)
    st = static_w(accel, table)
    out = {"config": accel.name, "pipeline": pipe.name, "table": table.name,
           "cycles": r.cycles, "seconds": r.seconds, "energy_pj": e,
           "events": r.events, "embedding": r.embedding, "static_w": st,
           "busy_power_w": e["total_pj"] * 1e-12 / r.seconds + st,
           "sources": table.sources}
    if args.json:
        print_json(out)
        return 0
    print(f"{pipe.name} on {accel.name}: {e['total_pj'] * 1e-6:,.2f} uJ per query "
          f"({table.name} table), {r.cycles:,} cycles; busy power "
          f"{out['busy_power_w']:.3f} W (static {st * 1e3:.1f} mW)")
    print_table([(k, f"{v * 1e-6:10.3f} uJ  {100 * v / e['total_pj']:5.1f} %")
                 for k, v in e.items() if k != "total_pj"])
    return 0
