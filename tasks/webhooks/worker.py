"""The inbox worker of the webhook receiver: on its own thread, with its own event loop.

Handling an event means database work (the inbox, the ledger, the calls) and Zoho requests; the
processor does its database work with plain blocking calls. On the receiver's own event loop,
another process holding SQLite's write lock (a sync run, a report) stalled every answer — 13.9 s
for ``/healthz``. So the worker, the processor and everything they open (state store, Zoho
client, phone index) live on :class:`WorkerThread`'s loop; the HTTP loop only stores events
(in threads, with a deadline) and wakes the worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable

from tasks.pipeline.crm_watch import CrmWatch, Notification
from tasks.pipeline.webhooks import LiveCrm, WebhookProcessor
from tasks.webhooks.events import WebhookEvent
from tasks.webhooks.inbox import Inbox

log = logging.getLogger(__name__)

Parts = tuple[Inbox, WebhookProcessor | None]
"""What the receiver works with: the inbox, and the processor (None: store only, do not handle)."""
PartsFactory = Callable[[], contextlib.AbstractAsyncContextManager[Parts]]


def _caller_key(event: WebhookEvent, digits: int) -> str:
    """The event's client number as the worker partitions by it (its last digits)."""
    number = event.row.get(event.kind.client_field, "")
    return "".join(ch for ch in number if ch.isdigit())[-digits:]


class Worker:
    """Handles the inbox in the background: at start, on every new event, and every ``idle_s``
    seconds (anything left over).

    Up to ``batches`` batches run at once, so a pickup does not wait behind a batch that is
    waiting for Zoho. Events of one caller (the last digits of the client number) are never in
    two batches at once: two calls from one new number must see each other's lead, as in the log
    sync, where they are planned together.
    """

    def __init__(
        self,
        processor: WebhookProcessor,
        *,
        idle_s: float = 60.0,
        batches: int = 4,
        batch_size: int = 200,
        match_digits: int = 9,
    ) -> None:
        self.processor = processor
        self._idle_s = max(idle_s, 1.0)
        self._batches = batches
        self._batch_size = batch_size
        self._digits = match_digits
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._events: set[str] = set()
        self._callers: set[str] = set()

    def wake(self) -> None:
        self._wake.set()

    @property
    def stopped(self) -> bool:
        """Whether nothing of the worker runs any more (its loop and its batches)."""
        return all(t.done() for t in (self._task, *self._running) if t is not None)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="callsync-webhook-worker")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _claim(self) -> list[WebhookEvent] | None:
        """The next batch: waiting events not in flight, no caller in two batches."""
        waiting = self.processor.inbox.waiting(limit=self._batch_size + len(self._events))
        batch: list[WebhookEvent] = []
        blocked = False
        callers: set[str] = set()
        for event in waiting:
            if event.key in self._events:
                continue
            caller = _caller_key(event, self._digits)
            if caller in self._callers:
                blocked = True
                continue
            batch.append(event)
            callers.add(caller)
            if len(batch) == self._batch_size:
                break
        if not batch:
            return None if not blocked else []
        self._events |= {e.key for e in batch}
        self._callers |= callers
        return batch

    async def _handle(self, batch: list[WebhookEvent]) -> None:
        try:
            await self.processor.handle(batch)
        except Exception:
            log.warning("webhook worker: handling %d events failed", len(batch), exc_info=True)
        finally:
            self._events -= {e.key for e in batch}
            self._callers -= {_caller_key(e, self._digits) for e in batch}
            self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            while len(self._running) < self._batches:
                try:
                    batch = self._claim()
                except Exception:
                    log.warning("webhook worker: reading the inbox failed", exc_info=True)
                    batch = None
                if not batch:
                    break
                task = asyncio.create_task(self._handle(batch))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that
            # arrives as the event is set (a batch ending as the worker stops), and the loop
            # would go on forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._idle_s):
                    await self._wake.wait()


async def _apply(watch: CrmWatch, note: Notification) -> None:
    try:
        await watch.apply(note)
    except Exception:
        log.warning(
            "Zoho notification of %s %s not applied (the next index refresh brings it)",
            note.module,
            note.operation,
            exc_info=True,
        )


class WorkerThread:
    """Opens the receiver's parts and runs its :class:`Worker` on a thread of its own.

    :meth:`start` returns once the parts are open (raising what opening them raised);
    :meth:`wake` may be called from any thread; :meth:`stop` ends the worker and closes the
    parts on their own loop.
    """

    def __init__(self, parts: PartsFactory, make_worker: Callable[[WebhookProcessor], Worker]):
        self._parts = parts
        self._make_worker = make_worker
        self._opened = threading.Event()
        self._failed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=self._main, name="callsync-webhook-worker", daemon=True
        )
        self.inbox: Inbox | None = None
        self.worker: Worker | None = None
        self.watch: CrmWatch | None = None
        """The subscription to Zoho's notifications (None: the receiver takes none)."""
        self._applying: set[concurrent.futures.Future[None]] = set()

    @property
    def notify_token(self) -> str | None:
        """The token Zoho's notifications must carry; None when notifications are off."""
        watch = self.watch
        return watch.token if watch is not None and watch.enabled else None

    def notify(self, note: Notification) -> None:
        """Apply a Zoho notification to the phone index, on the worker's loop (any thread)."""
        loop, watch = self._loop, self.watch
        if loop is None or watch is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: stopping anyway
            future = asyncio.run_coroutine_threadsafe(_apply(watch, note), loop)
            self._applying.add(future)
            future.add_done_callback(self._applying.discard)

    def start(self) -> Inbox:
        """Start the thread; block until the parts are open. Returns the inbox."""
        self._thread.start()
        self._opened.wait()
        if self._failed is not None:
            self._thread.join()
            raise self._failed
        assert self.inbox is not None
        return self.inbox

    def wake(self) -> None:
        loop, worker = self._loop, self.worker
        if loop is not None and worker is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: stopping anyway
                loop.call_soon_threadsafe(worker.wake)

    def stop(self) -> None:
        """End the worker, close the parts, join the thread (blocking: call it off the loop)."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread.is_alive():
            self._thread.join()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # opening failed: start() raises it in the caller
            if not self._opened.is_set():
                self._failed = exc
                self._opened.set()
            else:
                log.error("webhook worker stopped: %s", exc)

    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        async with self._parts() as (inbox, processor):
            self.inbox = inbox
            self.worker = self._make_worker(processor) if processor is not None else None
            crm = processor.crm if processor is not None else None
            self.watch = crm.watch if isinstance(crm, LiveCrm) else None
            if self.worker is not None:
                self.worker.start()
            self._opened.set()
            try:
                await self._stopping.wait()
            finally:
                if self.worker is not None:
                    await self.worker.stop()
