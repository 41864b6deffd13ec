"""A TCP relay to a server that cuts the connection, both ways, when the client sends given
bytes: a network drop at one chosen statement (a statement's text travels as it is)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def cutting_relay(host: str, port: int, *, cut_on: bytes) -> AsyncIterator[int]:
    """A port on loopback that relays to `host:port` until the client sends `cut_on`."""

    async def relay(client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        try:
            server_in, server_out = await asyncio.open_connection(host, port)
        except OSError:
            client_out.close()
            return

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, from_client: bool
        ) -> None:
            try:
                while data := await source.read(65536):
                    if from_client and cut_on in data:
                        return
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                client_out.close()
                server_out.close()

        await asyncio.gather(
            pipe(client_in, server_out, from_client=True),
            pipe(server_in, client_out, from_client=False),
        )

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
