"""What sessions say to residents, in their language, and how a session's start is written."""

from __future__ import annotations

from engage.flow.templating import fill
from engage.scheduling.clock import WHEN_LANGUAGES, when_text, zone
from engage.storage.tables.scheduling import DialogueSession

TEXTS: dict[str, dict[str, str]] = {
    "reminder": {
        "en": "Reminder: {title} is {when} at {place}. See you there!",
        "es": "Recordatorio: {title} es el {when} en {place}. ¡Le esperamos!",
    },
    "waitlisted": {
        "en": "{title} is full right now, so you are on the waitlist. We'll let you know if a "
              "seat opens up.",
        "es": "{title} está lleno por ahora; está en la lista de espera. Le avisaremos si se "
              "libera un lugar.",
    },
    "promoted": {
        "en": "Good news: a seat opened up for {title}, {when} at {place}. It's yours!",
        "es": "Buenas noticias: se liberó un lugar para {title}, el {when} en {place}. ¡Es suyo!",
    },
    "cancelled": {
        "en": "{title} ({when}) has been cancelled. Sorry for the change; we'll invite you to "
              "the next one.",
        "es": "{title} ({when}) se canceló. Disculpe el cambio; le invitaremos a la próxima.",
    },
    "checked_in": {
        "en": "Welcome to {title}! You're checked in.",
        "es": "¡Bienvenido/a a {title}! Su llegada quedó registrada.",
    },
    "checked_in_again": {
        "en": "You're already checked in to {title}. Welcome!",
        "es": "Su llegada a {title} ya quedó registrada. ¡Bienvenido/a!",
    },
}


def _text(name: str, language: str, **values: str) -> str:
    table = TEXTS[name]
    return fill(table.get(language, table["en"]), values)


def session_text(name: str, language: str, ds: DialogueSession) -> str:
    return _text(name, language, **_values(ds, language))


def format_when(ds: DialogueSession, language: str = "en") -> str:
    """The start in the session's own zone and the resident's language (``clock.when_text``):
    "Tue Jul 7, 6:00 PM", "martes 7 de julio, 6:00 p. m."."""
    return when_text(ds.starts_at.astimezone(zone(ds.timezone)), language)


def when_context(ds: DialogueSession) -> dict[str, str]:
    """``session_when`` for a flow's context, with a variant per language the flows speak
    (``session_when_es``: the templating picks the run's language)."""
    return {"session_when": format_when(ds),
            **{f"session_when_{lang}": format_when(ds, lang) for lang in WHEN_LANGUAGES}}


def _values(ds: DialogueSession, language: str = "en") -> dict[str, str]:
    return {"title": ds.title, "when": format_when(ds, language), "place": ds.place}
