"""Stand-ins for the places alerts are delivered to: one HTTP app for the webhook, Telegram and Zalo endpoints
and an SMTP server (aiosmtpd), recording everything they receive and able to fail on purpose."""

from __future__ import annotations

import email
import email.policy
import json

from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.core import serve
from tests.e2e.harness import free_port


class Receivers:
    """The webhook, Telegram and Zalo stand-ins (one HTTP app) and an SMTP server, recording everything."""

    def __init__(self) -> None:
        self.http: list[tuple[str, dict[str, str], bytes]] = []
        self.mail: list[email.message.EmailMessage] = []
        self.fail_next = 0
        self.port = free_port()
        self.smtp_port = free_port()
        app = FastAPI()

        @app.post("/{path:path}")
        async def record(path: str, request: Request) -> JSONResponse:
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"error": "on purpose"}, status_code=503)
            self.http.append((path, dict(request.headers), await request.body()))
            if path.startswith("bot"):
                return JSONResponse({"ok": True, "result": {}})
            if path.startswith("v3.0"):
                return JSONResponse({"error": 0, "message": "Success"})
            return JSONResponse({})

        self.server = serve.server(app, "127.0.0.1", self.port, "warning")
        receivers = self

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:
                receivers.mail.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        self.smtp = Controller(Handler(), hostname="127.0.0.1", port=self.smtp_port)

    def texts(self) -> list[str]:
        """Every message received, as text, one per delivery (webhook, Telegram, Zalo, e-mail)."""
        out = []
        for _path, _, body in self.http:
            data = json.loads(body)
            out.append(data.get("text") or data.get("message", {}).get("text", ""))
        out += [m.get_content() for m in self.mail]
        return out

    def webhooks(self) -> list[dict]:
        return [json.loads(body) for path, _, body in self.http if path == "hook"]
