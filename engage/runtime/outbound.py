"""Queueing what the runtime says: every outbound message becomes an outbox row in the
message's own transaction, its dedupe key derived from what caused it (so a redelivery
queues nothing twice)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from engage.flow import engine
from engage.runtime.context import MessageContext
from engage.runtime.texts import fixed_text
from engage.storage import repo
from engage.storage.records import RunRow


def enqueue(ctx: MessageContext, body: str, kind: str, *, buttons: Iterable[Any] = (),
            run_id: int | None = None, address_enc: bytes | None = None) -> None:
    """One outbox row; its id goes to the outcome (inbound: its key, the id read back later)."""
    key = f"{ctx.prefix}{ctx.counter}"
    ctx.counter += 1
    settings = ctx.services.settings
    new_id = repo.queue_outbox(tx=ctx.tx, participant=ctx.participant,
                               channel=ctx.channel, body=body, kind=kind, dedupe_key=key,
                               now=ctx.now, buttons=buttons or None, run_id=run_id,
                               quiet_window=settings.quiet_window, timezone=settings.timezone,
                               address_enc=address_enc)
    if new_id is not None:
        ctx.outbox_ids.append(new_id)
    elif ctx.tx.deferring:  # queued (inbound): its id is read by key with the commit
        ctx.outbox_keys.append(key)


def say_fixed(ctx: MessageContext, name: str, language: str, *, kind: str = "reply",
              address_enc: bytes | None = None) -> None:
    """Queue one of the fixed texts (``runtime.texts``)."""
    body = fixed_text(ctx.services.settings, ctx.channel, name, language)
    enqueue(ctx, body, kind, address_enc=address_enc)


def ask_again(ctx: MessageContext, run: RunRow) -> None:
    """Repeat the open question (buttons and all) after a keyword that interrupted it."""
    say = engine.question_again(ctx.services.flow_of(ctx.tx, run), json.loads(run.state))
    if say is not None:
        enqueue(ctx, say.text, "confirmation", buttons=say.options, run_id=run.id)


def say_pending(ctx: MessageContext) -> None:
    """Ask the waiting question again (after HELP or "who is this?"), so the resident
    knows what to answer."""
    active = ctx.active
    if active is None:
        return
    say = engine.pending_question(ctx.services.flow_of(ctx.tx, active), json.loads(active.state))
    if say is not None:
        enqueue(ctx, say.text, "reply", buttons=say.options, run_id=active.id)
