"""``tools/ab_speed.py`` (the two-revision speed comparison): its bad-input rules and the
source-tree import it runs each revision with. The timed runs themselves are minutes long and
stay out of the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "ab_speed.py"


@pytest.mark.parametrize("args, msg", [
    (["HEAD", "HEAD", "--rounds", "0"], "--rounds must be an integer in [1, 100], got 0"),
    (["HEAD", "HEAD", "--queries", "1001"], "--queries must be an integer in [1, 1000], got 1001"),
    (["no-such-rev", "HEAD"], "REV 'no-such-rev' is not a commit of this repository"),
    (["HEAD", "HEAD", "--pipelines", "nope"], "--pipelines: --pipeline: 'nope' is neither"),
])
def test_bad_input_exits_2_with_one_line(args, msg, tmp_path):
    """Exit 2, one line naming the parameter, and no worktree checked out."""
    r = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                       cwd=REPO, env={**os.environ, "RPACCEL_BUILD": str(tmp_path)})
    assert r.returncode == 2, r.stderr
    assert msg in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "ab").exists()


def test_a_source_tree_is_imported_from_its_own_layout(tmp_path):
    """``use_tree`` loads ``rpaccel`` and its mapped subpackages from the given tree: a copy of
    the package layout with a marker in the perf model is the one imported."""
    root = tmp_path / "tree"
    (root / "src" / "rpaccel").mkdir(parents=True)
    (root / "src" / "rpaccel" / "__init__.py").write_text("")
    (root / "perf").mkdir()
    (root / "perf" / "__init__.py").write_text("MARK = 'copy'\n")
    (root / "pyproject.toml").write_text(
        '[tool.setuptools.package-dir]\n"rpaccel" = "src/rpaccel"\n"rpaccel.perfmodel" = "perf"\n')
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'tools')!r}); import ab_speed; "
            f"ab_speed.use_tree(__import__('pathlib').Path({str(root)!r})); "
            "import rpaccel.perfmodel as p; print(p.MARK, p.__file__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    mark, path = r.stdout.split()
    assert mark == "copy" and Path(path).resolve() == (root / "perf" / "__init__.py").resolve()
