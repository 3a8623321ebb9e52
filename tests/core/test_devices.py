"""Devices in the database (services/core/devices.py): input checked with the option named, the secret stored
encrypted and usable again, never in a listing."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from services.core.devices import (
    DeviceSetupError,
    add_device,
    device_secret,
    list_devices,
    parse_channels,
    parse_options,
    remove_device,
)

KEY = SecretStr("a-device-key-of-at-least-32-characters!!")
SECRET = "Hik-Pa55word/with:odd@chars"


@pytest.fixture
def device_settings(settings):
    return settings.model_copy(update={"device_key": KEY})


def add(conn, settings, **overrides) -> str | None:
    values = dict(
        kind="hikvision",
        name="nvr-but-son",
        unit_set="2024",
        unit_code="15865",
        url="http://192.168.1.64",
        username="admin",
        secret=SECRET,
        channels={"2": "HH-BS-014"},
    )
    return add_device(conn, settings, **{**values, **overrides})


@pytest.mark.db
def test_the_secret_is_stored_encrypted_and_comes_back_only_through_device_secret(conn, device_settings) -> None:
    add(conn, device_settings)
    stored = conn.execute("SELECT secret_enc::text AS raw, d.* FROM devices d").fetchone()
    assert SECRET not in str(stored) and SECRET.encode() not in bytes(stored["secret_enc"])
    row, secret = device_secret(conn, device_settings, "nvr-but-son")
    assert secret == SECRET and row["channels"] == {"2": "HH-BS-014"}
    listed = list_devices(conn)
    assert len(listed) == 1 and SECRET not in str(listed)
    assert listed[0]["state"] == "connecting" and listed[0]["unit_name"]


@pytest.mark.db
def test_another_key_cannot_read_the_secret_and_says_so(conn, device_settings) -> None:
    add(conn, device_settings)
    other = device_settings.model_copy(update={"device_key": SecretStr("x" * 40)})
    with pytest.raises(DeviceSetupError, match="neither PULSE_DEVICE_KEY nor"):
        device_secret(conn, other, "nvr-but-son")


@pytest.mark.db
def test_without_a_key_nothing_is_stored(conn, settings) -> None:
    with pytest.raises(DeviceSetupError, match="PULSE_DEVICE_KEY"):
        add(conn, settings.model_copy(update={"device_key": None}))
    assert conn.execute("SELECT count(*) AS n FROM devices").fetchone()["n"] == 0


@pytest.mark.db
def test_a_push_token_is_shown_once_and_only_its_hash_is_kept(conn, device_settings) -> None:
    token = add(conn, device_settings, push=True)
    assert token
    row = conn.execute("SELECT push_token_hash FROM devices").fetchone()
    assert row["push_token_hash"] and token not in row["push_token_hash"]


@pytest.mark.db
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "axis"}, "--kind"),
        ({"name": "has space"}, "--name"),
        ({"url": "http://admin:pw@192.168.1.64"}, "--url: no user name or password"),
        ({"url": "rtsp://192.168.1.64"}, "--url"),
        ({"url": "http://192.168.1.64:99999"}, "--url: bad port"),
        ({"unit_code": "99999"}, "--unit"),
        ({"secret": ""}, "password"),
    ],
)
def test_bad_input_names_the_option_and_stores_nothing(conn, device_settings, overrides, message) -> None:
    with pytest.raises(DeviceSetupError, match=message):
        add(conn, device_settings, **overrides)
    assert conn.execute("SELECT count(*) AS n FROM devices").fetchone()["n"] == 0


@pytest.mark.db
def test_a_camera_is_mapped_on_one_device_only_and_a_name_is_taken_once(conn, device_settings) -> None:
    add(conn, device_settings)
    with pytest.raises(DeviceSetupError, match="exists already"):
        add(conn, device_settings)
    with pytest.raises(DeviceSetupError, match="mapped already on device nvr-but-son"):
        add(conn, device_settings, name="nvr-2")
    remove_device(conn, "nvr-but-son")
    with pytest.raises(DeviceSetupError, match="no device"):
        remove_device(conn, "nvr-but-son")


def test_channels_and_options_are_read_with_the_bad_one_named() -> None:
    assert parse_channels(["2=HH-BS-014", "C1234=HH-BS-015"]) == {"2": "HH-BS-014", "C1234": "HH-BS-015"}
    assert parse_options(["stall_s=30", "nvr=true", "ip_channel_offset=32"]) == {
        "stall_s": 30.0,
        "nvr": True,
        "ip_channel_offset": 32,
    }
    for bad, message in [(["2"], "CHANNEL=CAMERA_ID"), (["2=a", "2=b"], "mapped twice"), (["1=a", "2=a"], "two")]:
        with pytest.raises(DeviceSetupError, match=message):
            parse_channels(bad)
    for bad, message in [(["color=red"], "KEY one of"), (["stall_s=fast"], "a number"), (["poll_s=1"], "5 to")]:
        with pytest.raises(DeviceSetupError, match=message):
            parse_options(bad)
