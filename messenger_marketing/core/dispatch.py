"""The dispatcher's run loop, with nothing of Odoo: claim batches, send them in an event
loop of the run's own, write their results, until the time budget is spent.

The database side is a *store* (``messenger.dispatcher`` gives one, see ``_Store``
there) that claims jobs, writes outcomes and knows the queue::

    store.claim(run) -> [Job]           claim a batch per due channel (own transaction)
    store.apply(jobs, outcomes) -> int  write a batch's results; the sends it started
    store.release_window(run, channel_id)
    store.begin() / store.commit()      a transaction of its own for each step
    store.seconds_to_next_due() -> float | None
    store.schedule(seconds)             wake the dispatcher again later

While a batch is out, the loop claims the channel's next batch shortly before its window
ends (so windows follow each other without a gap) and writes the results of the batches
that are done. Everything a run knows of a channel's sending (its pace, the requests in
flight, its reserved windows) belongs to the run: no state is shared between runs or
threads but the database's.
"""

import asyncio
import concurrent.futures
import gc
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from .pacing import ChannelPace, send_paced

# A channel's next batch is claimed this long before its current window ends.
CLAIM_AHEAD = 0.5
# Seconds a run waits for its batches' answers once it stops (a request times out sooner).
FINISH_TIMEOUT = 120
# Shortest nap while waiting for the next due message.
MIN_SLEEP = 0.02


@dataclass
class Job:
    channel: object
    provider: object
    outgoing: list
    claimed_at: datetime  # the claim's timestamp: results are written only to its rows
    start_at: float  # monotonic time of the first slot
    interval: float
    per_chat_interval: float
    limit: int
    concurrency: int
    failure_pause: float
    pace: ChannelPace
    stride: float = 1.0  # ``interval`` in intervals of the channel's rate: the slowdown it was paced at


@dataclass
class Window:
    """The run's part of a block of slots on a channel's grid (``messenger.dispatcher``)."""

    block_start: datetime  # the block's first slot, database time: the block's identity
    end: datetime  # the block's end, database time
    end_at: float  # the block's end, monotonic time
    created: bool  # this run reserved the block (rather than joined another process's)


class Run:
    """One dispatcher run: the event loop where batches are sent, in a thread of its own,
    the providers opened once for the run, what the run knows of each channel's pace and
    windows, and the batches whose results are not written yet."""

    def __init__(self, clock=time.monotonic):
        # What the process holds when the run starts (Odoo's registry: millions of objects)
        # is left out of garbage collections until it ends: a full collection over it
        # stops every thread for 0.3 s, which makes that many slots late and lost.
        gc.freeze()
        self.clock = clock
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="messenger-dispatch", daemon=True)
        self.thread.start()
        self.providers = {}  # channel id -> open provider, for the whole run
        self.paces = {}  # channel id -> ChannelPace
        self.in_flight = {}  # channel id -> semaphore on requests waiting for an answer
        self.busy_until = {}  # channel id -> monotonic end of its last reserved window
        self.windows = {}  # channel id -> the Window of its last reserved or joined block
        self.cut_short = set()  # channel ids whose windows a pause left partly unused
        self.batches = []  # [jobs, future of their outcomes], results not written yet

    def pace(self, channel_id):
        return self.paces.setdefault(channel_id, ChannelPace())

    def submit(self, jobs):
        self.batches.append([jobs, asyncio.run_coroutine_threadsafe(self._send(jobs), self.loop)])

    def provider(self, channel_id, make):
        """The channel's provider for this run, made by ``make()`` and opened once (before
        a window is reserved for it: opening a client can take longer than a window's lead)."""
        if channel_id not in self.providers:
            provider = make()
            asyncio.run_coroutine_threadsafe(provider.open(), self.loop).result(FINISH_TIMEOUT)
            self.providers[channel_id] = provider
        return self.providers[channel_id]

    async def _send(self, jobs):
        async def send(job):
            in_flight = self.in_flight.setdefault(job.channel.id, asyncio.Semaphore(job.concurrency))
            return await send_paced(
                job.provider,
                job.outgoing,
                pace=job.pace,
                start_delay=job.start_at - self.clock(),
                interval=job.interval,
                stride=job.stride,
                per_chat_interval=job.per_chat_interval,
                limit=job.limit,
                in_flight=in_flight,
                failure_pause=job.failure_pause,
            )

        return await asyncio.gather(*(send(job) for job in jobs))

    def done(self):
        return [batch for batch in self.batches if batch[1].done()]

    def sending(self, channel_id, but=None):
        """Whether a batch other than ``but`` has messages of the channel out."""
        return any(job.channel.id == channel_id for batch in self.batches if batch is not but for job in batch[0])

    def wait(self, timeout):
        """Until a batch is done, or ``timeout`` seconds (None: no limit)."""
        futures = [future for _jobs, future in self.batches]
        concurrent.futures.wait(futures, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED)

    def wait_all(self):
        concurrent.futures.wait([future for _jobs, future in self.batches], timeout=FINISH_TIMEOUT)

    def close(self):
        self.wait_all()
        try:
            asyncio.run_coroutine_threadsafe(self._close_providers(), self.loop).result(FINISH_TIMEOUT)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(FINISH_TIMEOUT)
            if not self.thread.is_alive():
                self.loop.close()
            gc.unfreeze()  # what died meanwhile is collected again

    async def _close_providers(self):
        await asyncio.gather(*(p.close() for p in self.providers.values()), return_exceptions=True)


def run_loop(store, run, deadline, sleep=time.sleep):
    """Send what is due until ``deadline`` (on the run's clock), at least one claim;
    return the number of sends started. Waits for messages that fall due before the
    deadline, and asks the store to schedule the ones after it."""
    clock = run.clock
    handled = 0
    first = True
    while True:
        if first or clock() < deadline:
            store.commit()
            store.begin()
            jobs = store.claim(run)
            store.commit()
            if jobs:
                run.submit(jobs)
            first = False
        handled += write_done(store, run)
        if run.batches:
            run.wait(seconds_to_next_claim(run, deadline))
            continue
        wait = store.seconds_to_next_due()
        if wait is None:
            break
        if clock() + wait < deadline:
            sleep(max(wait, MIN_SLEEP))
            continue
        store.schedule(wait)
        break
    store.commit()
    return handled


def write_done(store, run):
    """Write the results of the batches that are done, each in a transaction of its own;
    return how many sends they started. A channel whose windows a pause cut short gives
    back its unused slots once none of its batches is out any more."""
    handled = 0
    for batch in run.done():
        jobs, future = batch
        store.begin()
        outcomes = future.result()
        handled += store.apply(jobs, outcomes)
        for job, outcome in zip(jobs, outcomes, strict=True):
            if outcome.unused_from is not None:
                run.cut_short.add(job.channel.id)
        for channel_id in [c for c in run.cut_short if not run.sending(c, but=batch)]:
            run.cut_short.discard(channel_id)
            run.busy_until.pop(channel_id, None)
            store.release_window(run, channel_id)
        store.commit()
        run.batches.remove(batch)
    return handled


def seconds_to_next_claim(run, deadline):
    """While batches are out: how long until a channel's next batch is to be claimed
    (None: until a batch is done). Not at once after a claim, even for windows shorter
    than CLAIM_AHEAD: claims then piled up ahead of late batches, and a single process lost
    a tenth of a channel's rate at its limit (bench/README.md, "At the limit")."""
    now = run.clock()
    if now >= deadline:
        return None
    upcoming = [end - CLAIM_AHEAD for end in run.busy_until.values() if end - CLAIM_AHEAD > now]
    return min(upcoming) - now if upcoming else None
