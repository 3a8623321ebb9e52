"""`pulse devices` against the real test database and an emulated Hikvision camera: the password comes from
standard input or a file (never an argument), is never printed, and `test` says what the device is or why not."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import psycopg
import pytest

from services.core.settings import Settings
from tests.camera_gateway.devices.emulator import DigestDevice, Request
from tests.processes import run_pulse

pytestmark = pytest.mark.db
KEY = "cli-test-device-key-0123456789abcdefgh"
PASSWORD = "Cam3ra!pass"
DEVICE_INFO = (
    b'<?xml version="1.0" encoding="UTF-8"?><DeviceInfo version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">'
    b"<deviceName>Cong UBND</deviceName><model>DS-2CD1023G0E-I</model><firmwareVersion>V5.5.82</firmwareVersion>"
    b"<deviceType>IPCamera</deviceType></DeviceInfo>"
)


def run(settings: Settings, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    return run_pulse(settings, *args, stdin=stdin, env={"PULSE_DEVICE_KEY": KEY})


@pytest.fixture
def camera() -> Iterator[str]:
    """An emulated Hikvision camera on its own loop in a thread (the CLI runs its own event loop)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, DigestDevice] = {}

    async def handle(request: Request) -> None:
        if request.path == "/ISAPI/System/deviceInfo":
            await request.reply(200, DEVICE_INFO)
        else:
            await request.reply(404, b"")

    async def serve() -> None:
        device = DigestDevice(handle, password=PASSWORD)
        await device.__aenter__()
        holder["device"] = device
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop)
    started.wait(10)
    try:
        yield holder["device"].url
    finally:
        asyncio.run_coroutine_threadsafe(holder["device"].close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_a_device_added_with_its_password_on_stdin_tests_and_lists_without_the_password(
    settings: Settings, conn: psycopg.Connection, camera: str
) -> None:
    add = ("devices", "add", "--kind", "hikvision", "--name", "cam-ubnd", "--unit", "15865", "--url", camera)
    code, out, err = run(settings, *add, "--username", "admin", "--channel", "1=HH-BS-001", stdin=PASSWORD + "\n")
    assert code == 0, err
    assert PASSWORD not in out + err
    code, out, err = run(settings, "devices", "test", "--name", "cam-ubnd")
    assert code == 0, err
    assert out.strip() == "connected: Hikvision DS-2CD1023G0E-I, firmware V5.5.82"
    code, out, _ = run(settings, "devices", "list")
    assert code == 0 and "cam-ubnd  hikvision  unit 15865" in out and "1=HH-BS-001" in out and "connecting" in out
    assert PASSWORD not in out
    code, out, _ = run(settings, "config")
    assert "PULSE_DEVICE_KEY=<set>" in out and KEY not in out


def test_a_wrong_password_is_reported_as_such_with_exit_1(
    settings: Settings, conn: psycopg.Connection, camera: str, tmp_path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("not-the-password\n", encoding="utf-8")
    add = ("devices", "add", "--kind", "hikvision", "--name", "cam-x", "--unit", "15865", "--url", camera)
    assert run(settings, *add, "--username", "admin", "--password-file", str(secret))[0] == 0
    code, out, err = run(settings, "devices", "test", "--name", "cam-x")
    assert code == 1
    assert err.startswith("error: auth_failed: ") and "not-the-password" not in err + out


def test_an_unreachable_device_and_a_bad_option_each_say_so_in_one_line(
    settings: Settings, conn: psycopg.Connection
) -> None:
    add = ("devices", "add", "--kind", "dahua", "--name", "dvr", "--unit", "15865", "--url", "http://127.0.0.1:9")
    code, _, err = run(settings, *add, "--username", "admin", "--option", "speed=fast", stdin="pw\n")
    assert code == 1 and err.strip().startswith("error: --option 'speed=fast'")
    assert run(settings, *add, "--username", "admin", stdin="pw\n")[0] == 0
    code, _, err = run(settings, "devices", "test", "--name", "dvr", "--timeout", "3")
    assert code == 1 and err.startswith("error: unreachable: ")
    code, _, _ = run(settings, "devices", "remove", "--name", "dvr")
    assert code == 0 and run(settings, "devices", "list")[1].strip() == "no devices (pulse devices add …)"
