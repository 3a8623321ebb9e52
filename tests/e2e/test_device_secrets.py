"""A device's password never leaves the database in clear (SPEC §4 "Devices", issue 17): with the collector
logging in to one emulated camera with the right password and failing on another with a wrong one (both
passwords stored), no log line (Python logging at DEBUG — httpx and httpcore included — and what the process
writes to stdout and stderr), no API answer and no error carries either password, nor a push token."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from services.core import accounts
from services.core.devices import add_device
from tests.camera_gateway.devices.emulator import DigestDevice, Request
from tests.e2e.harness import Stack, start_stack, until
from tests.e2e.test_devices import DEVICE_KEY, collector_of, hik_alert, hik_part

pytestmark = [pytest.mark.db, pytest.mark.kafka]
RIGHT = "Dung-Mat-Khau-9x!"
WRONG = "Sai-Mat-Khau-7y?"


async def stream(request: Request) -> None:
    if request.path != "/ISAPI/Event/notification/alertStream":
        await request.reply(404, b"")
        return
    await request.start_stream("multipart/mixed; boundary=boundary")
    await request.send(hik_part(hik_alert("videoloss", "inactive", count=0)))
    await request.send(hik_part(b"<EventNotificationAlert><broken"))  # a malformed part is logged: no secret


@dataclass
class RawAnswer:
    status_code: int
    text: str
    headers: str


async def post_raw(base: str, path: str, body: bytes) -> RawAnswer:
    """A POST as a camera makes it, on a bare socket: the test's own HTTP client would log the URL (the token)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    raw = (await reader.read()).decode("latin-1")
    writer.close()
    await writer.wait_closed()
    headers, _, text = raw.partition("\r\n\r\n")
    return RawAnswer(int(headers.split(" ", 2)[1]), text, headers)


@pytest.fixture
async def cameras() -> AsyncIterator[tuple[DigestDevice, DigestDevice]]:
    async with DigestDevice(stream, password=RIGHT) as good, DigestDevice(stream, password="the-real-one") as bad:
        yield good, bad


async def test_no_log_line_answer_or_error_carries_a_device_password(
    settings, conn, tmp_path, clock, cameras, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good, bad = cameras
    token = accounts.create_gateway(conn, name="collector", unit_set="2024", unit_codes=["15865"])
    device_settings = settings.model_copy(update={"device_key": DEVICE_KEY})
    common = {"kind": "hikvision", "unit_set": "2024", "unit_code": "15865", "username": "admin"}
    add_device(conn, device_settings, name="cam-good", url=good.url, secret=RIGHT, **common)
    add_device(conn, device_settings, name="cam-bad", url=bad.url, secret=WRONG, **common)
    push = add_device(conn, device_settings, name="cam-nat", url="http://10.0.0.9", secret=RIGHT, push=True, **common)
    assert push
    stack: Stack = await start_stack(device_settings, conn, tmp_path, clock, collector_token=SecretStr(token))
    try:
        links = {link.config.name: link for link in collector_of(stack).links.values()}
        await until(lambda: links["cam-bad"].state == "auth_failed", what="the wrong password refused")
        await until(lambda: links["cam-good"].last_seen is not None, what="the right password streaming")
        await until(lambda: bad.auth_failures >= 1 and good.requests >= 2, what="both logins tried")

        def stored_state() -> str:
            return stack.db().execute("SELECT state FROM devices WHERE name = 'cam-bad'").fetchone()["state"]

        await until(lambda: stored_state() == "auth_failed", what="the state written for the API")
        answers = [
            await stack.http.get(
                f"{stack.api_url}/api/v1/devices", headers={"Authorization": f"Bearer {stack.admin_token}"}
            ),
            await post_raw(stack.gateway_url, f"/v1/devices/{push}/events", b"<x><broken"),
            await stack.http.get(f"{stack.gateway_url}/metrics"),
        ]
        texts = [a.text + str(a.headers) for a in answers]
        assert answers[0].status_code == 200 and answers[1].status_code == 400
        assert "auth_failed" in texts[0] and "refused the user name or password" in texts[0]
    finally:
        await stack.close()
    rows = str(conn.execute("SELECT * FROM devices").fetchall())
    out, err = capfd.readouterr()
    logged = "\n".join(r.getMessage() + str(r.args) for r in caplog.records)
    assert "refused the user name or password" in logged or "auth_failed" in logged  # the failure was logged
    for secret in (RIGHT, WRONG, push, DEVICE_KEY.get_secret_value()):
        for where, text in [
            ("logs", logged),
            ("stdout", out),
            ("stderr", err),
            ("devices table", rows),
            *((f"answer {i}", t) for i, t in enumerate(texts)),
        ]:
            assert secret not in text, f"a secret in {where}"
