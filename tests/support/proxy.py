"""A TCP proxy of the test's own between the app and a real service, to fail on purpose.

`FaultyProxy(host, port)` listens on a port of its own (on a thread and event loop of its
own, so that a stalled app does not stall it) and forwards each connection to the service.
The test then acts on the connections the app opened through it, and on nothing else:

- `cut()` closes every connection open now, as a server restart or a network drop does;
  new connections are forwarded as before.
- `stall()` stops forwarding bytes, both ways, on every connection, open and new (a server
  or a network that has gone quiet); `resume()` forwards them again, the held bytes first.
- `stall_on(marker)` stalls them as above once the app sends bytes holding `marker` (a
  statement of its own), before those bytes reach the service.
- `refuse()` closes each new connection as soon as it is accepted (a service that is down),
  after cutting the open ones; `resume()` forwards again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Self


class FaultyProxy:
    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._serving: set[asyncio.Task[None]] = set()
        self._flowing: asyncio.Event | None = None
        self._refusing = False
        self._marker: bytes | None = None
        self.port = 0
        self.accepted = 0

    # -- life -------------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        return self

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    def url(self, template: str) -> str:
        """`template` (a URL on the service) with this proxy's address instead."""
        host, port = self._upstream
        return template.replace(f"{host}:{port}", f"127.0.0.1:{self.port}")

    # -- faults -----------------------------------------------------------------------------

    def cut(self) -> None:
        self._call(self._cut)

    def stall(self) -> None:
        self._call(self._stall)

    def stall_on(self, marker: bytes) -> None:
        self._marker = marker

    def refuse(self) -> None:
        self._call(self._refuse)

    def resume(self) -> None:
        self._call(self._resume)

    @contextmanager
    def stalled(self) -> Iterator[None]:
        self.stall()
        try:
            yield
        finally:
            self.resume()

    @property
    def open_connections(self) -> int:
        return len(self._writers) // 2

    # -- on the proxy's loop ----------------------------------------------------------------

    def _call(self, action: object) -> None:
        async def run() -> None:
            action()  # type: ignore[operator]

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(5)

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        self._cut()
        for task in self._serving:
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)
        await self._server.wait_closed()

    def _cut(self) -> None:
        for writer in list(self._writers):
            transport = writer.transport
            with suppress(Exception):
                transport.abort()
        self._writers.clear()

    def _stall(self) -> None:
        assert self._flowing is not None
        self._flowing.clear()

    def _refuse(self) -> None:
        self._refusing = True
        self._cut()

    def _resume(self) -> None:
        assert self._flowing is not None
        self._refusing = False
        self._marker = None
        self._flowing.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)
        self.accepted += 1
        if self._refusing:
            writer.transport.abort()
            return
        assert self._flowing is not None
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, up_writer}
        self._writers |= pair
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, upstream=True), self._pipe(up_reader, writer)
            )
        finally:
            for each in pair:
                self._writers.discard(each)
                each.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool = False
    ) -> None:
        assert self._flowing is not None
        try:
            while chunk := await reader.read(65536):
                if upstream and self._marker is not None and self._marker in chunk:
                    self._stall()
                await self._flowing.wait()
                if writer.transport.is_closing():
                    return
                writer.write(chunk)
                await writer.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            writer.transport.abort()
