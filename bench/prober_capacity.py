"""Prober capacity: probes per minute one gateway sustains for 640×360 15 fps streams, and so how many cameras
it can watch at a 60-second interval.

The streams are real RTSP (over TCP) from Debian's GStreamer RTSP server (`services/demo/rtsp_server.py`
run by Debian's python3), a live 640×360 15 fps test pattern as MJPEG over RTP — one server, one shared
pipeline, every probe its own RTSP session, as cameras would serve. The prober's own workers (`ProbeWorker`: a
process each, open + read 2 s + diagnose, under its deadline) run `--concurrency` at a time for `--seconds`; every
probe must come back with signal. Limit in the same run: one process reading the same stream for the whole
period (frames/s a single reader decodes), which bounds what a worker can do per second of reading.
Goal (issue 4): ≥ 500 cameras per gateway at a 60 s interval. Usage:
python -m bench.prober_capacity [--seconds 60] [--concurrency 8 16 32 40]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine
from bench.procs import free_port
from camera_gateway.diagnostics import Thresholds
from camera_gateway.probe import ProbeWorker

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "services/demo/rtsp_server.py"
PIPELINE = (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=15/1 ! videoconvert"
    " ! video/x-raw,format=I420 ! jpegenc quality=70 ! rtpjpegpay name=pay0 pt=26"
)
GOAL_CAMERAS = 500


def busy_cores() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat: the workers are processes of
    their own, the RTSP server another, so the machine's figure is the honest one."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


def reader_limit(url: str, seconds: float) -> float:
    """Frames a second one process decodes from the stream (the limit a worker's reading cannot beat)."""
    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    frames, started = 0, time.monotonic()
    while time.monotonic() - started < seconds and capture.read()[0]:
        frames += 1
    capture.release()
    return frames / (time.monotonic() - started)


def run(url: str, concurrency: int, seconds: float) -> dict:
    workers = [ProbeWorker() for _ in range(concurrency)]
    done, failed, durations = 0, 0, []
    stop_at = time.monotonic() + seconds
    (busy0, _), wall0 = busy_cores(), time.monotonic()

    def loop(worker: ProbeWorker) -> None:
        nonlocal done, failed
        while time.monotonic() < stop_at:
            started = time.monotonic()
            result = worker.probe(url, thresholds=Thresholds())
            durations.append(time.monotonic() - started)
            if result.diagnosis.signal:
                done += 1
            else:
                failed += 1

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(loop, workers))
    finally:
        for w in workers:
            w.close()
    wall = time.monotonic() - wall0
    per_minute = done / wall * 60
    return {
        "concurrency": concurrency,
        "probes": done,
        "failed": failed,
        "probes_per_minute": round(per_minute),
        "cameras_at_60s": int(per_minute),
        "probe_seconds_mean": round(sum(durations) / len(durations), 2) if durations else None,
        "machine_busy_cores": round((busy_cores()[0] - busy0) / wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16, 32, 40])
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        ["/usr/bin/python3", str(SERVER), str(port), PIPELINE],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "listening", "no RTSP server"
        url = f"rtsp://127.0.0.1:{port}/live"
        limit = reader_limit(url, 10)
        runs = [run(url, c, args.seconds) for c in args.concurrency]
    finally:
        server.kill()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
    best = max(runs, key=lambda r: r["cameras_at_60s"])
    print(
        json.dumps(
            {
                "bench": "prober_capacity",
                "machine": machine(),
                "stream": "RTSP/TCP, MJPEG 640x360 15 fps, GStreamer RTSP server on loopback",
                "limit_single_reader_fps": round(limit, 1),
                "runs": runs,
                "goal": {
                    "cameras_per_gateway": GOAL_CAMERAS,
                    "best": best["cameras_at_60s"],
                    "met": best["cameras_at_60s"] >= GOAL_CAMERAS and best["failed"] == 0,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
