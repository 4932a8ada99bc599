"""The lines the Telegram service sends itself (never stored), and the language rule for them.

One rule for every line: the resident's chosen language, else their Telegram app's, else
English.
"""

from __future__ import annotations

ONLY_TEXT = {
    "en": "Sorry, I can only read text messages. Please type your answer or use the buttons.",
    "es": "Lo siento, solo puedo leer mensajes de texto. Escriba su respuesta o use los botones.",
}
UNKNOWN_COMMAND = {
    "en": "Sorry, I don't know that command. Send /help for help or /stop to stop messages.",
    "es": "Lo siento, no conozco ese comando. Envíe /help para ayuda o /stop para no recibir más.",
}
ALREADY_ANSWERED = {
    "en": "That question was already answered. Please use the latest message.",
    "es": "Esa pregunta ya fue respondida. Use el mensaje más reciente.",
}
CHOOSE_FIRST = {
    "en": "Tap one or more answers first, then Done.",
    "es": "Toque una o más respuestas y luego Listo.",
}
LINK_UNUSABLE = {
    "en": "Sorry, this invitation link has expired or is not valid.",
    "es": "Lo siento, este enlace de invitación caducó o no es válido.",
}


def app_language(language_hint: str | None) -> str:
    """The language of the resident's Telegram app, as engage speaks it ("es" or "en")."""
    return "es" if (language_hint or "").lower().startswith("es") else "en"


def said(texts: dict[str, str], lang: str) -> str:
    return texts.get(lang) or texts["en"]
