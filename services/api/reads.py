"""Where the API's reads come from: the streaming replica that PULSE_DATABASE_READ_URL names, while it answers;
else the primary. Decided (docs/operations.md): figures stay available when the replica is down — the dashboard
says where they come from — rather than an error; writes (log-in, acknowledgements, settings) always go to the
primary, as does the check of who is asking.

A watch asks both every WATCH_EVERY_S how far the replica is behind: nothing when it has replayed everything the
primary had written a moment before (an idle primary writes nothing, and the replica is not behind then), else
the time since the last transaction it replayed. It publishes the lag in `/metrics` and, on every response
read from the replica, in the `X-Pulse-Reads` header when the lag passes PULSE_READ_REPLICA_MAX_LAG_S (the
dashboard's footer shows it), or says `primary` when the replica does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from prometheus_client import Gauge
from psycopg_pool import ConnectionPool

from services.core.db import DbConn, one_row

log = logging.getLogger("pulse.api")
WATCH_EVERY_S = 2.0
REPLICA_UP = Gauge("pulse_api_read_replica_up", "1 while the read replica answers (0: reads go to the primary)")
REPLICA_LAG_S = Gauge("pulse_api_read_replica_lag_seconds", "How far the read replica's data is behind the primary")
REPLICA_BEHIND_BYTES = Gauge("pulse_api_read_replica_behind_bytes", "WAL the read replica has not replayed yet")

_PRIMARY_LSN = "SELECT pg_current_wal_lsn()::text AS lsn"
_REPLICA_LAG = """
SELECT pg_is_in_recovery() AS standby,
       greatest(0, pg_wal_lsn_diff(%(lsn)s::pg_lsn, pg_last_wal_replay_lsn()))::bigint AS behind,
       CASE WHEN pg_last_wal_replay_lsn() >= %(lsn)s::pg_lsn THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8 AS lag_s
"""


@dataclass
class ReplicaState:
    up: bool = False  # until the watch has seen it answer
    lag_s: float = 0.0
    behind_bytes: int = 0


def replica_lag(primary: DbConn, replica: DbConn) -> ReplicaState:
    """How far `replica` is behind `primary`, asked of both now."""
    lsn = one_row(primary, _PRIMARY_LSN)["lsn"]
    row = one_row(replica, _REPLICA_LAG, {"lsn": lsn})
    if not row["standby"]:
        raise psycopg.OperationalError("PULSE_DATABASE_READ_URL names a server that is not a replica")
    return ReplicaState(True, max(0.0, row["lag_s"] or 0.0), row["behind"])


class Reads:
    def __init__(self, primary: ConnectionPool[DbConn], replica: ConnectionPool[DbConn] | None, max_lag_s: float):
        self.primary, self.replica, self.max_lag_s = primary, replica, max_lag_s
        self.state = ReplicaState()

    @contextlib.contextmanager
    def connection(self) -> Iterator[tuple[DbConn, str | None]]:
        """A connection for reads, and what to say of it (None: nothing worth saying)."""
        if self.replica is not None and self.state.up:
            try:
                conn = self.replica.getconn(timeout=2)
            except psycopg.OperationalError:  # PoolTimeout is one too
                self.state.up = False  # the watch brings it back when it answers again
                REPLICA_UP.set(0)
            else:
                try:
                    lag = self.state.lag_s
                    yield conn, (f"lag={lag:.0f}" if lag > self.max_lag_s else None)
                finally:
                    self.replica.putconn(conn)
                return
        with self.primary.connection() as conn:
            yield conn, ("primary" if self.replica is not None else None)

    def watch_once(self) -> None:
        assert self.replica is not None
        try:
            with self.primary.connection(timeout=5) as primary, self.replica.connection(timeout=2) as replica:
                state = replica_lag(primary, replica)
        except (psycopg.Error, TimeoutError) as exc:  # the pool's timeout is a psycopg error too
            if self.state.up:
                log.warning("read replica unreachable (%s); reads go to the primary", exc.__class__.__name__)
            state = ReplicaState(up=False)
        self.state = state
        REPLICA_UP.set(1 if state.up else 0)
        REPLICA_LAG_S.set(state.lag_s)
        REPLICA_BEHIND_BYTES.set(state.behind_bytes)

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.watch_once)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=WATCH_EVERY_S)
