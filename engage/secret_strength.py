"""Is a production secret good enough? Refuse published keys and guessable ones.

A key that is written down anywhere in this repository (the ``change-me`` placeholder of
``deploy/engage.env.example``, a test or benchmark key) is public, however random it looks.
A key with too little entropy ("aaaa...", "password1234...") can be guessed offline from one
participant key or one sealed link. Entropy is *estimated* (no estimate can prove a string
random): the smallest of the Shannon entropy of its characters, of the steps between
neighbouring characters ("0123...", "abcd...") and of its zlib-compressed size, so repeats and
runs count for little. A key from ``engage secret generate`` (256 bits) passes with a wide
margin; a 128-bit hex key (32 characters) is refused as borderline.
"""

from __future__ import annotations

import itertools
import math
import secrets
import zlib
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

MIN_BITS = 128
GENERATED_BYTES = 32  # 256 bits
# Published values refused even where the repository's files are not installed beside the code.
KNOWN_PUBLIC = frozenset({
    "change-me-to-64-random-characters-from-a-password-manager",
    "engage-development-twilio-token",
})
HOW_TO_MAKE_ONE = ("make one with `engage secret generate` or "
                   "`python -c \"import secrets; print(secrets.token_urlsafe(32))\"`")
_REPO_ROOT = Path(__file__).resolve().parent.parent
_SCANNED = ("engage", "deploy", "docs", "tests", "bench", "flows")
# the repository's own text; never an operator's real env file (deploy/engage.env, .env)
_SCANNED_SUFFIXES = {".py", ".md", ".example", ".txt", ".yaml", ".yml", ".toml", ".json",
                     ".cfg", ".ini", ".sh"}
_MIN_SCANNED_LENGTH = 12  # shorter values are refused for their entropy anyway


def generate() -> str:
    """A fresh 256-bit key, URL-safe (fits any env file)."""
    return secrets.token_urlsafe(GENERATED_BYTES)


def estimated_bits(value: str) -> float:
    """A deliberately pessimistic estimate of the bits of entropy in ``value``."""
    if not value:
        return 0.0
    steps = [ord(b) - ord(a) for a, b in itertools.pairwise(value)]  # "abcd..."
    compressed = (len(zlib.compress(value.encode(), 9)) - len(zlib.compress(b"", 9))) * 8
    return max(0.0, min(_shannon(list(value)) * len(value), _shannon(steps) * len(value),
                        float(compressed)))


def _shannon(symbols: list[str] | list[int]) -> float:
    """Bits per symbol of the symbols' own frequency distribution."""
    if not symbols:
        return 0.0
    counts = Counter(symbols)
    return -sum(n / len(symbols) * math.log2(n / len(symbols)) for n in counts.values())


def _repository_files(root: Path) -> Iterator[Path]:
    for top in _SCANNED:
        base = root / top
        if base.is_dir():
            for path in base.rglob("*"):
                if path.is_file() and path.suffix in _SCANNED_SUFFIXES \
                        and ".venv" not in path.parts and "__pycache__" not in path.parts:
                    yield path
    for name in ("README.md", "Makefile", "pyproject.toml"):
        if (root / name).is_file():
            yield root / name


@lru_cache(maxsize=1)
def _repository_text(root: Path = _REPO_ROOT) -> str:
    """Every text file of the repository this package runs from (when it is there)."""
    parts = []
    for path in _repository_files(root):
        try:
            parts.append(path.read_text(encoding="utf-8", errors="ignore"))
        except OSError:
            continue
    return "\n".join(parts)


def published(value: str, root: Path = _REPO_ROOT) -> bool:
    """True when ``value`` is a known placeholder or appears in this repository's files."""
    if value in KNOWN_PUBLIC:
        return True
    return len(value) >= _MIN_SCANNED_LENGTH and value in _repository_text(root)


def problem(name: str, value: str) -> str | None:
    """Why ``value`` must not be used as the secret ``name`` in production, or None."""
    bits = estimated_bits(value)
    if bits < MIN_BITS:
        return (f"{name} has too little entropy (about {bits:.0f} bits, at least {MIN_BITS} "
                f"needed); {HOW_TO_MAKE_ONE}")
    if published(value):
        return f"{name} is published in the engage repository (a placeholder or test key); " \
               + HOW_TO_MAKE_ONE
    return None
