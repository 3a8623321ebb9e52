"""A real RTSP server for the demo's prober cameras and the prober's tests: Debian's GStreamer RTSP server
(gir1.2-gst-rtsp-server-1.0) through its Python bindings (python3-gi). Run it with Debian's /usr/bin/python3,
not the project's venv:

    /usr/bin/python3 rtsp_server.py PORT PIPELINE                  # served at rtsp://127.0.0.1:PORT/live
    /usr/bin/python3 rtsp_server.py PORT NAME PIPELINE [NAME PIPELINE …]   # at rtsp://127.0.0.1:PORT/NAME

Each PIPELINE is a GStreamer launch line ending in an RTP payloader named pay0. Prints "listening" once it
accepts connections. Every client of a mount shares one pipeline, as viewers of a camera share its stream.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402 (after require_version, as gi wants)

Gst.init(None)
port, rest = sys.argv[1], sys.argv[2:]
mounts = [("live", rest[0])] if len(rest) == 1 else list(zip(rest[::2], rest[1::2], strict=True))
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
for name, pipeline in mounts:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {pipeline} )")
    factory.set_shared(True)
    server.get_mount_points().add_factory(f"/{name}", factory)
server.attach(None)
print("listening", flush=True)
GLib.MainLoop().run()
