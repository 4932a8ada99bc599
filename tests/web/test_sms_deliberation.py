"""Deliberation by SMS end to end: the real app, runtime and twilio client against the fake
Twilio API. Residents who agreed to dialogue invitations are invited, vote on statements,
one submits their own view (scrubbed), a mediator approves it, another resident is shown it,
and STOP in the middle stops everything."""

from __future__ import annotations

from sqlmodel import select

from engage.deliberation import store, texting
from engage.storage.db import session_scope
from engage.storage.tables.deliberation import DelibMember, DelibStatement, DelibVote
from tests.web.conftest import SmsHarness
from tests.web.test_sms_survey import EN_REPLIES

NEIGHBOUR = "+14105550177"
SEEDS = ["More lights on the bus routes would make walks home safer.",
         "Officers should walk the beat on Greenmount Avenue.",
         "Youth centres should stay open until 10pm."]


async def _survey(sms: SmsHarness, number: str) -> None:
    """The satisfaction survey, saying yes to dialogue invitations on the way."""
    await sms.say("Hi", from_=number)
    for text in [*EN_REPLIES[:-1], "yes"]:  # the last question: dialogue invitations
        await sms.say(text, from_=number)


async def _conversation(sms: SmsHarness) -> int:
    with session_scope(sms.engine) as session:
        conv = store.create_conversation(session, topic="Safety on our streets",
                                         daily_cap=3)
        for seed in SEEDS:
            store.add_statement(session, conv.id, seed)
        assert conv.id is not None
        return conv.id


def _invite(sms: SmsHarness, conv_id: int) -> int:
    with session_scope(sms.engine) as session:
        return texting.invite(session, conv_id, now=sms.dispatcher.clock(),
                              settings=sms.settings)


async def test_vote_submit_moderate_show_and_stop(sms: SmsHarness) -> None:
    from tests.web.conftest import RESIDENT

    await _survey(sms, RESIDENT)
    await _survey(sms, NEIGHBOUR)
    conv_id = await _conversation(sms)
    assert _invite(sms, conv_id) == 2
    assert _invite(sms, conv_id) == 0, "each resident is invited once"
    await sms.deliver()
    assert "Reply MORE" in sms.api.bodies_to(RESIDENT)[-1]

    [first] = await sms.say("MORE")
    assert first == f"A neighbour said: '{SEEDS[0]}' Reply 1 agree, 2 disagree, 3 unsure, " \
                    "or send your own view"
    [second] = await sms.say("1")
    assert SEEDS[1] in second, "after a vote the next unseen statement follows"
    own = await sms.say("Put a crossing guard at Elm and 5th, call me on 410-555-0199")
    assert "moderator reviews" in own[0] and SEEDS[2] in own[1]
    [reprompt] = await sms.say("ok")
    assert "Please reply 1 agree" in reprompt

    with session_scope(sms.engine) as session:
        [pending] = store.statements(session, conv_id, "pending")
        assert "410" not in pending.text and "[phone]" in pending.text
        assert pending.author_kind == "resident"
        pending_id = pending.id
        votes = session.exec(select(DelibVote)).all()
        assert [(v.value) for v in votes] == [1]

    # the neighbour sees only approved statements: the pending one is not shown yet
    seen = []
    for reply in ("MORE", "2", "3"):
        seen += await sms.say(reply, from_=NEIGHBOUR)
    assert not any("crossing guard" in m for m in seen)

    with session_scope(sms.engine) as session:
        item = store.moderate(session, pending_id, approve=True, by="mediator-7", reason=None,
                              now=sms.dispatcher.clock())
        assert texting.notify_published(session, item, now=sms.dispatcher.clock(),
                                        settings=sms.settings)
    await sms.deliver()
    assert "Your view was published" in sms.api.bodies_to(RESIDENT)[-1]

    [shown] = await sms.say("MORE", from_=NEIGHBOUR)
    assert "crossing guard" in shown and "[phone]" in shown
    stop = await sms.say("STOP", from_=NEIGHBOUR)
    assert "unsubscribed" in stop[0]
    assert await sms.say("1", from_=NEIGHBOUR) == []
    assert await sms.say("MORE", from_=NEIGHBOUR) == []
    with session_scope(sms.engine) as session:
        statement_votes = session.exec(select(DelibVote).where(
            DelibVote.statement_id == pending_id)).all()
        assert statement_votes == [], "a vote after STOP is not stored"


async def test_daily_cap_pause_and_never_repeated(sms: SmsHarness) -> None:
    await _survey(sms, NEIGHBOUR)
    conv_id = await _conversation(sms)
    with session_scope(sms.engine) as session:
        store.add_statement(session, conv_id, "A fourth statement so the cap is reached.")
        conv = store.get_conversation(session, conv_id)
        conv.daily_cap = 2
        session.add(conv)
    _invite(sms, conv_id)
    await sms.deliver()
    first = await sms.say("MORE", from_=NEIGHBOUR)
    second = await sms.say("1", from_=NEIGHBOUR)
    capped = await sms.say("2", from_=NEIGHBOUR)
    assert "That is all for today" in capped[0]
    more = await sms.say("MORE", from_=NEIGHBOUR)
    assert "A neighbour said" in more[0], "MORE asks for one more past the cap"
    paused = await sms.say("PAUSE", from_=NEIGHBOUR)
    assert paused[0].startswith("Paused")
    after_pause = await sms.say("1", from_=NEIGHBOUR)
    assert not any("A neighbour said" in m for m in after_pause)
    texts = first + second + more
    assert len(set(texts)) == len(texts), "no statement is sent twice"
    with session_scope(sms.engine) as session:
        member = session.exec(select(DelibMember).where(
            DelibMember.participant_id.is_not(None))).one()  # type: ignore[union-attr]
        assert member.paused
        assert len(member.shown.split(",")) == 3
        assert len(session.exec(select(DelibVote)).all()) == 2, "the reply after PAUSE is no vote"
        assert len(session.exec(select(DelibStatement)).all()) == 4
