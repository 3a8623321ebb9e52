"""Device connections: what one `pulse camera-gateway` process costs while it holds N Hikvision alert streams.

The device collector (camera_gateway/devices/manager.py) keeps one `GET /ISAPI/Event/notification/alertStream`
open per device; a camera sends a heartbeat part on it every 10 s. This bench runs the gateway as its own process,
as deployed, collecting from N emulated cameras, and measures its CPU (utime + stime of the process and its
children, from /proc; 1.0 = one core) and resident memory, next to the same process idle.

Set-up, not measured: database `pulse_bench_devices` (recreated, migrated), a collector gateway for the first unit
of the set in force, topic prefix `bench-<uuid8>.` (deleted at the end), a temp data dir, free ports. The
emulator is this script in a second process (`--serve-devices`, so its CPU is not the gateway's): one asyncio
server (uvloop) on one port; device i is `http://127.0.0.1:PORT/d/i`, user `admin`, its own password. Like a
camera it answers every request without credentials with a fresh digest challenge (RFC 7616, MD5, qop=auth) and
checks the response; `…/alertStream` then becomes a never-ending `multipart/mixed; boundary=boundary` reply on
which the device's heartbeat part (videoloss, inactive, activePostCount 0) is written every 10 s, the N devices
spread evenly over the 10 s; the NVR channel-status poll gets 404 (a camera, not an NVR).

Run:
1. the gateway starts with the collector on and no device; after a settle time its CPU and RSS are measured for
   --idle-seconds (the idle gateway: the limit the figures are compared with);
2. N device rows are inserted (secrets sealed as `pulse devices add` does); the collector picks them up at its
   next refresh (≤ 30 s); the bench waits until /metrics shows N devices `connected` (the ramp time is reported);
3. after --warmup seconds, the gateway's CPU and RSS are measured for --seconds, with its device counters.

Figures: CPU in % of one core (mean over the window, and the largest 10 s sample: the collector's 30 s re-read
of the device list lands in some), RSS, KiB per connection = (RSS with N − RSS idle) / N, device events read and
heartbeats made per second (expected: N / 10 and N / 60, one heartbeat a minute per camera), and the emulator's
own counters (streams open, challenges, refused responses). Goal: ≥ 5,000 connections at ≤ 25 % of one core.

File descriptors: N client + N server sockets; both processes raise RLIMIT_NOFILE to its hard limit.

Usage: python bench/device_connections.py [--devices 5000] [--seconds 120] [--warmup 30] [--idle-seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import resource
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/…` must find the `bench` package

import httpx
from pydantic import SecretStr

from bench.common import fresh_database, machine
from bench.procs import Components, children_of, delete_topics, ensure_topics, free_port, isolate, total_cpu_seconds
from services.core import accounts, sealing
from services.core.db import connect
from services.core.settings import Settings, load_settings

GOAL_CONNECTIONS, GOAL_CPU_PCT = 5000, 25.0
HEARTBEAT_S, TICKS = 10.0, 500  # the 10 s period in 20 ms ticks: device i speaks at tick i % TICKS
REALM, USER = "IP Camera", "admin"
ALERT_STREAM = "/ISAPI/Event/notification/alertStream"
CHANNEL_STATUS = "/ISAPI/ContentMgmt/InputProxy/channels/status"
DEVICE_KEY = "bench-device-key-" + "k" * 32
SAMPLE_S = 10.0
ISAPI_NS = "http://www.hikvision.com/ver20/XMLSchema"
HEARTBEAT_XML = (
    f'<?xml version="1.0" encoding="UTF-8"?>\r\n<EventNotificationAlert version="2.0" xmlns="{ISAPI_NS}">\r\n'
    "<ipAddress>192.168.1.64</ipAddress><portNo>80</portNo><protocol>HTTP</protocol>"
    "<macAddress>44:19:b6:00:00:01</macAddress><channelID>1</channelID>"
    "<dateTime>2019-01-01T08:00:00+08:00</dateTime><activePostCount>0</activePostCount>"
    "<eventType>videoloss</eventType><eventState>inactive</eventState>"
    "<eventDescription>videoloss alarm</eventDescription>\r\n</EventNotificationAlert>\r\n"
).encode()
HEARTBEAT_PART = (
    b'--boundary\r\nContent-Type: application/xml; charset="UTF-8"\r\nContent-Length: '
    + str(len(HEARTBEAT_XML)).encode()
    + b"\r\n\r\n"
    + HEARTBEAT_XML
)
_DEVICE_PATH = re.compile(r"^/d/(\d+)(/.*)$")
_DIGEST_PARAM = re.compile(r'(\w+)="?([^",]*)"?')


def password(i: int) -> str:
    return f"Cam3ra-{i:05d}!"


def raise_nofile() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # the digest scheme cameras use


# --------------------------------------------------------------------------------------------- the emulator


class Devices:
    """N cameras behind one port: digest auth, alert streams, the heartbeat schedule, and counters."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.ha1 = [_md5(f"{USER}:{REALM}:{password(i)}") for i in range(n)]
        self.nonces: set[str] = set()
        self.streams: dict[int, asyncio.Transport] = {}
        self.stats = {"requests": 0, "challenges": 0, "refused": 0, "streams_opened": 0, "parts_sent": 0}

    def challenge(self) -> bytes:
        nonce = secrets.token_hex(16)
        self.nonces.add(nonce)
        self.stats["challenges"] += 1
        header = f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", algorithm=MD5'
        return _reply(401, f"WWW-Authenticate: {header}\r\n")

    def authorized(self, device: int, method: str, target: str, header: str) -> bool:
        if not header.lower().startswith("digest "):
            return False
        p = dict(_DIGEST_PARAM.findall(header[7:]))
        ha2 = _md5(f"{method}:{p.get('uri', '')}")
        expected = _md5(f"{self.ha1[device]}:{p.get('nonce')}:{p.get('nc')}:{p.get('cnonce')}:{p.get('qop')}:{ha2}")
        ok = (
            p.get("username") == USER
            and p.get("nonce") in self.nonces
            and p.get("uri") == target
            and p.get("response") == expected
        )
        if not ok:
            self.stats["refused"] += 1
        return ok

    async def beat(self) -> None:
        """Every device's heartbeat part once per period, device i at tick i % TICKS (no drift: absolute times)."""
        loop = asyncio.get_running_loop()
        tick_s, started, k = HEARTBEAT_S / TICKS, loop.time(), 0
        while True:
            k += 1
            await asyncio.sleep(max(0.0, started + k * tick_s - loop.time()))
            for i in range(k % TICKS, self.n, TICKS):
                transport = self.streams.get(i)
                if transport is not None:
                    transport.write(HEARTBEAT_PART)
                    self.stats["parts_sent"] += 1


def _reply(status: int, headers: str = "", body: bytes = b"", content_type: str = "text/plain") -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{headers}"
    return head.encode() + b"\r\n" + body


class DeviceConnection(asyncio.Protocol):
    """One TCP connection: keep-alive requests until it becomes an alert stream (then it only receives)."""

    def __init__(self, devices: Devices) -> None:
        self.devices = devices
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.streaming: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is not asyncio's class

    def connection_lost(self, exc: Exception | None) -> None:
        if self.streaming is not None and self.devices.streams.get(self.streaming) is self.transport:
            del self.devices.streams[self.streaming]

    def data_received(self, data: bytes) -> None:
        if self.streaming is not None:
            return  # a client says nothing more on a stream
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = self.buf[:end].decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
            length = int(headers.get("content-length", "0") or 0)
            if len(self.buf) < end + 4 + length:
                return
            del self.buf[: end + 4 + length]
            method, target, _ = head[0].split(" ", 2)
            self.request(method, target, headers)
            if self.streaming is not None:
                return

    def request(self, method: str, target: str, headers: dict[str, str]) -> None:
        assert self.transport is not None
        devices = self.devices
        devices.stats["requests"] += 1
        if target == "/stats":
            body = json.dumps({**devices.stats, "streams_open": len(devices.streams)}).encode()
            self.transport.write(_reply(200, body=body, content_type="application/json"))
            return
        match = _DEVICE_PATH.match(target)
        device = int(match.group(1)) if match else -1
        if not 0 <= device < devices.n:
            self.transport.write(_reply(404))
            return
        if not devices.authorized(device, method, target, headers.get("authorization", "")):
            self.transport.write(devices.challenge())
            return
        if match.group(2) == ALERT_STREAM:
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=boundary\r\nConnection: close\r\n\r\n"
            )
            old = devices.streams.get(device)
            if old is not None:
                old.close()  # a camera serves one alert stream per client
            self.streaming = device
            devices.streams[device] = self.transport
            devices.stats["streams_opened"] += 1
            return
        self.transport.write(_reply(404))  # channel status (not an NVR) and anything else


def serve_devices(port: int, n: int) -> None:
    import uvloop

    raise_nofile()

    async def main() -> None:
        devices = Devices(n)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: DeviceConnection(devices), "127.0.0.1", port, backlog=4096)
        async with server:
            await asyncio.gather(server.serve_forever(), devices.beat())

    uvloop.run(main())


# ---------------------------------------------------------------------------------------------- the bench


def add_devices(settings: Settings, n: int, port: int) -> None:
    """N Hikvision cameras in one COPY (what `pulse devices add` stores, without its per-row checks)."""
    keys = sealing.keyring(settings)
    with connect(settings, autocommit=True) as conn:
        unit = _first_unit(conn, settings)
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY devices (name, kind, unit_set, unit_code, url, username, secret_enc, options) FROM STDIN"
            ) as copy,
        ):
            for i in range(n):
                url = f"http://127.0.0.1:{port}/d/{i}"
                copy.write_row(
                    (f"cam{i:05d}", "hikvision", settings.unit_set, unit, url, USER, keys.seal(password(i)), "{}")
                )


def _first_unit(conn, settings: Settings) -> str:
    row = conn.execute("SELECT code FROM units WHERE unit_set = %s ORDER BY code LIMIT 1", (settings.unit_set,))
    return row.fetchone()["code"]


def gauge(metrics: str, name: str, labels: str = "") -> float:
    """One sample of a component's /metrics text (0 when absent); `labels` as written, e.g. `state="connected"`."""
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in metrics.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def rss_kib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return float(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


class Window:
    """CPU and RSS of a process and its children over a window, sampled every SAMPLE_S."""

    def __init__(self, pid: int, metrics_url: str = "") -> None:
        self.pid, self.metrics_url = pid, metrics_url

    def pids(self) -> list[int]:
        return [self.pid, *children_of(self.pid)]

    def run(self, seconds: float) -> dict:
        counters = self._counters()
        started = last_at = time.monotonic()
        cpu0 = last_cpu = total_cpu_seconds(self.pids())
        samples, rss = [], []
        while (now := time.monotonic()) < started + seconds:
            time.sleep(min(SAMPLE_S, started + seconds - now))  # ok: the sampling period
            at, cpu = time.monotonic(), total_cpu_seconds(self.pids())
            samples.append((cpu - last_cpu) / (at - last_at))
            rss.append(sum(rss_kib(p) for p in self.pids()) / 1024)
            last_at, last_cpu = at, cpu
        elapsed = last_at - started
        out = {
            "seconds": round(elapsed, 1),
            "cpu_pct_of_one_core": round(100 * (last_cpu - cpu0) / elapsed, 2),
            "cpu_pct_max_10s": round(100 * max(samples), 2),
            "rss_mib": round(rss[-1], 1),
            "rss_mib_max": round(max(rss), 1),
        }
        if self.metrics_url:
            after = self._counters()
            out["events_per_s"] = round((after["events"] - counters["events"]) / elapsed, 1)
            out["heartbeats_per_s"] = round((after["heartbeats"] - counters["heartbeats"]) / elapsed, 1)
            out["heartbeats_dropped"] = after["dropped"] - counters["dropped"]
            out["malformed"] = after["malformed"] - counters["malformed"]
            out["connected_at_end"] = int(after["connected"])
        return out

    def _counters(self) -> dict[str, float]:
        if not self.metrics_url:
            return {}
        text = httpx.get(self.metrics_url, timeout=10).text
        return {
            "events": gauge(text, "pulse_gateway_device_events_total", 'kind="hikvision"'),
            "heartbeats": gauge(text, "pulse_gateway_device_heartbeats_total"),
            "dropped": gauge(text, "pulse_gateway_device_heartbeats_dropped_total"),
            "malformed": gauge(text, "pulse_gateway_device_malformed_total", 'kind="hikvision"'),
            "connected": gauge(text, "pulse_gateway_devices", 'state="connected"'),
        }


def wait_connected(comps: Components, metrics_url: str, n: int, timeout: float) -> tuple[float, float]:
    """Seconds until N devices are connected, and the slowest /metrics answer meanwhile (while the gateway's
    event loop is busy setting up connections, its HTTP side waits too)."""
    started, slowest = time.monotonic(), 0.0
    while time.monotonic() < started + timeout:
        if comps.procs["camera-gateway"].poll() is not None:
            raise RuntimeError(f"the gateway exited:\n{comps.log_tail('camera-gateway')}")
        asked = time.monotonic()
        try:
            text = httpx.get(metrics_url, timeout=timeout).text
        finally:
            slowest = max(slowest, time.monotonic() - asked)
        if gauge(text, "pulse_gateway_devices", 'state="connected"') >= n:
            return time.monotonic() - started, slowest
        time.sleep(0.5)  # ok: polling the gateway's gauge
    raise RuntimeError(f"not {n} devices connected after {timeout:.0f} s:\n{comps.log_tail('camera-gateway')}")


def run(args: argparse.Namespace, settings: Settings, comps: Components, token: str) -> dict:
    base, port = f"http://127.0.0.1:{settings.gateway_port}", free_port()
    emulator = comps.start("emulator", [sys.executable, __file__, "--serve-devices", str(port), str(args.devices)])
    comps.wait_ok("emulator", f"http://127.0.0.1:{port}/stats")
    comps.extra_env = {"PULSE_COLLECTOR_TOKEN": token, "PULSE_DEVICE_KEY": DEVICE_KEY}
    gateway = comps.pulse("camera-gateway")
    comps.wait_ok("camera-gateway", f"{base}/readyz")
    time.sleep(args.settle)  # ok: let start-up work (imports, first refresh, Kafka metadata) finish
    idle = Window(gateway.pid).run(args.idle_seconds)

    add_devices(settings, args.devices, port)
    ramp_s, slowest = wait_connected(comps, f"{base}/metrics", args.devices, args.connect_timeout)
    time.sleep(args.warmup)  # ok: the unmeasured warm-up
    emulator_cpu = total_cpu_seconds([emulator.pid])
    loaded = Window(gateway.pid, f"{base}/metrics").run(args.seconds)
    emulator_pct = 100 * (total_cpu_seconds([emulator.pid]) - emulator_cpu) / loaded["seconds"]
    emulated = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=10).json()
    per_conn = (loaded["rss_mib"] - idle["rss_mib"]) * 1024 / args.devices
    connected = loaded["connected_at_end"]
    return {
        "bench": "device_connections",
        "machine": machine(),
        "config": {
            "devices": args.devices,
            "heartbeat_s": HEARTBEAT_S,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "idle_seconds": args.idle_seconds,
            "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        },
        "gateway": {
            **loaded,
            "connect_all_s": round(ramp_s, 1),
            "slowest_metrics_reply_while_connecting_s": round(slowest, 1),
        },
        "idle_gateway": idle,
        "kib_per_connection": round(per_conn, 1),
        "expected": {"events_per_s": args.devices / HEARTBEAT_S, "heartbeats_per_s": round(args.devices / 60, 1)},
        "emulator": {**emulated, "cpu_pct_of_one_core": round(emulator_pct, 2)},
        "goal": {
            "connections": GOAL_CONNECTIONS,
            "cpu_pct_of_one_core": GOAL_CPU_PCT,
            "met": connected >= GOAL_CONNECTIONS and loaded["cpu_pct_of_one_core"] <= GOAL_CPU_PCT,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=120, help="the measured window with N devices")
    parser.add_argument("--warmup", type=float, default=30, help="after every device connected, unmeasured")
    parser.add_argument("--idle-seconds", type=float, default=30, help="the measured window with no device")
    parser.add_argument("--settle", type=float, default=10, help="after the gateway is ready, before idle")
    parser.add_argument("--connect-timeout", type=float, default=600)
    parser.add_argument("--serve-devices", nargs=2, type=int, metavar=("PORT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_devices:
        serve_devices(*args.serve_devices)
        return
    raise_nofile()  # the gateway inherits it
    with tempfile.TemporaryDirectory(prefix="pulse-bench-devices-") as tmp:
        settings = isolate(fresh_database(load_settings(), "pulse_bench_devices"), Path(tmp))
        settings = settings.model_copy(update={"device_key": SecretStr(DEVICE_KEY)})
        with connect(settings, autocommit=True) as conn:
            unit = _first_unit(conn, settings)
            token = accounts.create_gateway(conn, name="collector", unit_set=settings.unit_set, unit_codes=[unit])
        ensure_topics(settings)
        comps = Components(settings)
        try:
            result = run(args, settings, comps, token)
        finally:
            comps.stop_all()
            asyncio.run(delete_topics(settings))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
