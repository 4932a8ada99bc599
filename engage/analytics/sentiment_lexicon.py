"""Word and phrase valences for engage's sentiment scorer, loaded once at import.

Two sources, both shipped inside installed packages so nothing is downloaded at run time:
TextBlob's own pattern lexicon (``textblob/en/en-sentiment.xml``: ~2,900 adjective senses,
averaged per word exactly as pattern does) and engage's lexicon files in ``data/`` (written for
this project: verbs, nouns, slang, public-safety vocabulary, Spanish, emoji). engage's entries
win where both have a word. All valences are kept on the [-1, 1] scale.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import textblob

DATA_PACKAGE = "engage.analytics.data"
LEXICON_FILES = (
    "public_en.txt", "lexicon_en.txt", "slang_en.txt", "lexicon_es.txt", "emoji.txt"
)  # fmt: skip
SLANG_FILE = "slang_en.txt"  # its terms are also listed in ``Lexicon.slang`` (for ablation)
PUBLIC_FILE = "public_en.txt"  # and these in ``Lexicon.public``
PATTERN_XML = Path(textblob.__file__).resolve().parent / "en" / "en-sentiment.xml"
FILE_SCALE = 4.0  # engage's files use -4..+4 (like the human ratings); divide to reach [-1, 1]


@dataclass(frozen=True)
class Lexicon:
    """Single-word valences plus multi-word phrases (tuple of tokens -> valence)."""

    words: dict[str, float]
    phrases: dict[tuple[str, ...], float]
    longest_phrase: int
    phrase_starts: frozenset[str] = field(default_factory=frozenset)
    slang: frozenset[str] = field(default_factory=frozenset)
    public: frozenset[str] = field(default_factory=frozenset)


def _pattern_words(path: Path) -> dict[str, float]:
    """Average polarity over every sense of each word, as TextBlob's PatternAnalyzer does."""
    if not path.is_file():
        return {}
    senses: dict[str, list[float]] = {}
    root = ET.parse(path).getroot()  # noqa: S314 - trusted package data, not user input
    for node in root.iter("word"):
        form = node.get("form")
        if not form or " " in form:
            continue
        senses.setdefault(form.lower(), []).append(float(node.get("polarity", "0")))
    return {word: sum(vals) / len(vals) for word, vals in senses.items()}


def parse_lexicon_text(text: str) -> dict[str, float]:
    """``term<TAB or spaces>valence`` lines on the -4..+4 scale; ``#`` starts a comment."""
    entries: dict[str, float] = {}
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        term, _, value = line.rpartition("\t") if "\t" in line else line.rpartition(" ")
        term = " ".join(term.lower().split())
        if not term:
            raise ValueError(f"lexicon line without a term: {raw!r}")
        entries[term] = float(value) / FILE_SCALE
    return entries


def _read_data_file(name: str) -> str:
    return resources.files(DATA_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def load_lexicon() -> Lexicon:
    """Merge the pattern lexicon with engage's files (engage's values win)."""
    words = _pattern_words(PATTERN_XML)
    phrases: dict[tuple[str, ...], float] = {}
    slang: set[str] = set()
    public: set[str] = set()
    for name in LEXICON_FILES:
        entries = parse_lexicon_text(_read_data_file(name))
        if name == SLANG_FILE:
            slang.update(entries)
        elif name == PUBLIC_FILE:
            public.update(entries)
        for term, value in entries.items():
            parts = tuple(term.split(" "))
            if len(parts) == 1:
                words[term] = value
            else:
                phrases[parts] = value
    longest = max((len(p) for p in phrases), default=1)
    starts = frozenset(p[0] for p in phrases)
    return Lexicon(
        words=words,
        phrases=phrases,
        longest_phrase=longest,
        phrase_starts=starts,
        slang=frozenset(slang),
        public=frozenset(public),
    )
