"""Documentation that is executed: every runnable example in the README and the docs runs, and
shows what it prints.

* A fenced block with lines starting ``$ `` is a shell session: each command runs (bash, in a
  scratch folder where ``examples/`` is the repository's) and must exit 0 (or N, if the
  command ends in the comment ``# exit N``: then its error output is compared too); the lines shown
  after it must match its output (``...`` alone stands for any lines, ``...`` inside a line for
  any text; output shown from ``{`` on is one JSON line, compared with whitespace collapsed).
* Every ``python`` block of a page runs, in order, in one namespace per page.
* A block right after a ``<!-- norun: REASON -->`` line is not run (the reason says where it is
  checked instead; the accelerator page's dump recomputation runs on a fresh dump in
  tests/test_accel_cocotb.py); blocks without ``$`` lines are synopses (flags in brackets), not commands.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
#: a block right after one of these lines is not run here (the accelerator page's numpy
#: recomputation of a dump runs on a fresh dump in tests/test_accel_cocotb.py)
NORUN = ("<!-- norun", "<!-- recompute:start")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


def _blocks(page: Path):
    """``(lang, body, line, runnable)`` of every fenced block of ``page``."""
    text = page.read_text()
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        line = text.count("\n", 0, m.start()) + 1
        yield m.group(1), m.group(2), line, not before.startswith(NORUN)


def _sessions():
    """Every shell session: a block's commands with the output shown after each."""
    for page in PAGES:
        for lang, body, line, run in _blocks(page):
            if not run or lang == "python" or not any(
                    x.startswith("$ ") for x in body.splitlines()):
                continue
            steps: list[tuple[str, list[str]]] = []
            for x in body.splitlines():
                if x.startswith("$ "):
                    steps.append((x[2:].strip(), []))
                elif steps:
                    steps[-1][1].append(x)
            yield pytest.param(steps, id=f"{page.name}:{line}:{steps[0][0][:50]}",
                               marks=_marks(" ".join(c for c, _ in steps)))


def _marks(cmd: str):
    # RTL runs share the tiny build with the accelerator tests (one worker builds it)
    return [pytest.mark.xdist_group("accel-tiny")] if " sim accel " in f" {cmd} " else []


def _pattern(text: str) -> re.Pattern:
    return re.compile(".*?".join(re.escape(p) for p in text.split("...")) + r"\Z", re.S)


PAIR = re.compile(r'"([^"]+)": (\[[^\]]*\]|"[^"]*"|[^,}]+)')


def _same(a, b) -> bool:
    """Equal, numbers to the digits shown (a float printed shorter is the same float)."""
    if isinstance(a, float) or isinstance(b, float):
        import math

        return isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-12)
    return a == b


def _json_matches(want: str, actual: str) -> str | None:
    """Every ``"key": value`` shown is in the printed JSON object (any order; a value with
    ``...`` only needs its key)."""
    import json

    try:
        got = json.loads(actual)
    except ValueError:
        return f"not one JSON object: {actual[:200]!r}"
    for key, val in PAIR.findall(want):
        if key not in got:
            return f"JSON key {key!r} missing"
        if "..." not in val and not _same(json.loads(val), got[key]):
            return f"JSON {key!r}: shown {val}, printed {json.dumps(got[key])}"
    return None


def matches(shown: list[str], actual: str) -> str | None:
    """``None`` if ``actual`` shows what ``shown`` says (module docstring), else why not."""
    shown = [s.rstrip() for s in shown]
    while shown and not shown[-1]:
        shown.pop()
    if not shown:
        return None
    if shown[0].lstrip().startswith("{"):
        return _json_matches(" ".join(" ".join(shown).split()), actual)
    lines = actual.rstrip("\n").split("\n")
    i = 0
    for k, s in enumerate(shown):
        if s.strip() == "...":
            nxt = next((t for t in shown[k + 1:] if t.strip() != "..."), None)
            if nxt is None:
                return None
            while i < len(lines) and not _pattern(nxt).match(lines[i].rstrip()):
                i += 1
            continue
        if i >= len(lines):
            return f"missing line {s!r}"
        if not _pattern(s).match(lines[i].rstrip()):
            return f"line {i + 1}: shown {s!r}, printed {lines[i].rstrip()!r}"
        i += 1
    return None


@pytest.mark.parametrize("steps", list(_sessions()))
def test_shell_example(steps, tmp_path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "COLUMNS": "80"}
    for cmd, shown in steps:        # in order, in one folder (a later one reads what one wrote)
        r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)
        # `| head` closes the pipe early: the command must still exit 0 (quietly); a command
        # shown failing says so (`# exit N`) and its error line is compared
        m = re.search(r"#\s*exit (\d+)\s*$", cmd)
        want = int(m.group(1)) if m else 0
        assert r.returncode == want, f"{cmd}: exit {r.returncode}\n{r.stderr[-2000:]}"
        assert "Traceback" not in r.stderr, r.stderr
        why = matches(shown, r.stdout if not want else r.stdout + r.stderr)
        assert why is None, f"{cmd}: {why}"


@pytest.mark.parametrize("page", [p for p in PAGES if any(
    lang == "python" and run for lang, _, _, run in _blocks(p))], ids=lambda p: p.name)
def test_python_examples(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    ns: dict = {"__name__": "__docs__"}
    for lang, body, line, run in _blocks(page):
        if lang == "python" and run:
            exec(compile(body, f"{page.name}:{line}", "exec"), ns)


def test_matches_rules():
    """The comparison itself: exact lines, ``...`` lines and fragments, JSON across lines."""
    out = "a 1\nb 2\nc 3\nd 4\n"
    assert matches(["a 1", "...", "d 4"], out) is None
    assert matches(["a ...", "b 2"], out) is None
    assert matches(["a 1", "c 3"], out) is not None
    assert matches(["a 2"], out) is not None
    assert matches(["a 1", "b 2", "c 3", "d 4", "e 5"], out) is not None
    js = '{"x": 1, "y": [1, 2], "z": "w"}\n'
    assert matches(['{"z": "w", "x": 1,', ' "y": [...], ...}'], js) is None
    assert matches(['{"x": 2, ...}'], js) is not None
    assert matches(['{"q": [...], ...}'], js) is not None
    assert shutil.which("bash")


def test_docs_site_builds_without_warnings(tmp_path):
    """`make docs`: the site builds with warnings as errors (a broken link or reference, a
    bad directive or a docstring Sphinx cannot parse fails the suite), and its generated
    references are there."""
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                        "html", str(ROOT / "docs"), str(tmp_path / "html")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    # docutils' own messages inside generated content (the CLI reference) do not stop -W
    assert "WARNING" not in r.stderr and "ERROR" not in r.stderr, r.stderr[-3000:]
    import html

    def text(page):
        raw = (tmp_path / "html" / page).read_text()
        return html.unescape(re.sub(r"<[^>]+>", "", raw))

    api, cli = text("reference/api.html"), text("reference/cli.html")
    assert "gemm_cycles" in api and "memory_estimate" in api
    for cmd in ("simulate", "trace generate", "study headline", "cost area"):
        assert f"rpaccel {cmd}" in cli, cmd
    assert "Run on" in text("benchmarks.html")


def test_readme_fits_on_a_screen():
    """The README stays an entry point: at most 150 lines, every link into docs/ resolves."""
    text = (ROOT / "README.md").read_text()
    assert text.count("\n") <= 150
    for target in re.findall(r"\]\(((?:docs/|CHANGELOG)[^)#]*)", text):
        assert (ROOT / target).exists(), target
