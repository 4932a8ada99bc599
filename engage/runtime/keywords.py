"""One handler per keyword kind (STOP, START, HELP, the opt-out clarification, DELETE,
language), chosen from a table by ``Keyword.kind``."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import update as sa_update
from sqlmodel import col

from engage import privacy
from engage.compliance import Keyword, KeywordKind
from engage.consent import record_consent
from engage.flow import engine
from engage.runtime import opt_outs
from engage.runtime.context import Job, MessageContext, Status
from engage.runtime.conversation import start_default
from engage.runtime.events import apply_step
from engage.runtime.outbound import ask_again, say_fixed, say_pending
from engage.storage import repo
from engage.storage.records import RunRow
from engage.storage.sql import Tx
from engage.storage.tables import Message, Participant

Handled = tuple[Status, RunRow | None]
# (context, keyword, language to answer in, the message)
KeywordHandler = Callable[[MessageContext, Keyword, str, Job], Handled]


def handle_keyword(ctx: MessageContext, keyword: Keyword, job: Job) -> Handled:
    """Answer the keyword; returns the status and the run the message went to."""
    p = ctx.participant
    language = keyword.language if keyword.language == "es" else p.language
    return _HANDLERS[keyword.kind](ctx, keyword, language, job)


def on_opt_out(ctx: MessageContext, keyword: Keyword, language: str, job: Job) -> Handled:
    p = ctx.participant
    if p.opted_out:
        return "ignored", None  # confirmed once already; say nothing more
    source = "own_words" if keyword.word == "own_words" else "keyword"
    opt_outs.opt_out(ctx.tx, p, source=source, now=ctx.now, keep_confirmations=True)
    say_fixed(ctx, "opt_out", language, kind="confirmation")
    return "handled", None


def on_opt_in(ctx: MessageContext, keyword: Keyword, language: str, job: Job) -> Handled:
    p = ctx.participant
    if p.opted_out:
        record_consent(tx=ctx.tx, participant=p, scope="all",
                       status="opted_in", text_version="keyword", now=ctx.now,
                       source="keyword")
        say_fixed(ctx, "opt_in", language, kind="confirmation")
    active = ctx.active
    if active is not None:
        say_fixed(ctx, "already_in", language, kind="confirmation")
        ask_again(ctx, active)
        return "handled", active
    return "handled", start_default(ctx)


def on_help(ctx: MessageContext, keyword: Keyword, language: str, job: Job) -> Handled:
    say_fixed(ctx, "help", language, kind="confirmation")
    say_pending(ctx)
    return "handled", None


def on_clarify(ctx: MessageContext, keyword: Keyword, language: str, job: Job) -> Handled:
    """Stopping messages mentioned in a longer text: ask once, hold everything else."""
    opt_outs.hold(ctx)
    say_fixed(ctx, "opt_out_ask", language, kind="confirmation")
    return "handled", ctx.active


def on_delete(ctx: MessageContext, keyword: Keyword, language: str, job: Job) -> Handled:
    """Erase, then confirm. The participant's address is gone after erasure, so the one
    confirmation carries its own encrypted copy (dropped when the row is sent)."""
    tx = ctx.tx
    secret = ctx.services.secret
    message_id = _message_id(tx, job)
    # keep this message's row, anonymous, so a retried delivery of DELETE is a duplicate;
    # it and the confirmation's key carry a keyed digest, never the provider's id
    repo.anonymize_message(tx=tx, message_id=message_id)
    erased_id = privacy.erased_provider_id(secret, ctx.channel, job.inbound.provider_id)
    session = tx.orm_session()
    session.execute(sa_update(Message).where(col(Message.id) == message_id)
                       .values(provider_id=erased_id))
    ctx.prefix = f"in:{ctx.channel}:{erased_id}:"
    stored = session.get(Participant, ctx.participant.id, populate_existing=True)
    assert stored is not None
    privacy.erase_participant(session=session, participant=stored, now=ctx.now)
    ctx.participant = stored
    say_fixed(ctx, "delete", language, kind="confirmation",
              address_enc=privacy.encrypt_address(secret, job.normalized))
    return "handled", None


def on_language(ctx: MessageContext, keyword: Keyword, language: str, job: Job) -> Handled:
    """ENGLISH / ESPAÑOL: without a target, ask which; with one, switch the resident and
    their waiting run (a closed question is asked again in the new language)."""
    p = ctx.participant
    if keyword.target is None:
        say_fixed(ctx, "language_ask", language, kind="confirmation")
        return "handled", None
    repo.update_participant(tx=ctx.tx, participant=p, language=keyword.target)
    if p.opted_out:
        return "ignored", None
    active = ctx.active
    if active is not None:
        flow = ctx.services.flow_of(ctx.tx, active)
        state = json.loads(active.state)
        node = flow.nodes.get(state.get("node") or "")
        if node is not None and node.question is not None and node.question.type != "text":
            # the engine re-asks the question in the new language (or records it)
            step = engine.resume(flow, state, job.text, now=ctx.now)
            apply_step(ctx, active, step)
            return "handled", active
        switched = engine.set_language(flow, state, keyword.target)
        if switched is not None:
            active.state = json.dumps(switched, separators=(",", ":"))
            repo.save_run(tx=ctx.tx, run=active)
    say_fixed(ctx, "language_set", keyword.target, kind="confirmation")
    return "handled", active


def _message_id(tx: Tx, job: Job) -> int:
    """The inbound row's id (DELETE only: the read sends the queued INSERT first)."""
    found = repo.find_inbound_message(tx=tx, channel=job.channel,
                                      provider_id=job.inbound.provider_id)
    assert found is not None
    return found


_HANDLERS: dict[KeywordKind, KeywordHandler] = {
    "opt_out": on_opt_out,
    "opt_in": on_opt_in,
    "help": on_help,
    "clarify": on_clarify,
    "delete": on_delete,
    "language": on_language,
}
