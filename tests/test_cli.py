"""The CLI against the real test database: secrets printed once as the last line, errors in one line."""

import os
import subprocess
import time

import psycopg
import pytest

from services.core import accounts
from services.core.settings import Settings
from tests.e2e.harness import free_port
from tests.processes import database_env, pulse_command, run_pulse
from tests.topics import fresh_prefix

pytestmark = pytest.mark.db


def test_gateways_add_prints_the_token_as_its_last_line(settings: Settings, conn: psycopg.Connection) -> None:
    code, out, _ = run_pulse(settings, "gateways", "add", "--name", "gw-bút-sơn", "--unit", "15865", "--unit", "15928")
    assert code == 0
    token = out.strip().splitlines()[-1]
    gateway = accounts.gateway_for_token(conn, token)
    assert gateway is not None
    assert gateway.units == {("2024", "15865"), ("2024", "15928")}


def test_a_gateway_for_an_unknown_unit_is_refused(settings: Settings, conn: psycopg.Connection) -> None:
    code, _, err = run_pulse(settings, "gateways", "add", "--name", "gw", "--unit", "99999")
    assert code == 1
    assert "unknown unit code(s) in set 2024: 99999" in err
    assert conn.execute("SELECT count(*) AS n FROM gateways").fetchone()["n"] == 0


def test_users_and_tokens_work_together(settings: Settings, conn: psycopg.Connection) -> None:
    code, _, _ = run_pulse(settings, "users", "add", "--username", "hoangphu", "--role", "commune", "--unit", "15883")
    assert code == 0
    code, out, _ = run_pulse(settings, "tokens", "create", "--username", "hoangphu")
    assert code == 0
    principal = accounts.principal_for_token(conn, out.strip().splitlines()[-1])
    assert principal is not None and principal.role == "commune"
    assert principal.can_read_unit("2024", "15883") and not principal.can_read_unit("2024", "15865")


def test_apps_add_prints_the_key_as_its_last_line(settings: Settings, conn: psycopg.Connection) -> None:
    code, out, _ = run_pulse(settings, "apps", "add", "--name", "HoangHoaS Android")
    assert code == 0
    assert out.strip().splitlines()[-1].startswith("pak_")


def test_units_import_is_all_or_nothing(settings: Settings, conn: psycopg.Connection, tmp_path) -> None:
    bad = tmp_path / "units.csv"
    bad.write_text("code,name,type,unit_set,successor_code\nX1,Một,xã,T1,\nX2,,xã,T1,\n", encoding="utf-8")
    code, _, err = run_pulse(settings, "units", "import", str(bad))
    assert code == 1 and "line 3: name is empty" in err
    assert conn.execute("SELECT count(*) AS n FROM units WHERE unit_set = 'T1'").fetchone()["n"] == 0


def test_units_set_population_is_stored(settings: Settings, conn: psycopg.Connection) -> None:
    code, _, _ = run_pulse(
        settings, "units", "set-population", "--unit", "15865", "--population", "15000", "--note", "Niên giám 2024"
    )
    assert code == 0
    row = conn.execute(
        "SELECT population, population_note FROM units WHERE unit_set='2024' AND code='15865'"
    ).fetchone()
    assert (row["population"], row["population_note"]) == (15000, "Niên giám 2024")
    conn.execute("UPDATE units SET population = NULL, population_note = '' WHERE unit_set='2024' AND code='15865'")


def test_cameras_import_is_all_or_nothing_and_never_echoes_a_stream_url(settings, conn, tmp_path) -> None:
    bad = tmp_path / "cams.csv"
    bad.write_text(
        "camera_id,unit_code,name,interval_s,stream_url,lat,lon\n"
        "cam-1,15865,Cổng UBND,60,rtsp://admin:s3cret@10.0.0.1/1,19.86,105.85\n"
        "cam 2,15865,Chợ,60,,,\n"
        "cam-3,99999,Trường,abc,ftp://admin:s3cret@x/,91,\n",
        encoding="utf-8",
    )
    code, _, err = run_pulse(settings, "cameras", "import", str(bad))
    assert code == 1
    assert "line 3: camera_id 'cam 2'" in err
    assert "line 4: unit_code '99999'" in err and "line 4: interval_s" in err and "line 4: lat" in err
    assert "line 4: stream_url must start with" in err
    assert "s3cret" not in err
    assert conn.execute("SELECT count(*) AS n FROM cameras").fetchone()["n"] == 0


def test_cameras_import_upserts_idempotently(settings, conn, tmp_path) -> None:
    good = tmp_path / "cams.csv"
    good.write_text(
        "camera_id,unit_code,name,interval_s,stream_url,lat,lon\n"
        "cam-1,15865,Cổng UBND,60,rtsp://admin:s3cret@10.0.0.1/1,19.86,105.85\ncam-2,15871,Chợ,30,,,\n",
        encoding="utf-8",
    )
    assert run_pulse(settings, "cameras", "import", str(good))[1].strip() == "2 camera(s) read, 2 added or changed"
    assert run_pulse(settings, "cameras", "import", str(good))[1].strip() == "2 camera(s) read, 0 added or changed"
    rows = conn.execute("SELECT camera_id, unit_code, interval_s, registered FROM cameras ORDER BY 1").fetchall()
    assert [(r["camera_id"], r["unit_code"], r["interval_s"], r["registered"]) for r in rows] == [
        ("cam-1", "15865", 60, True),
        ("cam-2", "15871", 30, True),
    ]


def test_maintenance_windows_from_the_cli(settings: Settings, conn: psycopg.Connection) -> None:
    code, out, _ = run_pulse(settings, "maintenance", "add", "--unit", "15865", "--days", "1,2,3", "--start", "22:00",
                        "--end", "05:00", "--note", "thay nguồn")  # fmt: skip
    assert code == 0
    window_id = int(out.strip().splitlines()[-1])
    code, out, _ = run_pulse(settings, "maintenance", "list")
    assert code == 0 and "2024/15865" in out and "weekly 1,2,3 22:00:00–05:00:00" in out and "thay nguồn" in out
    code, _, err = run_pulse(settings, "maintenance", "add", "--from", "2026-12-01T22:00:00",
                             "--to", "2026-12-01T23:00:00")  # fmt: skip
    assert code == 1 and "--from: give the offset" in err
    code, _, err = run_pulse(settings, "maintenance", "add", "--camera", "no-such",
                             "--from", "2026-12-01T22:00:00+07:00", "--to", "2026-12-01T23:00:00+07:00")  # fmt: skip
    assert code == 1 and "camera: no camera no-such" in err
    assert run_pulse(settings, "maintenance", "remove", "--id", str(window_id))[0] == 0
    assert run_pulse(settings, "maintenance", "remove", "--id", str(window_id))[0] == 1


def test_channels_from_the_cli_never_show_their_secret(settings: Settings, conn: psycopg.Connection) -> None:
    code, out, _ = run_pulse(settings, "channels", "add", "--kind", "telegram", "--target", "-1001",
                             "--secret", "123:tok", "--unit", "15865")  # fmt: skip
    assert code == 0
    channel_id = int(out.strip().splitlines()[-1])
    code, out, _ = run_pulse(settings, "channels", "list")
    assert code == 0 and "telegram" in out and "15865" in out and "123:tok" not in out
    code, _, err = run_pulse(settings, "channels", "add", "--kind", "zalo", "--target", "u1")
    assert code == 1 and "secret: a zalo channel needs its token" in err
    assert run_pulse(settings, "channels", "remove", "--id", str(channel_id))[0] == 0


def test_users_add_a_district_operator(settings: Settings, conn: psycopg.Connection) -> None:
    code, out, _ = run_pulse(settings, "users", "add", "--username", "thieuhoa", "--role", "district",
                             "--district", "398", "--unit-set", "2025-01")  # fmt: skip
    assert code == 0 and "operator thieuhoa (district 398) added" in out
    assert (
        conn.execute("SELECT district_code FROM operators WHERE username = 'thieuhoa'").fetchone()["district_code"]
        == "398"
    )
    code, out, _ = run_pulse(settings, "tokens", "create", "--username", "thieuhoa")
    principal = accounts.principal_for_token(conn, out.strip().splitlines()[-1])
    assert principal is not None and principal.role == "district"
    assert principal.can_read_unit("2025-01", "15799") and principal.can_read_unit("2025", "15796")
    assert not principal.can_read_unit("2024", "15865")
    code, _, err = run_pulse(settings, "users", "add", "--username", "x", "--role", "district", "--district", "398")
    assert code == 1 and "unknown district 398 in set 2024" in err


def _start(settings: Settings, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    full = {
        **os.environ,
        **database_env(settings),
        "PULSE_KAFKA_PREFIX": fresh_prefix(),  # deleted with the session's topics
        "PYTHONUNBUFFERED": "1",  # its lines as they are printed
        **env,
    }
    return subprocess.Popen(pulse_command(*args), env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _second_instance_refused(settings: Settings, env: dict[str, str], args: list[str], ready: str) -> str:
    """Start an instance, wait until it prints `ready`, start a second with the same settings: its error."""
    first = _start(settings, env, *args)
    try:
        assert first.stdout is not None
        deadline = time.monotonic() + 60
        for line in first.stdout:  # blocks per line; the first instance prints as it starts
            if ready in line:
                break
            assert time.monotonic() < deadline, f"the first instance never said {ready!r}"
        second = _start(settings, env, *args)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        return err.strip().splitlines()[-1]
    finally:
        first.terminate()
        first.communicate(timeout=60)  # waits, and closes its pipes


@pytest.mark.kafka
def test_two_ingest_processes_on_one_metrics_port_are_refused_by_name(settings: Settings, conn) -> None:
    port = str(free_port())
    env = {"PULSE_INGEST_METRICS_PORT": port}
    error = _second_instance_refused(settings, env, ["ingest"], "ingest: consuming")
    assert error == (
        f"configuration error: PULSE_INGEST_METRICS_PORT: port {port} is already in use (another instance here?) "
        "— give each instance on a machine its own"
    )


@pytest.mark.kafka
def test_two_gateways_on_one_spool_are_refused_by_name(settings: Settings, conn, tmp_path) -> None:
    env = {"PULSE_DATA_DIR": str(tmp_path), "PULSE_GATEWAY_PORT": str(free_port())}
    first = _start(settings, env, "camera-gateway")
    try:
        assert first.stdout is not None
        assert "camera-gateway: http://" in next(iter(first.stdout))  # started: it holds the spool
        second = _start(settings, {**env, "PULSE_GATEWAY_PORT": str(free_port())}, "camera-gateway")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        assert err.strip().splitlines()[-1] == (
            f"configuration error: PULSE_DATA_DIR: spool {tmp_path / 'spool'} is already open (in this or "
            "another process) — another gateway uses it; give each gateway its own"
        )
        third = _start(settings, {**env, "PULSE_DATA_DIR": str(tmp_path / "other")}, "camera-gateway")  # same port
        _, err = third.communicate(timeout=60)
        assert third.returncode == 2 and "PULSE_GATEWAY_PORT: port" in err, err
    finally:
        first.terminate()
        first.communicate(timeout=60)  # waits, and closes its pipes


def test_access_can_be_taken_back_from_the_cli(settings: Settings, conn: psycopg.Connection) -> None:
    """Issue 31: a departed officer's access ends with one command — its session and its tokens refused from the
    next request on, through the API too — and a role, units and single tokens can be changed or revoked."""
    from fastapi.testclient import TestClient

    from services.api.app import create_app

    password = "a long enough passphrase"
    added = run_pulse(settings, "users", "add", "--username", "hoangphu", "--role", "commune", "--unit", "15883",
                 "--password", password)  # fmt: skip
    assert added[0] == 0
    created = run_pulse(settings, "tokens", "create", "--username", "hoangphu", "--label", "báo cáo")
    token = created[1].strip().splitlines()[-1]
    session = accounts.open_session(conn, username="hoangphu", password=password, idle_hours=8)
    assert session is not None
    with TestClient(create_app(settings)) as client:

        def answers() -> tuple[int, int]:
            by_token = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            client.cookies.set("pulse_session", session)
            by_cookie = client.get("/api/v1/me")
            client.cookies.clear()
            return by_token.status_code, by_cookie.status_code

        assert answers() == (200, 200)
        code, out, _ = run_pulse(settings, "users", "disable", "hoangphu")
        assert code == 0 and "disabled" in out
        assert answers() == (401, 401)
        assert accounts.open_session(conn, username="hoangphu", password=password, idle_hours=8) is None
        listed = run_pulse(settings, "users", "list")[1]
        assert "hoangphu" in listed and "disabled" in listed and "2024/15883" in listed
        assert run_pulse(settings, "users", "enable", "hoangphu")[0] == 0
        assert answers() == (200, 401)  # the token works again; the session ended for good

    code, _, err = run_pulse(settings, "users", "set-units", "hoangphu", "--district", "398")
    assert code == 1 and "a commune operator needs at least one --unit" in err  # its role kept: a commune's needs
    code, _, err = run_pulse(settings, "users", "set-units", "hoangphu", "--unit", "15865", "--district", "398")
    assert code == 1 and "--district applies to the district role only, not commune" in err
    assert run_pulse(settings, "users", "set-role", "hoangphu", "--role", "viewer")[0] == 0
    principal = accounts.principal_for_token(conn, token)
    assert principal is not None and principal.role == "viewer" and principal.can_read_unit("2024", "15865")
    assert run_pulse(settings, "users", "set-role", "hoangphu", "--role", "commune", "--unit", "15865")[0] == 0
    principal = accounts.principal_for_token(conn, token)
    assert principal is not None and principal.can_read_unit("2024", "15865")
    assert not principal.can_read_unit("2024", "15883")

    listed = run_pulse(settings, "tokens", "list", "--username", "hoangphu")[1]
    assert token not in listed and "báo cáo" in listed and "active" in listed
    token_id = listed.split()[0]
    assert run_pulse(settings, "tokens", "revoke", token_id)[0] == 0
    assert accounts.principal_for_token(conn, token) is None
    assert "revoked" in run_pulse(settings, "tokens", "list")[1]
    code, _, err = run_pulse(settings, "tokens", "revoke", "999999")
    assert code == 1 and "no token 999999" in err
    code, _, err = run_pulse(settings, "users", "disable", "nobody")
    assert code == 1 and "no operator named 'nobody'" in err
