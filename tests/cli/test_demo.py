"""`prodloop demo`: the main job on the embedded default, as `make demo` runs it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.conftest import run_cli


def _client_statuses(out: str, service: str) -> dict[int, int]:
    line = next(row for row in out.splitlines() if row.startswith(f"{service}: client saw"))
    return {int(code): int(n) for code, n in re.findall(r"(\d{3}): (\d+)", line)}


def test_demo_measures_what_the_clients_saw(tmp_path: Path) -> None:
    result = run_cli("demo", "--requests", "60", "--concurrency", "6", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert (tmp_path / ".prodloop" / "prodloop.db").exists()  # the embedded default store
    header = next(row for row in out.splitlines() if row.startswith("service"))
    for column in ("requests", "errors", "p50", "p95", "p99", "ttft p50", "tokens in", "cost/req"):
        assert column in header
    assert "transport failures 0" in out
    assert "dropped 0" in out
    for service, version in (("chat", "v1"), ("assist", "v2")):
        statuses = _client_statuses(out, service)
        assert sum(statuses.values()) == 60
        row = next(r for r in out.splitlines() if r.startswith(f"{service} "))
        cells = row.split()
        assert cells[1] == version
        assert int(cells[2]) == 60  # every request the clients sent was measured
        server_errors = sum(n for code, n in statuses.items() if code >= 500)
        assert cells[3] == f"{server_errors / 60 * 100:.2f}%"
