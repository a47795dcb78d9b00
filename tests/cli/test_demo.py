"""`prodloop demo` refuses what it cannot tell its story on; `prodloop demo-upstream`'s
profiles. The whole demo run is in tests/demo."""

from __future__ import annotations

from pathlib import Path

from prodloop.store import connect
from prodloop.store.schema import deployments
from tests.cli.conftest import run_cli


def test_demo_refuses_a_store_that_is_in_use(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'used.db'}"
    engine = connect(url)
    with engine.begin() as conn:
        conn.execute(
            deployments.insert().values(
                service="chat",
                version="v7",
                upstream="http://127.0.0.1:9/v1",
                deployed_by="someone",
                created_at=1.0,
                status="live",
            )
        )
    engine.dispose()
    result = run_cli("demo", "--store", url, "--quick", cwd=tmp_path)
    assert result.returncode == 2
    assert "empty store" in result.stderr and "--store" in result.stderr
    assert not (tmp_path / ".prodloop").exists()  # nothing written


def test_demo_upstream_names_its_profiles() -> None:
    result = run_cli("demo-upstream", "--profile", "nonsense")
    assert result.returncode == 2
    assert "unknown profile 'nonsense'" in result.stderr
    for profile in ("fast", "realistic", "slow", "flaky", "demo"):
        assert profile in result.stderr
