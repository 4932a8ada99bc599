"""Themes: keyword and phrase extraction on constructed answers."""

from __future__ import annotations

import pytest

from engage.analytics.themes import STOPWORDS, Theme, singular, top_themes


def labels(themes: list[Theme]) -> list[str]:
    return [t.label for t in themes]


def test_street_light_spellings_are_one_theme() -> None:
    texts = [
        "Need more street lights on North Ave",
        "The streetlights are out again",
        "street-light broken near the school",
        "Street light by the bus stop is dark",
    ]
    themes = top_themes(texts)
    assert themes[0].label == "street light"
    assert themes[0].count == 4
    assert "streetlight" not in labels(themes)
    assert "light" not in labels(themes)


def test_plurals_group_with_singulars() -> None:
    themes = top_themes(["rats everywhere", "a rat in the alley", "saw two rats", "cities"])
    by_label = {t.label: t.count for t in themes}
    assert by_label["rat"] == 3


def test_phrase_words_do_not_count_twice() -> None:
    texts = ["Response time was terrible", "slow response time", "the response was kind"]
    themes = {t.label: t.count for t in top_themes(texts, min_count=1)}
    assert themes["response time"] == 2
    assert themes["response"] == 1  # only the answer without the phrase


def test_counts_answers_not_words() -> None:
    themes = top_themes(["trash trash trash", "trash again", "cars speeding"], min_count=1)
    assert {t.label: t.count for t in themes}["trash"] == 2


def test_stopwords_in_english_and_spanish_never_become_themes() -> None:
    texts = [
        "I really think that the police should be there more",
        "pero la policía no viene y no hay nada",
        "the police are never there but they should be",
    ]
    found = labels(top_themes(texts, min_count=1, limit=50))
    assert "policia" in found or "police" in found
    for word in ("the", "that", "should", "pero", "nada", "hay", "really", "there"):
        assert word not in found
    assert {"the", "pero", "nada", "dont"} <= STOPWORDS


def test_order_is_by_count_then_alphabetical_and_input_order_does_not_matter() -> None:
    texts = ["trash", "noise", "noise at night", "trash pickup", "speeding", "speeding cars"]
    themes = top_themes(texts)
    assert [(t.label, t.count) for t in themes] == [("noise", 2), ("speeding", 2), ("trash", 2)]
    reordered = top_themes(list(reversed(texts)))
    assert [(t.label, t.count) for t in reordered] == [(t.label, t.count) for t in themes]


def test_limit_min_count_and_examples() -> None:
    texts = [
        "pothole on Main",
        "big pothole again",
        "pothole by the school",
        "another pothole",
        "pothole near my house",
        "graffiti on the wall",
    ]
    themes = top_themes(texts, limit=1, examples=3)
    assert len(themes) == 1
    assert themes[0].label == "pothole"
    assert themes[0].count == 5
    assert themes[0].examples == ("pothole on Main", "big pothole again", "pothole by the school")
    assert "graffiti" not in labels(top_themes(texts, limit=10))  # seen once < min_count 2
    assert "graffiti" in labels(top_themes(texts, limit=10, min_count=1))
    assert top_themes(texts, limit=0) == []


def test_long_examples_are_shortened_to_one_line() -> None:
    long = "Vacant houses " + "and more vacant houses " * 20
    themes = top_themes([long, "vacant houses\non my block"])
    example = themes[0].examples[0]
    assert len(example) <= 140 and example.endswith("…")
    assert "\n" not in themes[0].examples[1]


def test_empty_input() -> None:
    assert top_themes([]) == []
    assert top_themes(["", "   "]) == []


def test_spanish_normalization() -> None:
    assert singular("luces", "es") == "luz"
    assert singular("calles", "es") == "calle"
    assert singular("comunidades", "es") == "comunidad"
    themes = top_themes(["basura en las calles", "la calle sin luces", "luz rota"], language="es")
    counts = {t.label: t.count for t in themes}
    assert counts == {"calle": 2, "luz": 2}


def test_english_singular_rules() -> None:
    assert singular("cities") == "city"
    assert singular("lights") == "light"
    assert singular("police") == "police"
    assert singular("bus") == "bus"
    assert singular("witnesses") == "witness"
    assert singular("news") == "news"


def test_unknown_language_is_rejected() -> None:
    with pytest.raises(ValueError):
        top_themes(["x"], language="fr")
