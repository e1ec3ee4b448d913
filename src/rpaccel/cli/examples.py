"""One example line per command, shown at the end of its ``--help`` (and checked by the
suite: every command has one, and every example parses)."""

from __future__ import annotations

import argparse
from typing import Iterator

__all__ = ["EXAMPLES", "commands", "add_examples"]

EXAMPLES: dict[str, str] = {
    "verilog gemm": "rpaccel verilog gemm --rows 8 --cols 8 -o build/gemm8.v",
    "verilog topk": "rpaccel verilog topk --k-max 16 --lanes 4 -o build/topk.v",
    "verilog histk": "rpaccel verilog histk --bins 16 --max-items 512 -o build/histk.v",
    "verilog embcache": "rpaccel verilog embcache --dim 8 --static-rows 8 --sets 4 --ways 2 "
                        "-o build/cache.v",
    "model gemm": "rpaccel model gemm --rows 16 --cols 16 --m 4096 --k 256 --n 256 --json",
    "model topk": "rpaccel model topk --k-max 16 --lanes 4 --n 100 --k 10",
    "model histk": "rpaccel model histk --bins 16 --max-items 4096 --n 4096 --k 64",
    "model embcache": "rpaccel model embcache --dim 8 --rows 256 --static-rows 8 --sets 8 "
                      "--ways 4 --lookups 2000",
    "model stage": "rpaccel model stage --platform rpaccel:rpaccel --model rm-large "
                   "--items 4096 --json",
    "model accel": "rpaccel model accel --config tiny --pipeline tiny --queries 3 "
                   "--gaps 3000,40000",
    "model cache": "rpaccel model cache --trace examples/traces/criteo-sample.npz --policy lru "
                   "--sets 1024 --ways 8",
    "sim gemm": "rpaccel sim gemm --rows 3 --cols 8 --m 5 --k 20 --n 30 --seed 7",
    "sim topk": "rpaccel sim topk --k-max 16 --lanes 4 --n 100 --k 10",
    "sim histk": "rpaccel sim histk --bins 16 --max-items 512 --score-width 12 --id-width 10 "
                 "--n 300 --k 20",
    "sim embcache": "rpaccel sim embcache --dim 8 --rows 256 --static-rows 8 --sets 4 --ways 2 "
                    "--lookups 200",
    "sim accel": "rpaccel sim accel --config tiny --pipeline tiny --seed 3 --dump d",
    "verify": "rpaccel verify --units gemm,topk --configs 4 --scenarios 6 --seed 2026",
    "simulate": "rpaccel simulate examples/pipelines/sl-cpu.toml --qps 400 --queries 100000",
    "calibrate cpu": "rpaccel calibrate cpu --table -o t.json",
    "compile": "rpaccel compile --config tiny --pipeline tiny",
    "trace profile": "rpaccel trace profile examples/traces/criteo-sample.npz -o p.json",
    "trace generate": "rpaccel trace generate p.json --lookups 1000000 --seed 3 -o g.npz",
    "study load": "rpaccel study load examples/pipelines/sl-cpu.toml examples/pipelines/s-l.toml "
                  "--qps 50,100,200 -o out/load",
    "study placement": "rpaccel study placement --models rm-small,rm-large --items 4096,512 "
                       "--qps 100,400 -o out/placement",
    "study fidelity": "rpaccel study fidelity -o out/fidelity",
    "study embcache": "rpaccel study embcache -o out/embcache",
    "study cache": "rpaccel study cache --workload criteo-kaggle -o out/cache",
    "study modes": "rpaccel study modes -o out/modes --queries 300",
    "study recpipe": "rpaccel study recpipe -o out/recpipe",
    "study headline": "rpaccel study headline -o out/headline",
    "study deeprecsched": "rpaccel study deeprecsched -o out/drs",
    "study tune": "rpaccel study tune -o out/tune --budget-mm2 40",
    "cost area": "rpaccel cost area --accel tiny --json",
    "cost energy": "rpaccel cost energy --config rpaccel --pipeline s-l",
    "quality": "rpaccel quality --pipeline examples/pipelines/sl-cpu.toml --queries 300",
    "quality calibrate": "rpaccel quality calibrate --queries 400 --seed 7",
}


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
             ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command of ``parser`` (a parser with a handler): ``("study load", parser)``."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if parser.get_default("handler") is not None and path:
        yield " ".join(path), parser
    if subs:
        for name, sp in subs[0].choices.items():
            yield from commands(sp, path + (name,))


def add_examples(parser: argparse.ArgumentParser) -> None:
    """Put each command's example line at the end of its help."""
    for name, sp in commands(parser):
        ex = EXAMPLES.get(name)
        if ex is not None:
            sp.epilog = f"example:\n  {ex}"
            sp.formatter_class = argparse.RawDescriptionHelpFormatter
