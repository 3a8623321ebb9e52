"""Reading a camera's stream for the prober (SPEC §4): open with OpenCV's FFmpeg backend, read about 2 s of
frames, judge them with `diagnostics`, all inside a worker process with a hard deadline.

OpenCV's open and read timeouts (5 s) cover a camera that does not answer, but not every way a stream can hang
(a server that accepts and then sends nothing, a library call that never returns), so each probe runs in a
`ProbeWorker` process: if the answer is not back by the deadline the process is killed and replaced, and the
probe counts as no signal. Stream URLs carry passwords: `redact` is applied to anything that could leave the
process (errors, logs).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from camera_gateway.diagnostics import Diagnosis, Thresholds, diagnose, grey

OPEN_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 5.0
READ_SECONDS = 2.0
KEEP_FRAMES = 8  # frames kept for the diagnosis, spread over the read


def redact(url: str) -> str:
    """The URL without its password (userinfo and password-like query parameters)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
    query = re.sub(r"(?i)((?:pass(?:word)?|pwd|token|key|auth)=)[^&]*", r"\1***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


@dataclass(frozen=True)
class ProbeResult:
    diagnosis: Diagnosis
    last: np.ndarray | None  # the analysis frame (grey, 320×180) of the last frame read, for the next probe
    error: str | None = None  # already redacted


def read_and_diagnose(
    url: str,
    *,
    previous: np.ndarray | None,
    reference: np.ndarray | None,
    thresholds: Thresholds,
    seconds: float = READ_SECONDS,
) -> ProbeResult:
    """Open, read for `seconds`, diagnose. Runs inside the worker process (it imports and calls OpenCV)."""
    import cv2

    # RTSP over TCP: cameras behind NAT and lossy links lose UDP packets; TCP gives whole frames or none.
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(OPEN_TIMEOUT_S * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        int(READ_TIMEOUT_S * 1000),
    ]
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    try:
        if not capture.isOpened():
            return ProbeResult(Diagnosis(signal=False), None, f"cannot open {redact(url)}")
        frames: list[np.ndarray] = []
        count, started = 0, time.monotonic()
        arrivals: list[float] = []
        while time.monotonic() - started < seconds:
            ok, frame = capture.read()
            if not ok:
                break
            count += 1
            arrivals.append(time.monotonic() - started)
            frames.append(frame)
            if len(frames) > KEEP_FRAMES:
                frames = frames[::2]  # keep frames spread over the whole read, memory bounded
        elapsed = time.monotonic() - started
        if not frames:
            return ProbeResult(Diagnosis(signal=False), None, f"no frame from {redact(url)}")
        if "://" not in url or url.startswith("file://"):
            # A file is read as fast as it decodes: its own frame rate is the meaningful figure.
            nominal = capture.get(cv2.CAP_PROP_FPS)
            fps = float(nominal) if nominal and nominal > 0 else None
        else:
            fps = delivered_fps(arrivals, elapsed)
        diagnosis = diagnose(frames, fps=fps, previous=previous, reference=reference, thresholds=thresholds)
        return ProbeResult(diagnosis, grey(frames[-1]))
    finally:
        capture.release()


def delivered_fps(arrivals: list[float], elapsed: float) -> float | None:
    """Frames a second a live stream delivers, from the frames' arrival times. The first quarter of the read is
    left out: a stream's first reads bring a burst of buffered frames (RTSP servers, NVRs) that would inflate
    the rate; timestamps inside the stream cannot be trusted instead (MJPEG over HTTP has none)."""
    settled = [t for t in arrivals if t >= elapsed / 4]
    if len(settled) >= 2 and settled[-1] > settled[0]:
        return (len(settled) - 1) / (settled[-1] - settled[0])
    return len(arrivals) / elapsed if elapsed > 0 and len(arrivals) > 1 else None


def _serve(connection: Connection) -> None:
    """The worker process: probe requests in, results out, until the pipe closes."""
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        url, previous, reference, thresholds, seconds = request
        try:
            result = read_and_diagnose(
                url, previous=previous, reference=reference, thresholds=thresholds, seconds=seconds
            )
        except Exception as exc:
            result = ProbeResult(Diagnosis(signal=False), None, redact(f"{exc.__class__.__name__}: {exc}"))
        connection.send(result)


class ProbeWorker:
    """One probe at a time in a child process; a probe past its deadline kills the child (a fresh one starts
    on the next probe). Use several workers for concurrency. Blocking: call from a thread."""

    def __init__(self, *, deadline_s: float = OPEN_TIMEOUT_S + READ_SECONDS + READ_TIMEOUT_S + 3) -> None:
        self.deadline_s = deadline_s
        self._context = multiprocessing.get_context("spawn")
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None

    def _ensure(self) -> Connection:
        if self._process is None or not self._process.is_alive() or self._connection is None:
            self.close()
            parent, child = self._context.Pipe()
            self._process = self._context.Process(target=_serve, args=(child,), daemon=True, name="pulse-probe")
            self._process.start()
            child.close()
            self._connection = parent
        return self._connection

    def probe(
        self,
        url: str,
        *,
        previous: np.ndarray | None = None,
        reference: np.ndarray | None = None,
        thresholds: Thresholds | None = None,
        seconds: float = READ_SECONDS,
    ) -> ProbeResult:
        connection = self._ensure()
        thresholds = thresholds or Thresholds()
        connection.send((url, previous, reference, thresholds, seconds))
        if connection.poll(self.deadline_s):
            try:
                return connection.recv()
            except EOFError:
                pass  # the worker died (e.g. a crash inside the decoder)
        self.close()  # stuck or dead: kill it, a fresh worker takes the next probe
        return ProbeResult(
            Diagnosis(signal=False), None, f"probe of {redact(url)} abandoned after {self.deadline_s:.0f} s"
        )

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(timeout=5)
            self._process = None
