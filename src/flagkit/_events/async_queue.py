"""Delivery of exposure events from an event loop: the bounded queue of
:class:`flagkit._events.exposures.DeliveryQueue`, drained by one asyncio task.

The queueing, batching, retry and drop policy is the one the thread sender uses; only the
waiting (``asyncio.Event`` instead of a condition variable) and the I/O (an
``httpx.AsyncClient``) differ. Recording an event is a plain method call: no await, no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from flagkit._events.async_wait import wait_until
from flagkit._events.encoding import PendingExposure
from flagkit._events.exposures import (
    BATCH_PATH,
    CLOSED_BEFORE_DELIVERY,
    Backoff,
    Send,
    Wait,
)
from flagkit._events.queue import (
    CLOSED_POST,
    JSON_HEADERS,
    DeliveryQueue,
    PosterBase,
    PostResult,
    Queued,
    Wiring,
    delivery_queue,
    remote_fallback,
    reporter_for,
)
from flagkit._events.reporter import ExposureReporter
from flagkit._net.drive import drive_async
from flagkit._remote.async_fallback import AsyncRemoteFallback

if TYPE_CHECKING:  # typing.Unpack is Python 3.11+; only the type checker needs it
    from typing_extensions import Unpack

_STOP_GRACE = 0.2  # how long close() lets the task end by itself once past its deadline


class AsyncBatchPoster(PosterBase[httpx.AsyncClient]):
    """Sends one batch of encoded events to ``/batch/``. Never raises (but can be
    cancelled)."""

    async def post(self, encoded_events: list[bytes]) -> PostResult:
        """POST the events; a 200 is success, 408/429/5xx and network errors are retryable."""
        http = self._http()
        if http is None:
            return CLOSED_POST
        data = self._body(encoded_events)
        try:
            response = await http.post(
                BATCH_PATH, content=data, headers=JSON_HEADERS, timeout=self._timeout
            )
        except Exception as exc:  # network trouble, a closed pool: try again later
            return self._failed(exc)
        return self._answer(response)


class AsyncEventSender:
    """A bounded event queue and the asyncio task that delivers it.

    :meth:`put` is synchronous and must be called on the event loop's thread (the
    client's getters do); the task is started with the first event. ``post`` sends one
    batch of encoded events; ``core`` is the queue and its policy (shared with the thread
    sender).
    """

    def __init__(
        self, post: Callable[[list[bytes]], Awaitable[PostResult]], core: DeliveryQueue
    ) -> None:
        self._post = post
        self._core = core
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()  # something to send, or a reason to look again
        self._settled = asyncio.Event()  # a batch was delivered or dropped
        self._stop = asyncio.Event()  # past close()'s deadline: abandon retries
        self._posting = False  # a request is in flight
        core.counters.pending = self.pending

    def pending(self) -> int:
        """Events queued or being sent."""
        return self._core.pending()

    def put(self, event: Mapping[str, Any]) -> bool:
        """Queue ``event`` without blocking; False (and nothing queued) once closing, or when
        it cannot be encoded (counted as dropped)."""
        if self._core.closing:
            return False
        data = self._core.encode_one(event)
        return data is not None and self.put_exposure(data)

    def put_exposure(self, exposure: PendingExposure | bytes) -> bool:
        """Queue a new exposure (or an encoded event) without blocking; False (and nothing
        queued) once closing. The task encodes exposures later, in bulk."""
        core = self._core
        if core.closing:
            return False
        wake = core.add(exposure)
        if self._task is None or self._task.done():
            self._start()
        elif wake:
            self._wakeup.set()  # the task starts its interval, or sends now
        return True

    async def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True once the queue is empty and nothing is in
        flight, False if ``timeout`` passed first."""
        core = self._core
        if core.idle():
            return True
        if self._task is None or self._task.done():
            self._start()
        core.flushing += 1
        self._wakeup.set()
        try:
            return await wait_until(core.idle, self._settled, timeout)
        finally:
            core.flushing -= 1

    async def close(self, timeout: float = 5.0) -> bool:
        """Stop taking events, deliver the queue within ``timeout`` seconds, stop the task.

        Returns True if everything queued was delivered (or dropped as undeliverable).
        Idempotent.
        """
        core = self._core
        if not core.closing:
            core.begin_close(timeout)
        if core.queue and (self._task is None or self._task.done()):
            self._start()
        self._wakeup.set()
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=max(timeout, 0.0))
            self._stop.set()  # cuts a backoff wait short
            self._wakeup.set()
            if not self._posting:  # a request in flight is cancelled at once
                await asyncio.wait({task}, timeout=_STOP_GRACE)
            if not task.done():  # a request still in flight past the deadline
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        left = core.discard_all(CLOSED_BEFORE_DELIVERY)
        self._settled.set()
        return left == 0

    def drop_pending(self) -> None:
        """Stop taking events and drop (and count) the queue: its loop is gone."""
        self._core.closing = True
        self._core.discard_all(CLOSED_BEFORE_DELIVERY)

    def abandon(self) -> None:
        """Cancel the task without delivering anything (the client was dropped)."""
        self._core.closing = True
        if self._task is not None:
            self._task.cancel()

    # -- the task ---------------------------------------------------------------------------

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name="flagkit-events")

    async def _run(self) -> None:
        while (batch := await self._next_batch()) is not None:
            try:
                # Cancelled (close() past its deadline, the loop ending): the machine is
                # closed and counts the batch as dropped.
                await drive_async(self._core.delivery(batch), self._perform)
            except Exception:  # the task must survive any bug in a delivery
                self._core.crashed()
            finally:
                self._core.settle()
                self._settled.set()

    async def _next_batch(self) -> list[Queued] | None:
        while isinstance(step := self._core.next_step(self._stop.is_set()), Wait):
            # No await since next_step and this clear: no wake-up can be lost.
            self._wakeup.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), step.seconds)
        return step

    async def _perform(self, command: Send | Backoff) -> PostResult | bool:
        if isinstance(command, Backoff):
            return await wait_until(self._stop.is_set, self._stop, command.delay)
        self._posting = True
        try:
            return await self._post(command.encoded)
        finally:
            self._posting = False


@attrs.frozen(slots=True)
class AsyncOutbound:
    """What an :class:`flagkit.AsyncClient` sends besides definitions requests."""

    remote: AsyncRemoteFallback
    sender: AsyncEventSender | None
    reporter: ExposureReporter[AsyncEventSender] | None


def build_async_outbound(
    http: Callable[[], httpx.AsyncClient | None], token: str, **wiring: Unpack[Wiring]
) -> AsyncOutbound:
    """Wire the remote fallback and (if ``send_events``) the event pipeline, as
    :func:`flagkit._events.queue.build_outbound` does for the thread client."""
    remote = remote_fallback(AsyncRemoteFallback, http, token, wiring)
    if not wiring["send_events"]:
        return AsyncOutbound(remote, None, None)
    poster = AsyncBatchPoster(
        http, token, timeout=wiring["events_timeout"], secrets=tuple(wiring["secrets"])
    )
    sender = AsyncEventSender(poster.post, delivery_queue(wiring))
    return AsyncOutbound(remote, sender, reporter_for(sender, wiring))
