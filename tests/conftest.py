import os
import pathlib

# Build outputs of the test run go to the repository's ignored build/ folder unless set.
os.environ.setdefault("RPACCEL_BUILD", str(pathlib.Path(__file__).resolve().parents[1] / "build"))
