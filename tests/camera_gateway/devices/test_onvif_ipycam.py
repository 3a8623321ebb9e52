"""Against a real ONVIF implementation from PyPI: `ipycam` (1.3.0, "Pure Python Virtual IP Camera with ONVIF
support"). Its device service answers GetSystemDateAndTime, GetServices and GetDeviceInformation and checks
WS-UsernameToken digests with its own code, so it is an independent check of our client side. It has no events
service, so it exercises the liveness-only path (GetSystemDateAndTime every `poll_s`). It lists a media service but
answers GetVideoSources with a SOAP fault ("Action not supported"), so it also shows a session carrying on without
video source tokens.

Only its ONVIF HTTP handler is started (on loopback, port 0): the full `IPCamera.start()` also binds WS-Discovery
on UDP 3702 and starts video streaming (go2rtc / opencv), which a test does not need.

ipycam needs opencv-python, which must not meet the product's opencv-python-headless, so `make setup` installs it
in a venv of its own under the cache (`<PULSE_CACHE_DIR>/ipycam-1.3.0`); `IPYCAM_PYTHON` may name another
interpreter that has it. Without either the test fails (it is never skipped) and says to run `make setup`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from camera_gateway.devices import onvif as onvif_device
from camera_gateway.devices.connection import AuthFailed, DeviceConfig
from camera_gateway.devices.events import DeviceEvent, Signal
from services.core.settings import load_settings
from tests.camera_gateway.devices.emulator import RecordingReporter
from tests.e2e.harness import until

PASSWORD = "S3cret!pass"
_SERVE = """
import sys, threading
from ipycam.camera import IPCamera, ReusableThreadingTCPServer
from ipycam.config import CameraConfig
from ipycam.http import IPCameraHTTPHandler
config = CameraConfig(local_ip="127.0.0.1", username=sys.argv[1], password=sys.argv[2])
IPCameraHTTPHandler.camera = IPCamera(config)
server = ReusableThreadingTCPServer(("127.0.0.1", 0), IPCameraHTTPHandler)
config.onvif_port = server.server_address[1]
threading.Thread(target=server.serve_forever, daemon=True).start()
print(config.onvif_port, flush=True)
sys.stdin.read()  # until the test closes our stdin
server.shutdown()
"""


def _python_with_ipycam() -> str | None:
    candidates = [os.environ.get("IPYCAM_PYTHON"), str(load_settings().cache_dir / "ipycam-1.3.0" / "bin" / "python")]
    for named in filter(None, candidates):
        if subprocess.run([named, "-c", "import ipycam"], capture_output=True, check=False).returncode == 0:
            return named
    return sys.executable if importlib.util.find_spec("ipycam") else None


PYTHON = _python_with_ipycam()


@pytest.fixture
async def ipycam_url() -> AsyncIterator[str]:
    assert PYTHON is not None, "ipycam (a real ONVIF device) is not installed: run `make setup`"
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-c",
        _SERVE,
        "admin",
        PASSWORD,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        async with asyncio.timeout(30):
            port = int((await proc.stdout.readline()).decode())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stdin.close()
        await proc.stdout.read()
        await proc.wait()


def config(url: str, password: str = PASSWORD) -> DeviceConfig:
    return DeviceConfig(9, "ipycam", "onvif", url, "admin", password, options={"poll_s": 0.2})


async def test_a_real_onvif_device_without_events_proves_it_is_alive(
    ipycam_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "pulse.devices.onvif")
    reporter = RecordingReporter()
    task = asyncio.create_task(onvif_device.session(config(ipycam_url), None, reporter))  # type: ignore[arg-type]
    await until(lambda: len(reporter.events_seen) >= 3, timeout=10, what="three answers of the device")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reporter.states == ["connected"] and set(reporter.events_seen) == {DeviceEvent(Signal.ALIVE)}
    # no tokens: its media service refuses GetVideoSources, which is logged and does not end the session
    assert "GetVideoSources: the device answered with a SOAP fault: Action not supported" in caplog.text


async def test_a_real_onvif_device_names_itself_and_refuses_a_wrong_password(ipycam_url: str) -> None:
    assert (await onvif_device.check(config(ipycam_url), None)).startswith("ONVIF PythonCam VirtualCam-1, firmware")  # type: ignore[arg-type]
    with pytest.raises(AuthFailed, match="NotAuthorized"):
        await onvif_device.session(config(ipycam_url, "wrong"), None, RecordingReporter())  # type: ignore[arg-type]
