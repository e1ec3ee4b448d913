"""``{bench-results}`` directive: the figures of ``make bench``'s results files as tables
(generated as MyST Markdown, parsed in place).

It reads every ``*.json`` in ``$RPACCEL_BUILD/results`` (``make bench``'s output) if that
folder holds any, else in ``docs/_data/bench`` (the snapshot ``make bench`` copies there for
the published docs), and renders one table per file: each figure with its path in the file,
and the date and machine the run recorded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

HERE = Path(__file__).resolve().parents[1]


def results_folder() -> Path:
    build = Path(os.environ.get("RPACCEL_BUILD", HERE.parent / "build")) / "results"
    if build.is_dir() and any(build.glob("bench*.json")):
        return build
    return HERE / "_data" / "bench"


def _flatten(d, prefix=""):
    for k, v in d.items():
        if k in ("date", "machine"):
            continue
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + " / ")
        elif isinstance(v, list):
            yield key, ", ".join(str(x) for x in v)
        else:
            yield key, f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


class BenchResults(SphinxDirective):
    has_content = False

    def run(self):
        folder = results_folder()
        files = sorted(folder.glob("bench*.json"))
        if not files:
            return [self.state.document.reporter.warning(
                f"no benchmark results in {folder} (run make bench)", line=self.lineno)]
        where = folder.relative_to(HERE.parent) if folder.is_relative_to(HERE.parent) else folder
        lines = [f"Read from `{where}`.", ""]
        for f in files:
            self.env.note_dependency(str(f))
            d = json.loads(f.read_text())
            lines += [f"### {f.stem.replace('_', ' ')}", "",
                      f"Run on {d.get('date', 'an unrecorded date')}, "
                      f"machine: {d.get('machine', 'not recorded')}.", "",
                      "| figure | value |", "|---|---|"]
            for k, v in _flatten(d):
                v = v.replace("|", "\\|")
                lines.append(f"| {k} | {v} |")
            lines.append("")
        node = nodes.section()
        node.document = self.state.document
        self.state.nested_parse(StringList(lines), self.content_offset, node,
                                match_titles=True)
        return node.children


def setup(app):
    app.add_directive("bench-results", BenchResults)
    return {"parallel_read_safe": True, "version": "1"}
