"""A synthetic Baltimore community for ``engage demo``: who lives where, how they feel, and
how they actually text (typos, slang, Spanish, the odd phone number they should not send).

Pure and seeded: the same seed gives the same residents and the same replies, so the demo's
figures are repeatable. Nothing here touches the database or the network.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from engage.flow.areas import Gazetteer, Neighbourhood

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_WEIGHTS = (12, 22, 19, 17, 16, 14)
RACE = ("black", "white", "hispanic_latino", "asian", "native_american", "multiracial", "other")
RACE_WEIGHTS = (58, 27, 7, 3, 1, 3, 1)
RACE_REPLY_EN = {
    "black": ("1", "Black", "black", "african american"),
    "white": ("2", "White", "white", "caucasian"),
    "hispanic_latino": ("3", "latina", "Hispanic", "latino"),
    "asian": ("4", "asian", "Asian american"),
    "native_american": ("5", "native american"),
    "multiracial": ("6", "mixed", "biracial"),
    "other": ("7", "other"),
}
RACE_REPLY_ES = {
    "black": ("1", "negra", "afroamericano"),
    "white": ("2", "blanco"),
    "hispanic_latino": ("3", "latina", "hispano", "Latino"),
    "asian": ("4", "asiatico"),
    "native_american": ("5", "indigena"),
    "multiracial": ("6", "mixto"),
    "other": ("7", "otra"),
}
CONTACTS = ("called_for_help", "stopped_by_police", "crisis_response", "community_event", "none")
CONTACT_WEIGHTS = (24, 14, 5, 12, 45)
CONTACT_REPLY_EN = {
    "called_for_help": ("1", "called 911", "I called the police", "1 called for help"),
    "stopped_by_police": ("2", "got pulled over", "stopped", "traffic stop smh"),
    "crisis_response": ("3", "crisis", "mental health"),
    "community_event": ("4", "community meeting", "event"),
    "none": ("5", "none", "no contact", "nothing"),
}
CONTACT_REPLY_ES = {
    "called_for_help": ("1", "llame al 911", "pedi ayuda"),
    "stopped_by_police": ("2", "me pararon", "me detuvieron"),
    "crisis_response": ("3", "crisis", "salud mental"),
    "community_event": ("4", "evento", "reunion"),
    "none": ("5", "ninguno", "nada"),
}
LikertWords = dict[str, dict[int, tuple[str, ...]]]  # scale kind -> value -> phrasings

LIKERT_WORDS_EN: LikertWords = {
    "safety": {1: ("very unsafe",), 2: ("unsafe", "not safe"), 3: ("neutral", "ok i guess"),
               4: ("safe",), 5: ("very safe",)},
    "agree": {1: ("strongly disagree",), 2: ("disagree",), 3: ("neutral",), 4: ("agree",),
              5: ("strongly agree",)},
    "satisfied": {1: ("very dissatisfied",), 2: ("dissatisfied",), 3: ("neutral",),
                  4: ("satisfied",), 5: ("very satisfied",)},
}
LIKERT_WORDS_ES: LikertWords = {
    "safety": {1: ("muy inseguro",), 2: ("inseguro",), 3: ("neutral",), 4: ("seguro",),
               5: ("muy seguro",)},
    "agree": {1: ("muy en desacuerdo",), 2: ("en desacuerdo",), 3: ("neutral",),
              4: ("de acuerdo",), 5: ("muy de acuerdo",)},
    "satisfied": {1: ("muy insatisfecho",), 2: ("insatisfecho",), 3: ("neutral",),
                  4: ("satisfecho",), 5: ("muy satisfecho",)},
}
LIKERT_KIND = {
    "safe_day": "safety", "safe_night": "safety", "trust_respect": "agree",
    "trust_listen": "agree", "contact_satisfaction": "satisfied",
}

GREETINGS_EN = ("Hi", "hello", "survey", "hey", "SURVEY", "hi i got ur flyer", "hi!")
GREETINGS_ES = ("hola", "Hola", "encuesta", "buenas")
YES_EN = ("yes", "Yes", "YES", "yeah", "yep", "ok sure", "sure", "y", "Yes!", "👍")
YES_ES = ("si", "sí", "Sí", "claro", "si claro", "dale", "ok")
NO_EN = ("no", "No", "nah", "no thanks", "nope")
NO_ES = ("no", "No gracias", "no")
SKIP_EN = ("skip", "SKIP", "pass", "prefer not to say")
SKIP_ES = ("saltar", "SALTAR", "prefiero no decir")

# Free-text answers by mood, with the typos and slang residents actually send.
SAFER_EN = {
    "negative": (
        "police never come when u call, took 2 hrs last time",
        "i dont feel safe at night, too many shootings on our block",
        "Nobody listens to us. the vacant houses r full of trash and ppl dealing",
        "cops harass the young guys on the corner every day smh",
        "response time is terrible!!! we called 3 times",
        "fix the street lights, its pitch dark after 8",
        "more patrols but the ones who actually respect ppl",
        "the vacants on our street need to be torn down, kids play there",
        "I don't trust them after what happened to my nephew",
    ),
    "neutral": (
        "more street lights and a rec center for the kids",
        "more lights",
        "a crossing guard by the school",
        "clean up the vacant lots",
        "speed bumps on our street",
        "officers walking the beat instead of just driving by",
        "idk maybe cameras",
        "more community meetings like this",
    ),
    "positive": (
        "honestly its gotten better, the new officer on our block is great",
        "no complaints, they came fast when my car got broken into",
        "Keep the community events going, they really help!",
        "can't complain, feels safer than last year",
        "the foot patrols have been good, people feel heard",
        "love the block parties with the district officers 🙂",
    ),
}
SAFER_ES = {
    "negative": (
        "la policia nunca viene cuando llamamos",
        "no me siento segura de noche, hay muchos robos",
        "nos tratan mal por no hablar ingles",
        "las casas abandonadas dan miedo y nadie hace nada",
    ),
    "neutral": (
        "mas luz en las calles",
        "mas patrullas y que hablen español",
        "limpiar los lotes vacios",
        "un centro para los jovenes",
    ),
    "positive": (
        "todo bien, el oficial del barrio es muy amable",
        "ha mejorado mucho, gracias por preguntar",
        "me gustan las reuniones comunitarias",
    ),
}
# A few residents send contact details anyway; they must never reach analytics or exports.
OVERSHARE = (
    "call me at 410-555-0187 if u want details",
    "email me maria.g@example.com",
    "I live at 1418 N Milton Ave, come see the lot",
    "text me back 443 555 0199",
)


@dataclass(frozen=True)
class Resident:
    """One synthetic resident: where, who, how they feel, and when they text in."""

    index: int
    phone: str
    language: str
    neighbourhood: Neighbourhood
    zip_code: str | None
    age_band: str
    race_ethnicity: str
    contact_type: str
    safety: float  # latent 1..5
    trust: float  # latent 1..5
    declines: bool
    quotes: bool
    dialogue: bool
    writes: bool
    starts_at: datetime


def _district_climate(gazetteer: Gazetteer, rng: random.Random) -> dict[str, tuple[float, float]]:
    """Each district's mean (safety, trust) on the 1..5 scale: real differences to chart."""
    return {
        d: (round(rng.uniform(2.3, 4.0), 2), round(rng.uniform(2.0, 3.8), 2))
        for d in gazetteer.districts
    }


def build_residents(
    gazetteer: Gazetteer,
    count: int,
    *,
    seed: int,
    start: datetime,
    end: datetime,
) -> list[Resident]:
    """``count`` residents, their first message spread between ``start`` and ``end``, with
    more answers in recent months (a growing programme)."""
    rng = random.Random(seed)
    climate = _district_climate(gazetteer, rng)
    zips_by_hood: dict[str, list[str]] = {}
    for code, hood_name in sorted(gazetteer.zips.items()):
        zips_by_hood.setdefault(hood_name, []).append(code)
    hoods = list(gazetteer.neighbourhoods)
    span = (end - start).total_seconds()
    residents: list[Resident] = []
    for i in range(count):
        hood = rng.choice(hoods)
        safety0, trust0 = climate[hood.district]
        age = rng.choices(AGE_BANDS, AGE_WEIGHTS)[0]
        contact = rng.choices(CONTACTS, CONTACT_WEIGHTS)[0]
        race = rng.choices(RACE, RACE_WEIGHTS)[0]
        spanish = (race == "hispanic_latino" and rng.random() < 0.7) or rng.random() < 0.06
        language = "es" if spanish else "en"
        trust = trust0 + rng.gauss(0, 0.8) - (0.7 if contact == "stopped_by_police" else 0.0)
        trust += 0.4 if contact == "community_event" else 0.0
        trust += 0.3 if age in ("55-64", "65+") else (-0.3 if age == "18-24" else 0.0)
        safety = safety0 + rng.gauss(0, 0.7) - (0.3 if age == "65+" else 0.0)
        offset = span * (rng.random() ** 0.6)  # skewed towards ``end``
        codes = zips_by_hood.get(hood.name, [])
        residents.append(
            Resident(
                index=i,
                phone=_phone(i),
                language=language,
                neighbourhood=hood,
                zip_code=rng.choice(codes) if codes else None,
                age_band=age,
                race_ethnicity=race,
                contact_type=contact,
                safety=min(5.0, max(1.0, safety)),
                trust=min(5.0, max(1.0, trust)),
                declines=rng.random() < 0.06,
                quotes=rng.random() < 0.55,
                dialogue=rng.random() < 0.35,
                writes=rng.random() < 0.8,
                starts_at=start + timedelta(seconds=offset),
            )
        )
    residents.sort(key=lambda r: (r.starts_at, r.index))
    return residents


def _phone(i: int) -> str:
    """Fictional-exchange Baltimore numbers (555), unique per resident."""
    area = ("410", "443", "667")[i // 10_000 % 3]
    return f"+1{area}555{i % 10_000:04d}"


def _typo(word: str, rng: random.Random) -> str:
    """Drop or swap one inner letter, as thumbs do."""
    if len(word) < 7:
        return word
    i = rng.randrange(2, len(word) - 2)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


class Replier:
    """Turns a resident and the question they are being asked into what they text back.

    ``attempt`` counts re-asks of the same question: a resident whose answer was not
    understood tries again more plainly (a bare number), as people do.
    """

    def __init__(self, seed: int | str) -> None:
        self.rng = random.Random(seed)

    @classmethod
    def for_resident(cls, seed: int, resident: Resident) -> Replier:
        """A replier of this resident's own, so what they text never depends on who else is
        texting at the same moment (the demo runs residents concurrently)."""
        return cls(f"{seed}:{resident.index}")

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        return self.rng.choice(list(options))

    def greeting(self, r: Resident) -> str:
        return self.pick(GREETINGS_ES if r.language == "es" else GREETINGS_EN)

    def yes_no(self, r: Resident, yes: bool) -> str:
        if r.language == "es":
            return self.pick(YES_ES if yes else NO_ES)
        return self.pick(YES_EN if yes else NO_EN)

    def likert(self, r: Resident, node: str, attempt: int) -> str:
        latent = r.safety if node.startswith("safe") else r.trust
        if node == "safe_night":
            latent -= 0.8
        if node == "contact_satisfaction":
            latent += 0.3
        value = int(min(5, max(1, round(latent + self.rng.gauss(0, 0.6)))))
        if attempt > 0:
            return str(value)
        words = (LIKERT_WORDS_ES if r.language == "es" else LIKERT_WORDS_EN)[LIKERT_KIND[node]]
        style = self.rng.random()
        if style < 0.55:
            return str(value)
        if style < 0.7:
            return f"{value}!" if value >= 4 else f"{value} honestly"
        if style < 0.9:
            return self.pick(words[value])
        return _typo(self.pick(words[value]), self.rng)

    def area(self, r: Resident, attempt: int) -> str:
        hood = r.neighbourhood
        skip = SKIP_ES if r.language == "es" else SKIP_EN
        if attempt > 0:
            return hood.name if attempt == 1 else self.pick(skip)
        style = self.rng.random()
        if style < 0.05:
            return self.pick(skip)
        if style < 0.2 and r.zip_code:
            return r.zip_code
        if style < 0.35 and hood.aliases:
            return self.pick(list(hood.aliases))
        if style < 0.5:
            lead = "vivo en" if r.language == "es" else self.pick(("i live in", "in", "near"))
            return f"{lead} {hood.name.lower()}"
        if style < 0.62:
            return _typo(hood.name.lower(), self.rng)
        return hood.name if self.rng.random() < 0.5 else hood.name.lower()

    def choice(self, r: Resident, node: str, attempt: int) -> str:
        es = r.language == "es"
        if node == "language":
            if attempt > 0:
                return "2" if es else "1"
            return self.pick(("2", "español", "espanol", "Spanish")) if es else self.pick(
                ("1", "English", "english", "1"))
        if node == "contact_type":
            table = CONTACT_REPLY_ES if es else CONTACT_REPLY_EN
            options = table[r.contact_type]
            return options[0] if attempt > 0 else self.pick(options)
        if node == "age_band":
            if self.rng.random() < 0.07 and attempt == 0:
                return self.pick(SKIP_ES if es else SKIP_EN)
            number = str(AGE_BANDS.index(r.age_band) + 1)
            return number if attempt > 0 or self.rng.random() < 0.6 else r.age_band
        if node == "race_ethnicity":
            if self.rng.random() < 0.1 and attempt == 0:
                return self.pick(SKIP_ES if es else SKIP_EN)
            table = RACE_REPLY_ES if es else RACE_REPLY_EN
            options = table[r.race_ethnicity]
            return options[0] if attempt > 0 else self.pick(options)
        return self.pick(SKIP_ES if es else SKIP_EN)

    def free_text(self, r: Resident) -> str:
        if not r.writes:
            return self.pick(SKIP_ES if r.language == "es" else SKIP_EN)
        mood_score = (r.trust + r.safety) / 2 + self.rng.gauss(0, 0.5)
        mood = "negative" if mood_score < 2.7 else "positive" if mood_score > 3.6 else "neutral"
        texts = (SAFER_ES if r.language == "es" else SAFER_EN)[mood]
        text = self.pick(texts)
        if self.rng.random() < 0.04:
            text = f"{text}. {self.pick(OVERSHARE)}"
        if self.rng.random() < 0.15:
            text = text.lower()
        return text

    def answer(self, r: Resident, node: str, attempt: int) -> str:
        """The reply to question ``node`` (a node id of flows/satisfaction.yaml)."""
        if node == "consent":
            return self.yes_no(r, not r.declines)
        if node == "quotes":
            return self.yes_no(r, r.quotes)
        if node == "dialogue":
            return self.yes_no(r, r.dialogue)
        if node == "area":
            return self.area(r, attempt)
        if node in LIKERT_KIND:
            return self.likert(r, node, attempt)
        if node == "safer":
            return self.free_text(r)
        return self.choice(r, node, attempt)
