"""Fuzzing harness: property-based tests over every CLI command's flags and every TOML loader.

* **Commands.** For each leaf command of ``rpaccel`` (found from the argument parser, so a new
  command is fuzzed without editing this file), hypothesis draws argument lists from pools of
  valid and invalid values per flag (numbers, NaN, infinities, garbage, unknown presets, output
  paths that cannot be written, ...). Property: the command succeeds (exit 0), or exits 2 with
  exactly one line ``rpaccel: error: ...`` and no traceback, and then leaves no file behind.
  Commands that build or simulate hardware, run studies or synthesise (:data:`HEAVY`) always
  get one impossible number as well: they must refuse it before any work (within seconds).
* **Loaders.** Accelerator, pipeline, workload and energy-table TOML files mutated from the
  shipped ones (a key dropped, a value replaced by a wrong type, a negative, a huge or
  non-finite number, an unknown key added): the loader returns an object or raises a one-line
  ``ValueError``; no other exception escapes.

Every run is derandomized (hypothesis derives its examples from the test's name), so a
failure reproduces with the same command; the falsifying argument list is printed. The
example counts are :data:`EXAMPLES` and :data:`LOADER_EXAMPLES` per command or loader; the
session's total is stated in pytest's summary (tests/conftest.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpaccel.cli import build_parser, main
from rpaccel.cli.examples import commands

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = 25             # argument lists per command
LOADER_EXAMPLES = 40      # mutated files per loader
#: Commands that build hardware, simulate it, run studies, synthesise or fit: fuzzed only with
#: one impossible number among their flags (they must refuse before any work).
HEAVY = ("sim ", "verify", "study ", "cost area", "calibrate", "quality calibrate", "verilog ")
#: The longest a refused command may take (it must stop before any work).
REFUSE_S = 20.0

NUMBERS = ["1", "2", "3", "8", "17", "64", "0.5", "4,8,16", "1,2",
           "0", "-1", "nan", "inf", "-inf", "1e30", "x", "", "3,0"]
#: values that are never valid (a pool's other values are drawn at least half the time)
BAD = {"0", "-1", "nan", "inf", "-inf", "1e30", "x", "", "3,0", "bogus"}
OUTPUTS = ["out.csv", "out.png", "out.json", "out.npz", "d", "/proc/rpaccel-x/y",
           "examples", "out"]
POOLS = {
    "config": ["tiny", "nosuch", "examples/accelerators/tiny.toml", "examples/pipelines/tiny.toml"],
    "accel": ["tiny", "nosuch"],
    "accels": ["tiny", "nosuch,tiny"],
    "pipeline": ["tiny", "nosuch", "examples/pipelines/tiny.toml",
                 "examples/pipelines/sl-cpu.toml", "examples/accelerators/tiny.toml"],
    "pipelines": [["examples/pipelines/sl-cpu.toml"], ["examples/pipelines/tiny.toml"],
                  ["nosuch.toml"], ["examples/accelerators/tiny.toml"]],
    "workload": ["uniform-1m", "criteo-kaggle", "nosuch", "examples/traces/criteo-sample.npz",
                 "examples/pipelines/tiny.toml"],
    "trace": ["examples/traces/criteo-sample.npz", "nosuch.npz", "examples/pipelines/tiny.toml"],
    "profile": ["PROFILE", "nosuch.json", "examples/pipelines/tiny.toml"],
    "model": ["rm-small", "dlrm-rmc1", "ncf", "nosuch", "examples/models/tiny-s.toml"],
    "models": ["rm-small,rm-large", "nosuch", "rm-small"],
    "platform": ["cpu", "gpu", "rpaccel:tiny", "recpipe-artifact:hc1", "nosuch", "rpaccel:nosuch"],
    "data": ["synthetic", "nosuch", "examples/traces/criteo-sample.npz"],
    "policy": ["lru", "fifo", "lfu", "srrip", "opt", "global", "per-sub-batch", "nosuch"],
    "filter": ["global", "per-sub-batch", "histogram", "nosuch"],
    "tech": ["12nm", "45nm", "nosuch"],
    "energy": ["45nm", "nosuch"],
    "arrival": ["poisson", "uniform", "file", "nosuch"],
    "size": ["fixed", "normal", "lognormal", "file", "nosuch"],
    "accel_mode": ["exact", "profile", "nosuch"],
    "units": ["gemm", "accel", "nosuch"],
    "unit": ["gemm", "topk", "nosuch"],
}
#: Flags named like outputs: an output pool (written in a fresh folder per example).
OUTPUT_DESTS = {"output", "dump", "records", "timeline", "plot", "waves", "arrival_file",
                "size_file", "from_csv"}


COMMANDS = dict(commands(build_parser()))


def _is_heavy(cmd: str) -> bool:
    return any(cmd == h.strip() or cmd.startswith(h) for h in HEAVY)


def _numeric(a: argparse.Action) -> bool:
    return a.type in (int, float) or isinstance(a.default, (int, float)) and not isinstance(
        a.default, bool)


def _values(a: argparse.Action):
    """A strategy of the argv pieces for one action."""
    key = a.dest
    if a.nargs == 0:                              # store_true / store_false
        return st.just([a.option_strings[0]])
    if a.choices:
        pool = [str(c) for c in a.choices] + ["bogus"]
    elif key in OUTPUT_DESTS:
        pool = OUTPUTS
    elif key in POOLS:
        pool = POOLS[key]
    else:
        pool = NUMBERS
    good = [v for v in pool if str(v) not in BAD
            and not any(m in str(v) for m in ("nosuch", "/proc"))] or pool
    vals = st.one_of(st.sampled_from(good), st.sampled_from(pool))
    if not a.option_strings:                      # positional
        return vals.map(lambda v: v if isinstance(v, list) else [v])
    flag = a.option_strings[-1]
    return vals.map(lambda v: [flag, v if isinstance(v, str) else v[0]])


def _argv(cmd: str, parser: argparse.ArgumentParser):
    """Argument lists: the required arguments and up to three optional flags (so that many
    lists are valid and the command runs), or up to every flag."""
    actions = [a for a in parser._actions if a.dest != "help"
               and not isinstance(a, argparse._SubParsersAction)]
    required = [a for a in actions if a.required or not a.option_strings]
    optional = [a for a in actions if a not in required]
    numeric = [a for a in actions if a.option_strings and _numeric(a)]
    outputs = [a for a in actions if a.option_strings and a.dest == "output"]
    names = [a for a in actions if a.option_strings and "nosuch" in POOLS.get(a.dest, ())]

    @st.composite
    def gen(draw):
        argv = cmd.split()
        for a in required:
            argv += draw(_values(a))
        if optional:
            k = draw(st.sampled_from([0, 1, 2, 3, len(optional)]))
            chosen = draw(st.lists(st.sampled_from(optional), min_size=min(k, 1),
                                   max_size=k, unique_by=lambda a: a.dest)) if k else []
            for a in chosen:
                argv += draw(_values(a))
        if _is_heavy(cmd) and numeric:
            a = draw(st.sampled_from(numeric))
            argv += [a.option_strings[-1], draw(st.sampled_from(["nan", "-inf", "x"]))]
        elif _is_heavy(cmd) and outputs:          # no number to spoil: an unwritable output
            argv += [outputs[0].option_strings[-1], "/proc/rpaccel-x/y"]
        elif _is_heavy(cmd):                      # ... or an unknown name
            argv += [names[0].option_strings[-1], "nosuch"]
        return argv
    return gen()


@contextlib.contextmanager
def _scratch():
    """A fresh working folder holding only a link to ``examples/``."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "examples").symlink_to(ROOT / "examples")
        os.chdir(d)
        try:
            yield Path(d)
        finally:
            os.chdir(old)


@pytest.fixture(scope="module")
def profile_file(tmp_path_factory) -> str:
    """A valid reuse profile (of the shipped sample trace) for ``trace generate``."""
    from rpaccel.perfmodel.reuse import profile_trace
    from rpaccel.trace import read_trace

    path = tmp_path_factory.mktemp("fuzz") / "profile.json"
    profile_trace(read_trace(ROOT / "examples/traces/criteo-sample.npz")).write(path)
    return str(path)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:                   # --help, --version
            rc = e.code if isinstance(e.code, int) else 0
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_fuzz_command(cmd, record_property, profile_file):
    parser = COMMANDS[cmd]
    count = ran = 0

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(_argv(cmd, parser))
    def prop(argv):
        nonlocal count, ran
        count += 1
        argv = [profile_file if a == "PROFILE" else a for a in argv]
        with _scratch() as d:
            t0 = time.perf_counter()
            rc, out, err = run_cli(argv)
            took = time.perf_counter() - t0
            left = sorted(p.name for p in d.iterdir() if p.name != "examples")
        note = f"rpaccel {' '.join(argv)} -> exit {rc}"
        assert "Traceback" not in err, f"{note}\n{err}"
        assert rc in (0, 2) or (rc == 1 and cmd.startswith(("sim ", "verify"))), f"{note}\n{err}"
        if rc == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("rpaccel: error: "), f"{note}\n{err}"
            assert not left, f"{note}: left {left}"
        if _is_heavy(cmd):
            assert rc == 2, f"{note}: an impossible number was not refused\n{err}"
            assert took < REFUSE_S, f"{note}: refused only after {took:.0f} s"
        ran += rc == 0
    prop()
    record_property("fuzz_examples", count)
    record_property("fuzz_succeeded", ran)


# -- loaders -------------------------------------------------------------------------------------
def _loaders():
    from rpaccel.accel import load_accel
    from rpaccel.query import load_pipeline
    from rpaccel.sched.cost.energy import load_energy
    from rpaccel.workload import load_workload

    pre = ROOT / "src/rpaccel/presets"
    return {"accelerator": (load_accel, [pre / "accel-tiny.toml", pre / "accel-rpaccel.toml"]),
            "pipeline": (load_pipeline, [ROOT / "examples/pipelines/tiny.toml",
                                         ROOT / "examples/pipelines/sl-cpu.toml",
                                         ROOT / "examples/pipelines/deeprecsys-wnd.toml"]),
            "workload": (load_workload, [pre / "workload-criteo-kaggle.toml",
                                         pre / "workload-uniform-1m.toml"]),
            "energy table": (load_energy, [pre / "energy-45nm.toml"])}


LOADERS = _loaders()
JUNK = [-1, 0, 1, 3, 2 ** 40, -(2 ** 63), 0.5, math.nan, math.inf, -math.inf, "", "x", True,
        [], [1, -1], {}, {"x": 1}]


def _paths(d, prefix=()):
    """Every (path to a value) in a nested TOML document."""
    if isinstance(d, dict):
        for k, v in d.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


@st.composite
def _mutated(draw, files):
    import copy
    import tomllib

    src = draw(st.sampled_from(files))
    doc = tomllib.loads(Path(src).read_text())
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        op = draw(st.sampled_from(["drop", "replace", "add"]))
        if op == "drop":
            del parent[path[-1]]
        elif op == "replace":
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(JUNK)))
        elif isinstance(parent, dict):
            parent["unknown_key"] = 1
    return doc


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_fuzz_loader(kind, record_property, tmp_path):
    import tomli_w

    load, files = LOADERS[kind]
    count = 0

    @settings(max_examples=LOADER_EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(_mutated(files))
    def prop(doc):
        nonlocal count
        count += 1
        f = tmp_path / "fuzzed.toml"
        try:
            text = tomli_w.dumps(doc)
        except (TypeError, ValueError):          # not expressible in TOML (NaN keys, ...)
            return
        f.write_text(text)
        try:
            load(str(f))
        except ValueError as e:
            msg = str(e)
            assert msg and "\n" not in msg, f"{kind}: {msg!r}\n{text}"
        # any other exception escapes and fails the test with the file shown by hypothesis
    prop()
    record_property("fuzz_examples", count)
