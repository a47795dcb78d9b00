"""A customer's web app for the widget tests: a second origin serving pages under a strict
Content-Security-Policy, and a watcher that collects every CSP violation a page reports."""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from playwright.sync_api import ConsoleMessage, Page

from tests.support import serve_http

# The page's own listener: init scripts run outside the page's CSP, the page has no inline
# script of its own.
VIOLATION_LISTENER = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.effectiveDirective + " blocked " + (e.blockedURI || "inline"));
});
"""


def strict_csp(prodloop_url: str) -> str:
    """What a careful app sends: only its own origin and the prodloop host, no inline code."""
    return (
        f"default-src 'self'; script-src 'self' {prodloop_url}; connect-src {prodloop_url}; "
        "style-src 'self'; require-trusted-types-for 'script'"
    )


def app_page(widget_url: str, *, title: str = "Acme app", **data: str) -> str:
    """An app page loading the widget with these data-* attributes (data-key included)."""
    attrs = " ".join(f'data-{name}="{html.escape(value)}"' for name, value in data.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body>
<h1>Acme assistant</h1>
<a href="/docs">Docs</a>
<button id="ask" type="button">Ask</button>
<p id="answer">The answer is 42.</p>
<script src="{widget_url}" {attrs} defer></script>
</body></html>"""


@dataclass
class AppSite:
    """The customer's app: GET of a path in `pages` answers that HTML with `csp`."""

    url: str
    csp: str
    pages: dict[str, str] = field(default_factory=dict)


@contextmanager
def running_app_site(port: int, csp: str) -> Iterator[AppSite]:
    site = AppSite(f"http://127.0.0.1:{port}", csp)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = site.pages.get(self.path.split("?")[0])
            body = (page or "not found").encode()
            self.send_response(200 if page else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", site.csp)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serve_http(Handler, port):
        yield site


class Watcher:
    """CSP violations (the page's event and Chromium's console lines) and uncaught errors."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        page.add_init_script(VIOLATION_LISTENER)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def violations(self) -> list[str]:
        reported: list[str] = self.page.evaluate("window.__violations")
        refused = [line for line in self.console if "Content Security Policy" in line]
        return reported + refused


def shadow_focus(page: Page) -> dict[str, Any] | None:
    """The element focused inside the widget's shadow root, or None when focus is outside."""
    result: dict[str, Any] | None = page.evaluate(
        """() => {
          const host = document.activeElement;
          if (!host || host.tagName !== "PRODLOOP-WIDGET") return null;
          const el = host.shadowRoot.activeElement;
          return el && {tag: el.tagName.toLowerCase(), name: el.name || "", value: el.value || "",
                        cls: el.className || "", text: el.textContent || ""};
        }"""
    )
    return result
