"""The resident's side: invitations, one statement per text, votes, own views, MORE / PAUSE.

A resident who agreed to dialogue invitations is invited; replying MORE (MAS) sends the next
statement as one short text ("A neighbour said: '...' Reply 1 agree, 2 disagree, 3 unsure,
or send your own view"); Telegram shows the three answers as buttons. After a vote the next
statement follows at once while the resident is under the conversation's daily cap; MORE asks
for one more at any time and PAUSE stops them until MORE. Anything else sent while a statement
is showing is the resident's own view: scrubbed (``privacy.scrub``) and held for moderation.

The next statement is the approved one, in a language the resident reads, that this resident
has not been shown and that has the fewest votes so far (oldest first on ties): new
statements get votes quickly and nobody sees one twice.

STOP, HELP, DELETE and START are handled by the runtime before anything here runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, or_
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import Session, col, select

from engage import privacy
from engage.compliance import fold
from engage.config import Settings
from engage.errors import UserError
from engage.flow.events import Option
from engage.storage import repo
from engage.storage.records import ParticipantRow
from engage.storage.sql import Statement, Tx
from engage.storage.tables import Participant
from engage.storage.tables.deliberation import (
    DelibConversation,
    DelibMember,
    DelibStatement,
    DelibVote,
)

VOTE_REPLIES = {"1": 1, "2": -1, "3": 0}
MORE = {"more", "mas", "next", "siguiente"}
PAUSE = {"pause", "pausa"}
MIN_OWN_VIEW = 12  # shorter replies that are not 1/2/3 get a re-prompt, not a statement

TEXTS: dict[str, dict[str, str]] = {
    "invite": {
        "en": "{program}: neighbours are sharing views on \"{topic}\". Reply MORE to see what "
              "they said and vote, one short text at a time. PAUSE to stop these.",
        "es": "{program}: sus vecinos comparten opiniones sobre \"{topic}\". Responda MAS para "
              "ver lo que dijeron y votar, un mensaje corto a la vez. PAUSA para detenerlos.",
    },
    "statement": {
        "en": "A neighbour said: '{text}' Reply 1 agree, 2 disagree, 3 unsure, "
              "or send your own view",
        "es": "Un vecino dijo: '{text}' Responda 1 de acuerdo, 2 en desacuerdo, 3 no sé, "
              "o envíe su propia opinión",
    },
    "cap": {
        "en": "Thank you! That is all for today. Reply MORE any time for another.",
        "es": "¡Gracias! Es todo por hoy. Responda MAS cuando quiera otra.",
    },
    "done": {
        "en": "Thank you! You have seen every statement so far. We will text when there are "
              "new ones. Reply PAUSE to stop these.",
        "es": "¡Gracias! Ya vio todas las opiniones por ahora. Le escribiremos cuando haya "
              "nuevas. Responda PAUSA para detenerlos.",
    },
    "own_view": {
        "en": "Thank you. Your view will be shared with neighbours after a moderator reviews "
              "it (we remove names and contact details).",
        "es": "Gracias. Su opinión se compartirá después de que un moderador la revise "
              "(quitamos nombres y datos de contacto).",
    },
    "reprompt": {
        "en": "Please reply 1 agree, 2 disagree, 3 unsure, or send your own view in a "
              "sentence. PAUSE to stop.",
        "es": "Responda 1 de acuerdo, 2 en desacuerdo, 3 no sé, o envíe su opinión en una "
              "frase. PAUSA para detener.",
    },
    "paused": {
        "en": "Paused. You will get no more statements until you reply MORE.",
        "es": "En pausa. No recibirá más opiniones hasta que responda MAS.",
    },
    "published": {
        "en": "Your view was published and neighbours can now vote on it: '{text}'",
        "es": "Su opinión fue publicada y sus vecinos ya pueden votar: '{text}'",
    },
}

LABELS = {"en": ("1 Agree", "2 Disagree", "3 Unsure"),
          "es": ("1 De acuerdo", "2 En desacuerdo", "3 No sé")}
# A Telegram button sends back its value as the reply. The value names the statement, so a
# press on an older statement's keyboard (still on screen) is not taken as a vote on the
# statement showing now.
PRESS = re.compile(r"([123]) #s(\d+)")


def buttons(lang: str, statement_id: int) -> tuple[Option, ...]:
    return tuple(Option(label, f"{label[0]} #s{statement_id}") for label in LABELS[lang])


_M = DelibMember.__table__  # type: ignore[attr-defined]
_C = DelibConversation.__table__  # type: ignore[attr-defined]
_S = DelibStatement.__table__  # type: ignore[attr-defined]
_V = DelibVote.__table__  # type: ignore[attr-defined]
# The per-message path runs on prepared statements (engage/storage/sql.py), as survey answers
# do: a resident's memberships with their conversation, newest first (for everyone else: one
# indexed read that finds nothing) ...
_MEMBERSHIPS = Statement(
    sa_select(_M.c.id, _M.c.conversation_id, _M.c.showing_statement_id, _M.c.shown,
              _M.c.day, _M.c.sent_today, _C.c.daily_cap, _C.c.opens_at, _C.c.closes_at)
    .join(_C, _C.c.id == _M.c.conversation_id)
    .where(_M.c.participant_id == bindparam("pid")).order_by(_M.c.id.desc()))
# ... the approved statements another member wrote or staff seeded, fewest votes first ...
_CANDIDATES = Statement(
    sa_select(_S.c.id, _S.c.language, _S.c.text, _S.c.translation)
    .where(_S.c.conversation_id == bindparam("conv"), _S.c.status == "approved",
           or_(_S.c.author_member_id.is_(None), _S.c.author_member_id != bindparam("member")))
    .order_by(_S.c.votes, _S.c.id))
# ... and the writes.
_ADD_VOTE = Statement(sa_insert(_V).values(
    conversation_id=bindparam("conv"), statement_id=bindparam("statement"),
    member_id=bindparam("member"), value=bindparam("value"), cast_at=bindparam("at")))
_COUNT_VOTE = Statement(sa_update(_S).where(_S.c.id == bindparam("statement"))
                        .values(votes=_S.c.votes + 1))
_ADD_STATEMENT = Statement(sa_insert(_S).values(
    conversation_id=bindparam("conv"), text=bindparam("text"), language=bindparam("lang"),
    author_kind="resident", author_member_id=bindparam("member"), status="pending",
    author_told=False, votes=0, created_at=bindparam("at")))
_SAVE_MEMBER = Statement(sa_update(_M).where(_M.c.id == bindparam("member_id")).values(
    showing_statement_id=bindparam("showing"), shown=bindparam("shown_ids"),
    paused=bindparam("is_paused"), day=bindparam("on_day"), sent_today=bindparam("sent")))


@dataclass
class Reply:
    """What the hook did: the outbox rows it queued (ids), for the runtime's outcome."""

    outbox_ids: list[int]


def _say(name: str, lang: str, **values: Any) -> str:
    texts = TEXTS[name]
    return (texts.get(lang) or texts["en"]).format(**values)


def _today(now: datetime, tz: str) -> str:
    return now.astimezone(ZoneInfo(tz)).date().isoformat()


def _readable(statement: DelibStatement, lang: str) -> str | None:
    """The statement in the resident's language (a staff translation), else None."""
    if statement.language == lang:
        return statement.text
    return statement.translation


class Texting:
    """Queues staff-initiated texts (invitation, "published") on an ORM session."""

    def __init__(self, session: Session, participant: Participant, *, now: datetime,
                 settings: Settings, key_prefix: str) -> None:
        self.session, self.participant, self.now = session, participant, now
        self.settings, self.prefix = settings, key_prefix
        self.lang = participant.language if participant.language in LABELS else "en"
        self.outbox_ids: list[int] = []
        self._n = 0

    def send(self, body: str, kind: str = "reply", buttons: tuple[Option, ...] = ()) -> None:
        key = f"{self.prefix}{self._n}"
        self._n += 1
        new_id = repo.insert_outbox(  # quiet hours hold the invitations and reminders
            tx=Tx.of_session(self.session), participant=self.participant,
            channel=self.participant.channel, body=body, kind=kind, dedupe_key=key,
            now=self.now, buttons=buttons or None, quiet_window=self.settings.quiet_window,
            timezone=self.settings.timezone)
        if new_id is not None:
            self.outbox_ids.append(new_id)


@dataclass
class _Member:
    """A resident's membership as the per-message path reads and writes it."""

    id: int
    conversation_id: int
    showing: int | None
    shown: str
    day: str | None
    sent_today: int
    daily_cap: int
    paused: bool = False

    def save(self, tx: Tx) -> None:
        tx.execute(_SAVE_MEMBER, {"member_id": self.id, "showing": self.showing,
                                  "shown_ids": self.shown, "is_paused": self.paused,
                                  "on_day": self.day, "sent": self.sent_today})


def _open_membership(tx: Tx, participant_id: int, now: datetime) -> _Member | None:
    """The resident's membership in the newest open conversation (None for most people)."""
    for row in tx.all(_MEMBERSHIPS, {"pid": participant_id}):
        opens_at, closes_at = row[7], row[8]
        if (opens_at is None or opens_at <= now) and (closes_at is None or now < closes_at):
            return _Member(row[0], row[1], row[2], row[3], row[4], row[5], row[6])
    return None


class _Replies:
    """Queues replies for one inbound message on its transaction (dedupe keys from its id)."""

    def __init__(self, tx: Tx, participant: ParticipantRow | Participant, now: datetime,
                 prefix: str) -> None:
        self.tx, self.participant, self.now, self.prefix = tx, participant, now, prefix
        self.lang = participant.language if participant.language in LABELS else "en"
        self.outbox_ids: list[int] = []

    def send(self, name: str, buttons: tuple[Option, ...] = (), **values: Any) -> None:
        new_id = repo.insert_outbox(
            tx=self.tx, participant=self.participant, channel=self.participant.channel,
            body=_say(name, self.lang, **values), kind="reply",
            dedupe_key=f"{self.prefix}{len(self.outbox_ids)}", now=self.now,
            buttons=buttons or None)
        if new_id is not None:
            self.outbox_ids.append(new_id)

    def next_statement(self, member: _Member, tz: str, *, asked: bool) -> None:
        """The next statement, unless (when not asked for) over the daily cap."""
        today = _today(self.now, tz)
        if member.day != today:
            member.day, member.sent_today = today, 0
        member.showing = None
        if not asked and member.sent_today >= member.daily_cap:
            self.send("cap")
            return
        seen = {int(x) for x in member.shown.split(",") if x}
        for sid, language, text, translation in self.tx.all(
                _CANDIDATES, {"conv": member.conversation_id, "member": member.id}):
            readable = text if language == self.lang else translation
            if sid in seen or readable is None:
                continue
            member.showing = sid
            member.shown = f"{member.shown},{sid}".lstrip(",")
            member.sent_today += 1
            self.send("statement", buttons(self.lang, sid), text=readable)
            return
        self.send("done")


def handle_reply(tx: Tx, participant: ParticipantRow | Participant, text: str, *,
                 now: datetime, busy: bool, tz: str, program: str,
                 prefix: str) -> Reply | None:
    """The runtime's hook. None when the message is not for a deliberation (most messages:
    one indexed read); ``busy`` (a survey question is open) leaves all but MORE / PAUSE to
    the survey."""
    member = _open_membership(tx, participant.id, now) if participant.id is not None else None
    if member is None:
        return None
    press = PRESS.fullmatch(text.strip())
    word = press.group(1) if press else fold(text)
    if busy and word not in MORE | PAUSE:
        return None
    if member.showing is None and word not in MORE | PAUSE:
        return None  # nothing asked: the message goes to the resident's flow as usual
    if not repo.has_consent(participant, "dialogue"):
        return None
    replies = _Replies(tx, participant, now, prefix + "delib:")
    if word in PAUSE:
        member.paused, member.showing = True, None
        replies.send("paused")
    elif word in MORE:
        replies.next_statement(member, tz, asked=True)
    elif press and int(press.group(2)) != member.showing:
        return Reply([])  # a button under an older statement: not a vote on this one
    elif word in VOTE_REPLIES:
        tx.execute(_ADD_VOTE, {"conv": member.conversation_id, "statement": member.showing,
                               "member": member.id, "value": VOTE_REPLIES[word], "at": now})
        tx.execute(_COUNT_VOTE, {"statement": member.showing})
        replies.next_statement(member, tz, asked=False)
    elif len(" ".join(text.split())) < MIN_OWN_VIEW:
        replies.send("reprompt")
    else:
        own = privacy.scrub(" ".join(text.split()))[:280]
        tx.execute(_ADD_STATEMENT, {"conv": member.conversation_id, "text": own,
                                    "lang": replies.lang, "member": member.id, "at": now})
        replies.send("own_view")
        replies.next_statement(member, tz, asked=False)
    member.save(tx)
    return Reply(replies.outbox_ids)


def invite(session: Session, conversation_id: int, *, now: datetime, settings: Settings,
           limit: int | None = None) -> int:
    """Invite residents who agreed to dialogue invitations (in the conversation's area and
    languages, not opted out); each resident once. Returns how many were invited."""
    conv = session.get(DelibConversation, conversation_id)
    assert conv is not None and conv.id is not None
    if conv.closes_at is not None and conv.closes_at <= now:
        raise UserError(f"conversation {conv.id} closed on {conv.closes_at:%Y-%m-%d %H:%M} UTC: "
                        "nobody can be invited to it")
    query = select(Participant).where(
        Participant.consent_dialogue == "granted", col(Participant.opted_out).is_(False),
        col(Participant.erased_at).is_(None),
        col(Participant.language).in_(conv.languages.split(",")))
    if conv.area:
        query = query.where(Participant.area == conv.area)
    already = set(session.exec(select(DelibMember.participant_id).where(
        DelibMember.conversation_id == conv.id)).all())
    invited = 0
    for person in session.exec(query.order_by(col(Participant.id))).all():
        if person.id in already:
            continue
        if limit is not None and invited >= limit:
            break
        member = DelibMember(conversation_id=conv.id, participant_id=person.id,
                             source_id="pending", invited_at=now)
        session.add(member)
        session.flush()
        member.source_id = f"m{member.id}"
        session.add(member)
        texting = Texting(session, person, now=now, settings=settings,
                          key_prefix=f"delib:{conv.id}:invite:{person.id}:")
        texting.send(_say("invite", texting.lang, program=settings.program_name,
                          topic=conv.topic),
                     kind="invitation")
        invited += 1
    session.flush()
    return invited


def notify_published(session: Session, statement: DelibStatement, *, now: datetime,
                     settings: Settings) -> bool:
    """Tell a resident author that their statement is now shown to neighbours (once)."""
    if statement.status != "approved" or statement.author_told or not statement.author_member_id:
        return False
    member = session.get(DelibMember, statement.author_member_id)
    if member is None or member.participant_id is None:
        return False
    person = session.get(Participant, member.participant_id)
    if person is None:
        return False
    texting = Texting(session, person, now=now, settings=settings,
                      key_prefix=f"delib:published:{statement.id}:")
    text = _readable(statement, texting.lang) or statement.text
    texting.send(_say("published", texting.lang, text=text), kind="reminder")  # quiet hours
    statement.author_told = True
    session.add(statement)
    session.flush()
    return bool(texting.outbox_ids)
