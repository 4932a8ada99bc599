"""Opt-out in a resident's own words (en + es), beyond the STOP keywords.

The FCC's 2024 revocation rule (in force since April 2025) requires honouring a revocation of
consent made "by any reasonable means", so "stop please", "Stop texting me", "no more texts" or
a stop-sign emoji must end the messages exactly like STOP. The same words inside a longer
answer are not always a revocation ("police should stop harassing kids" is an answer), so:

- ``opt_out``: the *whole* message, once courtesy words ("please", "thanks", "por favor") are
  set aside, is an opt-out phrase, maybe asked ("can you stop texting me", "pueden dejar de
  enviarme mensajes"), or two in a row ("I don't want these texts, can you stop?"): honoured
  at once, with the usual confirmation.
- ``ask``: a longer message that talks about stopping *messages* ("... so stop texting me"):
  one clarification ("Reply STOP to stop all messages"), and nothing else until answered.
- ``None``: anything else, including "stop" about anything but messages: an answer.

Matching is on a folded form (case, accents, punctuation and stretched letters ignored). The
phrase set is deliberately narrow: a missed phrase still gets a clarification when it names
messages; a false opt-out would silence a resident who did not ask for it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Intent = Literal["opt_out", "ask"]

MAX_SHORT = 80  # characters: longer messages are never taken as an opt-out on their own
STOP_EMOJI = frozenset({"\U0001F6D1", "\u26D4", "\U0001F6AB"})  # stop sign, no entry, prohibited
_EMOJI_NOISE = frozenset({"\uFE0F", "\uFE0E", "\u200D"})

_COURTESY = (
    r"please|pls|plz|kindly|thanks|thank you|thank u|thx|ty|ok|okay|now|right now|asap|sorry|"
    r"hi|hello|hey|sir|maam|just|already|immediately|anymore|any more|again|for good|lol|"
    r"por favor|porfa|porfavor|gracias|muchas gracias|ya|ahora|hola|senor|senora|de una vez"
)
_NOUN = r"(?:texts?|txts?|messages?|msgs?|sms)"
# the messages themselves, named: "texts", "these messages", "all of your texts"
_NAMED = rf"(?:(?:these|those|the|your|ur|all|any|all of|all the|all these|all of these|" \
         rf"all your|all of your|any more|anymore|more|of these|of your) )?{_NOUN}"
_TEXTS = rf"(?:{_NAMED}|these|those|them|this|it)"
_TEXTOS = r"(?:(?:estos|esos|los|sus|tus|todos los|todos estos|todos sus|mas) )?" \
          r"(?:mensajes|textos|sms)"
# a request put as a question: "can you stop ...", "pueden dejar de ..."
_ASKING = (r"(?:(?:can|could|will|would) (?:you|u|you all|y all|you guys)|i need you to|"
           r"i want you to|pueden|puede|puedes|podrian|podria|podrias)(?: please| por favor)?")
_SHORT = [
    # en
    r"sto+p+(?: sto+p+)*(?: (?:it|this|that|all|everything|me|us|the texts|the messages))?",
    r"(?:cancel|end|stop) (?:my |the )?subscription",
    r"(?:stopall|unsubscribe|unsub|cancel|quit|end|revoke|opt ?out)(?: me| us)?"
    rf"(?: from (?:this|these|the|your|ur) (?:list|survey|program|{_TEXTS}))?",
    rf"(?:stop|quit|cease) (?:texting|txting|messaging|sending|contacting|spamming|bothering|"
    rf"writing)(?: (?:to )?(?:me|us))?(?: {_TEXTS})?",
    rf"(?:stop|quit|cease) (?:the|these|those|your|ur|all) {_TEXTS}",
    rf"no (?:more|further) {_TEXTS}",
    rf"(?:dont|do not|don t) (?:text|txt|message|msg|contact|send|write)(?: (?:to )?(?:me|us))?"
    rf"(?: {_TEXTS})?",
    r"(?:remove|take|delete) me(?: (?:off|from)(?: (?:the|this|your|ur) "
    r"(?:list|survey|program|texts|messages))?)?",
    r"i (?:want|would like|d like|wish|need) to (?:unsubscribe|opt ?out|stop(?: (?:getting|"
    rf"receiving) (?:{_NAMED}|these|them))?)",
    rf"i (?:dont|do not|don t) want (?:to (?:get|receive) )?{_NAMED}(?: (?:anymore|any more))?",
    r"leave me alone",
    # es
    r"(?:alto|basta|ya basta|pare|paren|parar|detener|cancelar|baja)",
    r"(?:darme|dame|denme|dar) de baja|quiero darme de baja",
    r"(?:no|ya no) (?:me )?(?:envien|manden|escriban|envie|mande|escriba|contacten)"
    r"(?: mas)?(?: (?:mensajes|textos|sms))?",
    r"(?:no|ya no|nada) mas (?:mensajes|textos|sms)",
    r"(?:dejen|deje|dejar|dejes) de (?:enviarme|mandarme|escribirme|enviar|mandar|escribir)"
    rf"(?: {_TEXTOS})?",
    r"(?:quitenme|quitame|saquenme|sacame|borrenme|borrame) de (?:la|esta|su|tu) lista",
    rf"(?:no|ya no) quiero (?:recibir )?{_TEXTOS}(?: mas)?",
]
_MENTION = [
    r"\b(?:stop|quit|cease) (?:texting|txting|messaging|spamming)\b",
    r"\b(?:stop|quit|cease) (?:sending|contacting|bothering|writing to) (?:me|us)\b",
    rf"\b(?:stop|quit|cease) sending {_NAMED}\b",
    r"\b(?:stop|quit|cease|no more) (?:the |these |those |your |ur |all )?(?:texts|messages|sms)\b",
    r"\b(?:dont|do not|don t) (?:text|message|contact|send) (?:me|us)\b",
    rf"\b(?:dont|do not|don t) want {_NAMED}\b(?!.* to (?:stop|end)\b)",  # not "... to stop"
    r"\bunsubscribe\b|\bopt ?out\b|\b(?:remove|take) me (?:off|from)\b",
    r"\bdejen de (?:enviar|mandar|escribir)",
    rf"\b(?:deje|dejar|dejes) de (?:enviarme|mandarme|escribirme|(?:enviar|mandar) {_TEXTOS})\b",
    r"\bno (?:me )?(?:envien|manden|escriban) (?:mas )?(?:mensajes|textos)\b",
    rf"\bno quiero (?:recibir )?{_TEXTOS}\b",
    r"\b(?:darme|dar|denme) de baja\b",
]
_COURTESY_SET = frozenset(_COURTESY.split("|"))
# a mention needs one of these words (a cheap test before the search)
_MENTION_WORDS = frozenset({
    "stop", "quit", "cease", "more", "dont", "don", "do", "unsubscribe", "opt", "optout",
    "remove", "take", "dejen", "deje", "dejar", "dejes", "envien", "manden", "escriban",
    "quiero", "baja"})
_ONE_SHORT = "|".join(f"(?:{p})" for p in _SHORT)
# one phrase, or two in a row ("I don't want these texts, can you stop?"), each maybe asked
_SHORT_RE = re.compile(rf"(?:{_ASKING} )?(?:{_ONE_SHORT})"
                       rf"(?: (?:and |so |just )?(?:{_ASKING} )?(?:{_ONE_SHORT}))?")
_MENTION_RE = re.compile("|".join(f"(?:{p})" for p in _MENTION))
_STRETCHED = re.compile(r"([a-z])\1{2,}")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")  # "pleeease" -> "pleease"; "stoppp" keeps matching


def fold_words(text: str) -> str:
    """Lowercase words separated by single spaces: accents, punctuation, emoji and letters
    stretched beyond two dropped ("STOP.  Thanks" -> "stop thanks"; "don't" -> "don t")."""
    if text.isascii():  # most messages: no accents or symbols to decompose
        return _STRETCHED.sub(r"\1\1", " ".join(_NOT_ALNUM.sub(" ", text.lower()).split()))
    decomposed = unicodedata.normalize("NFKD", text or "")
    kept = [ch if ch.isalnum() else " " for ch in decomposed.casefold()
            if not unicodedata.combining(ch)]
    return _STRETCHED.sub(r"\1\1", " ".join("".join(kept).split()))


def _only_stop_emoji(text: str) -> bool:
    symbols = [ch for ch in text if not ch.isspace() and ch not in _EMOJI_NOISE
               and unicodedata.category(ch)[0] != "P"]
    return bool(symbols) and all(ch in STOP_EMOJI for ch in symbols)


def _without_courtesy(words: str) -> str:
    """``words`` without courtesy words at either end ("please stop thanks" -> "stop")."""
    parts = words.split()
    changed = True
    while parts and changed:
        changed = False
        for size in (3, 2, 1):
            if len(parts) >= size and " ".join(parts[:size]) in _COURTESY_SET:
                parts, changed = parts[size:], True
                break
            if len(parts) >= size and " ".join(parts[-size:]) in _COURTESY_SET:
                parts, changed = parts[:-size], True
                break
    return " ".join(parts)


def classify(text: str) -> Intent | None:
    """``opt_out``, ``ask`` or None for one inbound message (keywords are checked first)."""
    if not text:
        return None
    if len(text) <= MAX_SHORT and _only_stop_emoji(text):
        return "opt_out"
    words = fold_words(text)
    if not words:
        return None
    if len(text) <= MAX_SHORT:
        core = _without_courtesy(words)
        if core and _SHORT_RE.fullmatch(core):
            return "opt_out"
    if _MENTION_WORDS.isdisjoint(words.split()):
        return None
    return "ask" if _MENTION_RE.search(words) else None


_YES = re.compile(r"(?:yes|y|yeah|yep|yup|si|sip|claro|stop|sto+p+)(?: (?:please|por favor|"
                  r"stop|alto|thanks|gracias))*")


def confirms(text: str) -> bool:
    """After the clarification: "yes" (or "sí") also means stop; so does any opt-out phrase."""
    return bool(_YES.fullmatch(_without_courtesy(fold_words(text)))) or classify(text) == "opt_out"


def language_of(text: str) -> str:
    """"es" when the words are Spanish opt-out words, else "en" (for the reply's language)."""
    words = f" {fold_words(text)} "
    spanish = (" baja ", " alto ", " basta ", " pare", " mensajes ", " textos ", " dejen ",
               " envien ", " manden ", " quiero ", " por favor ", " gracias ", " lista ")
    return "es" if any(word in words for word in spanish) else "en"
