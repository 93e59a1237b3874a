"""An engine with the local executor, as its own process (`python -m tests.proofs.engine URL READY_FILE`).

Like `craft-jobs dev` without the dashboard: the options come from the
environment (CRAFT_JOBS_*), the job classes from tests.proofs.work. It
writes its server id to READY_FILE once it claims work, and stops gracefully
on SIGTERM (runs get STOP_GRACE_SECONDS, then go back to Enqueued).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from craft_jobs.engine.engine import Engine
from craft_jobs.engine.local import LocalExecutor
from craft_jobs.options import load_options
from tests.proofs import work

STOP_GRACE_SECONDS = 5


async def main(url: str, ready_file: Path) -> None:
    options = load_options(connection_string=url, job_modules=[work.MODULE])
    engine = Engine(options, LocalExecutor(options.job_modules, options.cancel_grace_seconds))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await engine.start()
    ready_file.write_text(engine.server_id)
    await stop.wait()
    await engine.stop(STOP_GRACE_SECONDS)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
