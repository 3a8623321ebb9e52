"""Secrets never leave (SPEC §3, §7; issue 10): a camera's stream URL holds a password, a citizen's request holds
their account id and install id. With the whole path running — the prober probing that URL (and failing: nobody
listens), heartbeats and app events through gateway, collector, Kafka and ingest, the API answering every read and
every kind of error — no log line (Python logging at DEBUG, and everything the processes write to stdout and
stderr, OpenCV and FFmpeg included), no API response body or header and no error page contains the password or
a raw citizen id."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from services.core import accounts
from tests.e2e.harness import Clock, start_stack, until
from tests.streams import add_streamed_camera

pytestmark = [pytest.mark.db, pytest.mark.kafka]
PASSWORD = "Kh0ng-Lo-Mat-Khau"
USER_ID = "cccd-038099001234"  # a citizen id number, as the app might send it
INSTALL_ID = str(uuid.UUID(int=4242))


class WallClock(Clock):  # the prober stamps what it sees with the time it probes
    def __call__(self) -> datetime:
        return datetime.now(UTC)


async def test_no_log_line_response_or_error_page_carries_a_secret(
    settings, conn, tmp_path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    prober = accounts.create_gateway(conn, name="prober", unit_set="2024", unit_codes=["15865"])
    add_streamed_camera(
        conn,
        settings,
        "cam-secret",
        "15865",
        f"rtsp://admin:{PASSWORD}@127.0.0.1:9/Streaming/Channels/101",
        name="Ngã tư chợ",
    )
    stack = await start_stack(
        settings,
        conn,
        tmp_path,
        WallClock(datetime.now(UTC)),
        prober_token=SecretStr(prober),
        probe_interval_s=1,
        probe_deadline_s=3.0,
        pseudonym_key=SecretStr("no-secrets-test-pseudonym-key-0123"),
    )
    answers: list[str] = []
    try:
        await until(
            lambda: stack.count("SELECT count(*) AS n FROM heartbeats WHERE camera_id = 'cam-secret'") >= 2,
            what="the prober's verdicts stored",
            timeout=60,
        )
        now = datetime.now(UTC).isoformat()
        events = [
            {
                "event_id": str(uuid.uuid4()),
                "event": "app_open",
                "created_at": now,
                "user_id": USER_ID,
                "unit_code": "15865",
                "properties": {},
            },
            {"event_id": "not-a-uuid", "event": "app_open", "created_at": now, "user_id": USER_ID},  # refused
            {"event_id": str(uuid.uuid4()), "event": "screen_opened_v9", "created_at": now, "user_id": USER_ID},
        ]
        body = {
            "sent_at": now,
            "context": {"install_id": INSTALL_ID, "platform": "android", "app_version": "3.1"},
            "events": events,
        }
        reply = await stack.send_events(body)
        answers.append(reply.text + str(reply.headers))
        bad_envelope = await stack.send_events({"context": {"install_id": USER_ID}, "events": events})
        answers.append(bad_envelope.text)
        assert reply.json()["accepted"] == 2  # an event the registry does not know yet is kept, generically
        await until(lambda: stack.count("SELECT count(*) AS n FROM app_events") == 2, what="the events stored")

        headers = {"Authorization": f"Bearer {stack.admin_token}"}
        window = {"from": "2020-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"}
        reads = [
            ("/api/v1/cameras", {}),
            ("/api/v1/cameras/cam-secret", {}),
            ("/api/v1/units", {}),
            ("/api/v1/uptime", {**window, "group_by": "camera"}),
            ("/api/v1/incidents", {}),
            ("/api/v1/engagement", {}),
            ("/api/v1/engagement/features", {}),
            ("/api/v1/reports/monthly", {"format": "csv"}),
            ("/openapi.json", {}),
            ("/docs", {}),
            ("/metrics", {}),
            # error pages: unknown camera, bad parameters, bad token, unknown route
            ("/api/v1/cameras/cam-missing", {}),
            ("/api/v1/uptime", {"from": "not-a-time", "to": "x"}),
            ("/api/v1/cameras/cam-secret/snapshot", {"kind": "nope"}),
            ("/api/v1/nothing-here", {}),
        ]
        for path, params in reads:
            response = await stack.http.get(f"{stack.api_url}{path}", params=params, headers=headers)
            answers.append(f"{path} {response.status_code} {response.headers} {response.text}")
        wrong_token = await stack.http.get(f"{stack.api_url}/api/v1/cameras", headers={"Authorization": "Bearer x"})
        answers.append(wrong_token.text)
        gateway_error = await stack.push(prober, [{"camera_id": "cam-secret", "ts": "yesterday"}])
        answers.append(gateway_error.text)
        assert any("cam-secret" in a and '"has_stream":true' in a for a in answers)  # the camera itself is shown
    finally:
        await stack.close()
    captured = capfd.readouterr()
    everything = "\n".join([*answers, caplog.text, captured.out, captured.err])
    assert (caplog.text and "prober" in caplog.text.lower()) or captured.err  # something was logged to look at
    for secret in (PASSWORD, USER_ID, INSTALL_ID):
        assert secret not in everything, secret
    assert "from:" in everything  # errors name the field they refuse
