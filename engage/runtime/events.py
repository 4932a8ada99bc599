"""One handler per engine event (goflow style): an engine step's events become storage
writes and outbox rows in the message's transaction, then the run's new state is saved."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from engage import privacy
from engage.consent import record_consent
from engage.flow import engine
from engage.flow.events import ConsentChanged, LanguageChanged, ResultRecorded, RunEnded, Say
from engage.runtime.context import SUPPORTED_LANGUAGES, MessageContext
from engage.runtime.outbound import enqueue
from engage.storage import repo
from engage.storage.records import RunRow


def apply_step(ctx: MessageContext, run: RunRow, step: engine.Step) -> None:
    """Turn one engine step into storage writes and outbox rows (same transaction)."""
    for event in step.events:
        _HANDLERS[type(event)](ctx, run, event)
    state = step.state
    recorded = engine.results(state)
    free_text = {e.name: privacy.scrub(value) for e in step.events
                 if isinstance(e, ResultRecorded) and e.question_type == "text"
                 and isinstance(value := recorded.get(e.name), str)}
    if free_text:  # the stored run state never keeps unscrubbed free text either
        state = engine.with_results(state, free_text)
    run.state = json.dumps(state, separators=(",", ":"), ensure_ascii=False)
    run.status = step.status
    run.wake_at = step.wake_at
    run.updated_at = ctx.now
    repo.save_run(tx=ctx.tx, run=run)


def on_say(ctx: MessageContext, run: RunRow, event: Say) -> None:
    enqueue(ctx, event.text, ctx.default_kind, buttons=event.options, run_id=run.id)


def on_consent_changed(ctx: MessageContext, run: RunRow, event: ConsentChanged) -> None:
    record_consent(tx=ctx.tx, participant=ctx.participant, scope=event.scope,
                   status=event.status, text_version=event.text_version,
                   now=ctx.now, source=f"flow:{run.flow_id}")


def on_result_recorded(ctx: MessageContext, run: RunRow, event: ResultRecorded) -> None:
    """Store an answer only under granted consent for its scope; free text scrubbed."""
    p = ctx.participant
    if event.name == "language" and event.value in SUPPORTED_LANGUAGES:
        # needed to talk to them at all, not an answer to analyse
        repo.update_participant(tx=ctx.tx, participant=p, language=event.value)
    if not repo.has_consent(p, event.scope):
        return
    if event.name == "area" and event.value:
        repo.update_participant(
            tx=ctx.tx, participant=p, area=event.value[:120],
            district=(event.extra.get("district") or None) if event.extra else None)
    text = None
    sentiment: float | None = None
    version: str | None = None
    value = event.value
    if event.question_type == "text":
        # a skipped question keeps no text: "SKIP" or "pass" is not an answer to analyse
        raw = None if event.category == "skipped" else (
            event.raw if event.raw is not None else event.value)
        text = privacy.scrub(raw)[:4000] if raw else None
        value = None
        if text:
            sentiment = float(ctx.services.score(text))
            version = ctx.services.score_version
    repo.upsert_response(tx=ctx.tx, values={
        "run_id": run.id, "participant_id": p.id, "flow_id": run.flow_id,
        "name": event.name[:80], "question_type": event.question_type[:20],
        "value": value[:200] if value else value,
        "category": event.category[:80] if event.category else event.category,
        "number": event.number, "text": text, "sentiment": sentiment,
        "sentiment_version": version, "area": p.area, "district": p.district,
        "answered_at": ctx.now,
    })


def on_language_changed(ctx: MessageContext, run: RunRow, event: LanguageChanged) -> None:
    repo.update_participant(tx=ctx.tx, participant=ctx.participant, language=event.language)


def on_run_ended(ctx: MessageContext, run: RunRow, event: RunEnded) -> None:
    run.ended_at = ctx.now


_HANDLERS: dict[type[Any], Callable[[MessageContext, RunRow, Any], None]] = {
    Say: on_say,
    ConsentChanged: on_consent_changed,
    ResultRecorded: on_result_recorded,
    LanguageChanged: on_language_changed,
    RunEnded: on_run_ended,
}
