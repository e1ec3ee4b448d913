"""One import root, and the standard library's `sched` is never shadowed."""

import subprocess
import sys


def test_stdlib_sched_not_shadowed():
    import sched

    assert hasattr(sched, "scheduler"), f"`import sched` gave {sched.__file__}, not the stdlib"


def test_rpaccel_sched_is_ours():
    import rpaccel.sched

    assert not hasattr(rpaccel.sched, "scheduler")
    assert rpaccel.sched.__name__ == "rpaccel.sched"


def test_perfmodel_and_sched_do_not_import_amaranth(tmp_path, modules_loaded_by):
    mods = modules_loaded_by("import rpaccel.perfmodel, rpaccel.sched, rpaccel.config", tmp_path)
    bad = [m for m in mods if m.split(".")[0] in ("amaranth", "cocotb")
           or m.startswith(("rpaccel.rtl", "rpaccel.verif"))]
    assert not bad, bad
    subprocess.run([sys.executable, "-c", "import sched; assert hasattr(sched, 'scheduler')"],
                   check=True, cwd=tmp_path)


def test_stdlib_sched_from_repo_root_with_safe_path():
    """`python -P` / PYTHONSAFEPATH=1 from the repository root still sees the stdlib sched."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-P", "-c", "import sched; assert hasattr(sched, 'scheduler')"],
                   check=True, cwd=root)
