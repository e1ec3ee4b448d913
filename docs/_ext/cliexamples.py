"""``{cli-examples}`` directive: every command's example line (``rpaccel.cli.examples``, the
same lines each command's ``--help`` ends with), as one shell block."""

from __future__ import annotations

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


class CliExamples(SphinxDirective):
    has_content = False

    def run(self):
        from rpaccel.cli import build_parser
        from rpaccel.cli.examples import EXAMPLES, commands

        lines = [EXAMPLES[name] for name, _ in commands(build_parser()) if name in EXAMPLES]
        block = nodes.literal_block("\n".join(lines), "\n".join(lines))
        block["language"] = "sh"
        return [block]


def setup(app):
    app.add_directive("cli-examples", CliExamples)
    return {"parallel_read_safe": True, "version": "1"}
