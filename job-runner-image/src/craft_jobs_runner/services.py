"""Per-run services: the runner's scoped dependency injection.

A service is declared once, at import time, with `@service(name)` on a factory
that takes the `JobContext` (or nothing):

    @service("db")
    async def db(context):
        conn = await connect()
        yield conn            # the value the job gets
        await conn.close()    # runs after the run, whatever its outcome

Factories may be async or sync generators (teardown after `yield`, like a
pytest yield fixture), or plain async or sync functions (nothing to close).
A run builds a service on first `await context.services.get(name)`, reuses it
for the rest of the run, and closes every built service after the run in
reverse order of creation, on success, failure and cancellation alike.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from contextvars import ContextVar
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ServiceError

if TYPE_CHECKING:
    from .context import JobContext

F = TypeVar("F", bound=Callable[..., Any])


class _Kind(Enum):
    ASYNC_GENERATOR = "async generator"
    GENERATOR = "generator"
    COROUTINE = "coroutine"
    FUNCTION = "function"


@dataclass(frozen=True, slots=True)
class _ServiceDefinition:
    name: str
    factory: Callable[..., Any]
    kind: _Kind
    takes_context: bool

    @property
    def qualified_name(self) -> str:
        return f"{self.factory.__module__}.{self.factory.__qualname__}"


_definitions: dict[str, _ServiceDefinition] = {}

# Names being built in the current call chain, to report cycles instead of hanging.
_building: ContextVar[tuple[str, ...]] = ContextVar("craft_jobs_building_services", default=())


def _kind_of(factory: Callable[..., Any]) -> _Kind:
    if inspect.isasyncgenfunction(factory):
        return _Kind.ASYNC_GENERATOR
    if inspect.isgeneratorfunction(factory):
        return _Kind.GENERATOR
    if inspect.iscoroutinefunction(factory):
        return _Kind.COROUTINE
    return _Kind.FUNCTION


def _takes_context(name: str, factory: Callable[..., Any]) -> bool:
    parameters = [
        p
        for p in inspect.signature(factory).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if len(parameters) > 1:
        raise ServiceError(
            f"service {name!r}: the factory must take the job context or nothing, "
            f"not {len(parameters)} required arguments"
        )
    return len(parameters) == 1


def service(name: str) -> Callable[[F], F]:
    """Register the decorated factory as the per-run service `name`."""
    if not isinstance(name, str) or not name.strip():
        raise ServiceError(f"service name must be a non-empty string, got {name!r}")

    def register(factory: F) -> F:
        if not callable(factory):
            raise ServiceError(f"service {name!r}: the factory must be callable, got {factory!r}")
        definition = _ServiceDefinition(
            name, factory, _kind_of(factory), _takes_context(name, factory)
        )
        existing = _definitions.get(name)
        # The same qualified name again is a module reload, not a conflict.
        if existing is not None and existing.qualified_name != definition.qualified_name:
            raise ServiceError(
                f"service {name!r} is defined by both {existing.qualified_name} "
                f"and {definition.qualified_name}"
            )
        _definitions[name] = definition
        return factory

    return register


def registered_services() -> list[str]:
    return sorted(_definitions)


class ServiceScope:
    """The services of one run; `JobContext.services`."""

    __slots__ = ("_context", "_values", "_locks", "_teardowns", "_closed")

    def __init__(self, context: JobContext):
        self._context = context
        self._values: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._teardowns: list[tuple[str, AsyncGenerator[Any, None] | Generator[Any, None, None]]] = []
        self._closed = False

    async def get(self, name: str) -> Any:
        """The service `name` for this run, built on first use."""
        if name in self._values:
            return self._values[name]
        if self._closed:
            raise ServiceError(f"service {name!r} requested after the run's services were closed")
        definition = _definitions.get(name)
        if definition is None:
            known = ", ".join(registered_services()) or "(none)"
            raise ServiceError(f"unknown service {name!r}; registered services: {known}")
        chain = _building.get()
        if name in chain:
            raise ServiceError("circular service dependency: " + " -> ".join((*chain, name)))
        # A lock per name: two tasks of one run asking at once get one instance.
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if name in self._values:
                return self._values[name]
            token = _building.set((*chain, name))
            try:
                value = await self._build(definition)
            finally:
                _building.reset(token)
            self._values[name] = value
            return value

    async def _build(self, definition: _ServiceDefinition) -> Any:
        args = (self._context,) if definition.takes_context else ()
        kind = definition.kind
        if kind is _Kind.ASYNC_GENERATOR:
            agen = definition.factory(*args)
            try:
                value = await anext(agen)
            except StopAsyncIteration:
                raise ServiceError(f"service {definition.name!r}: the generator did not yield") from None
            self._teardowns.append((definition.name, agen))
            return value
        if kind is _Kind.GENERATOR:
            gen = definition.factory(*args)
            try:
                value = next(gen)
            except StopIteration:
                raise ServiceError(f"service {definition.name!r}: the generator did not yield") from None
            self._teardowns.append((definition.name, gen))
            return value
        if kind is _Kind.COROUTINE:
            return await definition.factory(*args)
        return definition.factory(*args)

    @property
    def built(self) -> tuple[str, ...]:
        """Names of the services built so far in this run, in creation order."""
        return tuple(self._values)

    async def aclose(self) -> None:
        """Tear down every built service, newest first.

        Every teardown runs even if an earlier one fails; the first failure is
        raised afterwards and the others are logged.
        """
        self._closed = True
        errors: list[BaseException] = []
        while self._teardowns:
            name, generator = self._teardowns.pop()
            try:
                await _finish(name, generator)
            except Exception as exc:
                errors.append(exc)
        self._values.clear()
        if not errors:
            return
        for extra in errors[1:]:
            self._context.logger.error("closing a service failed", exc_info=extra)
        raise errors[0]


async def _finish(name: str, generator: AsyncGenerator[Any, None] | Generator[Any, None, None]) -> None:
    if isinstance(generator, AsyncGenerator):
        try:
            await anext(generator)
        except StopAsyncIteration:
            return
        await generator.aclose()
    else:
        try:
            next(generator)
        except StopIteration:
            return
        generator.close()
    raise ServiceError(f"service {name!r}: the generator yielded more than once")
