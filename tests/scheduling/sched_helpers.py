"""Helpers for the scheduling tests: residents with given traits, a tiny poll flow, replies."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from engage.channels.base import Inbound
from engage.config import DEFAULT_FLOWS_DIR, Settings
from engage.flows_catalog import FlowCatalog
from engage.runtime import Runtime
from engage.scheduling.ticks import Ticks
from engage.storage.db import session_scope
from engage.storage.tables import Outbox, Participant

POLL_FLOW = """\
id: poll
version: 1
title: One-question poll
languages: [en, es]
default_language: en
expire_after: 3d
nodes:
  - id: safe
    ask:
      type: yes_no
      result: felt_safe
      text:
        en: "Do you feel safe on your block? Reply YES or NO."
        es: "¿Se siente seguro en su cuadra? Responda SÍ o NO."
    next: done
  - id: done
    end: completed
    say:
      en: "Thank you!"
      es: "¡Gracias!"
"""

_ids = itertools.count(1)


def make_catalog(tmp_path: Path) -> FlowCatalog:
    """The shipped flows plus ``poll`` (one question: a reply completes the run)."""
    flows = tmp_path / "flows"
    shutil.copytree(DEFAULT_FLOWS_DIR, flows)
    (flows / "poll.yaml").write_text(POLL_FLOW)
    return FlowCatalog(flows)


def make_runtime(engine: Engine, settings: Settings, clock: Any, tmp_path: Path) -> Runtime:
    return Runtime(engine=engine, settings=settings, catalog=make_catalog(tmp_path), clock=clock)


def make_ticks(engine: Engine, settings: Settings, runtime: Runtime) -> Ticks:
    return Ticks(engine=engine, settings=settings, runtime=runtime)


def number(i: int) -> str:
    return f"+1410555{i:04d}"


def add_resident(engine: Engine, runtime: Runtime, address: str, *, now: Any,
                 channel: str = "sms", area: str | None = None, district: str | None = None,
                 tz: str | None = None, language: str = "en", surveys: str | None = "granted",
                 dialogue: str | None = None, opted_out: bool = False) -> int:
    with session_scope(engine) as session:
        p = runtime.participant_for(session, channel, address, now)
        p.area, p.district, p.timezone, p.language = area, district, tz, language
        p.consent_surveys, p.consent_dialogue, p.opted_out = surveys, dialogue, opted_out
        session.add(p)
        session.flush()
        assert p.id is not None
        return p.id


def opt_out(runtime: Runtime, address: str, clock: Any, channel: str = "sms") -> None:
    reply(runtime, address, "STOP", clock, channel=channel)


def reply(runtime: Runtime, address: str, text: str, clock: Any, channel: str = "sms") -> Any:
    return runtime.handle_inbound(Inbound(channel=channel, address=address, text=text,  # type: ignore[arg-type]
                                          provider_id=f"SM-test-{next(_ids)}",
                                          received_at=clock()))


_provider_ids = itertools.count(1)


def deliver(runtime: Runtime, clock: Any) -> int:
    """Run the real dispatcher (in-memory phones) until nothing is due: what residents get."""
    import asyncio
    import dataclasses

    from engage.channels.memory import MemorySender
    from engage.outbox import Dispatcher

    class Phones(MemorySender):
        async def send(self, message: Any) -> Any:  # provider ids unique across calls
            result = await super().send(message)
            return dataclasses.replace(result, provider_id=f"MEMD{next(_provider_ids):08d}")

    dispatcher = Dispatcher(
        engine=runtime.engine, settings=runtime.settings,
        senders={"sms": Phones(), "telegram": Phones(channel="telegram")},
        clock=clock, provider_opt_out=runtime.record_provider_opt_out,
        rates={"sms": 0, "telegram": 0})
    total = 0
    while sent := asyncio.run(dispatcher.run_once()):
        total += sent
    return total


def rows(engine: Engine, prefix: str = "") -> list[Outbox]:
    with session_scope(engine) as session:
        stmt = select(Outbox).order_by(col(Outbox.id))
        if prefix:
            stmt = stmt.where(col(Outbox.dedupe_key).like(prefix + "%"))
        return list(session.exec(stmt).all())


def participant(engine: Engine, pid: int) -> Participant:
    with session_scope(engine) as session:
        p = session.get(Participant, pid)
        assert p is not None
        return p
