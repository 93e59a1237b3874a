"""The engine: asyncio loops over the store, and the dispatcher that runs jobs."""
