"""``rpaccel`` command line, split by area:

* :mod:`rpaccel.cli.hw` -- hardware units from the registry: ``verilog``, ``model UNIT``,
  ``sim UNIT``, ``verify`` (per-unit glue in ``unit_<name>.py``; flags from config metadata);
* :mod:`rpaccel.cli.system` -- ``model stage``, ``simulate``, ``calibrate``;
* :mod:`rpaccel.cli.accel` -- ``compile``, ``model accel`` (the integrated accelerator);
* :mod:`rpaccel.cli.workloads` -- ``trace profile|generate``, ``model cache``;
* :mod:`rpaccel.cli.studies` -- ``study ...``;
* :mod:`rpaccel.cli.cost` -- ``cost area`` (synthesis statistics of a unit);
* :mod:`rpaccel.cli.quality` -- ``quality calibrate``.

Bad input prints one line ``rpaccel: error: ...`` on stderr and exits with status 2; nothing is
written. ``sim`` and ``verify`` exit 0 only if the RTL's cycles and values all match the models.
"""

from __future__ import annotations

import sys
from typing import Sequence

from . import accel, cost, hw, quality, studies, system, workloads
from .common import EXIT_BAD_INPUT, BadInput, Parser
from .examples import add_examples

__all__ = ["main", "build_parser"]


def build_parser() -> Parser:
    import rpaccel

    p = Parser(prog="rpaccel", description="RPAccel hardware, perf model and system studies",
               epilog="documentation: docs/index.md (make docs builds the site)")
    p.add_argument("--version", action="version", version=f"rpaccel {rpaccel.__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    model_sub = hw.add_commands(sub)
    system.add_commands(sub, model_sub)
    accel.add_commands(sub, model_sub)
    workloads.add_commands(sub, model_sub)
    studies.add_commands(sub)
    cost.add_commands(sub)
    quality.add_commands(sub)
    add_examples(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "takes_unit_flags", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.rest = extra
        return args.handler(args)
    except (BadInput, ValueError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"rpaccel: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("rpaccel: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader closed the pipe (`rpaccel ... | head`): stop quietly, as other tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
