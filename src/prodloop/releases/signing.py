"""Artifact signing with Ed25519: keys, signatures, and the `require_signed` deploy policy.

A signature covers the artifact's exact bytes (pure Ed25519, no pre-hash), so it can also
be checked with OpenSSL: ``openssl pkeyutl -verify -rawin``. Keys travel as base64 of the
raw 32-byte key, the form `prodloop artifact keygen` prints; PEM keys (PKCS #8 private,
SubjectPublicKeyInfo public, as ``openssl genpkey -algorithm ed25519`` writes) are
accepted too. Signatures are base64 of the 64 raw signature bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from prodloop.config.sections import Service
from prodloop.errors import ConfigError, ValidationError

PRIVATE_KEY_ENV = "PRODLOOP_SIGNING_PRIVATE_KEY"
PUBLIC_KEY_ENV = "PRODLOOP_SIGNING_PUBLIC_KEY"
KEY_BYTES = 32
SIGNATURE_BYTES = 64


def _b64decode(text: str) -> bytes:
    return base64.b64decode("".join(text.split()), validate=True)


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _private_key(text: str) -> Ed25519PrivateKey:
    if text.lstrip().startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.strip().encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the PEM key is not an Ed25519 private key")
        return key
    raw = _b64decode(text)
    if len(raw) != KEY_BYTES:
        raise ValueError(f"expected base64 of {KEY_BYTES} bytes, got {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def _public_key(text: str) -> Ed25519PublicKey:
    if text.lstrip().startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.strip().encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM key is not an Ed25519 public key")
        return key
    raw = _b64decode(text)
    if len(raw) != KEY_BYTES:
        raise ValueError(f"expected base64 of {KEY_BYTES} bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def generate_keypair() -> tuple[str, str]:
    """A new Ed25519 key pair as (private key, public key), each base64 of 32 raw bytes."""
    private = Ed25519PrivateKey.generate()
    private_raw = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    public_raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return _b64encode(private_raw), _b64encode(public_raw)


def public_key_of(private_key_b64: str) -> str:
    """The base64 public key that belongs to a private key."""
    try:
        private = _private_key(private_key_b64)
    except (ValueError, binascii.Error) as exc:
        raise ValidationError(f"not an Ed25519 private key: {exc}", field="private key") from exc
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return _b64encode(raw)


def digest(data: bytes) -> str:
    """The artifact's content address, ``sha256:<hex>``, recorded beside its signature."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sign(data: bytes, private_key_b64: str) -> str:
    """Sign the artifact's bytes; the signature is base64 of 64 bytes."""
    try:
        private = _private_key(private_key_b64)
    except (ValueError, binascii.Error) as exc:
        raise ValidationError(f"not an Ed25519 private key: {exc}", field="private key") from exc
    return _b64encode(private.sign(data))


def decode_signature(signature_b64: str) -> bytes:
    """The 64 raw bytes of a base64 signature; ValidationError when it is not one."""
    try:
        raw = _b64decode(signature_b64)
    except (ValueError, binascii.Error) as exc:
        raise ValidationError("is not valid base64", field="signature") from exc
    if len(raw) != SIGNATURE_BYTES:
        raise ValidationError(
            f"expected {SIGNATURE_BYTES} bytes of Ed25519 signature, got {len(raw)}",
            field="signature",
        )
    return raw


def verify(data: bytes, signature_b64: str, public_key_b64: str) -> bool:
    """True when the signature over these bytes verifies with the public key.

    A signature or key that is not even well formed raises ValidationError, so a caller
    can tell bad input from a signature that does not match.
    """
    raw_signature = decode_signature(signature_b64)
    try:
        public = _public_key(public_key_b64)
    except (ValueError, binascii.Error) as exc:
        raise ValidationError(f"not an Ed25519 public key: {exc}", field="public key") from exc
    try:
        public.verify(raw_signature, data)
    except InvalidSignature:
        return False
    return True


def _load_key_from_env(name: str, environ: Mapping[str, str] | None, *, private: bool) -> str:
    env = os.environ if environ is None else environ
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(
            "is not set; `prodloop artifact keygen` prints a key pair to export", field=name
        )
    try:
        if private:
            _private_key(value)
        else:
            _public_key(value)
    except (ValueError, binascii.Error) as exc:
        kind = "private" if private else "public"
        raise ConfigError(f"is not an Ed25519 {kind} key ({exc})", field=name) from exc
    return value


def load_private_key_from_env(
    name: str = PRIVATE_KEY_ENV, environ: Mapping[str, str] | None = None
) -> str:
    """The signing key from the environment; ConfigError naming the variable if unset or bad."""
    return _load_key_from_env(name, environ, private=True)


def load_public_key_from_env(
    name: str = PUBLIC_KEY_ENV, environ: Mapping[str, str] | None = None
) -> str:
    """The verifying key from the environment; ConfigError naming the variable if unset or bad."""
    return _load_key_from_env(name, environ, private=False)


def read_signature(value: str) -> str:
    """A signature given on the command line: a file `artifact sign` wrote, or the base64 text.

    The result is checked to be a well-formed signature (ValidationError otherwise).
    """
    path = Path(value)
    if path.is_file():
        text = path.read_text("ascii", errors="replace").strip()
        try:
            decode_signature(text)
        except ValidationError as exc:
            raise ValidationError(f"{value} holds no Ed25519 signature: {exc.message}") from exc
        return text
    try:
        decode_signature(value)
    except ValidationError as exc:
        raise ValidationError(
            f"'{value}' is neither a signature file nor a base64 signature", field="signature"
        ) from exc
    return value.strip()


@dataclass(frozen=True)
class SignatureCheck:
    """What the deploy policy found: record it on the deployment."""

    is_required: bool
    is_verified: bool
    digest: str | None
    signature: str | None
    detail: str


def check_deploy_signature(
    service_config: Service,
    artifact_bytes: bytes | None,
    signature: str | None,
    public_key: str | None,
    *,
    service_name: str = "the service",
) -> SignatureCheck:
    """Enforce the service's `require_signed` policy before any traffic moves.

    `signature` is the base64 text (see `read_signature`), `public_key` the base64 key
    (see `load_public_key_from_env`) or None when none is configured. A signature that is
    given and does not verify is refused whatever the policy; with `require_signed` an
    unsigned artifact, a missing artifact and a missing public key are refused too.
    Raises ValidationError with a message that says what to fix.
    """
    required = service_config.require_signed
    label = f"{service_name} requires signed artifacts (require_signed: true)"
    if artifact_bytes is None and signature is not None:
        raise ValidationError(
            "a signature needs the artifact it signs (--artifact)", field="artifact"
        )
    if artifact_bytes is None:
        if required:
            raise ValidationError(
                f"{label}: pass --artifact FILE --signature SIG", field="artifact"
            )
        return SignatureCheck(False, False, None, None, "no artifact given")
    artifact_digest = digest(artifact_bytes)
    if signature is None:
        if required:
            raise ValidationError(
                f"{label}: {artifact_digest} has no signature; sign it with "
                "`prodloop artifact sign` and pass --signature",
                field="signature",
            )
        return SignatureCheck(False, False, artifact_digest, None, "artifact is not signed")
    if not public_key:
        if required:
            raise ValidationError(
                f"{label}, but no public key is configured: set {PUBLIC_KEY_ENV}",
                field=PUBLIC_KEY_ENV,
            )
        return SignatureCheck(
            False, False, artifact_digest, signature, f"not checked: {PUBLIC_KEY_ENV} is not set"
        )
    if not verify(artifact_bytes, signature, public_key):
        raise ValidationError(
            f"does not verify for {artifact_digest} with {PUBLIC_KEY_ENV}: the artifact was "
            "changed after signing or signed with another key",
            field="signature",
        )
    return SignatureCheck(required, True, artifact_digest, signature, "signature verified")
