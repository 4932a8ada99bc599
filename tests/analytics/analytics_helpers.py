"""Insert survey answers directly through the models (no runtime needed for metrics tests)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session

from engage.storage.tables import Participant, Response, Run

Q3 = datetime(2026, 8, 10, 15, 0, tzinfo=UTC)
_keys = itertools.count(1)


def add_respondent(
    session: Session,
    *,
    district: str = "Eastern",
    area: str | None = None,
    answers: dict[str, int] | None = None,
    groups: dict[str, str] | None = None,
    text: str | None = None,
    sentiment: float | None = None,
    at: datetime = Q3,
    consent_quotes: str | None = None,
    language: str = "en",
    participant: Participant | None = None,
    flow_id: str = "satisfaction",
    text_category: str | None = None,
) -> Participant:
    """One resident (or ``participant``) completing one satisfaction run at ``at``."""
    area = area or f"{district} Park"
    if participant is None:
        participant = Participant(
            key=f"pkey{next(_keys):060d}", channel="sms", district=district, area=area,
            consent_surveys="granted", consent_quotes=consent_quotes, language=language,
        )
        session.add(participant)
        session.flush()
    run = Run(participant_id=participant.id, flow_id=flow_id, state="{}", status="completed",
              started_at=at, updated_at=at)
    session.add(run)
    session.flush()

    def add(name: str, qtype: str, **values: object) -> None:
        session.add(
            Response(run_id=run.id, participant_id=participant.id, flow_id=flow_id, name=name,
                     question_type=qtype, district=district, area=area, answered_at=at,
                     **values)
        )

    add("area", "area", value=area)
    for name, number in (answers or {}).items():
        add(name, "likert", number=float(number), value=str(number))
    for name, value in (groups or {}).items():
        add(name, "choice", value=value, category=value)
    if text is not None:
        add("safer", "text", text=text, sentiment=sentiment, sentiment_version="test-1",
            category=text_category)
    return participant


def add_invited(session: Session, *, district: str, at: datetime = Q3) -> Participant:
    """A resident who was asked (run started) but never answered."""
    participant = Participant(key=f"pkey{next(_keys):060d}", channel="sms", district=district,
                              area=f"{district} Park")
    session.add(participant)
    session.flush()
    session.add(Run(participant_id=participant.id, flow_id="satisfaction", state="{}",
                    status="expired", started_at=at, updated_at=at))
    return participant


def populate(engine: Engine, cells: dict[tuple[str, str], int], *, at: datetime = Q3) -> None:
    """``cells[(district, age_band)] = n`` residents with fixed, mid-scale answers."""
    with Session(engine) as session:
        for (district, age_band), n in cells.items():
            for i in range(n):
                add_respondent(
                    session, district=district, at=at, groups={"age_band": age_band},
                    answers={"trust_respect": 1 + i % 5, "trust_listen": 3, "safe_day": 4,
                             "safe_night": 2},
                )
        session.commit()
