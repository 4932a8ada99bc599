"""Reply parsing as tolerant as a person: yes/no, numbers, Likert, choices, skips (en + es).

Every parser takes the resident's raw reply and returns a value or ``None`` (= re-prompt).
None of them raise on any input: empty text, 2,000 characters, emoji, control characters or
another script all come back as ``None`` or a normal answer.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache

MAX_REPLY = 4000  # longer replies are cut before parsing; nothing needs more

_SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)}
_KEEP_SYMBOLS_FROM = 0x2000  # emoji and pictographs survive folding; ASCII punctuation does not


_ASCII_PUNCT = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})


@lru_cache(maxsize=4096)
def clean(text: str) -> str:
    """Drop control/format characters, NFKC-normalize and collapse whitespace (case kept)."""
    text = text[:MAX_REPLY]
    if text.isascii() and text.isprintable():  # the common case, without per-char work
        return " ".join(text.split())
    text = unicodedata.normalize("NFKC", text)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch.isspace():
            out.append(" ")
        elif cat[0] == "C" or ch in _SKIN_TONES:
            continue
        else:
            out.append(ch)
    return " ".join("".join(out).split())


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Lower-case, strip accents and punctuation: the form every keyword is compared in."""
    text = clean(text).casefold()
    if text.isascii():
        return " ".join(text.translate(_ASCII_PUNCT).split())
    decomposed = unicodedata.normalize("NFKD", text)
    out = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        if ch.isalnum() or ch.isspace() or ord(ch) >= _KEEP_SYMBOLS_FROM:
            out.append(ch)
        else:
            out.append(" ")
    return " ".join("".join(out).split())


YES_WORDS = frozenset(
    {
        "yes", "y", "yeah", "yea", "yep", "yup", "ya", "ye", "yes please", "ok", "okay", "k",
        "sure", "of course", "correct", "true", "absolutely", "definitely", "i do", "i agree",
        "agree", "si", "sip", "claro", "claro que si", "por supuesto", "vale", "dale", "de acuerdo",
        "acepto", "👍", "✅", "👌", "✔", "✔️", "☑", "🙋",
    }
)
NO_WORDS = frozenset(
    {
        "no", "n", "nope", "nah", "na", "no thanks", "no thank you", "not really", "never",
        "false", "i dont", "i do not", "disagree", "nunca", "no gracias", "para nada", "tampoco",
        "👎", "❌", "🚫", "✖", "✖️",
    }
)
UNSURE_WORDS = frozenset(
    {"not sure", "no se", "no lo se", "maybe", "idk", "i dont know", "quizas", "tal vez"}
)
_YES_LEAD = frozenset({"yes", "yeah", "yep", "yup", "si", "sure", "ok", "okay", "claro", "👍"})
_NO_LEAD = frozenset({"no", "nope", "nah", "👎"})

SKIP_WORDS = frozenset(
    {
        "skip", "skip it", "skip this", "pass", "next", "prefer not to say", "prefer not to answer",
        "i prefer not to say", "rather not say", "id rather not say", "i d rather not say",
        "i would rather not say", "no answer", "decline to answer", "n a",
        "saltar", "salta", "saltear", "omitir", "paso", "siguiente", "prefiero no decir",
        "prefiero no decirlo", "prefiero no responder", "prefiero no contestar",
        "no quiero decir", "no quiero responder", "no quiero contestar",
    }
)

NUMBER_WORDS: Mapping[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "cero": 0, "uno": 1, "una": 1, "un": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5,
    "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12,
}

_LEADING_NUMBER = re.compile(r"^[#(\[]?\s*(-?\d{1,9}(?:[.,]\d{1,6})?)(?![\d])")
_ANY_NUMBER = re.compile(r"(?<![\d.,])-?\d{1,9}(?:[.,]\d{1,6})?(?![\d])")
_LETTER = re.compile(r"^[a-z]$")
_STRETCHED = re.compile(r"([^\W\d_])\1+")  # a letter typed more than once: "yesss", "noo"


def parse_yes_no(text: str) -> bool | None:
    """yes/y/yeah/yep/ok/sí/👍 -> True, no/nope/nah/👎 -> False, anything else -> None."""
    f = fold(text)
    if not f or f in UNSURE_WORDS:
        return None
    if f in YES_WORDS:
        return True
    if f in NO_WORDS:
        return False
    tokens = f.split()
    first = tokens[0]
    rest = set(tokens[1:])
    if first in _YES_LEAD and not rest & _NO_LEAD:
        return True
    if first in _NO_LEAD and not rest & _YES_LEAD:
        return False
    return None


def is_skip(text: str) -> bool:
    """"skip", "prefer not to say", "saltar", "prefiero no decir"... (optional questions only)."""
    return fold(text) in SKIP_WORDS


def _to_float(token: str) -> float | None:
    try:
        return float(token.replace(",", "."))
    except ValueError:
        return None


def parse_number(text: str) -> float | None:
    """A number at the start ("4", "4 - agree", "#4"), a lone number anywhere, or a word."""
    c = clean(text)
    if not c:
        return None
    m = _LEADING_NUMBER.match(c)
    if m:
        return _to_float(m.group(1))
    found = _ANY_NUMBER.findall(c)
    if len(found) == 1:
        return _to_float(found[0])
    tokens = fold(c).split()
    if tokens and tokens[0] in NUMBER_WORDS:
        return float(NUMBER_WORDS[tokens[0]])
    words = [NUMBER_WORDS[t] for t in tokens if t in NUMBER_WORDS]
    if len(words) == 1:
        return float(words[0])
    return None


def parse_int_in(text: str, lo: int, hi: int) -> int | None:
    """A whole number in [lo, hi] given by digits or a number word, else None."""
    n = parse_number(text)
    if n is None or n != int(n):
        return None
    value = int(n)
    return value if lo <= value <= hi else None


SHORT_KEY = 3
"""Keys this short ("es", "en", "no", "si", "eng") match only as typed, never by spelling:
one letter away from a short key is another word ("yes" is not "es", "not" is not "no")."""


def _within_length(f: str, keys: Mapping[str, int], cutoff: float) -> list[str]:
    """The keys a close spelling may reach: longer than ``SHORT_KEY``, and not ruled out by
    length alone, the very test difflib applies first (``real_quick_ratio``, 2 * shorter /
    total), done without building a matcher for each key. A gazetteer has hundreds of keys;
    most fail on length."""
    n = len(f)
    return [key for key in keys
            if len(key) > SHORT_KEY and 2.0 * min(n, len(key)) / (n + len(key)) >= cutoff]


def _stretched_short_key(f: str, keys: Mapping[str, int]) -> int | None:
    """The short key ``f`` spells with a letter held down ("noo", "yesss", "sii"): the same
    word, where a different letter would be another one."""
    squeezed = _STRETCHED.sub(r"\1", f)
    if squeezed == f or len(squeezed) > SHORT_KEY:
        return None
    found = {index for key, index in keys.items()
             if len(key) <= SHORT_KEY and _STRETCHED.sub(r"\1", key) == squeezed}
    return found.pop() if len(found) == 1 else None


def match_key(f: str, keys: Mapping[str, int], cutoff: float = 0.8) -> int | None:
    """Match folded text to one entry of ``keys`` (folded key -> index): exact, a whole key
    inside a phrase, a short key with a letter stretched, or a typo of a longer key."""
    if not f:
        return None
    hit = keys.get(f)
    if hit is not None:
        return hit
    padded = f" {f} "
    best: tuple[int, int] | None = None  # (key length, index)
    ambiguous = False
    for key, index in keys.items():
        if len(key) >= 3 and f" {key} " in padded:
            if best is None or len(key) > best[0]:
                best, ambiguous = (len(key), index), False
            elif len(key) == best[0] and index != best[1]:
                ambiguous = True
    if best is not None and not ambiguous:
        return best[1]
    stretched = _stretched_short_key(f, keys)
    if stretched is not None:
        return stretched
    if len(f) < 3 or len(f) > 60:
        return None
    close = difflib.get_close_matches(f, _within_length(f, keys, cutoff), n=2, cutoff=cutoff)
    if not close:
        return None
    if len(close) == 2 and keys[close[0]] != keys[close[1]]:
        first = difflib.SequenceMatcher(None, f, close[0]).ratio()
        second = difflib.SequenceMatcher(None, f, close[1]).ratio()
        if first - second < 0.05:
            return None
    return keys[close[0]]


def parse_choice(text: str, keys: Mapping[str, int], count: int) -> int | None:
    """A choice (0-based index) by number (1..count), label/synonym, letter, or small typo."""
    f = fold(text)
    if not f:
        return None
    hit = keys.get(f)
    if hit is not None:
        return hit
    n = parse_int_in(text, 1, count) if _LEADING_NUMBER.match(clean(text)) else None
    if n is not None:
        return n - 1
    if _LETTER.match(f) and ord(f) - ord("a") < count:
        return ord(f) - ord("a")
    index = match_key(f, keys)
    if index is not None:
        return index
    word = parse_int_in(text, 1, count)
    return word - 1 if word is not None else None


_MULTI_SPLIT = re.compile(r"\s*(?:,|;|/|&|\+|\band\b|\by\b|\be\b|\bor\b|\bo\b)\s*", re.IGNORECASE)


def parse_multi(text: str, keys: Mapping[str, int], count: int) -> list[int] | None:
    """Several choices: "1 3", "1,3", "childcare and ride", "guardería y transporte"."""
    c = clean(text)
    if not c:
        return None
    tokens = c.replace(",", " ").split()
    if tokens and all(t.isdigit() for t in tokens):
        parts: Sequence[str] = tokens
    else:
        parts = [p for p in _MULTI_SPLIT.split(c) if p and p.strip()]
    if len(parts) <= 1:
        single = parse_choice(c, keys, count)
        return [single] if single is not None else None
    chosen: list[int] = []
    for part in parts:
        index = parse_choice(part, keys, count)
        if index is None:
            # a label that itself contains a separator ("Hispanic or Latino")
            whole = keys.get(fold(c))
            return [whole] if whole is not None else None
        if index not in chosen:
            chosen.append(index)
    return sorted(chosen)


def trim_text(text: str, max_length: int) -> str | None:
    """A free-text answer too long to keep whole: its first ``max_length`` characters, cut
    at a word break when there is one in the last fifth (a resident's words are kept, not
    refused)."""
    c = clean(text)
    if not c:
        return None
    if len(c) <= max_length:
        return c
    cut = c[:max_length]
    if c[max_length] == " ":
        return cut.rstrip()  # the limit falls between two words
    space = cut.rfind(" ")
    return (cut[:space] if space > max_length * 4 // 5 else cut).rstrip()


def parse_text(text: str, max_length: int) -> str | None:
    """Free text: cleaned, non-empty and at most ``max_length`` characters."""
    c = clean(text)
    if not c or len(c) > max_length:
        return None
    return c
