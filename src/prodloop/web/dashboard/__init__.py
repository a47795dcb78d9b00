"""The dashboard at / on the control plane: server-rendered pages (Jinja2 + htmx), charts
drawn by uPlot from JSON, login with roles, CSRF on every form. It works offline: htmx
and uPlot are pinned files in static/vendor/, and a strict CSP (no inline script or style)
is sent with every page.

This module imports nothing, so that prodloop.api.auth can use `users` and `tokens`
without a cycle. The modules:

- users.py, sessions.py, tokens.py: the store side (argon2 passwords, hashed session ids
  and API tokens) the CLI (`prodloop users`, `prodloop tokens`) and the API also use.
- auth.py: `CurrentUser`, `require_role(...)`, `Control`; login rate limits.
- csrf.py: `verify_csrf` (form field `csrf_token`, or the `X-CSRF-Token` header that
  base.html makes htmx send on every request).
- templating.py: `render(request, template, context)`, `register_nav(NavItem(...))`, the
  security headers and the format filters (pct, ms, usd, num, when, clock).
- charts.py: `chart_data(engine, range, now, service=)`: per-step SLIs by version and
  markers; cards.py: SLO status as green / amber / red cards.
- login.py, overview.py, service.py, account.py: the pages; router.py: `install_dashboard`.

Adding a page:

1. A module here with ``router = APIRouter(include_in_schema=False)`` and, for a header
   link, ``register_nav(NavItem("Incidents", "/incidents", order=20, role="viewer"))``.
2. Routes take ``user: CurrentUser`` (any logged-in user; others are sent to /login) and
   ``control: Control`` (engine, config, clock), call one domain function, and return
   ``render(request, "incidents.html", {...})``. Templates extend "base.html" and fill
   ``{% block content %}``; everything is autoescaped (never use ``|safe`` on data).
3. Add the module to ``PAGE_MODULES`` in router.py.

Checking a role: ``user: Annotated[User, Depends(require_role("operator"))]`` answers
403 (an error page, or a message fragment for htmx) below that role; in templates,
``{% if user.can("operator") %}`` hides what the user may not do.

A form: ``<input type="hidden" name="{{ csrf_field }}" value="{{ csrf_token }}">`` inside
it, and ``dependencies=[Depends(verify_csrf)]`` on the POST route. Validate the fields,
and on error re-render the page with status 422 and ``errors={"field": "message"}``
shown beside each field (see login.html, account.html). An action answers through
``service.action_result(...)``: a message fragment for htmx (4xx answers are swapped in
too), a redirect or an error page otherwise; a failed action changes nothing.

A chart: put ``{% include "_charts.html" %}`` in the page with ``chart_src`` (a JSON URL
returning ``ChartData.to_dict()``'s shape: times, series, values[metric][series][step],
markers) and ``chart_titles`` ((metric, title) pairs) in the context; dashboard.js draws
one uPlot chart per ``.chart[data-metric]`` and refreshes it every minute. A
``data-minute-url`` on the section makes a click fetch ``<url>?ts=<unix seconds>`` into
``#minute``. Live fragments: ``hx-get`` with ``hx-trigger="every 15s"``.
"""
