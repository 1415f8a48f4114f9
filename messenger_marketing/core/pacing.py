"""Sending one channel's batches concurrently while staying inside its rate limits.

The dispatcher reserves a time window for each batch (shared by every process through the
channel row, see ``messenger.dispatcher``), then this module starts one send per slot of
that window without waiting for earlier answers, so a slow provider does not lower the
rate. A chat that got a message less than ``per_chat_interval`` ago is not sent to; its
message is handed back to be queued again. A "retry after" answer pauses the channel for
that long; so do several temporary errors in a row (the provider is down), for a pause
that doubles while they go on: what is left is handed back without spending an attempt,
so an outage is probed, not hammered.
"""

import asyncio
import collections
import math
from dataclasses import dataclass, field

from .providers import BLOCKED, PERMANENT, TRANSIENT

# Our clock starts a send a little before the provider's clock sees it, and not always by
# the same amount: keep each chat's pause a bit longer than the provider's rule.
PER_CHAT_MARGIN = 1.05
# The same for the channel: besides the even spacing, never more than the limit's count
# of sends in any window of this many seconds of our clock. It stays under 1 / 0.97 (the
# dispatcher paces at 97 % of the limit, see ``messenger.channel._effective_rate``), so
# that evenly spaced sends never wait for it: it only holds back sends that bunch up.
WINDOW = 1.02
# A send this much later than its slot is handed back rather than sent. Late sends bunch
# with the next ones (which catch up on them), and a batch paced at 97 % of the limit has
# 30 ms per second for that and for the network's jitter (see
# ``messenger.channel._effective_rate``), whatever the rate. A timer wakes up a
# millisecond or two late, so this is not shorter at fast rates either.
LATE_TOLERANCE = 0.015
# Longest nap while waiting for a slot: a pause that starts meanwhile is seen this soon.
NAP = 0.05
# Temporary errors in a row (no success between them) after which the channel pauses,
# and the longest pause they cause.
FAILURES_BEFORE_PAUSE = 3
MAX_FAILURE_PAUSE = 300.0
# A batch with slots closer than FAST_SLOTS seconds that hands back more than LATE_SHARE
# of its messages for being late had slots faster than this process can start sends (a
# channel limit above what one CPU does): the next windows are reserved at the pace it
# managed, and each batch on time relaxes that. At slower paces a send costs a small
# part of a slot, so lateness there is a passing stall, not a lack of capacity.
FAST_SLOTS = 0.01
LATE_SHARE = 0.1
RELAX = 0.8


@dataclass
class ChannelPace:
    """What one process knows about a channel's sending, kept across its batches (which
    may overlap: the next one starts while the answers to the last are on their way)."""

    chat_ready: dict = field(default_factory=dict)  # chat id -> loop time it may receive again
    sent_to: dict = field(default_factory=dict)  # chat id -> key of the last message this pace sent it
    recent: collections.deque = field(default_factory=collections.deque)  # loop times of the last sends
    paused_until: float = 0.0  # loop time before which nothing is sent
    failures: int = 0  # temporary errors in a row
    refused: int = 0  # refusals (permanent errors, blocks) whose results are not written yet
    # How much slower than the rate limit this process can really start sends (1: it keeps
    # up). A batch whose slots came faster than the process could use them hands most of
    # them back; the next windows are reserved at the pace it managed instead.
    slowdown: float = 1.0


@dataclass
class BatchOutcome:
    results: list = field(default_factory=list)  # SendResult of every started send
    deferred: list = field(default_factory=list)  # (OutgoingMessage, seconds to wait)
    late: int = 0  # messages handed back because their slot had passed
    unused_from: int = None  # index from which a pause left the window's slots unused


def _note_result(pace, result, now, failure_pause):
    """Pause the channel on a "retry after", or when the provider keeps failing."""
    if result.outcome in (PERMANENT, BLOCKED):
        pace.refused += 1
    if result.outcome != TRANSIENT:
        pace.failures = 0
        return
    if result.retry_after:
        pace.paused_until = max(pace.paused_until, now + result.retry_after)
        return
    pace.failures += 1
    if pace.failures >= FAILURES_BEFORE_PAUSE:
        pause = min(failure_pause * 2 ** (pace.failures - FAILURES_BEFORE_PAUSE), MAX_FAILURE_PAUSE)
        pace.paused_until = max(pace.paused_until, now + pause)


async def send_paced(
    provider, messages, *, pace, start_delay, interval, stride, per_chat_interval, limit, in_flight, failure_pause
):
    """Send ``messages`` at ``start_delay + i * interval`` seconds from now; a message
    whose slot has passed is handed back rather than sent late.

    ``pace`` is the channel's ChannelPace of this process; ``stride`` is ``interval`` in
    slots of the channel's rate (the slowdown the batch was paced at); ``limit`` caps the
    sends in any ``WINDOW``; ``in_flight`` (a semaphore) caps the requests waiting for an answer,
    as many as the provider's client has connections; ``failure_pause`` is the first
    pause after temporary errors in a row.
    """
    loop = asyncio.get_running_loop()
    outcome = BatchOutcome()
    tasks = []

    def on_done(task):
        in_flight.release()
        _note_result(pace, task.result(), loop.time(), failure_pause)

    first_slot = loop.time() + start_delay
    for index, message in enumerate(messages):
        slot = first_slot + index * interval
        while loop.time() < slot and pace.paused_until <= loop.time():
            await asyncio.sleep(min(slot - loop.time(), NAP))
        await in_flight.acquire()
        now = loop.time()
        if pace.paused_until > now:
            in_flight.release()
            outcome.deferred.extend((m, pace.paused_until - now) for m in messages[index:])
            outcome.unused_from = index
            break
        if interval and now > slot + LATE_TOLERANCE:
            # Late for our slot (a slow start, a busy CPU): the slots after our window
            # belong to other batches, so catching up would burst over the limit.
            in_flight.release()
            outcome.deferred.append((message, 0.0))
            outcome.late += 1
            continue
        ready = pace.chat_ready.get(message.chat_id, 0.0)
        if ready > now:
            in_flight.release()
            outcome.deferred.append((message, ready - now))
            continue
        recent = pace.recent
        while recent and recent[0] <= now - WINDOW:
            recent.popleft()
        if len(recent) >= limit:
            # jitter bunched our sends: wait for the oldest to leave the window
            await asyncio.sleep(recent[0] + WINDOW - now)
            now = loop.time()
            recent.popleft()
        recent.append(now)
        pace.chat_ready[message.chat_id] = now + per_chat_interval * PER_CHAT_MARGIN
        pace.sent_to[message.chat_id] = message.key
        task = asyncio.create_task(provider.send(message))
        task.add_done_callback(on_done)
        tasks.append(task)
    outcome.results = list(await asyncio.gather(*tasks))
    # forget chats whose pause is over, so the map stays as small as the live traffic
    now = loop.time()
    for chat_id in [c for c, t in pace.chat_ready.items() if t <= now]:
        del pace.chat_ready[chat_id]
    _adapt(pace, outcome, interval, stride)
    return outcome


def _adapt(pace, outcome, interval, stride):
    started = len(outcome.results)
    if interval < FAST_SLOTS and outcome.late > LATE_SHARE * (started + outcome.late):
        # half-way from the batch's pace to the pace it managed (geometric mean): the CPU
        # it gets varies. From the batch's pace, not the current one: batches claimed
        # ahead at one pace and late for the same stall do not multiply it.
        pace.slowdown = max(pace.slowdown, stride * math.sqrt((started + outcome.late) / max(started, 1)))
    elif not outcome.late:
        pace.slowdown = max(1.0, pace.slowdown * RELAX)
