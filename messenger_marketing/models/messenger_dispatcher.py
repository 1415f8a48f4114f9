"""The dispatcher: sends queued messages after commit, exactly once, inside rate limits.

One run claims a batch per channel (``FOR UPDATE SKIP LOCKED``, then ``state='sending'``,
committed), reserves a sending window on the channel row so that any number of processes
share the channel's rate limit, sends the batch concurrently (``core.pacing``), writes the
results in bulk and commits. Batches are sent by an event loop in a thread of the run's
own, with one open client per channel: while a batch is out, the dispatcher's thread
claims the channel's next batch before the window ends (so windows follow each other
without a gap) and writes the results of the batches that are done.

A process killed mid-batch leaves its rows in ``sending``; the next run hands them back to
the queue when the provider deduplicates resends, and otherwise marks them "outcome
unknown" for a person to review, never resending blindly. A run whose database
connection breaks writes what it sent through a new connection before it stops.
"""

import asyncio
import concurrent.futures
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg2

from odoo import _, api, fields, models

from ..core.pacing import ChannelPace, send_paced
from ..core.providers import BLOCKED, PERMANENT, SENT, TRANSIENT, OutgoingMessage

_logger = logging.getLogger(__name__)

# Seconds between reserving a window and its first slot: time to commit the claim and
# hand the batch to the sending loop, so the batch starts on time rather than late.
WINDOW_LEAD = 0.1
# A channel's next batch is claimed this long before its current window ends.
CLAIM_AHEAD = 0.5
# A batch holds this many seconds of sending at the channel's pace, within bounds.
BATCH_SECONDS = 2.0
BATCH_MIN, BATCH_MAX = 10, 500
# Requests waiting for an answer, per channel: enough for answers that take
# IN_FLIGHT_SECONDS at the channel's rate, within bounds (an HTTP client's connection
# pool costs CPU per open connection on every request).
IN_FLIGHT_SECONDS = 0.5
IN_FLIGHT_MIN, IN_FLIGHT_MAX = 8, 32
# Seconds a run waits for its batches' answers once it stops (a request times out sooner).
FINISH_TIMEOUT = 120
# After a broken database connection: attempts to write the results, a second apart.
RECONNECT_ATTEMPTS = 10

# (database, channel id) -> ChannelPace: what this process knows of the channel's sending
_PACES = {}


def _now():
    """UTC now with microseconds (``fields.Datetime.now()`` drops them): a message due in
    0.7 s is claimed then, not at the next whole second; and a claim's time tells its rows
    from any other claim's."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class _Job:
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


class _Run:
    """One dispatcher run: the event loop where batches are sent, in a thread of its own,
    the providers opened once for the run, and the batches whose results are not written
    yet. Nothing here touches the database."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="messenger-dispatch", daemon=True)
        self.thread.start()
        self.providers = {}  # channel id -> open provider, for the whole run
        self.in_flight = {}  # channel id -> semaphore on requests waiting for an answer
        self.busy_until = {}  # channel id -> monotonic end of its last reserved window
        self.window_ends = {}  # channel id -> (database time, monotonic time) of that end
        self.cut_short = set()  # channel ids whose windows a pause left partly unused
        self.batches = []  # [jobs, future of their outcomes], results not written yet

    def submit(self, jobs):
        self.batches.append([jobs, asyncio.run_coroutine_threadsafe(self._send(jobs), self.loop)])

    def provider(self, channel, concurrency):
        """The channel's provider for this run, opened (before a window is reserved for
        it: opening a client can take longer than the lead of a window)."""
        if channel.id not in self.providers:
            provider = channel._provider(concurrency=concurrency)
            asyncio.run_coroutine_threadsafe(provider.open(), self.loop).result(FINISH_TIMEOUT)
            self.providers[channel.id] = provider
        return self.providers[channel.id]

    async def _send(self, jobs):
        async def send(job):
            in_flight = self.in_flight.setdefault(job.channel.id, asyncio.Semaphore(job.concurrency))
            return await send_paced(
                job.provider,
                job.outgoing,
                pace=job.pace,
                start_delay=job.start_at - time.monotonic(),
                interval=job.interval,
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

    def close(self):
        concurrent.futures.wait([future for _jobs, future in self.batches], timeout=FINISH_TIMEOUT)
        try:
            asyncio.run_coroutine_threadsafe(self._close_providers(), self.loop).result(FINISH_TIMEOUT)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(FINISH_TIMEOUT)
            if not self.thread.is_alive():
                self.loop.close()

    async def _close_providers(self):
        await asyncio.gather(*(p.close() for p in self.providers.values()), return_exceptions=True)


class MessengerDispatcher(models.AbstractModel):
    _name = "messenger.dispatcher"
    _description = "Messenger Dispatcher"

    def _param(self, key, default):
        return float(self.env["ir.config_parameter"].sudo().get_param(f"messenger_marketing.{key}", default))

    @api.model
    def _cron_dispatch(self):
        self._dispatch(time_budget=self._param("dispatch_time_budget", 50))

    @api.model
    def _dispatch(self, time_budget=50.0, channel_ids=None, auto_commit=None):
        """Send what is due, for up to ``time_budget`` seconds (at least one batch per
        channel); return the number of messages handed to providers. Waits for retries
        that fall due within the budget, and schedules the cron for the ones after it."""
        if auto_commit is None:
            auto_commit = not getattr(threading.current_thread(), "testing", False)
        self = self.sudo()  # noqa: PLW0642 - the dispatcher acts for every company
        deadline = time.monotonic() + time_budget
        self._recover_interrupted()
        run = _Run()
        try:
            return self._dispatch_loop(run, channel_ids, deadline, auto_commit)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            if auto_commit and run.batches:
                self._write_back(run)
            raise
        finally:
            run.close()

    def _dispatch_loop(self, run, channel_ids, deadline, auto_commit):
        commit = self.env.cr.commit if auto_commit else self.env.flush_all
        handled = 0
        first = True
        while True:
            if first or time.monotonic() < deadline:
                commit()  # each claim starts a transaction of its own
                jobs = self._claim(run, channel_ids, read_committed=auto_commit)
                commit()
                if jobs:
                    run.submit(jobs)
                first = False
            handled += self._write_done(run, auto_commit)
            if run.batches:
                run.wait(self._seconds_to_next_claim(run, deadline))
                continue
            wait = self._seconds_to_next_due(channel_ids)
            if wait is None:
                break
            if time.monotonic() + wait < deadline:
                time.sleep(max(wait, 0.02))
                continue
            cron = self.env.ref("messenger_marketing.ir_cron_messenger_dispatch")
            cron._trigger(at=fields.Datetime.now() + timedelta(seconds=wait))
            break
        commit()
        return handled

    def _write_done(self, run, auto_commit):
        """Write the results of the batches that are done, each in a transaction of its
        own; return how many sends they started."""
        handled = 0
        for batch in run.done():
            jobs, future = batch
            if auto_commit:
                self._read_committed()
            outcomes = future.result()
            handled += self._apply(jobs, outcomes)
            for job, outcome in zip(jobs, outcomes, strict=True):
                if outcome.unused_from is not None:
                    run.cut_short.add(job.channel.id)
            for channel_id in [c for c in run.cut_short if not run.sending(c, but=batch)]:
                self._release_window(run, channel_id)
            if auto_commit:
                self.env.cr.commit()
            run.batches.remove(batch)
        return handled

    def _seconds_to_next_claim(self, run, deadline):
        """While batches are out: how long until a channel's next batch is to be claimed
        (None: until a batch is done)."""
        now = time.monotonic()
        if now >= deadline:
            return None
        upcoming = [end - CLAIM_AHEAD for end in run.busy_until.values() if end - CLAIM_AHEAD > now]
        return min(upcoming) - now if upcoming else None

    def _write_back(self, run):
        """The database connection broke while batches were out: once they are done,
        write their results through a new connection, so that what was sent is not
        resent and what was not sent is not left for a person to check."""
        concurrent.futures.wait([future for _jobs, future in run.batches], timeout=FINISH_TIMEOUT)
        for attempt in range(RECONNECT_ATTEMPTS):
            try:
                with self.env.registry.cursor() as cr:
                    dispatcher = self.with_env(self.env(cr=cr))
                    for jobs, future in run.batches:
                        dispatcher._read_committed()
                        dispatcher._apply(jobs, future.result())
                        cr.commit()
                run.batches.clear()
                _logger.warning("Messenger: database connection lost during dispatch; results written again")
                return
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                if attempt + 1 == RECONNECT_ATTEMPTS:
                    _logger.exception("Messenger: could not write dispatch results after a lost database connection")
                    return
                time.sleep(1)

    # -- claiming ----------------------------------------------------------------------
    def _due_channels(self, channel_ids):
        query = """SELECT DISTINCT m.channel_id FROM messenger_message m
                   JOIN messenger_channel c ON c.id = m.channel_id AND c.active
                   WHERE m.state = 'queued' AND m.next_attempt_at <= %s"""
        params = [_now()]
        if channel_ids:
            query += " AND m.channel_id = ANY(%s)"
            params.append(list(channel_ids))
        self.env.cr.execute(query, params)
        return self.env["messenger.channel"].browse([r[0] for r in self.env.cr.fetchall()])

    def _claim_rows(self, channel, limit, claimed_at):
        self.env.cr.execute(
            """UPDATE messenger_message SET state = 'sending', attempts = attempts + 1,
                      claimed_at = %(now)s, write_date = %(now)s
               WHERE id IN (SELECT m.id FROM messenger_message m
                            WHERE m.state = 'queued' AND m.channel_id = %(channel)s
                              AND m.next_attempt_at <= %(now)s
                              -- one chat's messages go out in order: only its oldest pending one
                              AND NOT EXISTS (SELECT 1 FROM messenger_message o
                                              WHERE o.contact_id = m.contact_id AND o.id < m.id
                                                AND o.state IN ('queued', 'sending'))
                            ORDER BY m.priority DESC, m.id LIMIT %(limit)s
                            FOR UPDATE SKIP LOCKED)
               RETURNING id""",
            {"now": claimed_at, "channel": channel.id, "limit": limit},
        )
        return sorted(r[0] for r in self.env.cr.fetchall())

    def _reserve_window(self, run, channel, count, interval):
        """Reserve ``count`` sending slots on the channel row (shared by all processes)
        and return the monotonic time of the first one."""
        span = count * interval
        self.env.cr.execute(
            """UPDATE messenger_channel
               SET pacing_next_slot = GREATEST(COALESCE(pacing_next_slot, '-infinity'),
                                               clock_timestamp() AT TIME ZONE 'UTC'
                                               + make_interval(secs => %(lead)s))
                                      + make_interval(secs => %(span)s)
               WHERE id = %(id)s
               RETURNING pacing_next_slot - make_interval(secs => %(span)s), pacing_next_slot,
                         EXTRACT(EPOCH FROM pacing_next_slot - (clock_timestamp() AT TIME ZONE 'UTC'))""",
            {"span": span, "id": channel.id, "lead": WINDOW_LEAD},
        )
        start, end, seconds_to_end = self.env.cr.fetchone()
        start_at = time.monotonic() + max(0.0, float(seconds_to_end) - span)
        last_end, last_end_at = run.window_ends.get(channel.id, (None, None))
        if start == last_end:
            # right after our own last window: continue on our clock, exactly (converting
            # between the database's clock and ours is off by a query's round trip)
            start_at = last_end_at
        run.window_ends[channel.id] = (end, start_at + span)
        return start_at

    def _release_window(self, run, channel_id):
        """A pause cut the channel's batches short and none is sending any more: give back
        the slots reserved after now, unless another process has reserved after ours."""
        run.cut_short.discard(channel_id)
        end, _end_at = run.window_ends.pop(channel_id, (None, None))
        run.busy_until.pop(channel_id, None)
        self.env.cr.execute(
            """UPDATE messenger_channel SET pacing_next_slot = clock_timestamp() AT TIME ZONE 'UTC'
               WHERE id = %s AND pacing_next_slot = %s AND pacing_next_slot > clock_timestamp() AT TIME ZONE 'UTC'""",
            (channel_id, end),
        )

    def _read_committed(self):
        """Called first in a fresh transaction. Under READ COMMITTED, rows that another
        dispatcher claimed since our snapshot are re-checked and skipped, and the channel
        row (slot counter, last error) is updated after its lock instead of raising a
        serialization error, as Odoo's default REPEATABLE READ would."""
        self.env.cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")

    def _claim(self, run, channel_ids=None, read_committed=False):
        """Claim a batch for each due channel whose current window is about to end."""
        if read_committed:
            self._read_committed()
        jobs = []
        Message = self.env["messenger.message"]
        for channel in self._due_channels(channel_ids):
            if run.busy_until.get(channel.id, 0.0) - CLAIM_AHEAD > time.monotonic():
                continue  # still sending: its next batch is claimed shortly before the window ends
            pace = _PACES.setdefault((self.env.cr.dbname, channel.id), ChannelPace())
            if not run.sending(channel.id):
                pace.refused = 0  # whatever an earlier, broken-off run left uncounted
            elif pace.refused:
                # Refusals are written before more is claimed: a campaign that they pause
                # (or a contact that blocked the bot) gets nothing more meanwhile.
                continue
            rate = channel._effective_rate()
            interval = pace.slowdown / rate
            claimed_at = _now()
            ids = self._claim_rows(channel, int(min(BATCH_MAX, max(BATCH_MIN, BATCH_SECONDS / interval))), claimed_at)
            if not ids:
                continue
            Message.invalidate_model()
            messages = Message.browse(ids)
            refused = messages.filtered(lambda m: not m.contact_id._can_receive(m.kind))
            if refused:
                refused.write(
                    {
                        "state": "cancelled",
                        "failure_type": "opted_out",
                        "failure_reason": _("The contact opted out or blocked the bot before sending."),
                    }
                )
            messages -= refused
            if not messages:
                continue
            concurrency = int(min(IN_FLIGHT_MAX, max(IN_FLIGHT_MIN, math.ceil(rate * IN_FLIGHT_SECONDS))))
            provider = run.provider(channel, concurrency)
            outgoing = self._precheck(provider, messages)
            if not outgoing:
                continue
            if provider.paced:
                start_at = self._reserve_window(run, channel, len(outgoing), interval)
            else:  # nothing leaves Odoo: no slots to keep
                interval, start_at = 0.0, time.monotonic()
            run.busy_until[channel.id] = start_at + len(outgoing) * interval
            jobs.append(
                _Job(
                    channel=channel,
                    provider=provider,
                    outgoing=outgoing,
                    claimed_at=claimed_at,
                    start_at=start_at,
                    interval=interval,
                    per_chat_interval=channel.per_chat_interval or 0.0,
                    limit=max(1, int(channel.rate_limit or rate)),
                    concurrency=concurrency,
                    failure_pause=self._param("retry_base_seconds", 10),
                    pace=pace,
                )
            )
        return jobs

    def _precheck(self, provider, messages):
        """The OutgoingMessages to send; the provider refuses the others before any call
        (a text that cannot be split, a closed customer-service window): they fail at once,
        without taking a sending slot."""
        outgoing = []
        refused = self.env["messenger.message"]
        for message in messages:
            item = self._outgoing(message, provider)
            refusal = provider.precheck(item)
            if refusal:
                message._fail(refusal)
                refused |= message
            else:
                outgoing.append(item)
        if refused:
            refused._after_dispatch()
        return outgoing

    def _outgoing(self, message, provider=None):
        contact = message.contact_id
        inbound_age = None
        if contact.last_inbound_at:
            inbound_age = (fields.Datetime.now() - contact.last_inbound_at).total_seconds()
        template = None
        if provider and provider.messaging_window and message.whatsapp_template_id:
            template = message.whatsapp_template_id._to_send(message, provider.config.business_account_id)
        return OutgoingMessage(
            key=message.id,
            chat_id=contact.chat_id,
            text=message.body or "",
            buttons=message._buttons_to_send(),
            idempotency_key=message.uuid,
            image_url=message.image_url or "",
            text_format=message.body_format or "plain",
            kind=message.kind,
            inbound_age=inbound_age,
            template=template,
        )

    # -- results -----------------------------------------------------------------------
    def _backoff(self, attempts):
        base = self._param("retry_base_seconds", 10)
        return min(base * 2 ** max(attempts - 1, 0), 3600.0)

    def _still_claimed(self, jobs, outcomes):
        """Ids of the batches' rows that are still in ``sending`` under their claim,
        locked: a row that another process has handed on since (an interrupted-sending
        recovery, a retry) is not ours to write any more."""
        pairs = [
            (key, job.claimed_at)
            for job, outcome in zip(jobs, outcomes, strict=True)
            for key in [r.key for r in outcome.results] + [o.key for o, _wait in outcome.deferred]
        ]
        if not pairs:
            return set()
        self.env.cr.execute(
            """SELECT m.id FROM messenger_message m
               JOIN (SELECT unnest(%s::int[]) AS id, unnest(%s::timestamp[]) AS claimed_at) v
                 ON v.id = m.id AND v.claimed_at = m.claimed_at
               WHERE m.state = 'sending' FOR UPDATE OF m""",
            ([k for k, _c in pairs], [c for _k, c in pairs]),
        )
        return {r[0] for r in self.env.cr.fetchall()}

    def _apply(self, jobs, outcomes):
        """Write a batch's results; return how many sends it started."""
        ours = self._still_claimed(jobs, outcomes)
        now = _now()
        Message = self.env["messenger.message"]
        Message.invalidate_model()  # the claim and other batches changed rows in SQL
        sent = []
        deferred = [
            (o.key, now + timedelta(seconds=wait))
            for outcome in outcomes
            for o, wait in outcome.deferred
            if o.key in ours
        ]
        if deferred:
            # not attempted: give the attempt back and wait for the chat or the pause
            self.env.cr.execute(
                """UPDATE messenger_message m SET state = 'queued', attempts = m.attempts - 1,
                          next_attempt_at = v.due
                   FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::timestamp[]) AS due) v
                   WHERE m.id = v.id""",
                ([k for k, _d in deferred], [d for _k, d in deferred]),
            )
        for job, outcome in zip(jobs, outcomes, strict=True):
            job.pace.refused -= sum(1 for r in outcome.results if r.outcome in (PERMANENT, BLOCKED))

            _logger.debug(
                "Messenger channel %s: batch of %s, %s started, %s handed back (%s late), pace %.2f× slower",
                job.channel.id,
                len(job.outgoing),
                len(outcome.results),
                len(outcome.deferred),
                outcome.late,
                job.pace.slowdown,
            )
            channel = job.channel.with_env(self.env)
            for result in outcome.results:
                if result.key not in ours:
                    continue
                if result.outcome == SENT:
                    sent.append((result.key, result.provider_message_id))
                    continue
                message = Message.browse(result.key)
                if (
                    result.outcome == TRANSIENT
                    and result.maybe_delivered
                    and message.kind == "marketing"
                    and not job.provider.has_idempotency_key
                ):
                    # A resend could reach the person twice: a person decides instead.
                    message.write(
                        {"state": "uncertain", "failure_type": "interrupted", "failure_reason": result.reason}
                    )
                elif result.outcome == TRANSIENT and message.attempts < channel.max_attempts:
                    delay = max(result.retry_after, self._backoff(message.attempts))
                    message.write(
                        {
                            "state": "queued",
                            "failure_reason": result.reason,
                            "next_attempt_at": now + timedelta(seconds=delay),
                        }
                    )
                else:
                    message._fail(result)
                if result.outcome in (PERMANENT, TRANSIENT) and channel.last_error != result.reason:
                    channel.last_error = result.reason
        if sent:
            self.env.cr.execute(
                """UPDATE messenger_message m SET state = 'sent', provider_message_id = v.pid,
                          sent_at = %s, write_date = %s, failure_reason = NULL
                   FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::varchar[]) AS pid) v
                   WHERE m.id = v.id AND m.state = 'sending'""",
                (now, now, [k for k, _p in sent], [p for _k, p in sent]),
            )
            Message.invalidate_model()
            # the bulk update bypassed write(), which keeps traces in step for the others
            Message.browse([k for k, _p in sent])._sync_traces()
        Message.invalidate_model()
        Message.browse([r.key for outcome in outcomes for r in outcome.results if r.key in ours])._after_dispatch()
        return sum(len(outcome.results) for outcome in outcomes)

    # -- housekeeping ------------------------------------------------------------------
    def _recover_interrupted(self):
        """Rows left in ``sending`` by a process that died: resend only where the provider
        deduplicates; otherwise a person decides."""
        stale = _now() - timedelta(seconds=self._param("sending_timeout_seconds", 600))
        # in SQL: a domain would compare whole seconds, and take a claim up to a second too late
        self.env["messenger.message"].flush_model(["state", "claimed_at"])
        self.env.cr.execute("SELECT id FROM messenger_message WHERE state = 'sending' AND claimed_at < %s", [stale])
        messages = self.env["messenger.message"].browse([r[0] for r in self.env.cr.fetchall()])
        for channel, group in messages.grouped("channel_id").items():
            if channel._provider().has_idempotency_key:
                group.write({"state": "queued", "next_attempt_at": fields.Datetime.now()})
            else:
                group.write(
                    {
                        "state": "uncertain",
                        "failure_type": "interrupted",
                        "failure_reason": _(
                            "Sending was interrupted; the customer may or may not have "
                            "received it. Check, then retry or cancel."
                        ),
                    }
                )

    def _seconds_to_next_due(self, channel_ids):
        query = """SELECT min(m.next_attempt_at) FROM messenger_message m
                   JOIN messenger_channel c ON c.id = m.channel_id AND c.active
                   WHERE m.state = 'queued'"""
        params = []
        if channel_ids:
            query += " AND m.channel_id = ANY(%s)"
            params.append(list(channel_ids))
        self.env.cr.execute(query, params)
        due = self.env.cr.fetchone()[0]
        if due is None:
            return None
        return max((due - _now()).total_seconds(), 0.0)
