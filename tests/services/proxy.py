"""A loopback TCP proxy to a server that a test can cut (reset) or turn into a black hole — outages of
the shared servers without touching them."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    """127.0.0.1:port → a server (Postgres by default), which a test can cut (reset) or turn into a black hole."""

    def __init__(self, upstream_port: int = 5432) -> None:
        self.upstream_port = upstream_port
        self.mode = "forward"
        self.connections: list[asyncio.StreamWriter] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            writer.close()
            return
        if self.mode == "blackhole":
            self.connections.append(writer)
            return
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self.connections += [writer, upstream_writer]

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    if self.mode != "forward":
                        return
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))

    def restore(self) -> None:
        """Forward new connections again."""
        self.mode = "forward"

    def cut(self, mode: str = "cut") -> None:
        self.mode = mode
        for connection in self.connections:
            connection.close()
        self.connections.clear()

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
