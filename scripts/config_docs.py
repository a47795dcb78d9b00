"""Print docs/configuration.md from the settings registry in prodloop.config."""

from __future__ import annotations

from prodloop.config import iter_settings

HEADER = """# Configuration

`prodloop.yaml` (or the file named by `--config` / `PRODLOOP_CONFIG`) is read on start.
`prodloop init` writes a commented one. Unknown settings are errors, and an invalid file
stops prodloop with a message that names the field and its line.

Secrets are never written literally: `api_key`, `keys`, `api_tokens`, `ingest_keys` and
the paging secrets (`url` of Slack and webhook notifiers, `routing_key`, `signing_key`)
take environment references such as `${OPENAI_API_KEY}`, resolved when prodloop starts.

Any setting can be overridden by an environment variable: `PRODLOOP_` followed by the
path with `__` between parts, e.g. `PRODLOOP_GATEWAY__PORT=9000` sets `gateway.port`.
`PRODLOOP_DATABASE_URL` sets `store.url`.

`<name>` stands for a key you choose (a service or version name); `[]` for an item of a
list.

| setting | default | description |
|---|---|---|
"""


def main() -> None:
    rows = [
        f"| `{name}` | {f'`{default}`' if default else ''} | {description} |"
        for name, default, description in iter_settings()
    ]
    print(HEADER + "\n".join(rows))


if __name__ == "__main__":
    main()
