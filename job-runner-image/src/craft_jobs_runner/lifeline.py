"""A local run never outlives the engine that started it.

The local executor passes the read end of a pipe in `CRAFT_JOB_LIFELINE_FD`
and keeps the write end. When the engine dies, however it dies, the kernel
closes the write end and the read end reports end-of-file; the engine also
closes it on purpose to stop a run at once. Either way the runner kills every
process the run started, then itself: a rescue may start the job again
elsewhere, and two copies must never run at the same time.

A thread watches the pipe, so a job that blocks the event loop cannot delay
it. On Linux the parent's death also raises SIGHUP (PR_SET_PDEATHSIG), and the
runner is a child subreaper, so processes that left its process group or
session (a daemon, a tool that calls setsid) are still found among its
descendants. In a pod the variable is unset and none of this applies.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from .contract import ENV_LIFELINE_FD
from .errors import ContextError

logger = logging.getLogger("craft_jobs_runner")

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_KILL_ROUNDS = 5  # a descendant may fork while we kill: look again, a few times


def watch(env: Mapping[str, str]) -> bool:
    """Ties this process to its engine when the environment names a lifeline."""
    value = env.get(ENV_LIFELINE_FD, "").strip()
    if not value:
        return False
    fd = _lifeline_fd(value)
    os.set_inheritable(fd, False)  # the job's own children need not hold it
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGHUP, lambda *_: abandon("the engine died (SIGHUP)"))
    _prctl(_PR_SET_PDEATHSIG, signal.SIGHUP)
    threading.Thread(target=_wait_for_end, args=(fd,), name="craft-lifeline", daemon=True).start()
    return True


def _lifeline_fd(value: str) -> int:
    try:
        fd = int(value)
        os.fstat(fd)
    except (ValueError, OSError):
        raise ContextError(ENV_LIFELINE_FD, f"must be an open file descriptor, got {value!r}") from None
    return fd


def _wait_for_end(fd: int) -> None:
    try:
        while os.read(fd, 64):
            pass  # nothing is ever written; end-of-file is the message
    except OSError as exc:  # the job closed the descriptor: SIGHUP still covers a direct child
        logger.warning("stopped watching the engine's lifeline: %s", exc)
        return
    abandon("the engine closed the lifeline")


def abandon(why: str) -> None:
    """Kills every descendant, then this process; never returns."""
    logger.error("stopping the run at once: %s", why)
    for _ in range(_KILL_ROUNDS):
        found = descendants(os.getpid())
        if not found:
            break
        for pid in found:
            _kill(pid)
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def descendants(root: int) -> list[int]:
    """Live (not zombie) descendants of `root`, from /proc; none where there is no /proc."""
    children: dict[int, list[int]] = {}
    try:
        entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return []
    for name in entries:
        stat = _stat_fields(name)
        if stat is not None and stat[0] != "Z":
            children.setdefault(int(stat[1]), []).append(int(name))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), ()):
            found.append(child)
            queue.append(child)
    return found


def _stat_fields(pid: str) -> list[str] | None:
    """State, parent pid, ... of /proc/<pid>/stat (after the command name, which may hold spaces)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _prctl(option: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        logger.warning("prctl(%d) is not available: the lifeline pipe alone ties the run to its engine", option)
