"""Sphinx configuration of rpaccel's documentation (``make docs``: built with warnings as
errors into build/docs)."""

import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import rpaccel  # noqa: E402

project = "rpaccel"
author = "rpaccel developers"
copyright = f"{date.today().year}, {author}"
release = version = rpaccel.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinxarg.ext",
    "benchpage",
    "cliexamples",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 4
exclude_patterns = ["_build", "_ext"]
root_doc = "index"
html_theme = "furo"
html_title = f"rpaccel {release}"
html_static_path: list[str] = []
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": False}
autosummary_generate = False
nitpicky = False
suppress_warnings: list[str] = []
