"""The layering rules, checked statically: every import of every module (function-local ones
included) is read with ``ast`` and resolved to the package it names.

* core (``rpaccel`` itself: config, query, accel, models, isa, ...) imports no layer;
* ``rtl`` imports neither ``perfmodel``, ``sched`` nor ``verif``;
* ``perfmodel`` imports neither ``rtl``, ``sched``, ``verif``, Amaranth nor cocotb;
* ``sched`` imports neither ``rtl``, ``verif``, Amaranth, cocotb nor the CLI;
* ``verif`` imports neither ``sched`` nor the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Folder of each package (pyproject.toml's package-dir).
PACKAGES = {"rpaccel": ROOT / "src" / "rpaccel", "rpaccel.rtl": ROOT / "rtl",
            "rpaccel.perfmodel": ROOT / "perfmodel", "rpaccel.sched": ROOT / "sched",
            "rpaccel.verif": ROOT / "verif", "rpaccel.cli": ROOT / "src" / "rpaccel" / "cli"}
LAYERS = ("rpaccel.rtl", "rpaccel.perfmodel", "rpaccel.sched", "rpaccel.verif", "rpaccel.cli")
#: layer -> the packages it must not import.
FORBIDDEN = {
    "core": LAYERS,
    "rpaccel.rtl": ("rpaccel.perfmodel", "rpaccel.sched", "rpaccel.verif", "rpaccel.cli"),
    "rpaccel.perfmodel": ("rpaccel.rtl", "rpaccel.sched", "rpaccel.verif", "rpaccel.cli",
                          "amaranth", "cocotb", "cocotb_tools"),
    "rpaccel.sched": ("rpaccel.rtl", "rpaccel.verif", "rpaccel.cli", "amaranth", "cocotb",
                      "cocotb_tools"),
    "rpaccel.verif": ("rpaccel.sched", "rpaccel.cli"),
    "rpaccel.cli": (),
}


def _modules():
    """``(module name, layer, path)`` of every Python file of the five layers and the core."""
    for pkg, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            if pkg == "rpaccel" and path.parent != folder and \
                    path.relative_to(folder).parts[0] == "cli":
                continue       # the CLI is its own package
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([pkg, *parts])
            layer = "core" if pkg == "rpaccel" else pkg
            yield name, layer, path, path.name == "__init__.py"


def imports_of(name: str, path: Path, is_pkg: bool) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            # `from rpaccel import cli` names a package too
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
    return out


def _violations() -> list[str]:
    bad = []
    for name, layer, path, is_pkg in _modules():
        for line, mod in imports_of(name, path, is_pkg):
            for no in FORBIDDEN[layer]:
                if mod == no or mod.startswith(no + "."):
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {layer} imports {mod}")
    return sorted(set(bad))


def test_every_module_is_seen():
    names = {n for n, *_ in _modules()}
    for must in ("rpaccel.query", "rpaccel.rtl.accel", "rpaccel.perfmodel.executor",
                 "rpaccel.verif.campaign", "rpaccel.cli.accel"):
        assert must in names, must
    assert len(names) > 80


def test_relative_imports_resolve():
    """The checker itself: a relative import inside a layer names that layer's module."""
    got = dict((m, line) for line, m in imports_of(
        "rpaccel.perfmodel.compiler", PACKAGES["rpaccel.perfmodel"] / "compiler.py", False))
    assert "rpaccel.perfmodel.query" in got and "rpaccel.query" in got


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_import_rules(layer):
    bad = [v for v in _violations() if f": {layer} imports " in v]
    assert not bad, "\n".join(bad)
