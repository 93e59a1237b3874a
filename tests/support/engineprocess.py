"""An engine with the local executor in a process of its own, for tests that
kill it, stop it or block its event loop; and what its runs left behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

ENGINE_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, signal, sys, time
    from craft_jobs.engine.engine import Engine
    from craft_jobs.engine.local import LocalExecutor
    from craft_jobs.options import load_options

    async def main():
        options = load_options(connection_string=sys.argv[1], job_modules=["tests.support.jobs"],
                               **json.loads(sys.argv[2]))
        engine = Engine(options, LocalExecutor(options.job_modules, options.cancel_grace_seconds))
        await engine.start()
        # SIGUSR1 blocks the event loop, as a burst of work on a loaded machine would.
        block = float(sys.argv[3])
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, lambda: time.sleep(block))
        print(engine.server_id, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


@dataclass
class EngineProcess:
    process: asyncio.subprocess.Process
    server_id: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    async def kill(self) -> None:
        self.send(signal.SIGKILL)
        await self.process.wait()


@contextlib.asynccontextmanager
async def engine_process(connection_string: str, *, block_seconds: float = 0, **options) -> AsyncIterator[EngineProcess]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ENGINE_SCRIPT, connection_string, json.dumps(options), str(block_seconds),
        stdout=asyncio.subprocess.PIPE, env=env, cwd=os.getcwd(),
    )
    try:
        server_id = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        assert server_id, "the engine process did not start"
        yield EngineProcess(process, server_id)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
            await process.wait()


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def events(path: Path) -> list[dict]:
    """What test-ticker runs wrote (tests/support/jobs.py)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def runs(path: Path) -> list[tuple[float, float, bool]]:
    """Each run's (first event, last event, ended), in the order they started."""
    spans: dict[int, list] = {}
    for event in events(path):
        span = spans.setdefault(event["pid"], [event["t"], event["t"], False])
        span[1] = max(span[1], event["t"])
        span[2] = span[2] or event["event"] == "end"
    return sorted(tuple(s) for s in spans.values())


def overlapping(path: Path) -> bool:
    spans = runs(path)
    return any(later[0] <= earlier[1] for earlier, later in zip(spans, spans[1:]))
