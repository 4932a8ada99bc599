"""Frequent themes in residents' free-text answers: keywords and two-word phrases.

Why this and not a topic model: answers are short, often a handful per area and quarter, and a
mediator needs labels they can read aloud ("street light", "response time"), in a stable order,
computed offline with no corpus download. So: stopwords (English and Spanish, since residents mix
them), light normalization (plural -> singular, "street lights" / "streetlights" / "street-light"
become one theme) and document frequency (a resident who says "trash" five times counts once).
Input must already be scrubbed (``engage.privacy.scrub``); examples are quoted back verbatim.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

LANGUAGES = ("en", "es")
EXAMPLE_CHARS = 140


def _wordset(spaced: str) -> frozenset[str]:
    """A frozenset from a whitespace-separated word list."""
    return frozenset(spaced.split())


# Too vague to be a theme alone, but fine inside a phrase ("response time", "trash day").
GENERIC = _wordset("time day year week month hour minute people place area")


def _fold(text: str) -> str:
    """Lower case without accents, so "aquí" and "aqui" match one stopword."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _load_stopwords(*names: str) -> frozenset[str]:
    """Stopword files shipped in ``engage/analytics/data`` (accents folded)."""
    words: set[str] = set()
    for name in names:
        text = resources.files("engage.analytics.data").joinpath(name).read_text("utf-8")
        for line in text.splitlines():
            words.update(_fold(w) for w in line.split("#", 1)[0].split())
    return frozenset(words)


STOPWORDS = _load_stopwords("stopwords_en.txt", "stopwords_es.txt")
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_CLAUSE_RE = re.compile(r"[.,;:!?()\[\]\"“”]+|\s[-–—]\s|\n")
# Words whose final "s" is not a plural.
_KEEP_S = _wordset(
    """
    news bus gas plus yes this his its was has is us police series species always
    perhaps crisis basis analysis lens less mess address business witness class glass
    grass pass boss access process progress stress illness homeless
    """
)


@dataclass(frozen=True)
class Theme:
    """One theme: a readable label, how many answers mention it, and a few of those answers."""

    label: str
    count: int
    examples: tuple[str, ...] = ()


def singular(word: str, language: str = "en") -> str:
    """Light plural -> singular ("lights" -> "light", "cities" -> "city", "luces" -> "luz")."""
    if len(word) <= 3 or word in _KEEP_S or not word.endswith("s"):
        return word
    if language == "es":
        if word.endswith("ces"):
            return word[:-3] + "z"
        if word.endswith("dades"):
            return word[:-2]
        return word[:-1]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word
    return word[:-1]


def _clauses(text: str, language: str) -> list[list[str]]:
    """Normalized words per clause; stopwords become None so phrases never jump over them."""
    out: list[list[str]] = []
    for clause in _CLAUSE_RE.split(text):
        words: list[str] = []
        for raw in _WORD_RE.findall(clause.replace("-", " ")):
            word = _fold(raw).replace("’", "").replace("'", "")  # "don't" -> "dont"
            words.append("" if word in STOPWORDS or len(word) < 3 else singular(word, language))
        out.append(words)
    return out


def _candidates(text: str, language: str) -> tuple[set[str], dict[str, str]]:
    """Single-word keys, and two-word phrase keys (words joined) -> display label."""
    unigrams: set[str] = set()
    phrases: dict[str, str] = {}
    for words in _clauses(text, language):
        for i, word in enumerate(words):
            if not word:
                continue
            if word not in GENERIC:
                unigrams.add(word)
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if nxt and nxt != word:  # "trash trash" is emphasis, not a phrase
                phrases.setdefault(word + nxt, f"{word} {nxt}")
    return unigrams, phrases


def top_themes(
    texts: Iterable[str],
    *,
    language: str = "en",
    limit: int = 10,
    min_count: int = 2,
    examples: int = 2,
) -> list[Theme]:
    """The ``limit`` most frequent themes, most frequent first, ties in alphabetical order.

    ``count`` is the number of answers that mention the theme. A two-word phrase found in at
    least ``min_count`` answers becomes a theme of its own, and its words no longer count
    separately in those answers. A phrase and a single word that read the same without the
    space ("street light" / "streetlight") are one theme.
    """
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    if limit <= 0:
        return []
    docs: list[tuple[str, set[str], dict[str, str]]] = []
    phrase_df: Counter[str] = Counter()
    unigram_df: Counter[str] = Counter()
    for text in texts:
        if not text or not text.strip():
            continue
        unigrams, phrases = _candidates(text, language)
        docs.append((text, unigrams, phrases))
        phrase_df.update(phrases.keys())
        unigram_df.update(unigrams)

    # a phrase key equal to a single word ("streetlight") merges with it
    kept_phrases = {key for key, n in phrase_df.items() if n + unigram_df.get(key, 0) >= min_count}
    counts: Counter[str] = Counter()
    labels: dict[str, Counter[str]] = defaultdict(Counter)
    example_texts: dict[str, list[str]] = defaultdict(list)
    for text, unigrams, phrases in docs:
        mentioned: set[str] = set()
        covered: set[str] = set()
        for key, label in phrases.items():
            if key in kept_phrases:
                mentioned.add(key)
                labels[key][label] += 1
                covered.update(label.split(" "))
        for word in unigrams - covered:
            mentioned.add(word)
            labels[word][word] += 1
        for key in mentioned:
            counts[key] += 1
            if len(example_texts[key]) < examples:
                example_texts[key].append(_example(text))

    ranked = sorted(
        (key for key, n in counts.items() if n >= min_count),
        key=lambda key: (-counts[key], -_label_of(labels[key]).count(" "), _label_of(labels[key])),
    )
    return [
        Theme(_label_of(labels[key]), counts[key], tuple(example_texts[key]))
        for key in ranked[:limit]
    ]


def _label_of(forms: Counter[str]) -> str:
    """The most used written form; two-word forms win ties ("street light")."""
    return min(forms.items(), key=lambda item: (-item[1], -item[0].count(" "), item[0]))[0]


def _example(text: str) -> str:
    one_line = " ".join(text.split())
    if len(one_line) <= EXAMPLE_CHARS:
        return one_line
    return one_line[: EXAMPLE_CHARS - 1].rstrip() + "…"
