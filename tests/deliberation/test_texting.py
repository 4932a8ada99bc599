"""The resident's side on Telegram, through the real runtime: buttons under each statement,
a press on an older statement's keyboard is not a vote on the current one, Spanish texts and
staff translations, and the informative order (fewest votes first)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from engage.channels.base import Inbound
from engage.deliberation import store, texting
from engage.privacy import encrypt_address, participant_key
from engage.storage.db import session_scope
from engage.storage.tables import Outbox, Participant
from engage.storage.tables.deliberation import DelibVote

CHAT = "424242"
_ids = itertools.count(1)


def _resident(db_engine: Engine, settings: Any, language: str = "en") -> None:
    with session_scope(db_engine) as session:
        session.add(Participant(
            key=participant_key(settings.secret_bytes(), "telegram", CHAT), channel="telegram",
            address_enc=encrypt_address(settings.secret_bytes(), CHAT), language=language,
            consent_dialogue="granted"))


def _send(runtime: Any, clock: Any, text: str) -> list[Outbox]:
    outcome = runtime.handle_inbound(Inbound(channel="telegram", address=CHAT, text=text,
                                             provider_id=f"u{next(_ids)}",
                                             received_at=clock()))
    with session_scope(runtime.engine) as session:
        rows = [session.get(Outbox, i) for i in outcome.outbox_ids]
        for row in rows:
            session.expunge(row)
    return [r for r in rows if r is not None]


def _conversation(db_engine: Engine, clock: Any, settings: Any, seeds: list[str],
                  languages: str = "en") -> int:
    with session_scope(db_engine) as session:
        conv = store.create_conversation(session, topic="Streets", languages=languages)
        for seed in seeds:
            store.add_statement(session, conv.id, seed)
        texting.invite(session, conv.id, now=clock(), settings=settings)
        assert conv.id is not None
        return conv.id


def test_buttons_and_an_old_keyboard(db_engine: Engine, runtime: Any, clock: Any,
                                     settings: Any) -> None:
    _resident(db_engine, settings)
    _conversation(db_engine, clock, settings, ["First statement here.", "Second one here."])
    [first] = _send(runtime, clock, "MORE")
    pressed = [b["value"] for b in json.loads(first.buttons or "[]")]
    assert [v.split(" ")[0] for v in pressed] == ["1", "2", "3"]
    [second] = _send(runtime, clock, pressed[0])  # press "1 Agree" under the first statement
    assert "Second one here." in (second.body or "")
    assert _send(runtime, clock, pressed[1]) == [], "the old keyboard does not vote again"
    with session_scope(db_engine) as session:
        assert [v.value for v in session.exec(select(DelibVote))] == [1]


def test_spanish_reads_translations_only(db_engine: Engine, runtime: Any, clock: Any,
                                         settings: Any) -> None:
    _resident(db_engine, settings, language="es")
    conv = _conversation(db_engine, clock, settings, ["Untranslated statement."], "en,es")
    with session_scope(db_engine) as session:
        s = store.add_statement(session, conv, "Lights on the bus routes.")
        store.translate(session, s.id, "Luces en las rutas de autobús.")
    [shown] = _send(runtime, clock, "MAS")
    assert shown.body == ("Un vecino dijo: 'Luces en las rutas de autobús.' Responda 1 de "
                          "acuerdo, 2 en desacuerdo, 3 no sé, o envíe su propia opinión")
    [done] = _send(runtime, clock, "1")
    assert "Ya vio todas" in (done.body or ""), "the untranslated one is not sent in English"


def test_next_statement_has_fewest_votes(db_engine: Engine, runtime: Any, clock: Any,
                                         settings: Any) -> None:
    _resident(db_engine, settings)
    conv = _conversation(db_engine, clock, settings, ["Well voted one.", "Fresh one."])
    with session_scope(db_engine) as session:
        well = store.statements(session, conv)[0]
        from engage.storage.tables.deliberation import DelibMember

        other = DelibMember(conversation_id=conv, source_id="x")
        session.add(other)
        session.flush()
        session.add(DelibVote(conversation_id=conv, statement_id=well.id, member_id=other.id,
                              value=1, cast_at=clock()))
        well.votes += 1
        session.add(well)
    [shown] = _send(runtime, clock, "MORE")
    assert "Fresh one." in (shown.body or "")
    _send(runtime, clock, "1")
    with session_scope(db_engine) as session:
        assert [s.votes for s in store.statements(session, conv)] == [1, 1]


async def test_votes_arriving_together_share_a_batch(db_engine: Engine, runtime: Any,
                                                     clock: Any, settings: Any) -> None:
    """Messages that arrive together may share a transaction (group commit): votes from
    several residents at once are each stored and answered."""
    import asyncio

    chats = [str(500000 + i) for i in range(6)]
    with session_scope(db_engine) as session:
        for chat in chats:
            session.add(Participant(
                key=participant_key(settings.secret_bytes(), "telegram", chat),
                channel="telegram", address_enc=encrypt_address(settings.secret_bytes(), chat),
                consent_dialogue="granted"))
    _conversation(db_engine, clock, settings, ["First statement here.", "Second one here."])

    async def say_all(text: str) -> list[Any]:
        return list(await asyncio.gather(*(runtime.handle_inbound_async(Inbound(
            channel="telegram", address=chat, text=text, provider_id=f"b{next(_ids)}",
            received_at=clock())) for chat in chats)))

    await say_all("MORE")
    outcomes = await say_all("2")
    assert all(len(o.outbox_ids) == 1 for o in outcomes)
    with session_scope(db_engine) as session:
        votes = session.exec(select(DelibVote)).all()
        assert sorted(v.value for v in votes) == [-1] * 6
        bodies = [o.body or "" for o in session.exec(select(Outbox))]
        assert sum("Second one" in b for b in bodies) == 6
