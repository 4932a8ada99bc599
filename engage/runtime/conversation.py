"""A message that is no keyword: it answers the waiting run, starts the default flow, or
gets the idle reply; and starting a flow for a resident (inbound or campaign)."""

from __future__ import annotations

import json
import logging
from typing import Any

from engage import compliance
from engage.flow import Flow, answers, engine
from engage.logging import log_event
from engage.runtime import hooks
from engage.runtime.context import MessageContext, log
from engage.runtime.events import apply_step
from engage.runtime.outbound import say_fixed, say_pending
from engage.storage import repo
from engage.storage.records import RunRow

_WHO = frozenset({
    "whoisthis", "whosthis", "whoisit", "whoareyou", "whoru", "whoisthat", "whothis",
    "whoistexting", "whoistextingme", "whatisthis", "whatsthis",
    "quienes", "quieneres", "quienesusted", "quienson", "quienessonustedes",
    "quienmeescribe", "queesesto",
})


def asks_who(text: str) -> bool:
    """ "who is this?", "Quién es?": the resident asks who is texting them."""
    return compliance.fold(text) in _WHO


def converse(ctx: MessageContext, text: str) -> RunRow | None:
    """Answer the waiting run, or start the default flow; the run the message went to."""
    p = ctx.participant
    active = ctx.active
    settings = ctx.services.settings
    if asks_who(text):  # answered, then the question again; not an answer to it
        say_fixed(ctx, "whois", p.language)
        say_pending(ctx)
        return active
    if active is not None and active.session_id is not None:
        # an invitation the resident never received is not what they are answering
        released = repo.release_unreached(tx=ctx.tx, run_id=active.id, now=ctx.now)
        if released:  # it goes out now, in reply; their next message answers it
            ctx.outbox_ids.extend(released)
            return active
        if released is not None:  # nothing of it can reach them any more
            repo.end_run(run=active, status="expired", now=ctx.now)
            repo.save_run(tx=ctx.tx, run=active)
            active = ctx.active = None
    if active is not None:
        flow = ctx.services.flow_of(ctx.tx, active)
        state = json.loads(active.state)
        if active.session_id is not None:
            state = hooks.dialogue_seat(ctx.tx, active, state)
        step = engine.resume(flow, state, text, now=ctx.now)
        apply_step(ctx, active, step)
        if active.session_id is not None:
            hooks.dialogue_rsvp(ctx.tx, active, step, ctx.now, ctx.services.settings)
        return active
    if not ctx.fresh and repo.has_runs(tx=ctx.tx, participant_id=ctx.participant_id):
        declined = (settings.default_flow, "declined")
        if answers.parse_yes_no(text) and repo.latest_run(
                tx=ctx.tx, participant_id=ctx.participant_id) == declined:
            return start_default(ctx)  # changed their mind: as START would
        say_fixed(ctx, "idle", p.language)
        return None
    return start_default(ctx)


def start_default(ctx: MessageContext) -> RunRow | None:
    """Start the configured default flow (None, logged, when the catalog lacks it)."""
    flow_id = ctx.services.settings.default_flow
    catalog = ctx.services.catalog
    if flow_id not in catalog:
        log_event(log, "inbound.no_default_flow", level=logging.WARNING, flow=flow_id)
        return None
    return start_flow(ctx, catalog.get(flow_id), context=None, campaign_id=None,
                      session_id=None)


def start_flow(ctx: MessageContext, flow: Flow, *, context: dict[str, Any] | None,
               campaign_id: int | None, session_id: int | None) -> RunRow:
    """A new run of ``flow`` for the context's participant, its first step applied."""
    version_id = ctx.services.catalog.version_id(ctx.tx, flow, now=ctx.now)
    step = engine.start(flow, now=ctx.now, language=ctx.participant.language, context=context)
    run = repo.insert_run(tx=ctx.tx, participant_id=ctx.participant_id,
                          flow_id=flow.id, flow_version_id=version_id, status=step.status,
                          now=ctx.now, campaign_id=campaign_id, session_id=session_id)
    apply_step(ctx, run, step)
    return run
