"""The dispatcher: sends queued messages after commit, exactly once, inside rate limits.

The run loop is ``core.dispatch`` (no Odoo in it); this model is its store. A claim takes
a batch per channel (``messenger.message._claim_due``: ``FOR UPDATE SKIP LOCKED``, then
``sending``, committed), takes its sending slots on the channel's grid (held on the
channel row, see _reserve_window) so that any number of processes share the channel's
rate limit, and hands the batch to the run's event loop; the batch's results are written
in bulk and committed.

A process killed mid-batch leaves its rows in ``sending``; the next run hands them back to
the queue when the provider deduplicates resends, and otherwise marks them "outcome
unknown" for a person to review, never resending blindly. A run whose database
connection breaks writes what it sent through a new connection before it stops.
"""

import logging
import math
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg2

from odoo import _, api, fields, models

from ..core.dispatch import CLAIM_AHEAD, Job, Run, Window, run_loop
from ..core.pacing import PER_CHAT_MARGIN
from ..core.providers import BLOCKED, PERMANENT, SENT, TRANSIENT, OutgoingMessage
from ..core.providers.base import OutgoingFile
from .messenger_message import DEFER_CONVERSATION
from .messenger_route import FALLBACK_KINDS

_logger = logging.getLogger(__name__)

# Seconds between reserving a window and its first slot: time to commit the claim and
# hand the batch to the sending loop, so the batch starts on time rather than late.
WINDOW_LEAD = 0.1
# A batch holds this many seconds of sending at the channel's pace, within bounds.
BATCH_SECONDS = 2.0
BATCH_MIN, BATCH_MAX = 10, 500
# Requests waiting for an answer, per channel: enough for answers that take
# IN_FLIGHT_SECONDS at the channel's rate, within bounds (an HTTP client's connection
# pool costs CPU per open connection on every request).
IN_FLIGHT_SECONDS = 0.5
IN_FLIGHT_MIN, IN_FLIGHT_MAX = 8, 32
# A channel whose first free slot is further ahead than this is paused (a "retry after",
# an outage; see _carry_pause) and not claimed until then: its rows would wait in "sending".
# Other processes' windows on the channel keep its slot up to a few batches ahead.
PAUSE_HORIZON = 2 * BATCH_SECONDS + CLAIM_AHEAD + WINDOW_LEAD + 0.4
# An attachment goes as the messenger's message of its type; anything else as a document.
FILE_KINDS = (("image/", "photo"), ("audio/", "audio"), ("video/", "video"))
# After a broken database connection: attempts to write the results, a second apart.
RECONNECT_ATTEMPTS = 10


def _now():
    """UTC now with microseconds (``fields.Datetime.now()`` drops them): a message due in
    0.7 s is claimed then, not at the next whole second; and a claim's time tells its rows
    from any other claim's."""
    return datetime.now(UTC).replace(tzinfo=None)


class _Store:
    """What ``core.dispatch.run_loop`` asks of the database, for one run of the
    dispatcher (``auto_commit``: each step commits; in tests they share the test's
    transaction)."""

    def __init__(self, dispatcher, channel_ids, auto_commit):
        self.dispatcher = dispatcher
        self.channel_ids = channel_ids
        self.auto_commit = auto_commit

    def begin(self):
        if self.auto_commit:
            self.dispatcher._read_committed()

    def commit(self):
        if self.auto_commit:
            self.dispatcher.env.cr.commit()
        else:
            self.dispatcher.env.flush_all()

    def claim(self, run):
        return self.dispatcher._claim(run, self.channel_ids)

    def apply(self, jobs, outcomes):
        return self.dispatcher._apply(jobs, outcomes)

    def release_window(self, run, channel_id):
        self.dispatcher._release_window(run, channel_id)

    def seconds_to_next_due(self):
        due = self.dispatcher.env["messenger.message"]._next_due_at(self.channel_ids, PAUSE_HORIZON)
        return None if due is None else max((due - _now()).total_seconds(), 0.0)

    def schedule(self, seconds):
        cron = self.dispatcher.env.ref("messenger_marketing.ir_cron_messenger_dispatch")
        cron._trigger(at=fields.Datetime.now() + timedelta(seconds=seconds))


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
        # the dispatcher acts for every company, and leaves the conversations to their cron
        self = self.sudo().with_context(**{DEFER_CONVERSATION: True})  # noqa: PLW0642
        deadline = time.monotonic() + time_budget
        self._recover_interrupted()
        self._fall_back_stalled(channel_ids)
        run = Run()
        try:
            return run_loop(_Store(self, channel_ids, auto_commit), run, deadline)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            if auto_commit and run.batches:
                self._write_back(run)
            raise
        finally:
            run.close()

    def _write_back(self, run):
        """The database connection broke while batches were out: once they are done,
        write their results through a new connection, so that what was sent is not
        resent and what was not sent is not left for a person to check."""
        run.wait_all()
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
    def _reserve_window(self, run, channel, count, grid, stride):
        """Sending slots for up to ``count`` messages on the channel's grid, whose slots are
        ``grid`` seconds apart (1 / the rate it sends at), taking every ``stride``-th slot
        (the process's slowdown: 1 when it keeps up with the rate). Returns the monotonic
        time of the first slot, the seconds between two sends and how many messages the
        slots are for (fewer than ``count`` when another process's block has fewer left).

        Slots come in blocks (the channel row holds the last one): a block whose stride
        leaves room between a process's sends (2 slots or more) lets other processes take
        the slots 1, 2, … after each of them (its phases) from their first one at least
        WINDOW_LEAD ahead. A process takes a free phase of the channel's last block before
        it reserves a new block after it. Every grid slot goes to one send at most, so the
        processes together never send faster than the channel's rate."""
        joined = self._join_block(run, channel, count, grid, stride)
        if joined:
            return joined
        span = count * stride * grid
        # "opens" is read once, so that the block's start and the next free slot agree;
        # it is read before the row's lock: a wait for it shortens the lead, by milliseconds
        self.env.cr.execute(
            """UPDATE messenger_channel c
               SET pacing_block_start = GREATEST(COALESCE(c.pacing_next_slot, '-infinity'), t.opens),
                   pacing_next_slot = GREATEST(COALESCE(c.pacing_next_slot, '-infinity'), t.opens)
                                      + make_interval(secs => %(span)s),
                   pacing_block_interval = %(grid)s, pacing_block_stride = %(stride)s,
                   pacing_block_count = %(count)s, pacing_block_phases = 1
               FROM (SELECT clock_timestamp() AT TIME ZONE 'UTC' + make_interval(secs => %(lead)s) AS opens) t
               WHERE c.id = %(id)s
               RETURNING c.pacing_block_start, c.pacing_next_slot,
                         EXTRACT(EPOCH FROM c.pacing_block_start - clock_timestamp() AT TIME ZONE 'UTC')""",
            {"span": span, "id": channel.id, "lead": WINDOW_LEAD, "grid": grid, "stride": stride, "count": count},
        )
        start, end, seconds_to_start = self.env.cr.fetchone()
        start_at = time.monotonic() + max(0.0, float(seconds_to_start))
        last = run.windows.get(channel.id)
        if last and start == last.end:
            # right after our own last block: continue on our clock, exactly (converting
            # between the database's clock and ours is off by a query's round trip)
            start_at = last.end_at
        run.windows[channel.id] = Window(block_start=start, end=end, end_at=start_at + span, created=True)
        _logger.debug(
            "Messenger channel %s: a block of %s sends at %.2f× the rate's interval, from %.3f s ahead",
            channel.id,
            count,
            stride,
            start_at - time.monotonic(),
        )
        return start_at, stride * grid, count

    def _join_block(self, run, channel, count, grid, stride):
        """Take the next free phase of the channel's last block, when it is on the same grid
        (not the other lane of paid broadcasts), not ours, and has room for BATCH_MIN of our
        sends after the lead; None when there is none. Returns as _reserve_window."""
        last = run.windows.get(channel.id)
        self.env.cr.execute(
            """UPDATE messenger_channel SET pacing_block_phases = pacing_block_phases + 1
               WHERE id = %(id)s AND pacing_block_interval = %(grid)s
                 AND pacing_block_phases < floor(pacing_block_stride)
                 AND pacing_block_start IS DISTINCT FROM %(own)s
                 AND pacing_block_start + make_interval(secs => pacing_block_interval * pacing_block_stride
                                                               * (pacing_block_count - %(min)s))
                     >= clock_timestamp() AT TIME ZONE 'UTC' + make_interval(secs => %(lead)s)
               RETURNING pacing_block_phases - 1, pacing_block_stride, pacing_block_count, pacing_block_start,
                         pacing_block_start + make_interval(secs => pacing_block_interval * pacing_block_stride
                                                                    * pacing_block_count),
                         EXTRACT(EPOCH FROM pacing_block_start - clock_timestamp() AT TIME ZONE 'UTC')""",
            {
                "id": channel.id,
                "grid": grid,
                "own": last.block_start if last else None,
                "min": BATCH_MIN,
                "lead": WINDOW_LEAD,
            },
        )
        row = self.env.cr.fetchone()
        if not row:
            return None
        phase, block_stride, block_count, block_start, block_end, seconds_to_start = row
        now = time.monotonic()
        start_at = now + float(seconds_to_start)  # the block's first slot, on our clock
        # a process slower than the block's creator takes every m-th slot of its phase
        step = max(1, round(stride / block_stride))
        # the block's rows of slots (block_stride grid slots each) from which we send: the
        # first whose slot in our phase is at least WINDOW_LEAD ahead, then every step-th
        first = max(0, math.ceil(((now + WINDOW_LEAD - start_at) / grid - phase) / block_stride))
        sends = min(count, len(range(first, block_count, step)))
        run.windows[channel.id] = Window(
            block_start=block_start, end=block_end, end_at=start_at + block_count * block_stride * grid, created=False
        )
        _logger.debug(
            "Messenger channel %s: phase %s of another process's block, %s sends from its row %s",
            channel.id,
            phase,
            sends,
            first,
        )
        return start_at + (first * block_stride + phase) * grid, step * block_stride * grid, sends

    def _release_window(self, run, channel_id):
        """A pause cut the channel's batches short and none is sending any more: give back
        the slots reserved after the pause, unless another process has reserved after ours
        or sends in our block (the pause itself stays on the row for the others, see
        _carry_pause)."""
        window = run.windows.pop(channel_id, None)
        if not window or not window.created:
            return
        paused = max(run.pace(channel_id).paused_until - time.monotonic(), 0.0)
        self.env.cr.execute(
            """UPDATE messenger_channel
               SET pacing_next_slot = clock_timestamp() AT TIME ZONE 'UTC' + make_interval(secs => %s),
                   pacing_block_start = NULL
               WHERE id = %s AND pacing_next_slot = %s AND pacing_block_phases = 1
                 AND pacing_next_slot > clock_timestamp() AT TIME ZONE 'UTC' + make_interval(secs => %s)""",
            (paused, channel_id, window.end, paused),
        )

    def _carry_pause(self, job):
        """A "retry after" or an outage paused the channel: hold its first free slot until
        the pause ends, so that the next run, and every other process, waits too (the run's
        own pace ends with the run); a block that starts before then takes no more processes."""
        seconds = job.pace.paused_until - time.monotonic()
        if seconds <= 0:
            return
        self.env.cr.execute(
            """UPDATE messenger_channel c
               SET pacing_next_slot = GREATEST(COALESCE(c.pacing_next_slot, '-infinity'), t.ends),
                   pacing_block_start = CASE WHEN c.pacing_block_start < t.ends THEN NULL
                                             ELSE c.pacing_block_start END
               FROM (SELECT clock_timestamp() AT TIME ZONE 'UTC' + make_interval(secs => %s) AS ends) t
               WHERE c.id = %s""",
            (seconds, job.channel.id),
        )

    def _read_committed(self):
        """Called first in a fresh transaction. Under READ COMMITTED, rows that another
        dispatcher claimed since our snapshot are re-checked and skipped, and the channel
        row (slot counter, last error) is updated after its lock instead of raising a
        serialization error, as Odoo's default REPEATABLE READ would."""
        self.env.cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")

    def _claim(self, run, channel_ids=None):
        """Claim a batch for each due channel whose current window is about to end."""
        jobs = []
        Message = self.env["messenger.message"]
        for channel in Message._due_channels(_now(), channel_ids, PAUSE_HORIZON):
            if run.busy_until.get(channel.id, 0.0) - CLAIM_AHEAD > time.monotonic():
                continue  # still sending: its next batch is claimed shortly before the window ends
            pace = run.pace(channel.id)
            if pace.refused:
                # Refusals are written before more is claimed: a campaign that they pause
                # (or a contact that blocked the bot) gets nothing more meanwhile.
                continue
            # paid broadcasts go at their own pace, in windows of their own on the channel's
            # sequence of windows: the others never go faster than the channel's limit
            paid = Message._due_paid_broadcast(channel.id, _now())
            rate = channel._effective_rate(paid)
            grid = 1 / rate
            if channel.id not in run.windows and channel.pacing_block_interval == grid:
                # the run's first batch on the channel: at the pace the last block was
                # sent at, not at the channel's rate, whose slots a slower process misses
                pace.slowdown = max(pace.slowdown, channel.pacing_block_stride)
            interval = pace.slowdown * grid
            claimed_at = _now()
            size = int(min(BATCH_MAX, max(BATCH_MIN, BATCH_SECONDS / interval)))
            messages = Message._claim_due(channel.id, size, claimed_at, paid_broadcast=paid)
            refused = messages.filtered(lambda m: not m.contact_id._can_receive(m.kind))
            refused._to(
                "cancelled",
                failure_type="opted_out",
                failure_reason=_("The contact opted out or blocked the bot before sending."),
            )._fall_back()
            messages -= refused
            if paid:
                messages = self.env["mailing.mailing"]._messenger_within_stars_budget(messages)
            if not messages:
                continue
            concurrency = int(min(IN_FLIGHT_MAX, max(IN_FLIGHT_MIN, math.ceil(rate * IN_FLIGHT_SECONDS))))
            provider = run.provider(channel.id, lambda c=channel, n=concurrency: c._provider(concurrency=n))
            outgoing = self._precheck(provider, messages)
            if not outgoing:
                continue
            self._note_recent_chats(pace, channel, messages)
            outgoing = self._hold_waiting_chats(pace, outgoing)
            if not outgoing:
                continue
            if provider.paced:
                start_at, interval, taken = self._reserve_window(run, channel, len(outgoing), grid, pace.slowdown)
                if taken < len(outgoing):
                    # another process's block had fewer slots left: the rest is claimed again
                    Message._hand_back([(o.key, claimed_at) for o in outgoing[taken:]])
                    outgoing = outgoing[:taken]
            else:  # nothing leaves Odoo: no slots to keep
                interval, start_at = 0.0, time.monotonic()
            run.busy_until[channel.id] = start_at + len(outgoing) * interval
            jobs.append(
                Job(
                    channel=channel,
                    provider=provider,
                    outgoing=outgoing,
                    claimed_at=claimed_at,
                    start_at=start_at,
                    interval=interval,
                    per_chat_interval=channel.per_chat_interval or 0.0,
                    limit=max(1, int(channel._rate_limit(paid))),
                    concurrency=concurrency,
                    failure_pause=self._param("retry_base_seconds", 10),
                    pace=pace,
                    stride=interval / grid,
                )
            )
        return jobs

    def _note_recent_chats(self, pace, channel, messages):
        """The chats of the batch that got a message shortly before from an earlier run or
        another process: their pause goes on, as the provider counts it. (The time written
        as sent is a little after the send: the pause is at least the provider's. A chat
        whose last message this run sent, it times itself, from the send; another process
        may have sent to it since, which the database tells.)"""
        pause = (channel.per_chat_interval or 0.0) * PER_CHAT_MARGIN
        if not pause:
            return
        now = _now()
        last = self.env["messenger.message"]._last_sent(messages.contact_id, now - timedelta(seconds=pause))
        monotonic = time.monotonic()
        for contact, (message_id, sent_at) in last.items():
            if pace.sent_to.get(contact.chat_id) == message_id:
                continue
            ready = monotonic + pause - (now - sent_at).total_seconds()
            pace.chat_ready[contact.chat_id] = max(pace.chat_ready.get(contact.chat_id, 0.0), ready)

    def _hold_waiting_chats(self, pace, outgoing):
        """The messages whose chat may receive when the window opens; the others go back to
        the queue until their chat's pause ends, before a window is reserved for them: a
        message deferred in its window leaves its slot unused, and the channel's rate short."""
        opens = time.monotonic() + WINDOW_LEAD
        now = _now()
        waiting = [
            (o.key, pace.chat_ready[o.chat_id] - opens) for o in outgoing if pace.chat_ready.get(o.chat_id, 0.0) > opens
        ]
        if not waiting:
            return outgoing
        self.env["messenger.message"]._hand_back([(key, now + timedelta(seconds=wait)) for key, wait in waiting])
        held = {key for key, _wait in waiting}
        return [o for o in outgoing if o.key not in held]

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
            paid_broadcast=message.paid_broadcast,
            cards=message.cards or [],
            attachment=self._outgoing_file(message.attachment_id),
        )

    @staticmethod
    def _outgoing_file(attachment):
        """An attachment as the provider sends it: the kind follows the file's type."""
        if not attachment:
            return None
        attachment = attachment.sudo()
        mimetype = attachment.mimetype or "application/octet-stream"
        kind = next(
            (kind for prefix, kind in FILE_KINDS if mimetype.startswith(prefix)),
            "document",
        )
        return OutgoingFile(
            kind=kind, filename=attachment.name or "file", mimetype=mimetype, data=attachment.raw or b""
        )

    # -- results -----------------------------------------------------------------------
    def _backoff(self, attempts):
        base = self._param("retry_base_seconds", 10)
        return min(base * 2 ** max(attempts - 1, 0), 3600.0)

    def _apply(self, jobs, outcomes):
        """Write a batch's results; return how many sends it started."""
        Message = self.env["messenger.message"]
        ours = Message._still_claimed(
            [
                (key, job.claimed_at)
                for job, outcome in zip(jobs, outcomes, strict=True)
                for key in [r.key for r in outcome.results] + [o.key for o, _wait in outcome.deferred]
            ]
        )
        now = _now()
        # not attempted: the attempt is given back, and they wait for the chat or the pause
        Message._hand_back(
            [
                (o.key, now + timedelta(seconds=wait))
                for outcome in outcomes
                for o, wait in outcome.deferred
                if o.key in ours
            ]
        )
        sent = []
        for job, outcome in zip(jobs, outcomes, strict=True):
            job.pace.refused -= sum(1 for r in outcome.results if r.outcome in (PERMANENT, BLOCKED))
            self._carry_pause(job)
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
                    message._to(
                        "uncertain", failure_type="interrupted", failure_reason=result.reason, maybe_delivered=True
                    )
                elif result.outcome == TRANSIENT and message.attempts < channel.max_attempts:
                    delay = max(result.retry_after, self._backoff(message.attempts))
                    message._to(
                        "queued",
                        failure_reason=result.reason,
                        next_attempt_at=now + timedelta(seconds=delay),
                        maybe_delivered=message.maybe_delivered or result.maybe_delivered,
                    )
                else:
                    message._fail(result)
                if result.outcome in (PERMANENT, TRANSIENT) and channel.last_error != result.reason:
                    channel.last_error = result.reason
        Message._mark_sent(sent, now)
        Message.browse([r.key for outcome in outcomes for r in outcome.results if r.key in ours])._after_dispatch()
        return sum(len(outcome.results) for outcome in outcomes)

    # -- housekeeping ------------------------------------------------------------------
    def _fall_back_stalled(self, channel_ids=None):
        """Order updates and conversation messages that their channel has not managed to
        send for longer than its "Fall Back After" (an outage: retried and still queued, or
        the channel paused for longer than that): cancelled there, and sent through the
        customer's next channel. Locked past the dispatchers that could claim them."""
        self.env["messenger.message"].flush_model()
        self.env.cr.execute(
            """SELECT m.id FROM messenger_message m
               JOIN messenger_channel c ON c.id = m.channel_id
               WHERE m.state = 'queued' AND m.direction = 'out' AND m.kind IN %(kinds)s
                 -- one that may have arrived never goes another way
                 AND NOT COALESCE(m.maybe_delivered, false)
                 AND c.fallback_after_minutes > 0
                 AND ((m.attempts > 0
                       AND m.create_date < %(now)s - make_interval(secs => c.fallback_after_minutes * 60))
                      OR c.pacing_next_slot > %(now)s + make_interval(secs => c.fallback_after_minutes * 60))
                 AND (%(channels)s IS NULL OR m.channel_id = ANY(%(channels)s))
               FOR UPDATE OF m SKIP LOCKED""",
            {"kinds": tuple(FALLBACK_KINDS), "now": _now(), "channels": list(channel_ids) if channel_ids else None},
        )
        messages = self.env["messenger.message"].browse([r[0] for r in self.env.cr.fetchall()])
        messages.invalidate_recordset()
        for channel, group in messages.grouped("channel_id").items():
            minutes = f"{channel.fallback_after_minutes:g}"
            reason = _("%(channel)s could not send it for %(minutes)s minutes.", channel=channel.name, minutes=minutes)
            group._to("cancelled", failure_type="provider_unavailable", failure_reason=reason)._fall_back()

    def _recover_interrupted(self):
        """Rows left in ``sending`` by a process that died: resend only where the provider
        deduplicates; otherwise a person decides."""
        stale = _now() - timedelta(seconds=self._param("sending_timeout_seconds", 600))
        messages = self.env["messenger.message"]._claimed_before(stale)
        for channel, group in messages.grouped("channel_id").items():
            if channel._provider().has_idempotency_key:
                # the provider drops a second copy on this channel; another channel would not
                group._to("queued", next_attempt_at=fields.Datetime.now(), maybe_delivered=True)
            else:
                group._to(
                    "uncertain",
                    maybe_delivered=True,
                    failure_type="interrupted",
                    failure_reason=_(
                        "Sending was interrupted; the customer may or may not have "
                        "received it. Check, then retry or cancel."
                    ),
                )
