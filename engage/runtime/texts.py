"""The fixed texts: compliance replies (opt-out, help, erasure, language) that must read the
same whatever flow is running. The flows carry everything else."""

from __future__ import annotations

from engage.config import Settings

TEXTS: dict[str, dict[str, str]] = {
    "opt_out": {
        "en": "{program}: you are unsubscribed and will get no more messages. "
              "Reply START to resubscribe.",
        "es": "{program}: se ha dado de baja y no recibirá más mensajes. "
              "Responda START para volver a suscribirse.",
    },
    "opt_in": {
        "en": "{program}: you are subscribed again. Reply HELP for help, STOP to opt out.",
        "es": "{program}: se ha suscrito de nuevo. Responda AYUDA para ayuda, ALTO para salir.",
    },
    "already_in": {
        "en": "{program}: you are subscribed. Reply to the last question to continue, "
              "HELP for help, STOP to opt out.",
        "es": "{program}: ya está suscrito. Responda la última pregunta para continuar, "
              "AYUDA para ayuda, ALTO para salir.",
    },
    "help": {
        "en": "{program}: community safety surveys and dialogues for your city. Answers are "
              "anonymous. Reply STOP to opt out, DELETE to erase your data. "
              "Msg & data rates may apply. Contact: {contact}",
        "es": "{program}: encuestas y diálogos de seguridad comunitaria de su ciudad. Las "
              "respuestas son anónimas. Responda ALTO para salir, BORRAR para borrar sus datos. "
              "Msg & data rates may apply (pueden aplicarse tarifas). Contacto: {contact}",
    },
    "delete": {
        "en": "{program}: we erased your answers, messages and number. "
              "You will get nothing more unless you text us again.",
        "es": "{program}: borramos sus respuestas, mensajes y número. "
              "No recibirá nada más a menos que nos escriba de nuevo.",
    },
    "language_set": {
        "en": "OK, we will write in English. Reply ESPAÑOL for Spanish.",
        "es": "De acuerdo, le escribiremos en español. Reply ENGLISH for English.",
    },
    "language_ask": {
        "en": "Reply ENGLISH for English. Responda ESPAÑOL para español.",
        "es": "Responda ESPAÑOL para español. Reply ENGLISH for English.",
    },
    "opt_out_ask": {
        "en": "{program}: do you want us to stop texting you? Reply STOP to stop all messages, "
              "or reply to the last question to go on.",
        "es": "{program}: ¿quiere que dejemos de escribirle? Responda ALTO para no recibir más "
              "mensajes, o responda la última pregunta para continuar.",
    },
    "media": {
        "en": "Sorry, we can only read text. Please reply in words.",
        "es": "Lo sentimos, solo podemos leer texto. Por favor responda con palabras.",
    },
    "whois": {
        "en": "This is {program}, your city's community safety surveys and dialogues. "
              "You get our texts because you texted us or agreed to invitations; answers "
              "are anonymous. Reply HELP for info, STOP to opt out.",
        "es": "Le escribe {program}, las encuestas y diálogos de seguridad comunitaria de su "
              "ciudad. Recibe nuestros mensajes porque nos escribió o aceptó invitaciones; "
              "las respuestas son anónimas. Responda AYUDA para información, ALTO para salir.",
    },
    "idle": {
        "en": "{program}: thanks for your message. There is no open survey right now. "
              "Reply HELP for info, STOP to opt out.",
        "es": "{program}: gracias por su mensaje. No hay ninguna encuesta abierta ahora. "
              "Responda AYUDA para información, ALTO para salir.",
    },
}


# Where a channel's residents read something else: Telegram has commands, no number, no
# message rates.
CHANNEL_TEXTS: dict[str, dict[str, dict[str, str]]] = {"telegram": {
    "opt_out": {
        "en": "{program}: you are unsubscribed and will get no more messages. "
              "Send /start to subscribe again.",
        "es": "{program}: se ha dado de baja y no recibirá más mensajes. "
              "Envíe /start para volver a suscribirse.",
    },
    "opt_in": {
        "en": "{program}: you are subscribed again. Send /help for help, /stop to opt out.",
        "es": "{program}: se ha suscrito de nuevo. Envíe /help para ayuda, /stop para salir.",
    },
    "already_in": {
        "en": "{program}: you are subscribed. Here is where we were "
              "(/help for help, /stop to opt out):",
        "es": "{program}: ya está suscrito. Aquí es donde íbamos "
              "(/help para ayuda, /stop para salir):",
    },
    "help": {
        "en": "{program}: community safety surveys and dialogues for your city. Answers are "
              "anonymous. Send /stop to opt out, /delete to erase your data, /language to "
              "change language. Contact: {contact}",
        "es": "{program}: encuestas y diálogos de seguridad comunitaria de su ciudad. Las "
              "respuestas son anónimas. Envíe /stop para salir, /delete para borrar sus datos, "
              "/language para cambiar de idioma. Contacto: {contact}",
    },
    "delete": {
        "en": "{program}: we erased your answers and messages and forgot this chat. "
              "You will get nothing more unless you write to us again.",
        "es": "{program}: borramos sus respuestas y mensajes y olvidamos este chat. "
              "No recibirá nada más a menos que nos escriba de nuevo.",
    },
    "language_set": {
        "en": "OK, we will write in English. Send /language es for Spanish.",
        "es": "De acuerdo, le escribiremos en español. Send /language en for English.",
    },
    "idle": {
        "en": "{program}: thanks for your message. There is no open survey right now. "
              "Send /help for info, /stop to opt out.",
        "es": "{program}: gracias por su mensaje. No hay ninguna encuesta abierta ahora. "
              "Envíe /help para información, /stop para salir.",
    },
}}


def fixed_text(settings: Settings, channel: str, name: str, language: str) -> str:
    """The fixed text ``name`` for ``channel`` in ``language`` (English when untranslated)."""
    texts = CHANNEL_TEXTS.get(channel, {}).get(name) or TEXTS[name]
    template = texts.get(language) or texts["en"]
    return template.format(program=settings.program_name, contact=settings.contact)


def opt_out_questions(settings: Settings) -> frozenset[str]:
    """Every wording of the clarification "do you want us to stop texting you?"."""
    return frozenset(text.format(program=settings.program_name, contact=settings.contact)
                     for text in TEXTS["opt_out_ask"].values())
