"""The server's heartbeat connection: synchronous, for a thread of its own.

An engine's heartbeat must not wait for its event loop, which a burst of work
can keep busy for seconds; so it has its own connection, outside the pool.
That connection also holds the server's session lock (`lock_server`): while
it is held, other engines know the server's process is alive, however late
its heartbeat, and rescue none of its jobs. PostgreSQL frees the lock the
moment the connection ends; keepalives and a TCP user timeout bound how long
the connection of a host that vanished can keep it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from craft_jobs.store.connector import translated_errors, with_settings
from craft_jobs.store.queries import load_queries


def _session_settings(timeout_seconds: float) -> dict[str, Any]:
    seconds = max(1, int(timeout_seconds))
    idle = max(1, seconds // 3)
    return {
        "connect_timeout": seconds,
        # Our side: notice a dead server within about the timeout.
        "keepalives": 1, "keepalives_idle": idle, "keepalives_interval": 1, "keepalives_count": 3,
        "tcp_user_timeout": seconds * 1000,
    }, (
        # The server's side: end the session (and free the lock) of a vanished host;
        # and never let one heartbeat wait longer than the timeout.
        f"-c statement_timeout={seconds * 1000} -c tcp_keepalives_idle={idle}"
        f" -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3 -c tcp_user_timeout={seconds * 1000}"
    )


class LeaseConnection:
    """Heartbeats one server row and holds its session lock. Not thread-safe:
    one thread uses it."""

    def __init__(self, conninfo: str, schema: str, timeout_seconds: float):
        self.conninfo = conninfo
        self.queries = load_queries(schema)
        self.timeout_seconds = timeout_seconds
        self.locked = False
        self._connection: psycopg.Connection | None = None

    def _connect(self) -> psycopg.Connection:
        client, server = _session_settings(self.timeout_seconds)
        return psycopg.connect(
            self.conninfo, autocommit=True, application_name="craft-jobs-heartbeat",
            **client, **with_settings(self.conninfo, server),
        )

    def beat(self, server: dict[str, Any], now: datetime) -> bool:
        """Writes the heartbeat, taking the lock first while it is not held; returns
        whether it is. On any error the connection is dropped, and the next call
        connects again."""
        try:
            with translated_errors():
                if self._connection is None:
                    self._connection = self._connect()
                if not self.locked:
                    row = self._connection.execute(self.queries["lock_server"], {"id": server["id"]}).fetchone()
                    self.locked = bool(row[0])
                self._connection.execute(self.queries["heartbeat_server"], {**server, "now": now})
        except Exception:
            self.close()
            raise
        return self.locked

    def remove(self, server_id: str) -> None:
        """Deletes the server row, then ends the session (freeing the lock)."""
        try:
            with translated_errors():
                if self._connection is None:
                    self._connection = self._connect()
                self._connection.execute(self.queries["remove_server"], {"id": server_id})
        finally:
            self.close()

    def close(self) -> None:
        connection, self._connection, self.locked = self._connection, None, False
        if connection is not None:
            try:
                connection.close()
            except psycopg.Error:
                pass
