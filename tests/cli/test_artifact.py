"""`prodloop artifact keygen|sign|verify` through the real command: output and exit codes."""

from __future__ import annotations

import base64
import re
import stat
from pathlib import Path

import pytest

from prodloop.releases.signing import PRIVATE_KEY_ENV, PUBLIC_KEY_ENV, verify
from tests.cli.conftest import run_cli

EXPORT = re.compile(r"^export (PRODLOOP_SIGNING_(?:PRIVATE|PUBLIC)_KEY)=(\S+)$")


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    result = run_cli("artifact", "keygen")
    assert result.returncode == 0, result.stderr
    found = dict(m.groups() for line in result.stdout.splitlines() if (m := EXPORT.match(line)))
    assert set(found) == {PRIVATE_KEY_ENV, PUBLIC_KEY_ENV}
    return found


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "app-1.0-py3-none-any.whl"
    path.write_bytes(b"PK\x03\x04 pretend wheel " * 200)
    return path


def test_keygen_prints_two_exports_and_writes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("artifact", "keygen", cwd=tmp_path)
    assert result.returncode == 0
    assert [line.split("=")[0] for line in result.stdout.splitlines()] == [
        f"export {PRIVATE_KEY_ENV}",
        f"export {PUBLIC_KEY_ENV}",
    ]
    assert all(len(base64.b64decode(key)) == 32 for key in env.values())
    assert "secret" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_keygen_out_dir_writes_0600_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    result = run_cli("artifact", "keygen", "--out-dir", str(keys))
    assert result.returncode == 0, result.stderr
    private, public = keys / "prodloop-signing.key", keys / "prodloop-signing.pub"
    for path in (private, public):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(base64.b64decode(path.read_text().strip())) == 32
    assert private.read_text().strip() not in result.stdout  # the secret stays in the file
    assert f"$(cat {private})" in result.stdout

    before = private.read_text()
    again = run_cli("artifact", "keygen", "--out-dir", str(keys))
    assert again.returncode == 2
    assert "already exist" in again.stderr and "--force" in again.stderr
    assert private.read_text() == before
    forced = run_cli("artifact", "keygen", "--out-dir", str(keys), "--force")
    assert forced.returncode == 0
    assert private.read_text() != before
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_sign_prints_or_writes_a_signature_that_verifies(
    artifact: Path, env: dict[str, str], tmp_path: Path
) -> None:
    printed = run_cli("artifact", "sign", str(artifact), env=env)
    assert printed.returncode == 0, printed.stderr
    signature = printed.stdout.strip()
    assert verify(artifact.read_bytes(), signature, env[PUBLIC_KEY_ENV])

    sig_file = tmp_path / "artifact.sig"
    written = run_cli("artifact", "sign", str(artifact), "--output", str(sig_file), env=env)
    assert written.returncode == 0, written.stderr
    assert sig_file.read_text().strip() == signature
    assert "sha256:" in written.stdout


def test_verify_exit_codes(artifact: Path, env: dict[str, str], tmp_path: Path) -> None:
    sig_file = tmp_path / "artifact.sig"
    assert run_cli("artifact", "sign", str(artifact), "-o", str(sig_file), env=env).returncode == 0

    ok = run_cli("artifact", "verify", str(artifact), str(sig_file), env=env)
    assert ok.returncode == 0, ok.stderr
    assert "signature verified" in ok.stdout

    by_text = run_cli("artifact", "verify", str(artifact), sig_file.read_text().strip(), env=env)
    assert by_text.returncode == 0

    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    tampered = run_cli("artifact", "verify", str(artifact), str(sig_file), env=env)
    assert tampered.returncode == 1
    assert "signature does not verify" in tampered.stderr


def test_verify_with_another_key_exits_1(artifact: Path, env: dict[str, str]) -> None:
    signature = run_cli("artifact", "sign", str(artifact), env=env).stdout.strip()
    other = run_cli("artifact", "keygen").stdout
    other_public = next(m.group(2) for line in other.splitlines() if (m := EXPORT.match(line)))
    result = run_cli(
        "artifact",
        "verify",
        str(artifact),
        signature,
        env={PUBLIC_KEY_ENV: other_public},
    )
    assert result.returncode == 1
    assert PUBLIC_KEY_ENV in result.stderr


def test_bad_input_exits_2(artifact: Path, env: dict[str, str], tmp_path: Path) -> None:
    junk = tmp_path / "junk.sig"
    junk.write_text("not a signature")
    missing_file = run_cli("artifact", "verify", str(tmp_path / "nope.whl"), str(junk), env=env)
    assert missing_file.returncode == 2
    malformed = run_cli("artifact", "verify", str(artifact), str(junk), env=env)
    assert malformed.returncode == 2
    assert "holds no Ed25519 signature" in malformed.stderr


@pytest.mark.parametrize(
    ("command", "variable"),
    [(("sign",), PRIVATE_KEY_ENV), (("verify", "c2ln"), PUBLIC_KEY_ENV)],
)
def test_missing_or_bad_key_in_env_exits_2_naming_the_variable(
    artifact: Path, command: tuple[str, ...], variable: str
) -> None:
    name, *rest = command
    args = ("artifact", name, str(artifact), *rest)
    unset = run_cli(*args, unset=(PRIVATE_KEY_ENV, PUBLIC_KEY_ENV))
    assert unset.returncode == 2
    assert variable in unset.stderr and "is not set" in unset.stderr
    bad = run_cli(*args, env={variable: "c2hvcnQ="})
    assert bad.returncode == 2
    assert variable in bad.stderr and "Ed25519" in bad.stderr
