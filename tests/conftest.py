import os
import pathlib

import pytest

# Build outputs of the test run go to the repository's ignored build/ folder unless set.
os.environ.setdefault("RPACCEL_BUILD", str(pathlib.Path(__file__).resolve().parents[1] / "build"))


def _modules_loaded_by(imports: str, cwd) -> list[str]:
    """Import ``imports`` (Python statements) in a fresh interpreter started in ``cwd`` and
    return the names of every module it then has loaded (what an import drags in)."""
    import json
    import subprocess
    import sys

    code = f"import json, sys; {imports}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=cwd, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def modules_loaded_by():
    """:func:`_modules_loaded_by` for tests (conftest is not importable under importlib mode)."""
    return _modules_loaded_by


def pytest_terminal_summary(terminalreporter):
    """State the fuzzing harness's example count (tests/test_fuzz.py records it per test)."""
    n = ok = tests = 0
    for rep in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for key, val in getattr(rep, "user_properties", []):
            if key == "fuzz_examples":
                n, tests = n + int(val), tests + 1
            elif key == "fuzz_succeeded":
                ok += int(val)
    if tests:
        terminalreporter.write_line(f"fuzzing harness: {n} generated examples over {tests} "
                                    f"commands and loaders, {ok} command runs exited 0 "
                                    f"(tests/test_fuzz.py)")
