"""`prodloop artifact`: Ed25519 keys, and signing and verifying a build artifact."""

from __future__ import annotations

import os
from pathlib import Path

import click

from prodloop.releases.signing import (
    PRIVATE_KEY_ENV,
    PUBLIC_KEY_ENV,
    digest,
    generate_keypair,
    load_private_key_from_env,
    load_public_key_from_env,
    read_signature,
    sign,
    verify,
)

PRIVATE_KEY_FILE = "prodloop-signing.key"
PUBLIC_KEY_FILE = "prodloop-signing.pub"


class SignatureMismatch(click.ClickException):
    """Well-formed input whose signature does not verify: exit code 1, not 2."""

    exit_code = 1


def _write_secret(path: Path, text: str) -> None:
    # O_EXCL and mode 0600 at creation: the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(text + "\n")


@click.group()
def artifact() -> None:
    """Sign build artifacts with Ed25519 and verify their signatures."""


@artifact.command("keygen")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"also write {PRIVATE_KEY_FILE} and {PUBLIC_KEY_FILE} here (mode 0600)",
)
@click.option("--force", is_flag=True, help="overwrite key files in --out-dir")
def artifact_keygen(out_dir: Path | None, force: bool) -> None:
    """Create a signing key pair and print the two lines to export.

    Nothing is written to disk unless --out-dir is given. Store the private key as a CI
    secret; the public key is what deploys are verified against.
    """
    private_key, public_key = generate_keypair()
    if out_dir is None:
        click.echo(f"export {PRIVATE_KEY_ENV}={private_key}")
        click.echo(f"export {PUBLIC_KEY_ENV}={public_key}")
        click.echo(
            f"keep {PRIVATE_KEY_ENV} secret (a CI secret); {PUBLIC_KEY_ENV} may be shared",
            err=True,
        )
        return
    private_path, public_path = out_dir / PRIVATE_KEY_FILE, out_dir / PUBLIC_KEY_FILE
    existing = [str(p) for p in (private_path, public_path) if p.exists()]
    if existing and not force:
        verb = "exists" if len(existing) == 1 else "exist"
        raise click.UsageError(f"{' and '.join(existing)} already {verb} (use --force to replace)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, key in ((private_path, private_key), (public_path, public_key)):
        path.unlink(missing_ok=True)
        _write_secret(path, key)
    click.echo(f"wrote {private_path} and {public_path} (mode 0600)")
    click.echo(f'export {PRIVATE_KEY_ENV}="$(cat {private_path})"')
    click.echo(f'export {PUBLIC_KEY_ENV}="$(cat {public_path})"')


@artifact.command("sign")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the signature to this file instead of printing it",
)
def artifact_sign(file: Path, output: Path | None) -> None:
    """Sign FILE with the private key in $PRODLOOP_SIGNING_PRIVATE_KEY.

    Prints the base64 signature, or writes it to --output.
    """
    private_key = load_private_key_from_env()
    data = file.read_bytes()
    signature = sign(data, private_key)
    if output is None:
        click.echo(signature)
        return
    output.write_text(signature + "\n", encoding="ascii")
    click.echo(f"signed {file} ({digest(data)}); signature in {output}")


@artifact.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("signature")
def artifact_verify(file: Path, signature: str) -> None:
    """Check that SIGNATURE (a file, or the base64 text) signs FILE.

    The public key comes from $PRODLOOP_SIGNING_PUBLIC_KEY. Exit code 0 when it verifies,
    1 when it does not, 2 when the input is malformed.
    """
    public_key = load_public_key_from_env()
    signature_b64 = read_signature(signature)
    data = file.read_bytes()
    if not verify(data, signature_b64, public_key):
        raise SignatureMismatch(
            f"signature does not verify: {file} ({digest(data)}) was changed after signing, "
            f"or it was signed with a key other than the one in {PUBLIC_KEY_ENV}"
        )
    click.echo(f"signature verified: {file} ({digest(data)})")
