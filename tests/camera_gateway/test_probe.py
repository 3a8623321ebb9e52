"""The prober's reading of real streams: files and an HTTP MJPEG stream made by Debian's ffmpeg, a server that
accepts and then stalls, a port nobody listens on. Each probe runs in a worker process with a deadline."""

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from camera_gateway.probe import ProbeWorker, redact
from tests.e2e.harness import free_port

FFMPEG = shutil.which("ffmpeg")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # fonts-dejavu-core, installed by `make setup`


def make_video(path: Path, source: str, seconds: int = 3) -> Path:
    assert FFMPEG, "ffmpeg not found: run `make setup`"
    subprocess.run(
        [
            FFMPEG,
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
            "-t",
            str(seconds),
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    return {
        "pattern": make_video(d / "pattern.mp4", "testsrc2=size=640x360:rate=25"),
        "black": make_video(d / "black.mp4", "color=c=black:size=640x360:rate=25"),
        "blurred": make_video(d / "blurred.mp4", "testsrc2=size=640x360:rate=25,boxblur=12"),
        "covered": make_video(d / "covered.mp4", "color=c=0x5a5a5a:size=640x360:rate=25"),
        # one picture repeated: a decoder or camera that froze
        "frozen": make_video(d / "frozen.mp4", "testsrc2=size=640x360:rate=25,trim=end_frame=1,loop=loop=-1:size=1"),
        # the same frozen picture with the camera's clock still running on it (drawn by ffmpeg's drawtext)
        "frozen-clock": make_video(
            d / "frozen-clock.mp4",
            "testsrc2=size=640x360:rate=25,trim=end_frame=1,loop=loop=-1:size=1,"
            f"drawtext=fontfile={FONT}:text='%{{pts\\:hms}}':x=10:y=8:fontsize=30:fontcolor=white",
        ),
    }


@pytest.fixture
def worker() -> Iterator[ProbeWorker]:
    w = ProbeWorker()
    yield w
    w.close()


def test_a_test_pattern_file_has_signal_and_a_measured_fps(worker: ProbeWorker, videos) -> None:
    result = worker.probe(str(videos["pattern"]))
    assert result.error is None and result.diagnosis.signal
    assert not result.diagnosis.black and not result.diagnosis.blurred
    assert result.diagnosis.fps is not None and result.diagnosis.fps > 1
    assert result.last is not None and result.last.shape == (180, 320)


def test_a_black_stream_is_black(worker: ProbeWorker, videos) -> None:
    assert worker.probe(str(videos["black"])).diagnosis.black


@pytest.mark.parametrize(
    ("video", "flag"),
    [("blurred", "blurred"), ("covered", "obstructed"), ("frozen", "frozen"), ("frozen-clock", "frozen")],
)
def test_each_defect_of_a_real_stream_is_diagnosed(worker: ProbeWorker, videos, video: str, flag: str) -> None:
    diagnosis = worker.probe(str(videos[video])).diagnosis
    assert diagnosis.signal and getattr(diagnosis, flag), diagnosis
    assert not worker.probe(str(videos["pattern"])).diagnosis.bad


def test_a_port_nobody_listens_on_is_no_signal_with_the_password_redacted(worker: ProbeWorker) -> None:
    url = f"http://admin:Hh-s3cret@127.0.0.1:{free_port()}/stream.mjpg"
    result = worker.probe(url)
    assert not result.diagnosis.signal
    assert result.error is not None and "s3cret" not in result.error and "admin:***@" in result.error


@contextlib.contextmanager
def served_over_http(source: list[str]) -> Iterator[str]:
    """ffmpeg streams `source` (its input arguments) as MJPEG over HTTP on a loopback port, in real time, to
    one client; yields the URL once it listens."""
    assert FFMPEG
    port = free_port()
    command = [FFMPEG, "-loglevel", "error", "-re", *source, "-t", "30", "-q:v", "3", "-f", "mpjpeg"]
    server = subprocess.Popen(
        [*command, "-listen", "1", f"http://127.0.0.1:{port}/stream.mjpg"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not listening(port):  # poll (a test connection would use up ffmpeg's only client)
            assert time.monotonic() < deadline, "ffmpeg did not listen"
            time.sleep(0.05)  # poll
        yield f"http://127.0.0.1:{port}/stream.mjpg"
    finally:
        server.kill()
        server.wait(timeout=10)


def test_an_http_mjpeg_stream_served_by_ffmpeg_is_read(worker: ProbeWorker) -> None:
    with served_over_http(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10"]) as url:
        result = worker.probe(url)
    assert result.diagnosis.signal and not result.diagnosis.black, result.error
    assert result.diagnosis.fps is not None and 5 < result.diagnosis.fps < 15


@pytest.mark.parametrize(
    ("video", "flag"),
    [("black", "black"), ("blurred", "blurred"), ("frozen", "frozen"), ("frozen-clock", "frozen")],
)
def test_each_defect_served_on_loopback_is_diagnosed(worker: ProbeWorker, videos, video: str, flag: str) -> None:
    with served_over_http(["-stream_loop", "-1", "-i", str(videos[video])]) as url:
        diagnosis = worker.probe(url).diagnosis
    assert diagnosis.signal and getattr(diagnosis, flag), diagnosis
    with served_over_http(["-stream_loop", "-1", "-i", str(videos["pattern"])]) as url:
        assert not worker.probe(url).diagnosis.bad


def test_a_covered_lens_served_on_loopback_is_obstructed_against_its_reference(worker: ProbeWorker, videos) -> None:
    with served_over_http(["-stream_loop", "-1", "-i", str(videos["pattern"])]) as url:
        reference = worker.probe(url).last
    with served_over_http(["-stream_loop", "-1", "-i", str(videos["covered"])]) as url:
        diagnosis = worker.probe(url, reference=reference).diagnosis
    assert diagnosis.signal and diagnosis.obstructed, diagnosis


def listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, read from /proc without connecting."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(f":{port:04X}" == line.split()[1][-5:] and line.split()[3] == "0A" for line in lines)


class StallingServer:
    """Accepts connections and never answers: the stream that hangs a reader."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.held:
            c.close()


def test_a_stalled_stream_is_abandoned_at_its_deadline_while_other_probes_go_on(videos) -> None:
    stalling = StallingServer()
    stuck, free = ProbeWorker(deadline_s=2.0), ProbeWorker()
    try:
        with ThreadPoolExecutor(2) as pool:
            started = time.monotonic()
            stalled = pool.submit(stuck.probe, f"http://user:pw@127.0.0.1:{stalling.port}/live")
            good = pool.submit(free.probe, str(videos["pattern"]))
            assert good.result(timeout=30).diagnosis.signal
            good_done = time.monotonic() - started
            result = stalled.result(timeout=30)
            stalled_done = time.monotonic() - started
        assert not result.diagnosis.signal and "abandoned after 2 s" in (result.error or "")
        assert "pw@" not in (result.error or "")
        assert stalled_done < 2.0 + 1.5, stalled_done  # killed at the deadline, not at OpenCV's own timeouts
        assert good_done < stalled_done
        assert stuck.probe(str(videos["black"])).diagnosis.black  # a fresh worker took over
    finally:
        stuck.close()
        free.close()
        stalling.close()


def test_redact_hides_passwords_in_userinfo_and_query() -> None:
    assert redact("rtsp://admin:12345@10.0.0.7:554/ch1") == "rtsp://admin:***@10.0.0.7:554/ch1"
    assert redact("http://cam/x?user=a&password=b&pwd=c") == "http://cam/x?user=a&password=***&pwd=***"
    assert redact("rtsp://token@h/s") == "rtsp://***@h/s"


RTSP_SERVER = Path(__file__).parents[2] / "services/demo/rtsp_server.py"
# MJPEG over RTP: needs only GStreamer's base and good plugins (no H.264 encoder in Debian's main set).
RTSP_TAIL = "videoconvert ! video/x-raw,format=I420 ! jpegenc ! rtpjpegpay name=pay0 pt=26"


@pytest.mark.parametrize(
    ("source", "expect_black"),
    [
        ("videotestsrc is-live=true pattern=smpte", False),
        ("videotestsrc is-live=true pattern=black", True),
    ],
)
def test_an_rtsp_stream_served_by_gstreamer_is_read_over_tcp(source: str, expect_black: bool) -> None:
    assert Path("/usr/bin/python3").exists() and RTSP_SERVER.exists()
    port = free_port()
    pipeline = f"{source} ! video/x-raw,width=640,height=360,framerate=10/1 ! {RTSP_TAIL}"
    server = subprocess.Popen(
        ["/usr/bin/python3", str(RTSP_SERVER), str(port), pipeline],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    worker = ProbeWorker()
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "listening", "no RTSP server"
        result = worker.probe(f"rtsp://viewer:Cam-pass1@127.0.0.1:{port}/live")
        assert result.diagnosis.signal, result.error
        assert result.diagnosis.black is expect_black
        assert result.diagnosis.fps is not None and 5 < result.diagnosis.fps < 15
    finally:
        worker.close()
        server.kill()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def test_delivered_fps_leaves_out_the_burst_a_live_stream_starts_with() -> None:
    from camera_gateway.probe import delivered_fps

    burst = [0.01 * i for i in range(20)]  # twenty buffered frames at once
    steady = [0.5 + 0.1 * i for i in range(16)]  # then 10 a second until 2.0 s
    assert delivered_fps(burst + steady, 2.0) == pytest.approx(10.0)
    assert delivered_fps([0.1], 2.0) is None
    assert delivered_fps([], 2.0) is None
