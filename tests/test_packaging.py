"""One import root, and the standard library's `sched` is never shadowed."""

import subprocess
import sys

import pytest


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


@pytest.mark.parametrize("step", [0, 1])
@pytest.mark.xdist_group("packaging-groups")
def test_xdist_groups_share_a_worker(step):
    """Tests of one xdist_group run on one worker (so they share a Verilator build): each test
    of this group records its worker; the second finds only its own worker recorded."""
    import os
    import pathlib
    import tempfile
    import time

    worker, run = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not worker or not run:
        pytest.skip("not under pytest-xdist")
    log = pathlib.Path(tempfile.gettempdir()) / f"rpaccel-xdist-group-{run}"
    with log.open("a") as f:
        f.write(worker + "\n")
    time.sleep(0.5)       # were the group split, the other worker's test runs meanwhile
    seen = set(log.read_text().split())
    assert seen == {worker}, f"xdist_group split over workers {sorted(seen)}"
