"""Runbooks as one printable HTML document: a page per runbook, its front matter on top."""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path

import markdown

from prodloop.incidents.runbooks import Runbook

_STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 11pt; line-height: 1.4;
       margin: 0 1.5em; color: #111; }
h1 { font-size: 18pt; border-bottom: 2px solid #333; padding-bottom: .2em; }
section.runbook { break-before: page; }
section.runbook:first-of-type { break-before: auto; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dl.meta dt { font-weight: bold; } dl.meta dd { margin: 0; }
code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 9.5pt; }
pre { background: #f3f3f3; padding: .5em; white-space: pre-wrap; }
table.steps { border-collapse: collapse; width: 100%; }
table.steps td, table.steps th { border: 1px solid #bbb; padding: .25em .5em;
                                 text-align: left; vertical-align: top; }
"""


def leading_heading_dropped(body: str) -> str:
    """The body without its first `# ` heading: the front matter's title replaces it."""
    lines = body.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines)


def _runbook_html(runbook: Runbook) -> str:
    esc = html.escape
    drilled = "never" if runbook.last_drilled is None else runbook.last_drilled.isoformat()
    alerts = ", ".join(f"<code>{esc(selector.text)}</code>" for selector in runbook.alerts)
    parts = [
        f'<section class="runbook" id="{esc(runbook.name)}">',
        f"<h1>{esc(runbook.title)}</h1>",
        '<dl class="meta">',
        f"<dt>Owner</dt><dd>{esc(runbook.owner)}</dd>",
        f"<dt>Alerts</dt><dd>{alerts or 'none'}</dd>",
        f"<dt>Last drilled</dt><dd>{esc(drilled)}</dd>",
        f"<dt>File</dt><dd><code>{esc(Path(runbook.path).name)}</code></dd>",
        "</dl>",
    ]
    if runbook.steps:
        parts.append('<table class="steps"><tr><th>#</th><th>Step</th><th>Command</th></tr>')
        for number, step in enumerate(runbook.steps, start=1):
            run = f"<code>{esc(step.run)}</code>" if step.run else ""
            parts.append(f"<tr><td>{number}</td><td>{esc(step.title)}</td><td>{run}</td></tr>")
        parts.append("</table>")
    body = markdown.markdown(
        leading_heading_dropped(runbook.body), extensions=["fenced_code", "tables", "sane_lists"]
    )
    parts.extend([body, "</section>"])
    return "\n".join(parts)


def render_html(runbooks: Iterable[Runbook], *, title: str = "prodloop runbooks") -> str:
    """One self-contained HTML document of the runbooks, a page each, ready to print."""
    sections = "\n".join(_runbook_html(runbook) for runbook in runbooks)
    # The document loads nothing: printing it must not reach the network.
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style></head>\n"
        f"<body>\n{sections}\n</body></html>\n"
    )
