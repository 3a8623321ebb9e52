"""The API's live model (services/api/live.py, issue 28) against the real database: what it holds after each kind
of change equals what a fresh read of the whole fleet says (`fleet.fleet`, the per-request read it replaces) —
latest heartbeats re-read by transaction, a gateway's watermark, a camera added, the tables emptied — and a
refresh with nothing changed keeps the same version."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from services.api.live import LiveModel
from services.core import db, fleet
from services.core.settings import Settings

pytestmark = pytest.mark.db
NOW = datetime(2024, 3, 31, 16, 0, tzinfo=UTC)
SILENCE = 180


def add_camera(conn: psycopg.Connection, camera_id: str, gateway_id: int, unit: str = "15865") -> None:
    conn.execute(
        "INSERT INTO cameras (camera_id, unit_set, unit_code, name, interval_s, gateway_id)"
        " VALUES (%s, '2024', %s, %s, 60, %s)",
        (camera_id, unit, camera_id, gateway_id),
    )


def beat(conn: psycopg.Connection, camera_id: str, ago_s: float, state: str = "up") -> None:
    """The latest heartbeat as the writer upserts it (services/ingest/heartbeat_writer.py `_LATEST`)."""
    ts = NOW - timedelta(seconds=ago_s)
    conn.execute(
        "INSERT INTO camera_status AS cs (camera_id, first_ts, last_ts, last_status, last_state)"
        " VALUES (%(c)s, %(ts)s, %(ts)s, 'ok', %(state)s)"
        " ON CONFLICT (camera_id) DO UPDATE SET last_ts = EXCLUDED.last_ts, last_state = EXCLUDED.last_state,"
        " changed_xid = pg_current_xact_id()",
        {"c": camera_id, "ts": ts, "state": state},
    )


def agrees(model: LiveModel, conn: psycopg.Connection) -> int:
    """The model's live counts at NOW equal those of a fresh read of the whole fleet; its version."""
    view = model.view(lambda: nullcontext(conn), "2024")
    expected = fleet.fleet(conn, view_set="2024").live_counts(NOW, SILENCE)
    got = view.live_counts(NOW, SILENCE, None)
    assert {c: {s: n for s, n in v.items() if n} for c, v in got.items() if any(v.values())} == {
        c: dict(v) for c, v in expected.items() if v
    }
    return view.version


def test_the_model_follows_every_kind_of_change(settings: Settings, conn: psycopg.Connection) -> None:
    gateway = conn.execute(
        "INSERT INTO gateways (name, token_hash, watermark) VALUES ('gw', 'x', %s) RETURNING gateway_id",
        (NOW - timedelta(seconds=10),),
    ).fetchone()["gateway_id"]
    for k in range(6):
        add_camera(conn, f"cam-{k}", gateway, "15865" if k < 4 else "15871")
    for k in range(5):
        beat(conn, f"cam-{k}", 30)
    model = LiveModel(figures_every_s=0)
    first = agrees(model, conn)
    assert agrees(model, conn) == first  # nothing changed: the same arrays
    beat(conn, "cam-1", 10, "degraded")  # a heartbeat: re-read by its transaction
    beat(conn, "cam-2", 400)  # (late: the writer keeps the newer one; this is the model's test, not the writer's)
    second = agrees(model, conn)
    assert second > first
    conn.execute("UPDATE gateways SET watermark = %s", (NOW - timedelta(seconds=SILENCE + 1),))  # silent
    assert agrees(model, conn) > second
    conn.execute("UPDATE gateways SET watermark = %s", (NOW,))
    add_camera(conn, "cam-new", gateway)  # the registry: loaded again whole
    beat(conn, "cam-new", 5, "down")
    agrees(model, conn)
    conn.execute("TRUNCATE camera_status")  # emptied (the test suite does it): nothing is kept from before
    assert model.view(lambda: nullcontext(conn), "2024").live_counts(NOW, SILENCE, ["15865"])["15865"]["unknown"] == 5
    agrees(model, conn)


def test_a_change_in_a_transaction_still_open_is_read_once_it_commits(
    settings: Settings, conn: psycopg.Connection
) -> None:
    """The horizon is the oldest transaction still running at the last read: a write that commits after a read
    that did not see it is still found by the next one (a newer transaction committing first must not hide it)."""
    gateway = conn.execute(
        "INSERT INTO gateways (name, token_hash, watermark) VALUES ('gw', 'x', %s) RETURNING gateway_id", (NOW,)
    ).fetchone()["gateway_id"]
    for camera in ("slow", "fast"):
        add_camera(conn, camera, gateway)
        beat(conn, camera, 30)
    model = LiveModel(figures_every_s=0)
    agrees(model, conn)
    with psycopg.connect(settings.database_url, autocommit=True) as other:
        with other.transaction():
            beat(other, "slow", 1, "down")  # its transaction began first …
            beat(conn, "fast", 1, "degraded")  # … this one commits first
            agrees(model, conn)  # read between the two commits
        view = model.view(lambda: nullcontext(conn), "2024")
        states = dict(zip(view.fleet.ids.tolist(), view.fleet.last_state.tolist(), strict=True))
        assert states == {"slow": 2, "fast": 1}
        assert np.array_equal(np.sort(view.cameras_of(["15865"])), np.arange(2))
        agrees(model, conn)


def test_a_request_does_not_wait_for_a_refresh_that_began_before_it(
    settings: Settings, conn: psycopg.Connection
) -> None:
    """A refresh that began before a request arrived may not see what the request must: the request refreshes
    itself at once, instead of waiting for that one to end and then for one more; the older refresh, when it ends,
    does not replace the newer view."""
    gateway = conn.execute(
        "INSERT INTO gateways (name, token_hash, watermark) VALUES ('gw', 'x', %s) RETURNING gateway_id", (NOW,)
    ).fetchone()["gateway_id"]
    add_camera(conn, "cam-0", gateway)
    beat(conn, "cam-0", 30)
    model = LiveModel(figures_every_s=0)
    agrees(model, conn)
    connected, release = threading.Event(), threading.Event()

    @contextmanager
    def stalled() -> Iterator[psycopg.Connection]:
        with db.connect(settings, autocommit=True) as slow:
            connected.set()
            assert release.wait(30)
            yield slow

    older: list[object] = []
    first = threading.Thread(target=lambda: older.append(model.view(stalled, "2024")))
    first.start()
    assert connected.wait(30)  # its refresh began; its snapshot is not taken yet
    beat(conn, "cam-0", 1, "down")
    view = model.view(lambda: nullcontext(conn), "2024")  # would wait for ever if it waited for the first
    assert view.fleet.last_state.tolist() == [2]
    release.set()
    first.join(30)
    assert older and older[0] is not view  # the first request got its own refresh's view …
    assert model.latest("2024") is view  # … and the newer one stays
