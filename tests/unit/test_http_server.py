"""The HTTP server core over a real loopback socket, with a trivial echo handler."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from smg.http.server import HttpServer, Request, ServerLimits
from smg.server.errors import render_status


async def echo(request: Request) -> None:
    if request.path == "/stream":
        request.start_stream(200, [(b"content-type", b"text/plain")])
        for piece in (b"one ", b"two"):
            await request.write(piece)
        request.end_stream()
        return
    request.respond(200, [(b"x-path", request.path.encode())], request.body)


def run(scenario: Callable[[int], Awaitable[bytes]], max_body: int = 1 << 20) -> bytes:
    async def main() -> bytes:
        server = HttpServer(echo, render_status, ServerLimits(max_body_bytes=max_body))
        await server.start("127.0.0.1", 0)
        try:
            return await scenario(server.port)
        finally:
            await server.close()

    return asyncio.run(main())


def exchange(raw: bytes, until: bytes) -> Callable[[int], Awaitable[bytes]]:
    async def scenario(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        data = b""
        while until not in data:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            if not chunk:
                break
            data += chunk
        writer.close()
        return data

    return scenario


def test_pipelined_requests_are_answered_in_order() -> None:
    raw = b"".join(
        b"POST /%d HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\n%d" % (i, i)
        for i in range(3)
    )
    data = run(exchange(raw, b"x-path: /2"))
    assert data.index(b"x-path: /0") < data.index(b"x-path: /1") < data.index(b"/2")


def test_chunked_request_body_is_reassembled() -> None:
    raw = (
        b"POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    assert run(exchange(raw, b"abcde")).endswith(b"abcde")


def test_oversized_chunked_body_is_413() -> None:
    raw = (
        b"POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
        b"a\r\n0123456789\r\n0\r\n\r\n"
    )
    assert run(exchange(raw, b"request_body_too_large"), max_body=5).startswith(
        b"HTTP/1.1 413"
    )


def test_expect_continue_is_answered_before_the_body() -> None:
    async def scenario(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /e HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
            b"content-length: 2\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(b"ok")
        rest = await asyncio.wait_for(reader.readuntil(b"ok"), 5)
        writer.close()
        return interim + rest

    assert run(scenario).startswith(b"HTTP/1.1 100 Continue")


def test_stream_is_chunked_for_http11_and_raw_for_http10() -> None:
    chunked = run(exchange(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n", b"0\r\n\r\n"))
    assert b"4\r\none \r\n3\r\ntwo\r\n0\r\n\r\n" in chunked
    raw = run(exchange(b"GET /stream HTTP/1.0\r\n\r\n", b"two"))
    assert raw.endswith(b"one two") and b"connection: close" in raw


def test_body_in_many_chunks_is_reassembled_in_order() -> None:
    payload = b"".join(b"%05d" % i for i in range(20000))
    head = b"POST /big HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(payload)

    async def scenario(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head)
        for start in range(0, len(payload), 7000):
            writer.write(payload[start : start + 7000])
            await writer.drain()
        data = b""
        while not data.endswith(payload[-10:]):
            data += await asyncio.wait_for(reader.read(1 << 20), 5)
        writer.close()
        return data

    assert run(scenario).endswith(payload)


def test_stalled_request_head_is_closed_with_408() -> None:
    async def main() -> bytes:
        limits = ServerLimits(header_read_timeout_s=0.2, timeout_check_interval_s=0.05)
        server = HttpServer(echo, render_status, limits)
        await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"POST /slow HTTP/1.1\r\nhost: x\r\n")
            data = await asyncio.wait_for(reader.read(4096), 5)
            writer.close()
            return data
        finally:
            await server.close()

    assert asyncio.run(main()).startswith(b"HTTP/1.1 408")
