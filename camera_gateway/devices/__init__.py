"""Devices: cameras and NVRs that speak their own protocol, and the camera clouds (SPEC §4 "Devices").

The gateway *collects* from them and turns what they say into ordinary heartbeats, which then take the same
durable path as pushed ones (publisher + spool → Kafka → ingest) and the same SPEC §5 rules.

One module per protocol (`hikvision`, `dahua`, `onvif`, `ezviz`, `imou`; the two clouds share `clouds`), each
with a pure parser from bytes to `events.DeviceEvent`s and a thin connection loop (`connection.run_forever`) with
its backoff. What the events mean for a camera is decided once, in `tracker` (pure); `manager` runs the loops and
publishes the heartbeats.
"""
