"""Identity said in words rather than written as digits or with "@" (en + es).

``privacy.scrub`` catches 410-555-1234 and jane@example.org; residents also write "four one
zero five five five ...", "jane dot doe at example dot com" and "my name is Jane Doe". These
run before the digit-based rules:

- spelled numbers: a run of seven or more number words or single digits ("four one 0 five
  five five one two one two", "cuatro uno cero ...") is a phone number; number words followed
  by a street name and suffix ("twelve hundred north charles street") an address;
- spelled emails: "name dot surname at example dot com", "jane (at) gmail (dot) com",
  "juan arroba gmail punto com";
- names: the words after "my name is", "call me", "this is", "me llamo", "mi nombre es",
  "llámame" (one to three, stopping at a word like "and"/"at"), and capitalized words after
  "I'm", "I am", "this is", "it's", "soy", "habla".

Over-scrubbing is the safe side: "I'm Black and scared" loses "Black" to [name]; an answer that
keeps a name, a number or an email is the failure this module exists to prevent.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_DIGIT_WORDS = (
    "zero|oh|o|one|two|three|four|five|six|seven|eight|nine|"
    "cero|uno|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve"
)
_BIG_WORDS = (
    "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|"
    "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|double|triple|"
    "diez|once|doce|trece|catorce|quince|dieciseis|veinte|treinta|cuarenta|cincuenta|"
    "sesenta|setenta|ochenta|noventa|cien|ciento|mil|doble|doscientos|trescientos|"
    "cuatrocientos|quinientos|seiscientos|setecientos|ochocientos|novecientos"
)
_NUMBER_TOKEN = rf"(?:{_DIGIT_WORDS}|{_BIG_WORDS}|\d{{1,4}})"
_SEP = r"[\s,.\-/]+"
# seven tokens or more, at least two of them words (so "1 2 3 4 5 6 7" lists stay with the
# digit rules, which know phone shapes)
_SPELLED_PHONE = re.compile(
    rf"\b{_NUMBER_TOKEN}(?:{_SEP}(?:and{_SEP})?{_NUMBER_TOKEN}){{6,}}\b", re.IGNORECASE)
_WORD = re.compile(rf"\b(?:{_DIGIT_WORDS}|{_BIG_WORDS})\b", re.IGNORECASE)

_STREET_SUFFIX = (
    r"st|street|ave|avenue|rd|road|blvd|boulevard|dr|drive|ln|lane|way|ct|court|pl|place|"
    r"ter|terrace|pkwy|parkway|hwy|highway|cir|circle|sq|square|alley|row|pike|plaza|"
    r"calle|avenida"
)
_SPELLED_ADDRESS = re.compile(
    rf"\b(?:{_DIGIT_WORDS}|{_BIG_WORDS})(?:[\s-]+(?:and[\s-]+)?(?:{_DIGIT_WORDS}|{_BIG_WORDS})){{0,5}}"
    r"\s+(?:(?:n|s|e|w|north|south|east|west|norte|sur|este|oeste)\.?\s+)?"
    r"(?:[a-z'.-]+\s+){0,3}?"
    rf"(?:{_STREET_SUFFIX})\b\.?",
    re.IGNORECASE,
)

_TLD = r"com|org|net|edu|gov|us|io|co|mx|es|info|me|biz|app"
_DOT = r"\s*[(\[]?\s*(?:dot|punto)\s*[)\]]?\s*"
_AT = r"\s*[(\[]?\s*(?:at|arroba)\s*[)\]]?\s*"
_SPELLED_EMAIL = re.compile(
    rf"\b[\w+-]+(?:(?:{_DOT}|\.)[\w+-]+)*(?:{_AT}|\s*@\s*)[\w-]+(?:(?:{_DOT}|\.)[\w-]+)*"
    rf"(?:{_DOT}|\.)(?:{_TLD})\b",
    re.IGNORECASE,
)

_NAME_STOP = {
    "and", "or", "but", "at", "back", "anytime", "later", "on", "if", "when", "please", "to",
    "tomorrow", "now", "the", "a", "an", "from", "i", "im", "i'm", "in", "by", "for", "with",
    "y", "o", "pero", "al", "por", "en", "cuando", "si", "de", "del", "la", "el", "con",
    "mañana", "ahora", "para", "who", "que", "and,", "is", "es", "here", "aqui", "aquí",
}
_NAME_WORD = r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’-]*"
_NAME_INTRO = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name's|name\s*:|call\s+me|me\s+llamo|"
    r"mi\s+nombre\s+es|ll[aá]mame|ll[aá]menme)\s+"
    rf"((?:{_NAME_WORD})(?:\s+{_NAME_WORD}){{0,2}})",
    re.IGNORECASE,
)
_CAPITALIZED = r"[A-ZÀ-ÖØ-Þ][A-Za-zÀ-ÖØ-öø-ÿ'’-]*"
_CAPITAL_INTRO = re.compile(  # the introduction in any case; the name capitalized
    r"\b(?i:I'm|I’m|Im|I\s+am|soy|yo\s+soy|this\s+is|it's|it\s+is|habla)\s+"
    rf"({_CAPITALIZED}(?:\s+{_CAPITALIZED}){{0,2}})"
)


def _phone(match: re.Match[str]) -> str:
    words = len(_WORD.findall(match.group(0)))
    return "[phone]" if words >= 2 else match.group(0)


def _address(match: re.Match[str]) -> str:
    """Two number words at least ("twelve hundred ..."): "one street" is not an address."""
    words = len(_WORD.findall(match.group(0)))
    return "[address]" if words >= 2 else match.group(0)


def _name_words(words: str) -> tuple[str, str]:
    """(the name part, what follows it) of the words after a name introduction."""
    parts = words.split()
    kept: list[str] = []
    for part in parts:
        if part.lower().strip(".,!?;:") in _NAME_STOP:
            break
        kept.append(part)
    rest = words[len(" ".join(kept)):] if kept else words
    return " ".join(kept), rest


def _named(match: re.Match[str]) -> str:
    name, rest = _name_words(match.group(1))
    if not name:
        return match.group(0)
    intro = match.group(0)[: match.start(1) - match.start(0)]
    return f"{intro}[name]{rest}"


_TOKENS = re.compile(r"[a-zà-öø-ÿ]+|\d+|@")
_TOKEN_SPANS = re.compile(r"\b(?:[A-Za-zÀ-ÖØ-öø-ÿ]+|\d+)")
_NUMBER_SET = frozenset((_DIGIT_WORDS + "|" + _BIG_WORDS).split("|"))
_SUFFIX_SET = frozenset(_STREET_SUFFIX.split("|"))
_TLD_SET = frozenset(_TLD.split("|"))
_NAME_STARTS = frozenset({"my", "name", "call", "me", "mi", "llámame", "llamame", "llámenme",
                          "llamenme"})
_CAPITAL_STARTS = frozenset({"i", "im", "soy", "yo", "this", "it", "habla"})
_INTROS = ("name", "call me", "llamo", "nombre", "llám", "llam", "i'm", "i’m", "im ", "i am",
           "soy", "this is", "it's", "it is", "habla")


def scrub_spoken(text: str) -> str:
    """Spelled emails, spelled addresses and spelled phone numbers replaced with tags.

    Each pattern runs only when the words it needs are there (one pass over the tokens):
    this runs on every inbound message, and most have none of them."""
    tokens = _TOKENS.findall(text.lower())
    words = set(tokens)
    out = text
    if words & {"at", "arroba", "@"} and (words & {"dot", "punto"} or "." in text) \
            and words & _TLD_SET:
        out = _SPELLED_EMAIL.sub("[email]", out)
    numbers = sum(1 for token in tokens if token in _NUMBER_SET or token.isdigit())
    if numbers and words & _SUFFIX_SET:
        out = _replace_from(_SPELLED_ADDRESS, out, _NUMBER_SET, _address)
    if numbers >= 7:
        out = _replace_from(_SPELLED_PHONE, out, _NUMBER_SET, _phone)
    return out


def _replace_from(pattern: re.Pattern[str], text: str, starts: frozenset[str],
                  replace: Callable[[re.Match[str]], str]) -> str:
    """``pattern.sub``, tried only where a word in ``starts`` (or a number) begins: a regex
    alternation of many words tried at every position costs milliseconds on a long message."""
    pieces: list[str] = []
    done = 0
    for token in _TOKEN_SPANS.finditer(text):
        word = token.group().lower()
        if token.start() < done or not (word in starts or word.isdigit()):
            continue
        match = pattern.match(text, token.start())
        if match is None or match.end() == match.start():
            continue
        pieces += [text[done:match.start()], replace(match)]
        done = match.end()
    return "".join(pieces) + text[done:] if pieces else text


def scrub_names(text: str) -> str:
    """Names after "my name is" / "call me" / "me llamo" / "I'm Capitalized" ... -> [name]."""
    lowered = text.lower()
    if not any(intro in lowered for intro in _INTROS):
        return text
    out = _replace_from(_NAME_INTRO, text, _NAME_STARTS, _named)
    return _replace_from(_CAPITAL_INTRO, out, _CAPITAL_STARTS, _named)
