"""Reading a request body within limits: at most `limit` bytes on the wire and after gzip decompression,
so neither a large body nor a small gzip bomb can use more memory than the limit."""

from __future__ import annotations

import zlib

from fastapi import HTTPException, Request, status


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"Content-Encoding {encoding!r}: only gzip")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body: not valid gzip") from None
    if len(out) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"decompressed body over {limit} bytes")
    if not inflater.eof:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body: truncated gzip")
    return out
