"""Request bodies read with a size limit, gzip or deflate encoded or not."""

from __future__ import annotations

import zlib

from fastapi import Request

from prodloop.api.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from prodloop.errors import ValidationError


def media_type(request: Request) -> str:
    """The Content-Type without parameters, lower case ("" when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the body is larger than {limit} bytes", field="body")


async def read_body(request: Request, limit: int) -> bytes:
    """The decoded body; 413 past `limit` bytes (before and after decompression)."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "", "gzip", "deflate"):
        raise UnsupportedMediaTypeError(
            f"unsupported Content-Encoding {encoding!r} (use gzip, deflate or none)",
            field="Content-Encoding",
        )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ValidationError("Content-Length is not a number", field="Content-Length")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if encoding in ("gzip", "deflate"):
        body = decompress(body, encoding, limit)
    return body


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    # 16 + MAX_WBITS reads a gzip header; 32 + MAX_WBITS detects zlib or gzip, which
    # accepts the zlib-wrapped "deflate" most clients actually send.
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else 32 + zlib.MAX_WBITS
    decompressor = zlib.decompressobj(wbits)
    try:
        out = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ValidationError(f"the body is not valid {encoding}: {exc}", field="body") from exc
    if len(out) > limit or decompressor.unconsumed_tail:
        raise _too_large(limit)
    if not decompressor.eof:
        raise ValidationError(f"the {encoding} body is truncated", field="body")
    return out
