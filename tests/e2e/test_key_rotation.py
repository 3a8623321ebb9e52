"""`pulse keys rotate` with every component running (issue 31): the device password, the webhook's signing secret
and the stream URL were sealed under the old key; the stack runs with the new key and the old one as
PULSE_DEVICE_KEY_PREVIOUS, as docs/operations.md says to; the rotation re-seals all three under the new key, the
collector logs in to its device again with the re-sealed password, a webhook is still signed with its secret, the
prober opens the stream URL with the new key alone, and the new key alone opens everything stored while the old one
opens nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest
from pydantic import SecretStr

from camera_gateway.prober import Prober
from camera_gateway.registry import KnownGateway
from services.alerts.channels import add_channel
from services.core import accounts, sealing
from services.core.devices import add_device
from tests.camera_gateway.devices.emulator import DigestDevice, Request
from tests.e2e.harness import start_stack, until
from tests.e2e.receivers import Receivers
from tests.e2e.test_alerts import first_beats, run_minutes
from tests.e2e.test_devices import collector_of, hik_alert, hik_part
from tests.processes import run_pulse
from tests.streams import add_streamed_camera

pytestmark = [pytest.mark.db, pytest.mark.kafka]
OLD = "old-secrets-key-0123456789abcdefghijklmnopq"
NEW = "new-secrets-key-9876543210zyxwvutsrqponmlkj"
PASSWORD = "Mat-Khau-Dau-Ghi-2026!"
HOOK_SECRET = "khoa-ky-webhook"
STREAM = "rtsp://admin:Mat-Khau-Luong-7@10.1.2.3:554/Streaming/Channels/101"
UNIT = "15865"


async def stream(request: Request) -> None:
    if request.path != "/ISAPI/Event/notification/alertStream":
        await request.reply(404, b"")
        return
    await request.start_stream("multipart/mixed; boundary=boundary")
    await request.send(hik_part(hik_alert("videoloss", "inactive", count=0)))
    await asyncio.Event().wait()  # the stream stays open: a new log-in is the collector's own doing


def stored(conn) -> dict[str, bytes]:
    """Every sealed value in the database, by what it is."""
    rows = {f"device {r['name']}": r["secret_enc"] for r in conn.execute("SELECT name, secret_enc FROM devices")}
    rows |= {f"channel {r['channel_id']}": r["secret_enc"] for r in conn.execute("SELECT * FROM channels")}
    rows |= {f"camera {r['camera_id']}": r["stream_url_enc"] for r in conn.execute("SELECT * FROM cameras")}
    return {k: bytes(v) for k, v in rows.items() if v is not None}


async def test_after_rotation_every_secret_works_and_the_old_key_opens_nothing(
    settings, conn, tmp_path, clock, receivers: Receivers
) -> None:
    old = settings.model_copy(update={"device_key": SecretStr(OLD), "device_key_previous": None})
    both = settings.model_copy(update={"device_key": SecretStr(NEW), "device_key_previous": SecretStr(OLD)})
    collector = accounts.create_gateway(conn, name="collector", unit_set="2024", unit_codes=[UNIT])
    async with DigestDevice(stream, password=PASSWORD) as device:
        common = {"kind": "hikvision", "unit_set": "2024", "unit_code": UNIT, "username": "admin"}
        add_device(conn, old, name="nvr-1", url=device.url, secret=PASSWORD, **common)
        hook = f"http://127.0.0.1:{receivers.port}/hook"
        add_channel(conn, kind="webhook", target=hook, secret=HOOK_SECRET, keys=sealing.keyring(old))
        add_streamed_camera(conn, old, "cam-video", UNIT, STREAM)
        before = stored(conn)
        assert len(before) == 3 and all(sealing.Keyring.of(OLD).unseal(v) for v in before.values())

        stack = await start_stack(
            both,
            conn,
            tmp_path,
            clock,
            collector_token=SecretStr(collector),
            alert_tick_s=0.1,
            alert_group_wait_s=0,
            gateway_silence_s=300,
        )
        try:
            links = collector_of(stack).links
            await until(lambda: any(link.last_seen for link in links.values()), what="the device read (old key)")
            (first,) = links.values()
            logins = device.requests

            env = {"PULSE_DEVICE_KEY": NEW, "PULSE_DEVICE_KEY_PREVIOUS": OLD}
            code, out, err = run_pulse(both, "keys", "rotate", env=env)
            assert code == 0, err
            assert "device secrets: 1 under the current key (1 re-encrypted now)" in out
            assert "channel secrets: 1 under the current key (1 re-encrypted now)" in out
            assert "stream URLs: 1 under the current key (1 re-encrypted now)" in out
            assert run_pulse(both, "keys", "check", env=env)[0] == 0

            # The collector sees the device's row change (at its next re-read of the devices, every 30 s; asked now)
            # and logs in again with the re-sealed password.
            await collector_of(stack).refresh()
            await until(
                lambda: any(link is not first and link.last_seen for link in links.values()),
                what="the device read again after the rotation",
            )
            assert device.requests > logins and device.auth_failures == 0

            # A camera goes silent: its message is signed with the same secret as before.
            token, fleet = await first_beats(stack, 3)
            stack.start_alerts()
            await run_minutes(stack, token, fleet[:-1], 4)
            await until(lambda: any(h[0] == "hook" for h in receivers.http), what="the webhook's message")
            _path, headers, body = next(h for h in receivers.http if h[0] == "hook")
            assert headers["x-pulse-signature"] == hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        finally:
            await stack.close()

    after = stored(conn)
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in after)
    new_only, old_only = sealing.Keyring.of(NEW), sealing.Keyring.of(OLD)
    opened = {k: new_only.unseal(v) for k, v in after.items()}
    assert opened == {"device nvr-1": PASSWORD, "channel 1": HOOK_SECRET, "camera cam-video": STREAM}
    for what, sealed in after.items():
        with pytest.raises(sealing.SealingError):
            old_only.unseal(sealed, what)
    # The prober, given the new key alone, opens the stream URL it is to probe.
    new_settings = settings.model_copy(update={"device_key": SecretStr(NEW), "device_key_previous": None})
    prober = Prober(new_settings, registry=None, publisher=None, clock=lambda: clock.now)  # type: ignore[arg-type]
    prober.gateway = KnownGateway(1, "prober", ("2024", UNIT), frozenset({("2024", UNIT)}))
    prober.keys = sealing.keyring(new_settings)  # what start() sets up with the gateway
    prober.db.open()
    try:
        await prober._refresh()
        assert prober.cameras["cam-video"].url == STREAM
    finally:
        prober.db.close()
    # The digest moved to the new key too: importing the same URL again changes nothing.
    assert new_only.digest(STREAM) == bytes(
        conn.execute("SELECT stream_url_digest FROM cameras WHERE camera_id = 'cam-video'").fetchone()[
            "stream_url_digest"
        ]
    )
