"""The one impure loop: inbound message -> dedupe -> lock -> keywords -> engine -> storage.

Everything for one inbound message happens in ONE database transaction: the inbound row, the
participant, consent ledger entries, responses, the run's new state, audit entries and the
outbound messages (as outbox rows). A crash anywhere rolls all of it back, and because the
provider retries unacknowledged deliveries, nothing acknowledged is ever lost and nothing is
processed twice (inbound rows are unique on (channel, provider id); outbox rows on a dedupe key
derived from the inbound message).

Messages that arrive together share a transaction (group commit, ``storage.group_commit``):
each caller still returns only once the transaction holding its message has committed. A
batch that fails on one message is rolled back and its messages are handled one per
transaction, so a bad message fails alone and the others are stored exactly as if they had
come one by one.

Ordering per resident: on PostgreSQL the participant rows of a batch are locked (``SELECT ...
FOR UPDATE``, in id order) before anything is read, and a resident's messages always go to the
same batch queue of this process; on SQLite every write transaction starts with ``BEGIN
IMMEDIATE`` and this process writes through one lock. So two messages from one person are
handled one after the other, each on the state the other left.

The statements run on the transaction's DBAPI connection (``storage.sql``): this is the hot
path, and SQLAlchemy's per-call overhead was most of its cost.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from engage import compliance, opt_out_intent, privacy
from engage.channels.base import Inbound
from engage.compliance import Keyword
from engage.config import Settings
from engage.errors import RetryableError, UserError
from engage.flow import Flow, answers, engine
from engage.flow.events import ConsentChanged, LanguageChanged, ResultRecorded, RunEnded, Say
from engage.flows_catalog import FlowCatalog
from engage.logging import log_event
from engage.storage import repo
from engage.storage.db import checkpoint_wal, is_sqlite
from engage.storage.group_commit import GroupCommit
from engage.storage.models import Message, Outbox, Participant
from engage.storage.rows import RunRow
from engage.storage.sql import KeptConnection, Tx, as_tx, transaction

log = logging.getLogger("engage.runtime")

CHANNELS = ("sms", "telegram")
MAX_TEXT = 5000
MAX_PROVIDER_ID = 80
SUPPORTED_LANGUAGES = ("en", "es")
# Inbound messages per shared transaction at most. One batch is written at a time per
# process, on both databases: a bigger batch beats parallel smaller ones, since each commit
# costs an fsync and each statement a round trip (bench/runtime.py, 16 callers on PostgreSQL:
# one queue 706 msg/s at 8.3 msg/commit; two queues sharded by resident 614; four 498).
# Several web processes still commit in parallel.
MAX_BATCH = 64
HOLD = "opt_out_asked"  # run state: asked "Reply STOP to stop all messages", no answer yet

Status = Literal["handled", "duplicate", "ignored"]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class InboundOutcome:
    """What happened to one inbound message (never carries the address or the text)."""

    status: Status
    participant_key: str | None
    outbox_ids: tuple[int, ...] = ()
    keyword: str | None = None
    run_id: int | None = None


@dataclass(frozen=True, slots=True)
class _Job:
    """One validated inbound message, ready for a transaction."""

    inbound: Inbound
    channel: str
    normalized: str
    key: str
    text: str
    now: datetime


def _load_sentiment() -> tuple[Callable[[str], float] | None, str | None]:
    try:
        from engage.analytics import sentiment
    except ImportError:
        return None, None
    return sentiment.score, getattr(sentiment, "SCORER_VERSION", "unknown")


# --- fixed texts (compliance replies; the flows carry everything else) --------------------

TEXTS: dict[str, dict[str, str]] = {
    "opt_out": {
        "en": "{program}: you are unsubscribed and will get no more messages. "
              "Reply START to resubscribe.",
        "es": "{program}: se ha dado de baja y no recibirá más mensajes. "
              "Responda START para volver a suscribirse.",
    },
    "opt_in": {
        "en": "{program}: you are subscribed again. Reply HELP for help, STOP to opt out.",
        "es": "{program}: se ha suscrito de nuevo. Responda AYUDA para ayuda, ALTO para salir.",
    },
    "already_in": {
        "en": "{program}: you are subscribed. Reply to the last question to continue, "
              "HELP for help, STOP to opt out.",
        "es": "{program}: ya está suscrito. Responda la última pregunta para continuar, "
              "AYUDA para ayuda, ALTO para salir.",
    },
    "help": {
        "en": "{program}: community safety surveys and dialogues for your city. Answers are "
              "anonymous. Reply STOP to opt out, DELETE to erase your data. "
              "Msg & data rates may apply. Contact: {contact}",
        "es": "{program}: encuestas y diálogos de seguridad comunitaria de su ciudad. Las "
              "respuestas son anónimas. Responda ALTO para salir, BORRAR para borrar sus datos. "
              "Msg & data rates may apply (pueden aplicarse tarifas). Contacto: {contact}",
    },
    "delete": {
        "en": "{program}: we erased your answers, messages and number. "
              "You will get nothing more unless you text us again.",
        "es": "{program}: borramos sus respuestas, mensajes y número. "
              "No recibirá nada más a menos que nos escriba de nuevo.",
    },
    "language_set": {
        "en": "OK, we will write in English. Reply ESPAÑOL for Spanish.",
        "es": "De acuerdo, le escribiremos en español. Reply ENGLISH for English.",
    },
    "language_ask": {
        "en": "Reply ENGLISH for English. Responda ESPAÑOL para español.",
        "es": "Responda ESPAÑOL para español. Reply ENGLISH for English.",
    },
    "opt_out_ask": {
        "en": "{program}: do you want us to stop texting you? Reply STOP to stop all messages, "
              "or reply to the last question to go on.",
        "es": "{program}: ¿quiere que dejemos de escribirle? Responda ALTO para no recibir más "
              "mensajes, o responda la última pregunta para continuar.",
    },
    "media": {
        "en": "Sorry, we can only read text. Please reply in words.",
        "es": "Lo sentimos, solo podemos leer texto. Por favor responda con palabras.",
    },
    "whois": {
        "en": "This is {program}, your city's community safety surveys and dialogues. "
              "You get our texts because you texted us or agreed to invitations; answers "
              "are anonymous. Reply HELP for info, STOP to opt out.",
        "es": "Le escribe {program}, las encuestas y diálogos de seguridad comunitaria de su "
              "ciudad. Recibe nuestros mensajes porque nos escribió o aceptó invitaciones; "
              "las respuestas son anónimas. Responda AYUDA para información, ALTO para salir.",
    },
    "idle": {
        "en": "{program}: thanks for your message. There is no open survey right now. "
              "Reply HELP for info, STOP to opt out.",
        "es": "{program}: gracias por su mensaje. No hay ninguna encuesta abierta ahora. "
              "Responda AYUDA para información, ALTO para salir.",
    },
}


# Where a channel's residents read something else: Telegram has commands, no number, no
# message rates.
CHANNEL_TEXTS: dict[str, dict[str, dict[str, str]]] = {"telegram": {
    "opt_out": {
        "en": "{program}: you are unsubscribed and will get no more messages. "
              "Send /start to subscribe again.",
        "es": "{program}: se ha dado de baja y no recibirá más mensajes. "
              "Envíe /start para volver a suscribirse.",
    },
    "opt_in": {
        "en": "{program}: you are subscribed again. Send /help for help, /stop to opt out.",
        "es": "{program}: se ha suscrito de nuevo. Envíe /help para ayuda, /stop para salir.",
    },
    "already_in": {
        "en": "{program}: you are subscribed. Here is where we were "
              "(/help for help, /stop to opt out):",
        "es": "{program}: ya está suscrito. Aquí es donde íbamos "
              "(/help para ayuda, /stop para salir):",
    },
    "help": {
        "en": "{program}: community safety surveys and dialogues for your city. Answers are "
              "anonymous. Send /stop to opt out, /delete to erase your data, /language to "
              "change language. Contact: {contact}",
        "es": "{program}: encuestas y diálogos de seguridad comunitaria de su ciudad. Las "
              "respuestas son anónimas. Envíe /stop para salir, /delete para borrar sus datos, "
              "/language para cambiar de idioma. Contacto: {contact}",
    },
    "delete": {
        "en": "{program}: we erased your answers and messages and forgot this chat. "
              "You will get nothing more unless you write to us again.",
        "es": "{program}: borramos sus respuestas y mensajes y olvidamos este chat. "
              "No recibirá nada más a menos que nos escriba de nuevo.",
    },
    "language_set": {
        "en": "OK, we will write in English. Send /language es for Spanish.",
        "es": "De acuerdo, le escribiremos en español. Send /language en for English.",
    },
    "idle": {
        "en": "{program}: thanks for your message. There is no open survey right now. "
              "Send /help for info, /stop to opt out.",
        "es": "{program}: gracias por su mensaje. No hay ninguna encuesta abierta ahora. "
              "Envíe /help para información, /stop para salir.",
    },
}}


@dataclass
class _Ctx:
    """Per-message state: where outbound rows go and how their dedupe keys are made.
    ``participant`` is a record (inbound, wake-ups) or an ORM instance (campaign starts)."""

    tx: Tx
    participant: Any
    now: datetime
    prefix: str
    channel: str
    default_kind: str
    active: RunRow | None = None
    fresh: bool = False  # the participant was created by this message: it has no runs
    defer: bool = False  # in a batch: outbox rows are queued, found by key afterwards
    outbox_ids: list[int] = field(default_factory=list)
    outbox_keys: list[str] = field(default_factory=list)
    counter: int = 0


@dataclass
class _Batch:
    """What a batch read once for all its messages: stored participants with their waiting
    runs (a resident's entry is taken by their message and put back only when it is still
    exact), and the (channel, provider id) of every inbound message stored so far."""

    known: dict[tuple[str, str], tuple[Any, RunRow | None]]
    stored: set[tuple[str, str]] = field(default_factory=set)
    unknown: set[tuple[str, str]] = field(default_factory=set)  # not stored when read


class Runtime:
    """Handles inbound messages, campaign starts and engine wake-ups against one database."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        catalog: FlowCatalog,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.catalog = catalog
        self.clock = clock
        self._secret = settings.secret_bytes()
        self._quiet = settings.quiet_window
        self._is_sqlite = is_sqlite(engine)
        self._is_pg = engine.dialect.name == "postgresql"
        self._score, self._score_version = _load_sentiment()
        # one batch at a time (see MAX_BATCH), on a connection kept between batches
        self._kept = KeptConnection(engine)
        self._commits: GroupCommit[_Job, InboundOutcome] = GroupCommit(
            self._run_batch, max_batch=MAX_BATCH)
        weakref.finalize(self, self._kept.close)

    # ---------------------------------------------------------------- inbound ---------------
    def handle_inbound(self, inbound: Inbound) -> InboundOutcome:
        """Handle one authenticated inbound message; returns once it is committed.

        Raises ``UserError`` for a garbled message (nothing stored) and ``RetryableError`` when
        the database is down or locked (the webhook must answer 5xx so the provider retries).
        """
        job = self._job(inbound)
        return self._logged(job, self._commits.submit(job))

    async def handle_inbound_async(self, inbound: Inbound) -> InboundOutcome:
        """``handle_inbound`` for the webhooks' event loop: the caller waits as a future,
        the transaction runs on a worker thread, one thread hop per batch."""
        job = self._job(inbound)
        return self._logged(job, await self._commits.submit_async(job))

    def _logged(self, job: _Job, outcome: InboundOutcome) -> InboundOutcome:
        log_event(log, "inbound." + outcome.status, participant=job.key,
                  provider_id=job.inbound.provider_id, channel=job.channel,
                  keyword=outcome.keyword, count=len(outcome.outbox_ids), run_id=outcome.run_id)
        return outcome

    def close(self) -> None:
        """Stop the batch worker thread and return the kept connection (shutdown)."""
        self._commits.close()
        self._kept.close()

    def _job(self, inbound: Any) -> _Job:
        """Reject garbled input before anything is stored; messages never echo PII."""
        if not isinstance(inbound, Inbound):
            raise UserError("garbled inbound: not an Inbound message")
        if inbound.channel not in CHANNELS:
            raise UserError(f"garbled inbound: unknown channel {str(inbound.channel)[:20]!r}")
        pid = inbound.provider_id
        if not isinstance(pid, str) or not pid.strip() or len(pid) > MAX_PROVIDER_ID \
                or not pid.isprintable():
            raise UserError("garbled inbound: provider message id missing or malformed")
        if not isinstance(inbound.text, str):
            raise UserError("garbled inbound: text is not a string")
        if not isinstance(inbound.received_at, datetime) or inbound.received_at.tzinfo is None:
            raise UserError("garbled inbound: received_at must be an aware datetime")
        if not isinstance(inbound.media_count, int) or inbound.media_count < 0:
            raise UserError("garbled inbound: media_count must be a non-negative integer")
        if not isinstance(inbound.address, str):
            raise UserError("garbled inbound: address is not a string")
        try:
            normalized = privacy.normalize_address(inbound.channel, inbound.address)
        except UserError as exc:
            raise UserError(f"garbled inbound: {exc}") from None
        text = inbound.text.replace("\x00", "")[:MAX_TEXT]
        key = privacy.participant_key(self._secret, inbound.channel, normalized)
        return _Job(inbound, inbound.channel, normalized, key, text, self.clock())

    def _run_batch(self, jobs: Sequence[_Job]) -> list[InboundOutcome | BaseException]:
        """All jobs in one transaction; if one of them fails (other than the database being
        unavailable, which every job would meet), each runs again in a transaction of its own
        so only the bad one fails."""
        if len(jobs) > 1:
            try:
                return self._after_commit(list(self._transact(jobs)))
            except RetryableError as exc:
                return [exc] * len(jobs)
            except Exception:  # noqa: S110 - isolated below, where its own caller sees it
                pass
        outcomes: list[InboundOutcome | BaseException] = []
        for job in jobs:
            try:
                outcomes.extend(self._transact([job]))
            except Exception as exc:
                outcomes.append(exc)
        return self._after_commit(outcomes)

    def _after_commit(self, outcomes: list[Any]) -> list[Any]:
        """After an erasure on SQLite, fold the WAL into the (secure_delete) database file so
        the erased text does not survive in the WAL."""
        if self._is_sqlite and any(
                isinstance(o, InboundOutcome) and o.keyword == "delete" and o.status == "handled"
                for o in outcomes):
            try:
                checkpoint_wal(self.engine)
            except Exception:  # best effort: the next checkpoint does it (logged, not raised)
                log.warning("WAL checkpoint after erasure failed", exc_info=True)
        return outcomes

    def _transact(self, jobs: Sequence[_Job]) -> list[InboundOutcome]:
        try:
            with transaction(self.engine, pipelined=True, keep=self._kept) as tx:
                repo.lock_participants(session=tx, keys=[job.key for job in jobs])
                if len(jobs) == 1:
                    return [self._handle(tx, jobs[0], None)[0]]
                outcomes = self._handle_batch(tx, jobs)
            return outcomes()  # the outbox ids came back with the COMMIT
        except IntegrityError as exc:
            if len(jobs) > 1:
                raise  # _run_batch redoes the batch one message at a time
            # a concurrent duplicate won the race: the provider's retry finds it
            raise RetryableError("concurrent delivery of the same message; retry") from exc

    def _handle_batch(self, tx: Tx, jobs: Sequence[_Job]) -> Callable[[], list[InboundOutcome]]:
        """Several messages in one transaction with statements per batch, not per message:
        one round trip reads every participant with their waiting run and the provider ids
        already stored; the writes nobody reads back are queued (``Tx.defer``) and sent as one
        ``executemany`` per statement; the new outbox rows' ids are read alongside the COMMIT
        (so the outcomes are made once it has committed: call the result)."""
        tx.deferring = True
        stored = [(channel, repo.known_inbound_later(
            session=tx, channel=channel,
            provider_ids=[j.inbound.provider_id for j in jobs if j.channel == channel]))
            for channel in {job.channel for job in jobs}]
        places = {(job.channel, job.key) for job in jobs}
        batch = _Batch(known=repo.prefetch_participants(session=tx, keys=list(places)))
        batch.unknown = places - batch.known.keys()
        for channel, ids in stored:
            batch.stored |= {(channel, pid) for pid in ids()}
        handled = [self._handle(tx, job, batch) for job in jobs]
        new_ids = repo.outbox_ids_for_keys(
            session=tx, keys=[k for _, keys in handled for k in keys])

        def outcomes() -> list[InboundOutcome]:
            ids = new_ids()
            return [replace(outcome, outbox_ids=outcome.outbox_ids + tuple(
                        ids[k] for k in keys if k in ids)) if keys else outcome
                    for outcome, keys in handled]

        return outcomes

    def _handle(self, tx: Tx, job: _Job,
                batch: _Batch | None) -> tuple[InboundOutcome, list[str]]:
        """One message. Returns its outcome and, in a batch, the dedupe keys of outbox rows
        still queued (their ids are read once for the whole batch)."""
        inbound, channel, key, text, now = job.inbound, job.channel, job.key, job.text, job.now
        prefix = f"in:{channel}:{inbound.provider_id}:"
        if batch is not None and (channel, inbound.provider_id) in batch.stored:
            return self._duplicate(tx, prefix, key), []
        created = False
        found = batch.known.pop((channel, key), None) if batch is not None else None
        if found is None and (batch is None or (channel, key) not in batch.unknown):
            found = repo.participant_and_active_run(session=tx, channel=channel, key=key)
        if found is not None:
            participant, active = found
        else:
            hint = inbound.language_hint if inbound.language_hint in SUPPORTED_LANGUAGES else "en"
            participant, active, created = repo.ensure_participant(
                session=tx, channel=channel, key=key, now=now, language=hint or "en",
                address_enc=privacy.encrypt_address(self._secret, job.normalized))
            if batch is not None:
                batch.unknown.discard((channel, key))
        keyword = compliance.classify(text)
        if keyword is None and not participant.opted_out:
            keyword = _own_words(text, active,
                                 lambda: self._asked_to_stop(tx, participant.id or 0))
        if keyword is not None and keyword.kind == "delete" and created:
            erased_id = privacy.erased_provider_id(self._secret, channel, inbound.provider_id)
            if repo.find_inbound_message(session=tx, channel=channel,
                                         provider_id=erased_id) is not None:
                repo.delete_participant(session=tx, participant_id=participant.id)
                return self._duplicate(tx, f"in:{channel}:{erased_id}:", key), []
        run_id = active.id if active is not None and keyword is None else None
        stored = privacy.scrub(text)  # the inbound row keeps only the scrubbed text
        message_id: int | None = None
        if batch is not None:  # known new (the batch read every stored id): queue the row
            repo.queue_inbound_message(session=tx, participant_id=participant.id,
                                       channel=channel, provider_id=inbound.provider_id,
                                       body=stored, now=now, run_id=run_id)
            batch.stored.add((channel, inbound.provider_id))
        else:
            # The participant row is locked (PostgreSQL) / the database is (SQLite), so this
            # insert is the dedupe: a retried or concurrent delivery finds its row.
            message_id = repo.add_inbound_message(
                session=tx, participant_id=participant.id, channel=channel,
                provider_id=inbound.provider_id, body=stored, now=now, run_id=run_id)
            if message_id is None:
                if created:  # a participant row made for a duplicate is dropped again
                    repo.delete_participant(session=tx, participant_id=participant.id)
                return self._duplicate(tx, prefix, key), []
        if participant.address_enc is None:
            repo.update_participant(session=tx, participant=participant,
                                    address_enc=privacy.encrypt_address(self._secret,
                                                                        job.normalized))
        ctx = _Ctx(tx=tx, participant=participant, now=now, prefix=prefix, channel=channel,
                   default_kind="reply", active=active, fresh=created,
                   defer=batch is not None)
        status: Status = "handled"
        run: RunRow | None = None
        if keyword is not None:
            status, run = self._keyword(ctx, keyword, text, job, message_id)
        elif participant.opted_out:
            status = "ignored"
        elif inbound.media_count > 0 and not text.strip():
            self._say_fixed(ctx, "media", participant.language)
        elif (checkin := _dialogue_checkin(tx, participant, text, now)) is not None:
            ctx.outbox_ids.extend([checkin.outbox_id] if checkin.outbox_id else [])
        elif (delib := _deliberation_reply(ctx, text, self.settings)) is not None:
            ctx.outbox_ids.extend(delib.outbox_ids)
        else:
            run = self._converse(ctx, text)
            if run is not None and (active is None or run.id != active.id):
                if message_id is not None:
                    repo.set_message_run(session=tx, run_id=run.id, message_id=message_id)
                else:
                    repo.set_inbound_message_run(session=tx, channel=channel,
                                                 provider_id=inbound.provider_id, run_id=run.id)
            elif batch is not None and run is not None and run.status == repo.ACTIVE_RUN:
                # the same resident's next message in this batch goes on from here
                batch.known[(channel, key)] = (participant, run)
        outcome = InboundOutcome(status=status, participant_key=key,
                                 outbox_ids=tuple(ctx.outbox_ids),
                                 keyword=keyword.kind if keyword else None,
                                 run_id=run.id if run is not None else None)
        return outcome, ctx.outbox_keys

    @staticmethod
    def _message_id(tx: Tx, job: _Job) -> int:
        """A queued inbound row's id, when a rare path needs it (the read sends the queue)."""
        found = repo.find_inbound_message(session=tx, channel=job.channel,
                                          provider_id=job.inbound.provider_id)
        assert found is not None
        return found

    def _duplicate(self, tx: Tx, prefix: str, key: str) -> InboundOutcome:
        ids = repo.outbox_ids_for_prefix(session=tx, prefix=prefix)
        return InboundOutcome(status="duplicate", participant_key=key, outbox_ids=ids)

    # ---------------------------------------------------------------- keywords --------------
    def _keyword(self, ctx: _Ctx, keyword: Keyword, text: str, job: _Job,
                 message_id: int | None) -> tuple[Status, RunRow | None]:
        """``message_id`` is None for a row still queued in a batch (only DELETE needs it)."""
        p = ctx.participant
        lang = keyword.language if keyword.language == "es" else p.language
        if keyword.kind == "opt_out":
            if p.opted_out:
                return "ignored", None  # confirmed once already; say nothing more
            source = "own_words" if keyword.word == "own_words" else "keyword"
            self._opt_out(ctx.tx, p, source=source, now=ctx.now, keep_confirmations=True)
            self._say_fixed(ctx, "opt_out", lang, kind="confirmation")
            return "handled", None
        if keyword.kind == "opt_in":
            if p.opted_out:
                repo.record_consent(session=ctx.tx, participant=p, scope="all",
                                    status="opted_in", text_version="keyword", now=ctx.now,
                                    source="keyword")
                self._say_fixed(ctx, "opt_in", lang, kind="confirmation")
            active = ctx.active
            if active is not None:
                self._say_fixed(ctx, "already_in", lang, kind="confirmation")
                self._ask_again(ctx, active)
                return "handled", active
            return "handled", self._start_default(ctx)
        if keyword.kind == "help":
            self._say_fixed(ctx, "help", lang, kind="confirmation")
            self._say_pending(ctx)
            return "handled", None
        if keyword.kind == "clarify":  # stopping messages mentioned in a longer text: ask once
            self._hold(ctx)
            self._say_fixed(ctx, "opt_out_ask", lang, kind="confirmation")
            return "handled", ctx.active
        if keyword.kind == "delete":
            self._erase(ctx, job.normalized, lang, message_id or self._message_id(ctx.tx, job),
                        job.inbound.provider_id)
            return "handled", None
        # language
        if keyword.target is None:
            self._say_fixed(ctx, "language_ask", lang, kind="confirmation")
            return "handled", None
        repo.update_participant(session=ctx.tx, participant=p, language=keyword.target)
        if p.opted_out:
            return "ignored", None
        active = ctx.active
        if active is not None:
            flow = self._flow_of(ctx.tx, active)
            state = json.loads(active.state)
            node = flow.nodes.get(state.get("node") or "")
            if node is not None and node.question is not None and node.question.type != "text":
                # the engine re-asks the question in the new language (or records it)
                step = engine.resume(flow, state, text, now=ctx.now)
                self._apply(ctx, active, step)
                return "handled", active
            if keyword.target in flow.languages:
                state["language"] = keyword.target
                active.state = json.dumps(state, separators=(",", ":"))
                repo.save_run(session=ctx.tx, run=active)
        self._say_fixed(ctx, "language_set", keyword.target, kind="confirmation")
        return "handled", active

    def _erase(self, ctx: _Ctx, normalized: str, lang: str, message_id: int,
               provider_id: str) -> None:
        """Erase, then confirm. The participant's address is gone after erasure, so the one
        confirmation carries its own encrypted copy (dropped when the row is sent)."""
        tx = ctx.tx
        # keep this message's row, anonymous, so a retried delivery of DELETE is a duplicate;
        # it and the confirmation's key carry a keyed digest, never the provider's id
        repo.anonymize_message(session=tx, message_id=message_id)
        erased_id = privacy.erased_provider_id(self._secret, ctx.channel, provider_id)
        tx.session.execute(sa_update(Message).where(col(Message.id) == message_id)
                           .values(provider_id=erased_id))
        ctx.prefix = f"in:{ctx.channel}:{erased_id}:"
        stored = tx.session.get(Participant, ctx.participant.id, populate_existing=True)
        assert stored is not None
        privacy.erase_participant(session=tx.session, participant=stored, now=ctx.now)
        ctx.participant = stored
        self._say_fixed(ctx, "delete", lang, kind="confirmation",
                        address_enc=privacy.encrypt_address(self._secret, normalized))

    def _asked_to_stop(self, tx: Tx, participant_id: int) -> bool:
        """The participant's newest outbox row is the clarification ("Reply STOP ...")."""
        last = tx.session.execute(
            sa_select(Outbox.body).where(col(Outbox.participant_id) == participant_id)
            .order_by(col(Outbox.id).desc()).limit(1)).scalar()
        asked = {text.format(program=self.settings.program_name, contact=self.settings.contact)
                 for text in TEXTS["opt_out_ask"].values()}
        return last in asked

    def _hold(self, ctx: _Ctx) -> None:
        """Nothing else goes out until the resident answers the clarification: queued messages
        are cancelled, the run's reminders and timeouts stop, and campaigns pass it by."""
        repo.cancel_pending_outbox(session=ctx.tx, participant_id=ctx.participant.id or 0,
                                   keep_confirmations=True, reason="asked whether to stop")
        active = ctx.active
        if active is not None:
            state = json.loads(active.state)
            state[HOLD] = True
            active.state = json.dumps(state, separators=(",", ":"))
            active.wake_at = None
            repo.save_run(session=ctx.tx, run=active)

    def _opt_out(self, tx: Tx, p: Any, *, source: str, now: datetime,
                 keep_confirmations: bool) -> None:
        repo.record_consent(session=tx, participant=p, scope="all", status="opted_out",
                            text_version=source, now=now, source=source)
        active = repo.active_run(session=tx, participant_id=p.id or 0)
        if active is not None:
            repo.end_run(run=active, status="ended", now=now)
            repo.save_run(session=tx, run=active)
        repo.cancel_pending_outbox(session=tx, participant_id=p.id or 0,
                                   keep_confirmations=keep_confirmations, reason="opted out")

    # ---------------------------------------------------------------- conversation ----------
    def _say_pending(self, ctx: _Ctx) -> None:
        """Ask the waiting question again (after HELP or "who is this?"), so the resident
        knows what to answer."""
        active = ctx.active
        if active is None:
            return
        say = engine.pending_question(self._flow_of(ctx.tx, active), json.loads(active.state))
        if say is not None:
            self._enqueue(ctx, say.text, "reply", buttons=say.options, run_id=active.id)

    def _converse(self, ctx: _Ctx, text: str) -> RunRow | None:
        p = ctx.participant
        active = ctx.active
        if _asks_who(text):  # answered, then the question again; not an answer to it
            self._say_fixed(ctx, "whois", p.language)
            self._say_pending(ctx)
            return active
        if active is not None and active.session_id is not None:
            # an invitation the resident never received is not what they are answering
            released = repo.release_unreached(session=ctx.tx, run_id=active.id, now=ctx.now)
            if released:  # it goes out now, in reply; their next message answers it
                ctx.outbox_ids.extend(released)
                return active
            if released is not None:  # nothing of it can reach them any more
                repo.end_run(run=active, status="expired", now=ctx.now)
                repo.save_run(session=ctx.tx, run=active)
                active = ctx.active = None
        if active is not None:
            flow = self._flow_of(ctx.tx, active)
            state = json.loads(active.state)
            if active.session_id is not None:
                _dialogue_seat(ctx.tx, active, state)
            step = engine.resume(flow, state, text, now=ctx.now)
            self._apply(ctx, active, step)
            if active.session_id is not None:
                _dialogue_rsvp(ctx.tx, active, step, ctx.now)
            return active
        if not ctx.fresh and repo.has_runs(session=ctx.tx, participant_id=p.id):
            if answers.parse_yes_no(text) and repo.latest_run(
                    session=ctx.tx, participant_id=p.id) == (self.settings.default_flow,
                                                             "declined"):
                return self._start_default(ctx)  # changed their mind: as START would
            self._say_fixed(ctx, "idle", p.language)
            return None
        return self._start_default(ctx)

    def _start_default(self, ctx: _Ctx) -> RunRow | None:
        flow_id = self.settings.default_flow
        if flow_id not in self.catalog:
            log_event(log, "inbound.no_default_flow", level=logging.WARNING, flow=flow_id)
            return None
        return self._start(ctx, self.catalog.get(flow_id), context=None, campaign_id=None,
                           session_id=None)

    def _start(self, ctx: _Ctx, flow: Flow, *, context: dict[str, Any] | None,
               campaign_id: int | None, session_id: int | None) -> RunRow:
        version_id = self.catalog.version_id(ctx.tx, flow, now=ctx.now)
        step = engine.start(flow, now=ctx.now, language=ctx.participant.language, context=context)
        run = repo.insert_run(session=ctx.tx, participant_id=ctx.participant.id,
                              flow_id=flow.id, flow_version_id=version_id, status=step.status,
                              now=ctx.now, campaign_id=campaign_id, session_id=session_id)
        self._apply(ctx, run, step)
        return run

    def _flow_of(self, tx: Tx, run: RunRow) -> Flow:
        if run.flow_version_id is None:
            return self.catalog.get(run.flow_id)
        return self.catalog.version(tx, run.flow_version_id)

    def _apply(self, ctx: _Ctx, run: RunRow, step: engine.Step, *,
               kind_for: Callable[[Say], str] | None = None) -> None:
        """Turn one engine step into storage writes and outbox rows (same transaction)."""
        p = ctx.participant
        for event in step.events:
            if isinstance(event, Say):
                kind = kind_for(event) if kind_for else ctx.default_kind
                self._enqueue(ctx, event.text, kind, buttons=event.options, run_id=run.id)
            elif isinstance(event, ConsentChanged):
                repo.record_consent(session=ctx.tx, participant=p, scope=event.scope,
                                    status=event.status, text_version=event.text_version,
                                    now=ctx.now, source=f"flow:{run.flow_id}")
            elif isinstance(event, ResultRecorded):
                self._store_result(ctx, run, event)
            elif isinstance(event, LanguageChanged):
                repo.update_participant(session=ctx.tx, participant=p, language=event.language)
            elif isinstance(event, RunEnded):
                run.ended_at = ctx.now
        state = step.state
        free_text = [e.name for e in step.events
                     if isinstance(e, ResultRecorded) and e.question_type == "text"]
        if free_text:  # the stored run state never keeps unscrubbed free text either
            state = dict(state, results=dict(state.get("results") or {}))
            for name in free_text:
                value = state["results"].get(name)
                if isinstance(value, str):
                    state["results"][name] = privacy.scrub(value)
        run.state = json.dumps(state, separators=(",", ":"), ensure_ascii=False)
        run.status = step.status
        run.wake_at = step.wake_at
        run.updated_at = ctx.now
        repo.save_run(session=ctx.tx, run=run)

    def _store_result(self, ctx: _Ctx, run: RunRow, event: ResultRecorded) -> None:
        """Store an answer only under granted consent for its scope; free text scrubbed."""
        p = ctx.participant
        if event.name == "language" and event.value in SUPPORTED_LANGUAGES:
            # needed to talk to them at all, not an answer to analyse
            repo.update_participant(session=ctx.tx, participant=p, language=event.value)
        if not repo.has_consent(p, event.scope):
            return
        if event.name == "area" and event.value:
            repo.update_participant(
                session=ctx.tx, participant=p, area=event.value[:120],
                district=(event.extra.get("district") or None) if event.extra else None)
        text = sentiment = version = None
        value = event.value
        if event.question_type == "text":
            # a skipped question keeps no text: "SKIP" or "pass" is not an answer to analyse
            raw = None if event.category == "skipped" else (
                event.raw if event.raw is not None else event.value)
            text = privacy.scrub(raw)[:4000] if raw else None
            value = None
            if text and self._score is not None:
                sentiment, version = float(self._score(text)), self._score_version
        repo.upsert_response(session=ctx.tx, values={
            "run_id": run.id, "participant_id": p.id, "flow_id": run.flow_id,
            "name": event.name[:80], "question_type": event.question_type[:20],
            "value": value[:200] if value else value,
            "category": event.category[:80] if event.category else event.category,
            "number": event.number, "text": text, "sentiment": sentiment,
            "sentiment_version": version, "area": p.area, "district": p.district,
            "answered_at": ctx.now,
        })

    # ---------------------------------------------------------------- outbound --------------
    def _enqueue(self, ctx: _Ctx, body: str, kind: str, *, buttons: Iterable[Any] = (),
                 run_id: int | None = None, address_enc: bytes | None = None) -> None:
        key = f"{ctx.prefix}{ctx.counter}"
        ctx.counter += 1
        new_id = repo.insert_outbox(session=ctx.tx, participant=ctx.participant,
                                    channel=ctx.channel, body=body, kind=kind, dedupe_key=key,
                                    now=ctx.now, buttons=buttons or None, run_id=run_id,
                                    quiet_window=self._quiet, timezone=self.settings.timezone,
                                    address_enc=address_enc, defer=ctx.defer)
        if new_id is not None:
            ctx.outbox_ids.append(new_id)
        elif ctx.defer:
            ctx.outbox_keys.append(key)

    def _ask_again(self, ctx: _Ctx, run: RunRow) -> None:
        """Repeat the open question (buttons and all) after a keyword that interrupted it."""
        say = engine.question_again(self._flow_of(ctx.tx, run), json.loads(run.state))
        if say is not None:
            self._enqueue(ctx, say.text, "confirmation", buttons=say.options, run_id=run.id)

    def _say_fixed(self, ctx: _Ctx, name: str, lang: str, *, kind: str = "reply",
                   address_enc: bytes | None = None) -> None:
        texts = CHANNEL_TEXTS.get(ctx.channel, {}).get(name) or TEXTS[name]
        template = texts.get(lang) or texts["en"]
        body = template.format(program=self.settings.program_name, contact=self.settings.contact)
        self._enqueue(ctx, body, kind, address_enc=address_enc)

    # ---------------------------------------------------------------- campaigns -------------
    def start_run(
        self,
        *,
        session: Session,
        participant: Participant,
        flow_id: str,
        kind: str,
        dedupe_key: str,
        now: datetime,
        context: dict[str, Any] | None = None,
        campaign_id: int | None = None,
        session_id: int | None = None,
        locked: bool = False,
    ) -> RunRow | None:
        """Start ``flow_id`` for ``participant`` in the caller's transaction (campaigns,
        invitations). Its messages go out with ``kind`` (quiet hours apply). None when the
        participant opted out or was erased, a dialogue message the resident did not ask for
        (``kind`` other than "reply") goes to someone who has not agreed to dialogue
        messages, or this campaign/session/dedupe key already
        started a run for them (so a resident who declined hears nothing more from it).
        ``locked``: the caller has locked the participant's row in this transaction and read
        it afresh since (a campaign batch locks all of its residents at once); otherwise that
        is done here."""
        if now.tzinfo is None:
            raise ValueError("naive datetime rejected")
        if self._is_pg and not locked:
            session.refresh(participant, with_for_update=True)
        if participant.opted_out or participant.erased_at is not None or participant.id is None:
            return None
        if session_id is not None and kind != "reply" \
                and not repo.has_consent(participant, "dialogue"):
            return None  # unasked dialogue messages only to residents who agreed to them
        tx = as_tx(session)
        prefix = f"{dedupe_key}:"
        if repo.outbox_ids_for_prefix(session=tx, prefix=prefix):
            return None
        if campaign_id is not None and repo.participant_has_run(
                session=tx, participant_id=participant.id, campaign_id=campaign_id):
            return None
        if session_id is not None and repo.participant_has_run(
                session=tx, participant_id=participant.id, session_id=session_id,
                flow_id=flow_id):
            return None
        active = repo.active_run(session=tx, participant_id=participant.id)
        if active is not None and _held(active):
            return None  # asked whether they want to stop: nothing else until they answer
        if active is not None:
            repo.end_run(run=active, status="ended", now=now)  # superseded by the new run
            repo.save_run(session=tx, run=active)
        ctx = _Ctx(tx=tx, participant=participant, now=now, prefix=prefix,
                   channel=participant.channel, default_kind=kind)
        run = self._start(ctx, self.catalog.get(flow_id), context=context,
                          campaign_id=campaign_id, session_id=session_id)
        log_event(log, "run.started", participant=participant.key, run_id=run.id, flow=flow_id,
                  kind=kind, campaign_id=campaign_id, session_id=session_id)
        return run

    def wake_due(self, *, now: datetime, limit: int = 500) -> int:
        """Call the engine's ``timeout`` for runs whose ``wake_at`` has passed (reminders,
        timeout paths, expiry). Each run is its own transaction, taken in the same order as
        inbound messages (participant lock first), so the two never overwrite each other."""
        with transaction(self.engine) as tx:
            due = repo.due_runs(session=tx, now=now, limit=limit)
        handled = 0
        for run_id, participant_id in due:
            with transaction(self.engine) as tx:
                if self._wake_one(tx, run_id, participant_id, now):
                    handled += 1
        return handled

    def _wake_one(self, tx: Tx, run_id: int, participant_id: int, now: datetime) -> bool:
        participant = repo.participant_by_id(session=tx, participant_id=participant_id,
                                             lock=True)
        run = repo.run_by_id(session=tx, run_id=run_id)
        if participant is None or run is None or run.status != repo.ACTIVE_RUN \
                or run.wake_at is None or run.wake_at > now:
            return False
        if participant.opted_out or participant.erased_at is not None:
            repo.end_run(run=run, status="ended", now=now)
            repo.save_run(session=tx, run=run)
            return True
        flow = self._flow_of(tx, run)
        state = json.loads(run.state)
        ctx = _Ctx(tx=tx, participant=participant, now=now,
                   prefix=f"wake:{run.id}:{state.get('wake_at')}:", channel=participant.channel,
                   default_kind="reminder")
        step = engine.timeout(flow, state, now=now)
        self._apply(ctx, run, step)
        return True

    # ---------------------------------------------------------------- provider signals ------
    def record_provider_opt_out(self, *, participant_id: int, source: str, now: datetime) -> bool:
        """The provider says the resident unsubscribed or blocked us (Twilio 21610, Telegram
        403): record the opt-out, end the run, cancel everything queued. No confirmation (it
        could not be delivered). Returns False when already opted out or unknown."""
        with transaction(self.engine) as tx:
            participant = repo.participant_by_id(session=tx, participant_id=participant_id,
                                                 lock=True)
            if participant is None or participant.opted_out:
                return False
            self._opt_out(tx, participant, source=source[:40], now=now,
                          keep_confirmations=False)
        log_event(log, "participant.provider_opt_out", participant=participant.key,
                  source=source)
        return True

    def participant_for(self, session: Session, channel: str, address: str,
                        now: datetime) -> Participant:
        """Get or create the participant for a raw address (campaign audiences, the CLI)."""
        normalized = privacy.normalize_address(channel, address)
        key = privacy.participant_key(self._secret, channel, normalized)
        participant = repo.get_participant(session=session, channel=channel, key=key)
        if participant is None:
            participant, _ = repo.get_or_create_participant(
                session=session, channel=channel, key=key, now=now,
                address_enc=privacy.encrypt_address(self._secret, normalized), lock=False)
        elif participant.address_enc is None:
            participant.address_enc = privacy.encrypt_address(self._secret, normalized)
            session.add(participant)
        return participant

    @property
    def batch_stats(self) -> dict[str, int]:
        """Inbound messages and the transactions they shared (the benchmark reports both)."""
        return {"jobs": self._commits.jobs, "batches": self._commits.batches}


def _held(run: Any) -> bool:
    return bool(json.loads(run.state).get(HOLD)) if HOLD in run.state else False


def _own_words(text: str, active: RunRow | None,
               asked: Callable[[], bool]) -> Keyword | None:
    """Opt-out in the resident's own words (``engage.opt_out_intent``). After a clarification,
    "yes" or any opt-out phrase stops; anything else lifts the hold and is handled as usual.
    ``asked``: whether the last thing sent was the clarification (read only for a "yes" from
    a resident with no survey open, whose hold has no run to live in)."""
    held = active is not None and _held(active)
    language = opt_out_intent.language_of(text)
    if opt_out_intent.confirms(text) and (held or (active is None and asked())):
        return Keyword("opt_out", "own_words", language)
    intent = opt_out_intent.classify(text)
    if intent == "opt_out":
        return Keyword("opt_out", "own_words", language)
    if held and active is not None:  # answered with something else: carry on
        state = json.loads(active.state)
        state.pop(HOLD, None)
        active.state = json.dumps(state, separators=(",", ":"))
        return None
    return Keyword("clarify", "own_words", language) if intent == "ask" else None


def _dialogue_checkin(tx: Tx, participant: Any, text: str, now: datetime) -> Any:
    """Hook (scheduling): a dialogue session's check-in code texted at the session records
    attendance and gets a welcome reply instead of going to the resident's flow."""
    from engage.scheduling.dialogue import checkin_code, handle_checkin

    if checkin_code(text) is None:  # most replies: no query, no ORM session
        return None
    result = handle_checkin(session=tx.session, participant=participant, text=text, now=now)
    tx.flush()
    return result


_WHO = frozenset({
    "whoisthis", "whosthis", "whoisit", "whoareyou", "whoru", "whoisthat", "whothis",
    "whoistexting", "whoistextingme", "whatisthis", "whatsthis",
    "quienes", "quieneres", "quienesusted", "quienson", "quienessonustedes",
    "quienmeescribe", "queesesto",
})


def _asks_who(text: str) -> bool:
    """ "who is this?", "Quién es?": the resident asks who is texting them."""
    return compliance.fold(text) in _WHO


def _dialogue_seat(tx: Tx, run: RunRow, state: dict[str, Any]) -> None:
    """Hook (scheduling): before an invitation run reads an answer, put what a "yes" gets
    right now (``context.seat``: seat or waitlist) where the flow can branch on it."""
    from engage.scheduling.dialogue import RSVP_FLOW, rsvp_seat

    if run.flow_id != RSVP_FLOW or run.session_id is None or run.participant_id is None:
        return
    seat = rsvp_seat(session=tx.session, session_id=run.session_id,
                     participant_id=run.participant_id)
    state["context"] = {**(state.get("context") or {}), "seat": seat}


def _dialogue_rsvp(tx: Tx, run: RunRow, step: engine.Step, now: datetime) -> None:
    """Hook (scheduling): an RSVP answer takes its seat (or waitlist place) in this same
    transaction, so it is exactly what the reply just queued says."""
    from engage.scheduling.dialogue import RSVP_FLOW, rsvp_from_flow

    if run.flow_id != RSVP_FLOW or run.session_id is None or run.participant_id is None:
        return
    for event in step.events:
        if isinstance(event, ResultRecorded) and event.name == "rsvp" and event.value:
            tx.flush()
            rsvp_from_flow(session=tx.session, session_id=run.session_id,
                           participant_id=run.participant_id, answer=str(event.value),
                           now=now)
            tx.flush()
def _deliberation_reply(ctx: _Ctx, text: str, settings: Settings) -> Any:
    """Hook (deliberation): a vote, an own view, MORE or PAUSE from a resident taking part in
    a deliberation conversation; None for everyone else (one indexed read)."""
    from engage.deliberation.texting import handle_reply

    return handle_reply(ctx.tx, ctx.participant, text, now=ctx.now,
                        busy=ctx.active is not None, tz=settings.timezone,
                        program=settings.program_name, prefix=ctx.prefix)
