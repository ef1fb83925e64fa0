"""Writing server-sent events, with the `drop_after_chunks` fault built in.

With no latency the events are coalesced into fewer, larger writes and the task
yields to the loop between batches, so concurrent streams still interleave while a
single stream costs few system calls. With latency each event goes out at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import orjson

from smg.http.server import Headers, Request
from smg.sim.sampler import VOCAB, Completion

if TYPE_CHECKING:
    from smg.sim.context import SimContext

SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
]
DONE = b"data: [DONE]\n\n"
_BATCH_EVENTS = 16
# JSON strings of the vocabulary, encoded once: most stream chunks carry one.
_PIECE_JSON = {piece: orjson.dumps(piece) for piece in VOCAB}


class StreamDroppedError(Exception):
    """The connection was closed on purpose by the `drop_after_chunks` fault."""


def json_string(piece: str) -> bytes:
    encoded = _PIECE_JSON.get(piece)
    return encoded if encoded is not None else orjson.dumps(piece)


def data_event(payload: object) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def named_event(name: str, payload: object) -> bytes:
    """An event with an `event:` line, as the Responses and Messages APIs send."""
    return b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(payload))


class EventStream:
    """One SSE answer: counts events, coalesces them when fast, cuts on cue."""

    def __init__(
        self, request: Request, *, coalesce: bool, drop_after: int | None
    ) -> None:
        self._request = request
        self._coalesce = coalesce
        self._drop_after = drop_after
        self._sent = 0
        self._buffer: list[bytes] = []

    def start(self) -> None:
        """Send the response head; raises StreamDroppedError when dropping at 0."""
        self._request.start_stream(200, SSE_HEADERS)
        if self._drop_after == 0:
            self._drop()

    async def send(self, event: bytes) -> None:
        self._sent += 1
        if not self._coalesce:
            await self._request.write(event)
        else:
            self._buffer.append(event)
            if len(self._buffer) >= _BATCH_EVENTS:
                await self._flush()
                await asyncio.sleep(0)
        if self._drop_after is not None and self._sent >= self._drop_after:
            await self._flush()
            self._drop()

    async def send_all(self, events: Sequence[bytes]) -> None:
        """Send many events; with coalescing they go out in batches."""
        if not self._coalesce or self._drop_after is not None:
            for event in events:
                await self.send(event)
            return
        buffer = self._buffer
        for start in range(0, len(events), _BATCH_EVENTS):
            buffer.extend(events[start : start + _BATCH_EVENTS])
            if len(buffer) >= _BATCH_EVENTS:
                await self._flush()
                await asyncio.sleep(0)
        self._sent += len(events)

    async def finish(self, last: bytes = DONE) -> None:
        """Send the closing event (`[DONE]` unless told) and end the body."""
        if last:
            await self.send(last)
        await self._flush()
        self._request.end_stream()

    async def _flush(self) -> None:
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            await self._request.write(data)

    def _drop(self) -> None:
        # Closing without the terminating chunk: the client sees a cut body.
        self._request._conn.close()
        raise StreamDroppedError


def open_stream(ctx: SimContext, request: Request) -> EventStream:
    """Start an SSE answer that honours the live `drop_after_chunks` fault."""
    stream = EventStream(
        request,
        coalesce=ctx.engine.is_fast,
        drop_after=ctx.faults.current.drop_after_chunks,
    )
    stream.start()
    return stream


TokenEvent = Callable[[int, str], bytes]
FinishEvent = Callable[[int, Completion], bytes]


async def relay_tokens(
    stream: EventStream,
    choices: Sequence[Completion],
    step: Callable[[], Awaitable[None]] | None,
    token_event: TokenEvent,
    finish_event: FinishEvent,
) -> None:
    """Send one event per token, choices interleaved step by step.

    `step` paces each decode step; None means no pacing, and the events are then
    built in one go and sent in batches. Each choice's finish event follows its
    last token; a choice with no tokens finishes before the first step.
    """
    if step is None:
        await stream.send_all(_all_events(choices, token_event, finish_event))
        return
    for position, events in enumerate(_steps(choices, token_event, finish_event)):
        if position:
            await step()
        for event in events:
            await stream.send(event)


def _all_events(
    choices: Sequence[Completion], token_event: TokenEvent, finish_event: FinishEvent
) -> list[bytes]:
    if len(choices) == 1:
        # The common case, without the per-step bookkeeping.
        choice = choices[0]
        events = [token_event(0, piece) for piece in choice.pieces]
        events.append(finish_event(0, choice))
        return events
    steps = _steps(choices, token_event, finish_event)
    return [event for events in steps for event in events]


def _steps(
    choices: Sequence[Completion], token_event: TokenEvent, finish_event: FinishEvent
) -> Iterator[list[bytes]]:
    """The events of each decode step; the first list precedes any step."""
    yield [finish_event(i, c) for i, c in enumerate(choices) if not c.pieces]
    longest = max((len(choice.pieces) for choice in choices), default=0)
    for position in range(longest):
        events = []
        for index, choice in enumerate(choices):
            pieces = choice.pieces
            if position < len(pieces):
                events.append(token_event(index, pieces[position]))
                if position == len(pieces) - 1:
                    events.append(finish_event(index, choice))
        yield events
