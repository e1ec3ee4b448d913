"""Hardware-unit commands, one subcommand per registered unit: ``rpaccel verilog|model|sim UNIT``
and the random campaign ``rpaccel verify``. Flags come from the unit's config metadata
(:mod:`rpaccel.cli.flags`) and its CLI glue module (:attr:`rpaccel.units.Unit.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rpaccel.config import SIM_SEED_MAX, check_int, check_seed
from rpaccel.units import UNITS, get_unit

from rpaccel.outputs import staged

from .common import Parser, check_output_file, check_output_folder, info, print_json, print_table, prob
from .flags import add_config_flags, config_from_args

__all__ = ["add_commands", "cmd_verilog", "cmd_model", "cmd_sim", "cmd_verify"]


def add_commands(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add verilog, model UNIT, sim UNIT and verify; return the `model` subcommands (system
    stages join them)."""
    v = sub.add_parser("verilog", help="emit Verilog of a unit")
    vs = v.add_subparsers(dest="unit", required=True, parser_class=Parser)
    mo = sub.add_parser("model", help="perf-model cycle counts of a unit (or a system stage)")
    ms = mo.add_subparsers(dest="unit", required=True, parser_class=Parser)
    si = sub.add_parser("sim", help="run a unit's RTL on Verilator (cocotb) against the models")
    ss = si.add_subparsers(dest="unit", required=True, parser_class=Parser)
    for unit in UNITS.values():
        glue = unit.cli_module()
        title = f"{unit.name} configuration"
        p = vs.add_parser(unit.name, help=f"{unit.title} (top module {unit.toplevel})")
        add_config_flags(p, unit.config, title)
        p.add_argument("-o", "--output", required=True,
                       help="output .v file (self-contained: includes the SRAM model if used)")
        p.add_argument("--json", action="store_true",
                       help="print one JSON object: the file, its top module and config")
        p.set_defaults(handler=cmd_verilog)
        p = ms.add_parser(unit.name, help=f"perf-model cycles of {unit.title}")
        add_config_flags(p, unit.config, title)
        glue.add_model_args(p)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.set_defaults(handler=cmd_model)
        p = ss.add_parser(unit.name, help=f"{unit.title} on the RTL, checked against golden "
                                          f"and perf model")
        add_config_flags(p, unit.config, title)
        glue.add_sim_args(p)
        p.add_argument("--seed", type=int, default=1, help="stimulus seed, >= 0 (default 1)")
        p.add_argument("--idle", type=prob("--idle"), default=0.0,
                       help="probability of an idle cycle on the inputs")
        p.add_argument("--backpressure", type=prob("--backpressure"), default=0.0,
                       help="probability of ready low on the output on a cycle")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--waves", metavar="FILE", help="write a VCD waveform of the run to FILE")
        p.add_argument("--dump", metavar="DIR",
                       help="save the inputs and the RTL's outputs into DIR (see README)")
        p.set_defaults(handler=cmd_sim)

    vf = sub.add_parser("verify", help="random co-verification campaign (seeded)")
    vf.add_argument("--units", default=",".join([*UNITS, "accel"]),
                    help=f"comma-separated units (default all: {','.join(UNITS)},accel; accel: "
                         f"random tiny accelerators and 1..3-stage pipelines)")
    vf.add_argument("--configs", type=int, required=True, help="random configurations per unit, >= 1")
    vf.add_argument("--scenarios", type=int, required=True,
                    help="random scenarios per configuration, >= 1")
    vf.add_argument("--seed", type=int, default=0, help="campaign seed, >= 0 (default 0)")
    vf.add_argument("--workers", type=int, default=1,
                    help="configurations built and simulated in parallel, >= 1 (default 1)")
    vf.add_argument("--json", action="store_true", help="print one JSON object")
    vf.set_defaults(handler=cmd_verify)
    ms.sim_sub = ss          # `sim accel` joins the units' sims (rpaccel.cli.accel)
    return ms


def cmd_verilog(args: argparse.Namespace) -> int:
    unit = get_unit(args.unit)
    cfg = config_from_args(unit.config, args)
    if hasattr(cfg, "check_rtl"):
        cfg.check_rtl()
    out = Path(args.output)
    check_output_file("--output", args.output, parents=True)
    from rpaccel.rtl.emit import standalone, verilog, write_if_changed

    text = verilog(unit, cfg)
    if "rpaccel_sram" in text:
        text = standalone(text)
    changed = write_if_changed(out, text)
    if args.json:
        print_json({"unit": unit.name, "output": str(out), "top": unit.toplevel,
                    "label": cfg.label(), "config_key": cfg.key(), "config": cfg.to_dict(),
                    "lines": text.count("\n"), "written": changed})
        return 0
    info(f"wrote {out} (top module {unit.toplevel}, {cfg.label()}, config {cfg.key()})")
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    unit = get_unit(args.unit)
    return unit.cli_module().model(config_from_args(unit.config, args), args)


def cmd_sim(args: argparse.Namespace) -> int:
    unit = get_unit(args.unit)
    glue = unit.cli_module()
    cfg = config_from_args(unit.config, args)
    check_seed(args.seed, glue.SEED_MAX)
    check_output_file("--waves", args.waves)
    check_output_folder("--dump", args.dump)
    sc = {"name": "cli", **glue.sim_scenario(cfg, args)}
    unit.cases_module().validate(cfg, sc)
    from rpaccel.verif.run import build, run_unit

    if not args.json:
        info(f"building {cfg.label()} (config {cfg.key()}) with Verilator ...")
    binfo = build(unit, cfg, waves=bool(args.waves))
    with staged() as st:                 # the dump appears only if the simulation finished
        if args.dump:
            sc["dump"] = str(st.folder(args.dump).resolve())
        (res,) = run_unit(unit, cfg, [sc], waves=args.waves)
    fields, rows = glue.sim_fields(sc, res)
    fields.update({"build_seconds": round(binfo.seconds, 3), "build_cached": binfo.cached})
    # units with event counters (the GEMM engine, the top-k filter) also check them
    counters = res.counters_match
    ok = res.ok
    out = {"unit": unit.name, "config": cfg.to_dict(), **fields, "seed": args.seed,
           "rtl_cycles": res["rtl_cycles"], "model_cycles": res["model_cycles"],
           "cycles_match": res["cycles_match"], "values_match": res["values_match"],
           **({} if counters is None else {"counters_match": counters}),
           "first_mismatch": res["first_mismatch"], "ok": ok}
    if args.json:
        print_json(out)
    else:
        print_table([("RTL cycles", res["rtl_cycles"]), ("model cycles", res["model_cycles"]),
                     ("cycles match", res["cycles_match"]),
                     (glue.VALUES_LABEL, res["values_match"]),
                     *([] if counters is None else [("event counters match", counters)]),
                     ("seed", args.seed), *rows]
                    + ([("first mismatch", res["first_mismatch"])] if res["first_mismatch"] else [])
                    + ([("dump", args.dump)] if args.dump else [])
                    + ([("waves", args.waves)] if args.waves else []))
        print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def cmd_verify(args: argparse.Namespace) -> int:
    from rpaccel.verif.campaign import run_campaign

    names = [u.strip() for u in args.units.split(",") if u.strip()]
    if not names:
        raise ValueError("units must name at least one unit")
    for n in names:
        if n != "accel":            # the integrated accelerator (not a registry unit)
            get_unit(n)
    n_cfg = check_int("configs", args.configs, 1, 100_000)
    n_sc = check_int("scenarios", args.scenarios, 1, 100_000)
    seed = check_seed(args.seed, SIM_SEED_MAX)
    workers = check_int("workers", args.workers, 1, 256)
    res = run_campaign(names, n_cfg, n_sc, seed, workers=workers, progress=True)
    if args.json:
        print_json(res)
    else:
        print(f"{'unit':<9} {'configs':>7} {'scenarios':>9} {'mismatches':>10} {'builds':>6} "
              f"{'build s':>8} {'sim s':>8}")
        for u, r in res["units"].items():
            print(f"{u:<9} {r['configs']:>7} {r['scenarios']:>9} {r['mismatches']:>10} "
                  f"{r['builds']:>6} {r['build_s']:>8.1f} {r['sim_s']:>8.1f}")
        for m in res["failures"]:
            print(f"MISMATCH {m['unit']} {m['first_mismatch']}\n  reproduce: {m['reproducer']}")
        print(f"seed {seed}: {res['scenarios']} scenarios on {res['configs']} configurations, "
              f"{res['mismatches']} mismatches, {res['wall_s']:.1f} s wall")
    sys.stdout.flush()
    return 0 if res["mismatches"] == 0 else 1
