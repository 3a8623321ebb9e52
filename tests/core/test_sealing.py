"""Secrets at rest (services/core/sealing.py, issue 31): the keyring on its own, then on the database — what
migration 0024 does to the channel secrets and stream URLs stored in clear before it, an import that tells an
unchanged stream URL by its digest, and a rotation that leaves nothing under the old key."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from services.alerts.channels import add_channel, list_channels
from services.core import sealing
from services.core.cameras import CameraFileError, CameraRow, import_cameras
from services.core.db import connect
from services.core.migrate import MigrationError, migrate
from services.core.settings import Settings

OLD = "old-secrets-key-0123456789abcdefghijklmnopq"
NEW = "new-secrets-key-9876543210zyxwvutsrqponmlkj"
URL = "rtsp://admin:Mat-Khau-7@10.1.2.3:554/Streaming/Channels/101"


def test_a_secret_sealed_is_not_in_clear_and_opens_again() -> None:
    keys = sealing.Keyring.of(NEW)
    sealed = keys.seal("Mật-khẩu")
    assert "Mật-khẩu".encode() not in sealed
    assert keys.unseal(sealed) == "Mật-khẩu"
    assert keys.seal("x") != keys.seal("x")  # a fresh IV each time: equal secrets do not look equal


def test_a_previous_key_opens_what_it_sealed_and_a_reseal_moves_it_to_the_current_key() -> None:
    sealed_old = sealing.Keyring.of(OLD).seal("bot-token")
    both = sealing.Keyring.of(NEW, (OLD,))
    assert both.unseal(sealed_old) == "bot-token" and not both.under_current(sealed_old)
    moved = both.reseal(sealed_old)
    assert both.under_current(moved) and sealing.Keyring.of(NEW).unseal(moved) == "bot-token"
    with pytest.raises(sealing.SealingError, match="neither PULSE_DEVICE_KEY nor one of PULSE_DEVICE_KEY_PREVIOUS"):
        sealing.Keyring.of(OLD).unseal(moved)
    assert both.seal("x") and both.under_current(both.seal("x"))  # new secrets go under the current key


def test_the_key_is_derived_not_used_raw_and_short_keys_are_refused_with_the_setting_named() -> None:
    raw = Fernet(Fernet.generate_key())
    with pytest.raises(sealing.SealingError, match="PULSE_DEVICE_KEY: at least 32"):
        sealing.Keyring.of("short")
    with pytest.raises(sealing.SealingError, match="PULSE_DEVICE_KEY_PREVIOUS: at least 32"):
        sealing.Keyring.of(NEW, ("short",))
    with pytest.raises(sealing.SealingError):
        sealing.Keyring.of(NEW).unseal(raw.encrypt(b"x"))


def test_the_digest_is_keyed_and_stable() -> None:
    assert sealing.Keyring.of(NEW).digest(URL) == sealing.Keyring.of(NEW, (OLD,)).digest(URL)
    assert sealing.Keyring.of(NEW).digest(URL) != sealing.Keyring.of(OLD).digest(URL)
    assert sealing.Keyring.of(NEW).digest(URL) != sealing.Keyring.of(NEW).digest(URL + "2")


def test_the_settings_give_the_previous_keys_separated_by_commas_or_lines(settings: Settings) -> None:
    with_two = settings.model_copy(
        update={"device_key": SecretStr(NEW), "device_key_previous": SecretStr(f"{OLD},\n{'p' * 40}\n")}
    )
    keys = sealing.keyring(with_two)
    assert keys.unseal(sealing.Keyring.of("p" * 40).seal("a")) == "a"
    assert keys.unseal(sealing.Keyring.of(OLD).seal("b")) == "b"
    with pytest.raises(sealing.SealingError, match="PULSE_DEVICE_KEY_FILE"):
        sealing.keyring(settings.model_copy(update={"device_key": None}))


@pytest.fixture
def scratch(settings: Settings) -> Iterator[Settings]:
    """A database of its own, migrated up to 0023 (before secrets were sealed)."""
    parts = urlsplit(settings.database_url)
    name = f"{parts.path.lstrip('/')}_m0024"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield settings.model_copy(update={"database_url": urlunsplit(parts._replace(path=f"/{name}"))})
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.db
def test_migration_0024_seals_what_was_stored_in_clear_and_refuses_without_a_key(scratch: Settings) -> None:
    with connect(scratch, autocommit=True) as c:
        migrate(c, upto=23)
        c.execute("INSERT INTO channels (kind, target, secret) VALUES ('telegram', '-100', '123:bot-token')")
        c.execute("INSERT INTO channels (kind, target) VALUES ('email', 'a@b.example')")
        c.execute(
            "INSERT INTO cameras (camera_id, unit_set, unit_code, stream_url) VALUES ('c1', '2024', '15865', %s)",
            (URL,),
        )
        c.execute("INSERT INTO cameras (camera_id, unit_set, unit_code) VALUES ('c2', '2024', '15865')")
        with pytest.raises(MigrationError, match=r"1 channel secrets and 1 stream URLs .* \(nothing was changed\)"):
            migrate(c)
        assert c.execute("SELECT max(version) AS v FROM schema_migrations").fetchone()["v"] == 23
        assert c.execute("SELECT secret FROM channels WHERE kind = 'telegram'").fetchone()["secret"] == "123:bot-token"

        keys = sealing.Keyring.of(NEW)
        report = migrate(c, keys=keys)
        assert "sealed under PULSE_DEVICE_KEY: 1 channel secrets, 1 stream URLs" in report.notes
        columns = {
            r["column_name"]
            for r in c.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name IN ('channels', 'cameras')"
            )
        }
        assert "secret" not in columns and "stream_url" not in columns
        channels = {r["kind"]: r["secret_enc"] for r in c.execute("SELECT kind, secret_enc FROM channels")}
        assert channels["email"] is None and keys.unseal(channels["telegram"]) == "123:bot-token"
        cams = {r["camera_id"]: r for r in c.execute("SELECT * FROM cameras")}
        assert keys.unseal(cams["c1"]["stream_url_enc"]) == URL and bytes(cams["c1"]["stream_url_digest"]) == (
            keys.digest(URL)
        )
        assert cams["c2"]["stream_url_enc"] is None and cams["c2"]["stream_url_digest"] is None
        # The audit trail saw the channel change, without its secret.
        (entry,) = c.execute("SELECT before, after FROM audit_log WHERE action = 'channels.update'").fetchall()
        assert entry["after"]["secret_enc"] == "secret"
        assert "bot-token" not in str(c.execute("SELECT * FROM audit_log").fetchall())


@pytest.mark.db
def test_an_unchanged_stream_url_is_no_change_and_a_new_one_is(conn, settings: Settings) -> None:
    keys = sealing.keyring(settings)

    def load(url: str | None) -> int:
        return import_cameras(conn, [CameraRow("c1", "15865", "Chợ", 60, url, None, None)], unit_set="2024", keys=keys)

    assert load(URL) == 1
    first = conn.execute("SELECT stream_url_enc FROM cameras").fetchone()["stream_url_enc"]
    assert load(URL) == 0  # sealed again with a fresh IV, yet the same digest: nothing changed, nothing rewritten
    assert conn.execute("SELECT stream_url_enc FROM cameras").fetchone()["stream_url_enc"] == first
    assert load(URL.replace("Mat-Khau-7", "Mat-Khau-8")) == 1
    assert keys.unseal(conn.execute("SELECT stream_url_enc FROM cameras").fetchone()["stream_url_enc"]).endswith("101")
    assert load(None) == 1
    assert conn.execute("SELECT stream_url_enc, stream_url_digest FROM cameras").fetchone() == {
        "stream_url_enc": None,
        "stream_url_digest": None,
    }
    with pytest.raises(CameraFileError, match="PULSE_DEVICE_KEY"):
        import_cameras(conn, [CameraRow("c1", "15865", "", 60, URL, None, None)], unit_set="2024")


@pytest.mark.db
def test_rotation_leaves_nothing_under_the_old_key_and_says_what_no_key_opens(conn) -> None:
    old, both = sealing.Keyring.of(OLD), sealing.Keyring.of(NEW, (OLD,))
    add_channel(conn, kind="webhook", target="http://127.0.0.1:9/hook", secret="ky-webhook", keys=old)
    add_channel(conn, kind="webhook", target="http://127.0.0.1:9/other", secret="moi", keys=both)
    rows = [CameraRow(f"c{i:04d}", "15865", "", 60, f"{URL}?n={i}", None, None) for i in range(2500)]
    import_cameras(conn, rows, unit_set="2024", keys=old)  # more than one batch
    stranger = sealing.Keyring.of("s" * 40).seal("no key here opens this")
    conn.execute("UPDATE channels SET secret_enc = %s WHERE target LIKE '%%other'", (stranger,))

    counts = {c.kind: c for c in sealing.check(conn, both)}
    assert (counts["stream URLs"].current, counts["stream URLs"].previous) == (0, 2500)
    assert (counts["channel secrets"].previous, counts["channel secrets"].unreadable) == (1, 1)

    done = {c.kind: c for c in sealing.rotate(conn, both)}
    assert (done["stream URLs"].resealed, done["stream URLs"].current) == (2500, 2500)
    assert (done["channel secrets"].resealed, done["channel secrets"].unreadable) == (1, 1)
    again = {c.kind: c for c in sealing.check(conn, sealing.Keyring.of(NEW))}
    assert again["stream URLs"].current == 2500 and again["stream URLs"].unreadable == 0
    assert again["channel secrets"].current == 1 and again["channel secrets"].unreadable == 1  # the stranger
    for r in conn.execute("SELECT camera_id, stream_url_enc, stream_url_digest FROM cameras"):
        assert both.unseal(r["stream_url_enc"]) == f"{URL}?n={int(r['camera_id'][1:])}"
        assert bytes(r["stream_url_digest"]) == sealing.Keyring.of(NEW).digest(f"{URL}?n={int(r['camera_id'][1:])}")
        with pytest.raises(sealing.SealingError):
            old.unseal(r["stream_url_enc"])
    assert [c["has_secret"] for c in list_channels(conn)] == [True, True]
