"""Ed25519 artifact signatures and the `require_signed` deploy policy."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from prodloop.config import parse_config
from prodloop.config.sections import Service
from prodloop.errors import ConfigError, ValidationError
from prodloop.releases.signing import (
    PRIVATE_KEY_ENV,
    PUBLIC_KEY_ENV,
    check_deploy_signature,
    digest,
    generate_keypair,
    load_private_key_from_env,
    load_public_key_from_env,
    public_key_of,
    read_signature,
    sign,
    verify,
)

ARTIFACT = b"wheel bytes \x00\x01\x02" * 1000


def _service(*, require_signed: bool) -> Service:
    text = f"""
services:
  chat:
    stable: v1
    require_signed: {str(require_signed).lower()}
    versions:
      v1:
        upstream: http://127.0.0.1:9/v1
"""
    return parse_config(text, environ={}).services["chat"]


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_keypair()


def test_keypair_is_raw_32_byte_keys_in_base64(keys: tuple[str, str]) -> None:
    private_key, public_key = keys
    assert len(base64.b64decode(private_key)) == 32
    assert len(base64.b64decode(public_key)) == 32
    assert public_key_of(private_key) == public_key
    assert generate_keypair() != keys


def test_sign_then_verify_round_trip(keys: tuple[str, str]) -> None:
    private_key, public_key = keys
    signature = sign(ARTIFACT, private_key)
    assert len(base64.b64decode(signature)) == 64
    assert verify(ARTIFACT, signature, public_key) is True
    # Ed25519 is deterministic: the same bytes and key give the same signature.
    assert sign(ARTIFACT, private_key) == signature


def test_signature_covers_the_artifact_bytes_not_a_digest(keys: tuple[str, str]) -> None:
    private_key, public_key = keys
    raw_public = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key)).public_key()
    raw_public.verify(base64.b64decode(sign(ARTIFACT, private_key)), ARTIFACT)  # raises if not
    assert public_key_of(private_key) == public_key
    assert digest(ARTIFACT) == "sha256:" + hashlib.sha256(ARTIFACT).hexdigest()


def test_tampered_artifact_is_refused(keys: tuple[str, str]) -> None:
    private_key, public_key = keys
    signature = sign(ARTIFACT, private_key)
    tampered = bytearray(ARTIFACT)
    tampered[100] ^= 0x01
    assert verify(bytes(tampered), signature, public_key) is False
    assert verify(ARTIFACT + b"\n", signature, public_key) is False


def test_tampered_signature_is_refused(keys: tuple[str, str]) -> None:
    private_key, public_key = keys
    raw = bytearray(base64.b64decode(sign(ARTIFACT, private_key)))
    raw[10] ^= 0x80
    assert verify(ARTIFACT, base64.b64encode(bytes(raw)).decode(), public_key) is False


def test_wrong_key_is_refused(keys: tuple[str, str]) -> None:
    private_key, _ = keys
    _, other_public = generate_keypair()
    assert verify(ARTIFACT, sign(ARTIFACT, private_key), other_public) is False


@pytest.mark.parametrize("signature", ["not base64!", base64.b64encode(b"short").decode(), ""])
def test_malformed_signature_is_bad_input_not_a_mismatch(
    keys: tuple[str, str], signature: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        verify(ARTIFACT, signature, keys[1])
    assert caught.value.field == "signature"


def test_pem_keys_from_openssl_are_accepted() -> None:
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert verify(ARTIFACT, sign(ARTIFACT, private_pem), public_pem) is True


def test_keys_load_from_the_environment(keys: tuple[str, str]) -> None:
    private_key, public_key = keys
    environ = {PRIVATE_KEY_ENV: private_key + "\n", PUBLIC_KEY_ENV: public_key}
    assert load_private_key_from_env(environ=environ) == private_key
    assert load_public_key_from_env(environ=environ) == public_key
    assert load_public_key_from_env("MY_KEY", environ={"MY_KEY": public_key}) == public_key


@pytest.mark.parametrize("value", [None, "", "   ", "bm90IGEga2V5", "***"])
def test_unset_or_malformed_env_key_names_the_variable(value: str | None) -> None:
    environ = {} if value is None else {PRIVATE_KEY_ENV: value, PUBLIC_KEY_ENV: value}
    for load, name in (
        (load_private_key_from_env, PRIVATE_KEY_ENV),
        (load_public_key_from_env, PUBLIC_KEY_ENV),
    ):
        with pytest.raises(ConfigError) as caught:
            load(environ=environ)
        assert caught.value.field == name
        assert name in str(caught.value)
        expected = "is not set" if not (value or "").strip() else "is not an Ed25519"
        assert expected in str(caught.value)


def test_read_signature_takes_a_file_or_the_text(keys: tuple[str, str], tmp_path: Path) -> None:
    signature = sign(ARTIFACT, keys[0])
    sig_file = tmp_path / "artifact.sig"
    sig_file.write_text(signature + "\n")
    assert read_signature(str(sig_file)) == signature
    assert read_signature(signature) == signature
    with pytest.raises(ValidationError, match="neither a signature file"):
        read_signature(str(tmp_path / "missing.sig"))
    (tmp_path / "junk.sig").write_text("hello")
    with pytest.raises(ValidationError, match="holds no Ed25519 signature"):
        read_signature(str(tmp_path / "junk.sig"))


def test_require_signed_accepts_a_verified_signature(keys: tuple[str, str]) -> None:
    private_key, public_key = keys
    signature = sign(ARTIFACT, private_key)
    check = check_deploy_signature(
        _service(require_signed=True), ARTIFACT, signature, public_key, service_name="chat"
    )
    assert check.is_required and check.is_verified
    assert check.digest == digest(ARTIFACT)
    assert check.signature == signature


@pytest.mark.parametrize(
    ("artifact", "with_signature", "with_key", "message", "field"),
    [
        (None, False, True, "chat requires signed artifacts.*--artifact FILE", "artifact"),
        (ARTIFACT, False, True, "has no signature.*prodloop artifact sign", "signature"),
        (ARTIFACT, True, False, f"no public key is configured: set {PUBLIC_KEY_ENV}", None),
        (None, True, True, "needs the artifact it signs", "artifact"),
    ],
)
def test_require_signed_refuses_what_it_cannot_verify(
    keys: tuple[str, str],
    artifact: bytes | None,
    with_signature: bool,
    with_key: bool,
    message: str,
    field: str | None,
) -> None:
    private_key, public_key = keys
    with pytest.raises(ValidationError, match=message) as caught:
        check_deploy_signature(
            _service(require_signed=True),
            artifact,
            sign(ARTIFACT, private_key) if with_signature else None,
            public_key if with_key else None,
            service_name="chat",
        )
    assert caught.value.field == (field or PUBLIC_KEY_ENV)


@pytest.mark.parametrize("require_signed", [True, False])
def test_a_signature_that_does_not_verify_is_refused_under_any_policy(
    keys: tuple[str, str], require_signed: bool
) -> None:
    private_key, public_key = keys
    signature = sign(ARTIFACT, private_key)
    with pytest.raises(ValidationError, match="does not verify") as caught:
        check_deploy_signature(
            _service(require_signed=require_signed), ARTIFACT + b"x", signature, public_key
        )
    assert caught.value.field == "signature"
    _, other_public = generate_keypair()
    with pytest.raises(ValidationError, match="signed with another key"):
        check_deploy_signature(
            _service(require_signed=require_signed), ARTIFACT, signature, other_public
        )


def test_without_the_policy_unsigned_deploys_pass_and_are_recorded(keys: tuple[str, str]) -> None:
    service = _service(require_signed=False)
    nothing = check_deploy_signature(service, None, None, None)
    assert (nothing.is_required, nothing.is_verified, nothing.digest) == (False, False, None)
    unsigned = check_deploy_signature(service, ARTIFACT, None, keys[1])
    assert unsigned.digest == digest(ARTIFACT) and not unsigned.is_verified
    unchecked = check_deploy_signature(service, ARTIFACT, sign(ARTIFACT, keys[0]), None)
    assert not unchecked.is_verified and PUBLIC_KEY_ENV in unchecked.detail


def test_require_signed_defaults_off_and_is_a_documented_setting() -> None:
    assert _service(require_signed=False).require_signed is False
    field = Service.model_fields["require_signed"]
    assert field.default is False and "signature" in (field.description or "")
