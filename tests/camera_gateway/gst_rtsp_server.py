"""A real RTSP server for the prober's tests: Debian's GStreamer RTSP server (gir1.2-gst-rtsp-server-1.0) through
its Python bindings (python3-gi). Run with Debian's /usr/bin/python3, not the project's venv:

    /usr/bin/python3 gst_rtsp_server.py PORT "GSTREAMER PIPELINE ENDING IN rtp…pay name=pay0"

Serves the pipeline at rtsp://127.0.0.1:PORT/live and prints "listening" once it accepts connections.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402 (after require_version, as gi wants)

Gst.init(None)
port, pipeline = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(f"( {pipeline} )")
factory.set_shared(True)
server.get_mount_points().add_factory("/live", factory)
server.attach(None)
print("listening", flush=True)
GLib.MainLoop().run()
