import asyncio

from craft_jobs_runner import CancelSignal


async def test_callbacks_run_once_when_the_signal_is_set():
    signal, calls = CancelSignal(), []
    signal.on_set(lambda: calls.append("first"))
    signal.on_set(lambda: calls.append("second"))
    assert not signal.is_set() and calls == []
    signal.set()
    signal.set()
    assert signal.is_set() and calls == ["first", "second"]
    await asyncio.wait_for(signal.wait(), 1)  # still an asyncio.Event for whoever waits on it


async def test_a_callback_registered_after_the_signal_runs_at_once():
    signal, calls = CancelSignal(), []
    signal.set()
    signal.on_set(lambda: calls.append("late"))
    assert calls == ["late"]


async def test_a_forgotten_callback_is_not_called():
    signal, calls = CancelSignal(), []
    forget = signal.on_set(lambda: calls.append("gone"))
    forget()
    forget()  # twice is harmless
    signal.set()
    assert calls == []
