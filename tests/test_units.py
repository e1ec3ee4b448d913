# amaranth: UnusedElaboratable=no
"""The unit registry, the payload layouts, flags from config metadata, the layering rules, and a
small fixed-seed random co-verification campaign."""

import argparse
import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from rpaccel.config import EmbCacheConfig, GemmConfig, TopkConfig
from rpaccel.layout import Array, Signed, Struct, Unsigned
from rpaccel.units import UNITS, get_unit

ROOT = Path(__file__).resolve().parents[1]


def test_layout_pack_unpack_by_hand():
    lay = Struct([("a", Unsigned(3)), ("b", Array(Signed(4), 2)), ("c", Unsigned(1))])
    assert lay.width == 3 + 8 + 1
    word = lay.pack({"a": 5, "b": [-1, 3], "c": 1})
    assert word == 5 | (0xF << 3) | (3 << 7) | (1 << 11)
    assert lay.unpack(word) == {"a": 5, "b": [-1, 3], "c": 1}
    with pytest.raises(ValueError, match="does not fit a signed 4-bit field"):
        lay.pack({"b": [8]})
    with pytest.raises(ValueError, match="unknown payload field"):
        lay.pack({"d": 1})


@pytest.mark.parametrize("unit", list(UNITS))
def test_rtl_ports_match_contract_layouts(unit):
    """Every stream port's payload width in the RTL equals the contract's layout width."""
    from amaranth.lib import wiring

    u = get_unit(unit)
    for label, cfg in u.cases_module().SUITE:        # every matrix configuration (both embcache
        dut = u.component_class()(cfg)               # designs, split arrays ...)
        for port, attr in u.ports:
            member = dut.signature.members[port]
            payload = member.signature.members["payload"].shape
            assert payload.size == getattr(cfg, attr).width, (unit, label, port)
        for name in u.contract:
            assert getattr(cfg, name) is not None
        assert isinstance(dut, wiring.Component)


def test_unknown_unit():
    with pytest.raises(ValueError, match=r"unknown unit 'mmu'; known units: gemm, topk, histk, embcache"):
        get_unit("mmu")


def test_gemm_cmd_word_layout():
    cfg = GemmConfig(rows=4, cols=4)          # m: 13 bits, k_tiles: 8 bits, n_tiles: 8 bits
    assert cfg.cmd_word(8, 9, 10) == 8 | (3 << 13) | (3 << 21)
    assert cfg.k_tiles(9) == 3 and cfg.n_tiles(8) == 2 and cfg.n_tiles(9) == 3


@pytest.mark.parametrize("cls, required", [
    (GemmConfig, ["--rows", "3", "--cols", "5"]),
    (TopkConfig, ["--k-max", "7"]),
    (EmbCacheConfig, ["--dim", "4"]),
])
def test_flags_from_metadata_roundtrip(cls, required):
    """Defaults come from the config fields; config -> flags -> config is the identity."""
    from rpaccel.cli.flags import add_config_flags, config_argv, config_from_args

    p = argparse.ArgumentParser()
    add_config_flags(p, cls, "cfg")
    cfg = config_from_args(cls, p.parse_args(required))
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING and f.name != "stage_ways":
            assert getattr(cfg, f.name) == f.default
    rng = np.random.default_rng(5)
    unit = next(u for u in UNITS.values() if u.config is cls)
    extra = [GemmConfig(rows=8, cols=6, split=(2, 3))] if cls is GemmConfig else []
    for c in [*(unit.cases_module().random_config(rng) for _ in range(20)), *extra]:
        assert config_from_args(cls, p.parse_args(config_argv(c))) == c


def test_help_shows_range_and_default():
    from rpaccel.cli import build_parser

    text = build_parser()._subparsers._group_actions[0].choices["model"] \
        ._subparsers._group_actions[0].choices["gemm"].format_help()
    assert "2*in_width..64" in text and "(default 32)" in text and "1..256" in text


@pytest.mark.parametrize("unit", list(UNITS))
def test_reproducer_replays_the_scenario(unit):
    """The one-line reproducer of a campaign scenario parses back to the same config and the
    same scenario (so `rpaccel sim ...` re-runs exactly what failed)."""
    import shlex

    from rpaccel.cli import build_parser
    from rpaccel.cli.flags import config_from_args
    from rpaccel.verif.campaign import draw, reproducer

    u = get_unit(unit)
    cases = list(draw(unit, 6, 3, seed=11))
    if unit == "gemm":      # split-capable arrays: split-mode and whole-array scenarios
        rng = np.random.default_rng(3)
        cfg = GemmConfig(rows=8, cols=6, max_m=40, max_k=50, max_n=60, split=(2, 3))
        cases.append((cfg, [{**u.cases_module().random_scenario(cfg, rng), "name": "x"}
                            for _ in range(12)]))
        assert any("subs" in sc for sc in cases[-1][1]) and any("whole" in sc for sc in cases[-1][1])
    for cfg, scs in cases:
        for sc in scs:
            argv = shlex.split(reproducer(unit, cfg, sc))[1:]
            args = build_parser().parse_args(argv)
            assert config_from_args(u.config, args) == cfg
            back = u.cli_module().sim_scenario(cfg, args)
            want = {"idle": 0.0, "backpressure": 0.0,
                    **{k: v for k, v in sc.items() if k != "name"}}
            got = {k: v for k, v in back.items() if k in want}
            if unit == "embcache" and want["trace"] != "zipf":
                got["skew"] = want["skew"]      # skew only shapes Zipf traces
            assert got == want


def test_campaign_draw_is_deterministic_and_valid():
    from rpaccel.verif.campaign import draw

    a = draw("embcache", 5, 4, seed=3)
    assert [(c, s) for c, s in a] == [(c, s) for c, s in draw("embcache", 5, 4, seed=3)]
    assert [c for c, _ in draw("embcache", 3, 4, seed=3)] == [c for c, _ in a[:3]]
    for unit in UNITS:
        cases = get_unit(unit).cases_module()
        for cfg, scs in draw(unit, 30, 5, seed=1):
            for sc in scs:
                cases.validate(cfg, sc)   # every drawn scenario is legal for its config


# -- layering --------------------------------------------------------------------------------
def _imports(folder: str) -> set[str]:
    out = set()
    for f in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                out.add(("." * node.level) + mod)
    return out


def test_layering():
    """rtl imports no perfmodel; perfmodel and sched import no Amaranth, cocotb or rtl (checked
    on the source, including function-level imports, and at run time in a fresh process)."""
    rtl = _imports("rtl")
    assert not any("perfmodel" in m or m.startswith(("rpaccel.sched", "rpaccel.verif"))
                   for m in rtl), rtl
    for folder in ("perfmodel", "sched"):
        mods = _imports(folder)
        bad = [m for m in mods if m.split(".")[0] in ("amaranth", "cocotb", "cocotb_tools")
               or m.startswith(("rpaccel.rtl", "rpaccel.verif", "rpaccel.cli"))
               or m.startswith(("..rtl", "..verif"))]
        assert not bad, (folder, bad)


def test_no_import_cycle_in_sched():
    """Module-level and function-level imports among sched's modules (its subpackages
    included) form no cycle."""
    sched = ROOT / "sched"
    names = {".".join(f.relative_to(sched).with_suffix("").parts).removesuffix(".__init__")
             for f in sched.rglob("*.py")}
    assert {"serving.sim", "platforms.rpaccel", "studies.headline"} <= names
    graph = {}
    for f in sched.rglob("*.py"):
        me = ".".join(f.relative_to(sched).with_suffix("").parts).removesuffix(".__init__")
        here = me.split(".")[:-1] if f.name != "__init__.py" else me.split(".")
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = ".".join(here[:len(here) - node.level + 1] + [node.module or ""]).strip(".")
            elif (node.module or "").startswith("rpaccel.sched."):
                base = node.module[len("rpaccel.sched."):]
            else:
                continue
            for cand in (base, *(f"{base}.{a.name}" for a in node.names)):
                if cand in names and cand != me:
                    deps.add(cand)
        graph[me] = deps
    assert graph["serving.sim"], "the checker sees sim's imports"

    def visit(n, path):
        assert n not in path, f"import cycle: {' -> '.join([*path, n])}"
        for d in graph.get(n, ()):
            visit(d, [*path, n])

    for n in graph:
        visit(n, [])


def test_registry_is_pure_python(tmp_path, modules_loaded_by):
    mods = modules_loaded_by("import rpaccel.units, rpaccel.cli.flags, rpaccel.verif.campaign; "
                             "rpaccel.units.get_unit('gemm').cases_module()", tmp_path)
    bad = [m for m in mods if m.split(".")[0] in ("amaranth", "cocotb")]
    assert not bad, bad
