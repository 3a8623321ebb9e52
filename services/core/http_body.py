"""Reading a request body within limits: at most `limit` bytes on the wire and after gzip decompression,
so neither a large body nor a small gzip bomb can use more memory than the limit. `BodyLimit` holds a whole
app's bodies to one limit (the API's, whose bodies are a few hundred bytes, its log-in unauthenticated)."""

from __future__ import annotations

import zlib

from fastapi import HTTPException, Request, status
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is answered `413` — at once when its Content-Length
    says so, or as soon as that many bytes have come (a chunked body) — before the app sees it. The body is read
    here (it is small by this limit) and handed to the app as it came: an error raised while the app reads would
    become the framework's own 400."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        received: list[Message] = []
        size = 0
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break  # the client went away: the app hears it
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = {"detail": f"body: over {self.limit} bytes"}
        await JSONResponse(body, status_code=status.HTTP_413_CONTENT_TOO_LARGE)(scope, receive, send)
