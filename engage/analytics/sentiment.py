"""engage's sentiment scorer: a rule-based TextBlob analyzer tuned for short resident replies.

Why not plain TextBlob: its pattern analyzer only knows adjectives, loses negation in
contractions ("I don't feel safe" scores +0.5), ignores emoji and has no public-safety
vocabulary. This scorer keeps TextBlob's lexicon, adds engage's own (see
``sentiment_lexicon``) and applies general rules: negation (also "dont", "never ... any",
"no complaints"), contrast (the clause before "but" counts less), boosters and dampeners,
ALL CAPS, "!!!", emoji and a little sarcasm ("Great, another ..."), each a switch in ``Rules``
so it can be measured alone. The score is a hint beside the Likert answers, never the whole
measure.

Use ``score(text)`` (fast path) or ``textblob.Blobber(analyzer=EngageAnalyzer())``; the
benchmark uses ``prepare`` and ``polarity_of`` to score with other ``Rules``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import namedtuple
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from textblob.base import CONTINUOUS, BaseSentimentAnalyzer

from engage.analytics.sentiment_lexicon import Lexicon, load_lexicon

SCORER_VERSION = "engage-sentiment/2.0"

LEXICON: Lexicon = load_lexicon()


def _wordset(spaced: str) -> frozenset[str]:
    """A frozenset from a whitespace-separated word list (keeps long lists readable)."""
    return frozenset(spaced.split())


# --- word classes (general English/Spanish function words, not fitted to any data) ---
NEGATORS = _wordset(
    """
    not no never nobody nothing none neither nor nowhere without cannot hardly barely
    scarcely seldom rarely lack lacks lacked lacking ain't n't nunca nadie nada ni jamás
    sin tampoco ningún ninguna ninguno aren't can't couldn't didn't doesn't don't hadn't hasn't
    haven't isn't mightn't
    mustn't needn't shan't shouldn't wasn't weren't won't wouldn't less fewer devoid
    """
) | {"no one", "no longer"}
# Apostrophe-less spellings people type on phones.
CONTRACTIONS = {
    "dont": "don't", "cant": "can't", "wont": "won't", "didnt": "didn't", "doesnt": "doesn't",
    "isnt": "isn't", "wasnt": "wasn't", "arent": "aren't", "werent": "weren't",
    "havent": "haven't", "hasnt": "hasn't", "hadnt": "hadn't", "wouldnt": "wouldn't",
    "couldnt": "couldn't", "shouldnt": "shouldn't", "aint": "ain't", "im": "i'm",
    "ive": "i've", "youre": "you're", "theyre": "they're", "thats": "that's",
    "whats": "what's", "nothin": "nothing", "nuthin": "nothing",
    "noone": "nobody", "nobodys": "nobody",
}  # fmt: skip
BOOSTERS = {
    "very": 0.3, "really": 0.3, "so": 0.25, "extremely": 0.45, "incredibly": 0.4,
    "absolutely": 0.4, "totally": 0.35, "completely": 0.35, "truly": 0.3, "super": 0.35,
    "highly": 0.3, "deeply": 0.3, "especially": 0.2, "particularly": 0.2, "remarkably": 0.3,
    "exceptionally": 0.4, "utterly": 0.4, "thoroughly": 0.3, "seriously": 0.3, "hella": 0.3,
    "most": 0.25, "too": 0.2, "such": 0.2, "quite": 0.1, "pretty": 0.1, "real": 0.2,
    "terribly": 0.35, "awfully": 0.35, "insanely": 0.4, "ridiculously": 0.35, "simply": 0.1,
    "entirely": 0.3, "fully": 0.2, "genuinely": 0.3, "amazingly": 0.4, "frankly": 0.1,
    "muy": 0.3, "tan": 0.25, "bien": 0.2, "demasiado": 0.2, "ever": 0.15, "always": 0.1,
    "somewhat": -0.35, "slightly": -0.45, "fairly": -0.2, "rather": -0.15, "partly": -0.4,
    "mildly": -0.45, "marginally": -0.5, "almost": -0.3, "kinda": -0.35, "sorta": -0.35,
    "overly": 0.3, "downright": 0.3, "wildly": 0.3, "supremely": 0.4, "profoundly": 0.3,
    "undeniably": 0.3, "fiendishly": 0.3, "frighteningly": 0.3, "brutally": 0.3,
    "wickedly": 0.3, "exceedingly": 0.4, "immensely": 0.4, "hugely": 0.35, "enormously": 0.35,
    "occasionally": -0.3, "sometimes": -0.25, "mostly": -0.15, "reasonably": -0.25,
    "mucho": 0.2, "mucha": 0.2, "muchísimo": 0.4, "bastante": 0.15, "realmente": 0.3,
    "totalmente": 0.35, "completamente": 0.35, "extremadamente": 0.45, "sumamente": 0.4,
    "algo": -0.3, "medio": -0.3, "casi": -0.3,
    "fucking": 0.35, "fuckin": 0.35, "freaking": 0.3, "freakin": 0.3, "frickin": 0.3,
    "friggin": 0.3,
    "un poco": -0.4, "a little": -0.4, "a bit": -0.4, "kind of": -0.35, "sort of": -0.35,
    "a little bit": -0.45, "more or less": -0.4, "at all": 0.3, "so much": 0.3,
}  # fmt: skip
# Degree words that follow the word they strengthen ("scary af", "good as hell").
AFTER_BOOSTERS = {"af": 0.3, "asf": 0.3, "as hell": 0.3, "as fuck": 0.3, "at all": 0.3}
MULTIWORD_BOOSTERS = {
    tuple(k.split()): v for k, v in (BOOSTERS | AFTER_BOOSTERS).items() if " " in k
}
CONTRAST_AFTER = frozenset({"but", "however", "pero", "sin embargo", "nonetheless", "yet"})
CONTRAST_BEFORE = frozenset({"although", "though", "aunque", "while", "whereas"})
COMPARATIVE_BETTER = _wordset("better happier safer nicer worse easier improved mejor peor more")
MODALS = _wordset(
    "could would should might must can may needs need wish hope"
    " podría podrían debería deberían ojalá quisiera pudiera"
)
COUNTERFACTUAL = _wordset(
    "would could should might would've could've should've podría debería hubiera"
)
SARCASM_OPENERS = _wordset(
    """
    great wonderful fantastic perfect lovely nice awesome brilliant terrific super
    """
)
SARCASM_CUES = _wordset("another again still as usual yet")

NEGATION_SCOPE = 3  # words after a negator that it can reach ("never had any trouble")


@dataclass(frozen=True, slots=True)
class Rules:
    """Which writing rules the scorer applies, and how strongly.

    Each switch is one rule people use when they write, so ``bench/sentiment.py`` can turn it
    off alone and measure what it adds (the ablation table in docs/SENTIMENT.md). The numbers
    named in ``FITTED`` are the only fitted values: ``bench/sentiment.py --fit`` chooses them on
    the development sets, and its cross-validation refits them inside every fold.
    """

    capitals: bool = True  # "I feel SAFE": a word in capitals among lower case counts more
    stretched: bool = True  # "soooo goood": stretched letters count like capitals
    exclamations: bool = True  # each "!" (up to four) adds to the size of the total
    questions: bool = True  # "is it any good?" asks more than it tells
    insistence: bool = True  # "why is nobody fixing this??" insists, like "!!"
    degree: bool = True  # "very", "extremely" strengthen; "somewhat", "kind of" soften
    contrast: bool = True  # "ok but nothing changes": the clause before "but" counts less
    negation: bool = True  # "don't feel safe", "never had any trouble"
    concord: bool = True  # "don't want nothing", "no ... nada": stacked negators negate once
    idioms: bool = True  # multi-word phrases scored whole ("waste of time", "can't complain")
    emoji: bool = True  # emoji and emoticons carry feeling
    slang: bool = True  # texting slang and misspellings ("smh", "luv", "dissapointed")
    public_words: bool = True  # evaluative words of news and public life ("scandal", "blamed")
    word_forms: bool = True  # unlisted "-ed", "-ing", "-ly" forms take their base word's value
    wishes: bool = True  # "could be better", "would have been nice": not good yet
    sarcasm: bool = True  # "Great, another car broken into"

    # Fitted by ``bench/sentiment.py --fit`` on the development sets (numbers in FITTED):
    negation_factor: float = -1.4  # "not good" flips, then shrinks to the cap below
    negated_cap: float = 0.4  # "not great" is only mildly bad: negated words shrink to this
    unresolved_negation: float = -0.266  # "police never came": a lone negator leans negative
    contrast_before: float = 0.5  # weight of the clause before "but" (or after "although")
    contrast_after: float = 1.0  # weight of the clause after "but"
    degree_scale: float = 1.33  # multiplies every booster's and dampener's strength
    question_factor: float = 0.525  # a reply ending in one "?" keeps this share
    too_neutral: float = -0.375  # "too" before a neutral word is a complaint ("too short")
    normalize_alpha: float = 0.675  # score = s / sqrt(s*s + alpha); sums stay comparable
    # Set, not fitted (see FITTED):
    emphasis_boost: float = 0.3  # CAPS or stretched word: this much more
    exclamation_step: float = 0.07  # per "!" (up to 4), added to the size of a non-zero total


SWITCHES: tuple[str, ...] = (
    "capitals", "stretched", "exclamations", "questions", "insistence", "degree", "contrast",
    "negation", "concord", "idioms", "emoji", "slang", "public_words", "word_forms", "wishes",
    "sarcasm",
)  # fmt: skip
# The numbers fitted on the development sets. ``emphasis_boost`` and ``exclamation_step`` are
# not among them on purpose: the development sets are reviews, with few capitals or "!", so a
# fit there learns the genre (it shrinks both towards zero), not how people read emphasis.
# They stay at values in line with Hutto & Gilbert's (2014) rater experiments on capitals and
# "!" (read for the idea; no code or numbers copied).
FITTED: tuple[str, ...] = (
    "negation_factor", "negated_cap", "unresolved_negation", "contrast_before",
    "contrast_after", "degree_scale", "question_factor", "too_neutral", "normalize_alpha",
)  # fmt: skip
DEFAULT_RULES = Rules()

_EMOJI = (
    r"[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B50\u2B55\u2764\u2763\u203C\u2049]"
    r"[\uFE0F\U0001F3FB-\U0001F3FF\u200D]*"
)
_EMOTICON = r"(?:[:;=][-'^]?(?:[)(\]\[pP/\\|*oO3]|[dD]\b)+|</?3+|\^[_.-]?\^|[xX]D+\b|:'\()"
# Web addresses, e-mail addresses and @mentions say nothing about feeling ("great.example.com"
# must not count as "great", nor "http://" as the emoticon ":/").
# (The look-behind lets the e-mail branch start only where a name starts, so the pattern stays
# linear in the length of the text.)
_NOT_TEXT = r"https?://\S+|www\.\S+|(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+|@[\w.-]+"
_TOKENS = (
    rf"(?P<emo>{_EMOTICON})|(?P<emoji>{_EMOJI})"
    r"|(?P<word>[^\W_]+(?:['’][^\W_]+)*(?:-[^\W_]+)*)"
    r"|(?P<bang>!+)|(?P<q>\?+)|(?P<brk>[.,;:—–]|\s-\s)"
)
TOKEN_RE = re.compile(_TOKENS)
# Used only for texts that hold "@", "http" or "www." (most replies do not, and the extra
# branches would cost every word a second scan).
TOKEN_RE_WEB = re.compile(rf"(?P<skip>{_NOT_TEXT})|{_TOKENS}")


@dataclass(slots=True)
class _Token:
    text: str  # normalized (lower case, straight apostrophes, contractions restored)
    caps: bool  # written in CAPITALS (2+ letters)
    kind: str  # word | emoji | bang | q | brk | phrase
    stretched: bool = False  # written with repeated letters ("soooo")


_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")
_REPEATED_END = re.compile(r"(.)\1+$")


@lru_cache(maxsize=65536)
def _normalize_word(raw: str) -> tuple[str, bool, bool]:
    """Normalized word, whether it is in CAPITALS and whether its letters were stretched.

    Lower case, straight apostrophes, "dont" -> "don't"; "soooo" / "gooood" lose the repeated
    letters (so the word is always recognised; whether that counts as emphasis is a rule).
    """
    low = raw.lower().replace("’", "'")
    caps = len(raw) > 1 and raw.isupper() and raw.isalpha()
    stretched = False
    if _ELONGATED.search(low):
        stretched = True
        double = _ELONGATED.sub(r"\1\1", low)
        single = _ELONGATED.sub(r"\1", low)
        low = double if double in LEXICON.words or double in BOOSTERS else single
    return CONTRACTIONS.get(low, low), caps, stretched


def tokenize(text: str) -> list[_Token]:
    """Split into words, emoji, emoticons and punctuation that matters for scoring."""
    tokens: list[_Token] = []
    web = "@" in text or "http" in text or "www." in text
    for match in (TOKEN_RE_WEB if web else TOKEN_RE).finditer(text):
        kind = match.lastgroup or "word"
        raw = match.group()
        if kind == "word":
            low, caps, stretched = _normalize_word(raw)
            tokens.append(_Token(low, caps, "word", stretched))
        elif kind == "skip":
            continue
        elif kind == "emo":  # ":)))" reads as ":)", "<333" as "<3"
            tokens.append(_Token(_REPEATED_END.sub(r"\1", raw.lower()), False, "emoji"))
        elif kind == "emoji":
            tokens.append(_Token(raw.replace("\ufe0f", ""), False, "emoji"))
        elif kind == "brk":
            tokens.append(_Token(raw.strip(), False, "brk"))
        else:
            tokens.append(_Token(raw, False, kind))
    return tokens


def _phrase_index(
    lex: Lexicon, idioms: bool
) -> dict[str, list[tuple[tuple[str, ...], float | None]]]:
    """First word -> candidate phrases, longest first (None marks a multi-word booster)."""
    index: dict[str, list[tuple[tuple[str, ...], float | None]]] = {}
    if idioms:
        for parts, value in lex.phrases.items():
            index.setdefault(parts[0], []).append((parts, value))
    for parts in MULTIWORD_BOOSTERS:
        index.setdefault(parts[0], []).append((parts, None))
    for candidates in index.values():
        candidates.sort(key=lambda c: -len(c[0]))
    return index


PHRASES = _phrase_index(LEXICON, idioms=True)
_BOOSTER_PHRASES_ONLY = _phrase_index(LEXICON, idioms=False)


def _merge_phrases(tokens: list[_Token], idioms: bool = True) -> list[tuple[_Token, float | None]]:
    """Greedy longest match of lexicon phrases and multi-word boosters; words keep None."""
    index = PHRASES if idioms else _BOOSTER_PHRASES_ONLY
    out: list[tuple[_Token, float | None]] = []
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        candidates = index.get(tok.text) if tok.kind == "word" else None
        if candidates:
            for parts, value in candidates:
                size = len(parts)
                if i + size > n or tokens[i + 1].text != parts[1]:
                    continue  # (the second word rules out most candidates cheaply)
                window = tokens[i : i + size]
                if all(t.text == w for t, w in zip(window, parts, strict=True)):
                    caps = any(t.caps for t in window)
                    stretched = any(t.stretched for t in window)
                    kind = "word" if value is None else "phrase"
                    out.append((_Token(" ".join(parts), caps, kind, stretched), value))
                    i += size
                    break
            else:
                out.append((tok, None))
                i += 1
            continue
        out.append((tok, None))
        i += 1
    return out


# Simple English inflections tried when a word is not listed: plural, past, "-ing", "-ly".
_INFLECTIONS = (
    ("ies", "y"), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"),
    ("ily", "y"), ("ably", "able"), ("ibly", "ible"), ("ly", ""),
)  # fmt: skip


@lru_cache(maxsize=65536)
def _word_valence(word: str, inflections: bool = True) -> float:
    """Lexicon value, trying simple inflections ("shootings" -> "shooting", "harassed")."""
    words = LEXICON.words
    value = words.get(word)
    if value is not None:
        return value
    if len(word) > 4 and not inflections:
        value = words.get(word[:-1]) if word.endswith("s") else None  # plurals stay
        if value is not None:
            return value
    elif len(word) > 4:
        for suffix, repl in _INFLECTIONS:
            if word.endswith(suffix):
                value = words.get(word[: -len(suffix)] + repl)
                if value is not None:
                    return value
    if "-" in word:  # "ill-conceived": the parts say it
        total = sum(_word_valence(part, inflections) for part in word.split("-") if part)
        return max(-1.0, min(1.0, total))
    return _UNACCENTED.get(word, 0.0)  # "pesimo", "increible": accents left off on a phone


def _strip_accents(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_UNACCENTED: dict[str, float] = {
    _strip_accents(word): value
    for word, value in LEXICON.words.items()
    if _strip_accents(word) != word and _strip_accents(word) not in LEXICON.words
}


@dataclass(slots=True)
class _Item:
    text: str
    valence: float
    kind: str
    caps: bool  # written for emphasis (CAPS or stretched, as far as the rules count them)


def prepare(text: str, rules: Rules = DEFAULT_RULES) -> list[_Item]:
    """Tokens with their raw lexicon valence (boosters and negators carry none).

    Everything here depends on the text and the rule switches only, never on the fitted
    numbers, so ``bench/sentiment.py`` prepares each text once and refits the numbers fast.
    """
    lex = LEXICON
    items: list[_Item] = []
    for tok, phrase_value in _merge_phrases(tokenize(text), rules.idioms):
        emphasis = (rules.capitals and tok.caps) or (rules.stretched and tok.stretched)
        if tok.kind == "phrase":
            items.append(_Item(tok.text, phrase_value or 0.0, "word", emphasis))
        elif tok.kind == "word":
            neutral = tok.text in BOOSTERS or tok.text in NEGATORS or tok.text in AFTER_BOOSTERS
            if not rules.slang and tok.text in lex.slang:
                neutral = True
            if not rules.public_words and tok.text in lex.public:
                neutral = True
            value = 0.0 if neutral else _word_valence(tok.text, rules.word_forms)
            items.append(_Item(tok.text, value, "word", emphasis))
        elif tok.kind == "emoji":
            value = lex.words.get(tok.text, 0.0) if rules.emoji else 0.0
            items.append(_Item(tok.text, value, "emoji", False))
        else:
            items.append(_Item(tok.text, 0.0, tok.kind, False))
    return items


def polarity_of(items: list[_Item], rules: Rules = DEFAULT_RULES) -> float:
    """The final polarity in [-1, 1] of prepared items (see ``prepare``)."""
    return _polarity(items, rules)[1]


def _assess(text: str, rules: Rules = DEFAULT_RULES) -> tuple[list[tuple[str, float]], float]:
    """Per-term valences after the rules, and the final polarity in [-1, 1]."""
    return _polarity(prepare(text, rules), rules)


def _polarity(items: list[_Item], rules: Rules) -> tuple[list[tuple[str, float]], float]:
    long_words = [it for it in items if it.kind == "word" and len(it.text) > 1]
    all_caps_text = bool(long_words) and all(it.caps for it in long_words)

    contributions: dict[int, float] = {}
    used_negators: set[int] = set()
    for i, it in enumerate(items):
        if it.valence == 0.0:
            after_too = i > 0 and items[i - 1].text in ("too", "overly")
            if rules.degree and it.kind == "word" and after_too:
                contributions[i] = rules.too_neutral  # "too short", "too loud"
            continue
        value = it.valence * _boost(items, i, all_caps_text, rules)
        if rules.negation:
            value = _apply_negation(items, i, value, used_negators, rules)
        elif rules.wishes:
            value *= _wish_factor(items, i, value)
        contributions[i] = value

    if rules.negation:  # negators that negated nothing ("police never came")
        for j, it in enumerate(items):
            unresolved = it.kind == "word" and it.text in NEGATORS and j not in used_negators
            if unresolved and j + 1 < len(items) and items[j + 1].kind == "word":
                contributions[j] = contributions.get(j, 0.0) + rules.unresolved_negation

    if rules.sarcasm:
        _apply_sarcasm(items, contributions)
    weights = _contrast_weights(items, rules) if rules.contrast else [1.0] * len(items)
    total = sum(value * weights[i] for i, value in contributions.items())
    bangs = 0
    if rules.exclamations:
        bangs = sum(len(it.text) for it in items if it.kind == "bang")
    if rules.questions and items and items[-1].kind == "q":
        if len(items[-1].text) == 1 or not rules.insistence:
            total *= rules.question_factor  # "is it any good?" asks more than it tells
        else:
            bangs += len(items[-1].text) - 1  # "why is nobody fixing this??" insists
    if total != 0.0 and bangs:
        total += math.copysign(rules.exclamation_step * min(bangs, 4), total)
    polarity = total / math.sqrt(total * total + rules.normalize_alpha)
    found = [(items[i].text, round(v * weights[i], 4)) for i, v in sorted(contributions.items())]
    return found, max(-1.0, min(1.0, polarity))


def _boost(items: list[_Item], i: int, all_caps_text: bool, rules: Rules) -> float:
    """Multiplier from boosters/dampeners just before, "at all" just after, and emphasis."""
    factor = 1.0
    emphasis = 1.0 + rules.emphasis_boost
    if rules.degree:
        for back in (1, 2):
            j = i - back
            if j < 0 or items[j].kind != "word":
                break
            boost = BOOSTERS.get(items[j].text)
            if boost is not None:
                factor *= 1.0 + boost * rules.degree_scale * (1.0 if back == 1 else 0.8)
                if items[j].caps and not all_caps_text:
                    factor *= emphasis
        after = AFTER_BOOSTERS.get(items[i + 1].text) if i + 1 < len(items) else None
        if after is not None:
            factor *= 1.0 + after * rules.degree_scale
    if items[i].caps and not all_caps_text:
        factor *= emphasis
    return factor


def _apply_negation(
    items: list[_Item], i: int, value: float, used: set[int], rules: Rules
) -> float:
    """Flip once per negator shortly before the word, inside the same clause.

    With ``concord``, negators stacked in one scope ("don't want nothing", "no ... nada")
    negate once, as they do in Spanish and in everyday English.
    """
    flips = 0
    for back in range(1, NEGATION_SCOPE + 1):
        j = i - back
        if j < 0:
            break
        prev = items[j]
        if prev.kind != "word" or prev.text in CONTRAST_AFTER:
            break
        if prev.text == "least" and (j == 0 or items[j - 1].text not in ("at", "very")):
            flips += 1  # "least favourite", "the least helpful" (but not "at least")
            continue
        if prev.text not in NEGATORS:
            continue
        nxt = items[j + 1].text if j + 1 < len(items) else ""
        if nxt in ("only", "just", "but"):  # "not only good", "nothing but praise"
            continue
        used.add(j)
        between = {items[k].text for k in range(j + 1, i)}
        if items[i].text in COMPARATIVE_BETTER and between & {"be", "been", "get", "have"}:
            return value * 1.3  # "couldn't be better", "never been happier"
        after = {items[k].text for k in range(i + 1, min(len(items), i + 4))}
        if "enough" in after and value > 0:
            return value * 1.3  # "can't praise it highly enough"
        flips += 1
    if rules.concord:
        flips = min(flips, 1)
    if flips % 2 == 1:
        flipped = value * rules.negation_factor
        return max(-rules.negated_cap, min(rules.negated_cap, flipped))
    return value * (_wish_factor(items, i, value) if rules.wishes else 1.0)


def _wish_factor(items: list[_Item], i: int, value: float) -> float:
    """ "could be better", "would have been nice": a wish says it is not good yet."""
    window = [items[j].text for j in range(max(0, i - 4), i) if items[j].kind == "word"]
    if items[i].text in COMPARATIVE_BETTER and any(w in MODALS for w in window):
        return -0.6
    if (
        value > 0
        and any(w in COUNTERFACTUAL for w in window)
        and any(w in ("be", "been", "ser", "sido", "estado") for w in window)
    ):
        return -0.4
    return 1.0


def _apply_sarcasm(items: list[_Item], contributions: dict[int, float]) -> None:
    """ "Great, another car broken into": a cheerful opener before a complaint is ironic."""
    words = [k for k, it in enumerate(items) if it.kind == "word"]
    if not words:
        return
    first = words[0]
    prefixed = items[first].text in ("oh", "just", "yeah", "well") and len(words) > 1
    if prefixed:
        first = words[1]
    if items[first].text not in SARCASM_OPENERS or contributions.get(first, 0.0) <= 0:
        return
    rest = {it.text for it in items[first + 1 :]}
    cue = bool(rest & SARCASM_CUES)
    negative_after = sum(v for k, v in contributions.items() if k > first) < 0
    punctuated = first + 1 < len(items) and items[first + 1].kind in ("brk", "bang")
    if (prefixed and (cue or negative_after)) or (punctuated and cue and negative_after):
        contributions[first] = -contributions[first]


def _contrast_weights(items: list[_Item], rules: Rules) -> list[float]:
    """Weight the clause after "but" more and the one before less ("ok but nothing changes").

    The effect stays inside the sentence that holds the contrast word.
    """
    weights = [1.0] * len(items)
    n = len(items)
    for k, it in enumerate(items):
        if it.kind != "word":
            continue
        if it.text in CONTRAST_AFTER and 0 < k < n - 1:
            if it.text == "but" and items[k - 1].text in ("nothing", "all", "anything"):
                continue
            if it.text == "yet" and items[k - 1].kind != "brk":
                continue
            start = k
            while start > 0 and not _ends_sentence(items[start - 1]):
                start -= 1
            end = k + 1
            while end < n and not _ends_sentence(items[end]):
                end += 1
            for j in range(start, k):
                weights[j] *= rules.contrast_before
            for j in range(k + 1, end):
                weights[j] *= rules.contrast_after
        elif it.text in CONTRAST_BEFORE:
            end = next((j for j in range(k + 1, n) if items[j].kind == "brk"), n)
            if end < n:  # "though it was slow, they were kind"
                for j in range(k + 1, end):
                    weights[j] *= rules.contrast_before
    return weights


def _ends_sentence(item: _Item) -> bool:
    return item.kind in ("bang", "q") or (item.kind == "brk" and item.text in (".", ";"))


def score(text: str) -> float:
    """Polarity of ``text`` in [-1, 1]; 0.0 for empty or neutral text."""
    if not text or not text.strip():
        return 0.0
    return _assess(text)[1]


def score_many(texts: Iterable[str]) -> list[float]:
    """``score`` for each text, in order."""
    return [score(text) for text in texts]


def assessments(text: str) -> list[tuple[str, float]]:
    """The terms that carried sentiment and their values after the rules (for explanations)."""
    return _assess(text)[0] if text else []


Sentiment = namedtuple("Sentiment", ["polarity", "subjectivity"])
SentimentAssessed = namedtuple("SentimentAssessed", ["polarity", "subjectivity", "assessments"])


class EngageAnalyzer(BaseSentimentAnalyzer):  # type: ignore[misc]  # textblob ships no types
    """TextBlob analyzer: ``Blobber(analyzer=EngageAnalyzer())(text).sentiment.polarity``.

    Returns ``Sentiment(polarity, subjectivity)`` like TextBlob's PatternAnalyzer, so
    ``blob.sentiment`` and ``blob.sentiment_assessments`` keep working (TextBlob's own
    ``blob.polarity`` shortcut always uses PatternAnalyzer: read ``blob.sentiment.polarity``).
    Subjectivity is the share of words that carried sentiment (a rough stand-in; engage does
    not use it).
    """

    kind = CONTINUOUS
    RETURN_TYPE = Sentiment
    version = SCORER_VERSION

    def analyze(self, text: Any, keep_assessments: bool = False) -> Any:
        """Score ``text`` (str or anything whose str() is the text)."""
        if not self._trained:
            self.train()
        raw = str(text)
        found: list[tuple[str, float]] = []
        polarity = 0.0
        if raw.strip():
            found, polarity = _assess(raw)
        n_words = max(1, sum(1 for t in tokenize(raw) if t.kind == "word"))
        subjectivity = min(1.0, len(found) / n_words)
        if keep_assessments:
            return SentimentAssessed(polarity, subjectivity, found)
        return Sentiment(polarity, subjectivity)
