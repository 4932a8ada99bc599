"""engage's sentiment scorer: the rules it promises, its TextBlob plug-in, and its CLI."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textblob import Blobber, TextBlob
from typer.testing import CliRunner

from engage.analytics.sentiment import (
    DEFAULT_RULES,
    FITTED,
    SCORER_VERSION,
    SWITCHES,
    EngageAnalyzer,
    Rules,
    assessments,
    polarity_of,
    prepare,
    score,
    score_many,
)
from engage.analytics.sentiment_lexicon import load_lexicon, parse_lexicon_text
from engage.cli import app

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
try:
    import sentiment as bench  # bench/sentiment.py
finally:
    sys.path.pop(0)
SHARED = bench.find_data_dir()


def test_version_is_a_nonempty_string() -> None:
    assert isinstance(SCORER_VERSION, str) and SCORER_VERSION.strip()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Yes",
        "3",
        "!!!!!!!!!!",
        "GREAT GREAT GREAT AMAZING!!!!!!! 😍😍😍😍",
        "terrible awful horrible shootings murder 😡😡😡 " * 50,
        "😀" * 300,
    ],
)
def test_scores_stay_in_range(text: str) -> None:
    value = score(text)
    assert -1.0 <= value <= 1.0
    assert not math.isnan(value)


@pytest.mark.parametrize("text", ["", "Yes", "3", "maybe", "I live on Greenmount near 33rd"])
def test_neutral_answers_score_near_zero(text: str) -> None:
    assert abs(score(text)) <= 0.05


def test_plain_textblob_gets_contracted_negation_wrong() -> None:
    """The failure that motivated this scorer, reproduced with real TextBlob."""
    assert TextBlob("I don't feel safe").sentiment.polarity > 0
    assert score("I don't feel safe") < 0


@pytest.mark.parametrize(
    "negated",
    [
        "I don't feel safe walking home",
        "i dont feel safe walking home",
        "I do not feel safe walking home",
        "I don’t feel safe walking home",
        "I never feel safe walking home",
    ],
)
def test_negation_turns_positive_words_negative(negated: str) -> None:
    assert score("I feel safe walking home") > 0.2
    assert score(negated) < -0.2


def test_apostrophe_free_contractions_score_the_same() -> None:
    assert score("i dont feel safe") == score("i don't feel safe")
    assert score("cant complain") == score("can't complain")


@pytest.mark.parametrize(
    "text",
    [
        "never had any trouble on my block",
        "no complaints, officers were polite",
        "can't complain",
        "no problems so far",
        "not bad",
        "could be worse",
        "I couldn't be happier with the crisis team",
    ],
)
def test_negated_complaints_read_as_positive(text: str) -> None:
    assert score(text) > 0.05


@pytest.mark.parametrize(
    "text",
    [
        "not great",
        "could be better",
        "not safe at all",
        "Nobody cares about this neighborhood",
        "police never came",
        "they never answer 311",
    ],
)
def test_negative_constructions(text: str) -> None:
    assert score(text) < -0.05


def test_contrast_weights_the_clause_after_but() -> None:
    assert score("It was ok but nothing will change") < 0
    assert score("The officer was rude but the sergeant was very helpful") > 0
    assert score("The sergeant was very helpful but the officer was rude") < 0


def test_contrast_stays_inside_its_sentence() -> None:
    before = score("They were rude. Good session but too short")
    after = score("Good session but too short. They were rude")
    assert before < 0 and after < 0


def test_boosters_dampeners_capitals_and_exclamations() -> None:
    assert score("very safe") > score("safe") > score("somewhat safe") > 0
    assert score("I feel SAFE here") > score("I feel safe here")
    assert score("still waiting on a call back!!!") < score("still waiting on a call back")
    assert score("thank you!!!") > score("thank you") > 0


def test_emoji_and_emoticons_carry_sentiment() -> None:
    assert score("🙂") > 0
    assert score("👍") > 0
    assert score(":)") > 0
    assert score("👎") < 0
    assert score(":(") < 0
    assert score("😡 police never came") < score("police never came") < 0


@pytest.mark.parametrize(
    "text",
    [
        "Shootings every week",
        "they harassed my son for nothing",
        "Too many vacant houses",
        "Response time was terrible, waited 2 hours",
        "Every night there's gunshots",
        "drug dealing by the school",
        "I'm terrified for my grandkids",
    ],
)
def test_public_safety_vocabulary_negative(text: str) -> None:
    assert score(text) < -0.2


@pytest.mark.parametrize(
    "text",
    [
        "Best meeting in years, felt heard",
        "The mediator really listened to us",
        "They came fast and were respectful",
        "we look out for each other",
        "The violence interrupters are doing good work",
    ],
)
def test_public_safety_vocabulary_positive(text: str) -> None:
    assert score(text) > 0.2


def test_sarcastic_opener_is_read_as_a_complaint() -> None:
    assert score("Great, another car broken into on our street") < -0.2
    assert score("oh wonderful the streetlight is out again") < 0


def test_spanish_replies() -> None:
    assert score("no me siento seguro") < 0
    assert score("muy bueno, gracias") > 0
    assert score("hay mucha violencia y balaceras") < 0


def test_score_many_matches_score() -> None:
    texts = ["I don't feel safe", "Thank you!", "", "maybe"]
    assert score_many(texts) == [score(t) for t in texts]
    assert score_many(iter(texts)) == [score(t) for t in texts]


def test_assessments_name_the_words_that_counted() -> None:
    found = dict(assessments("The officer was rude but the new sergeant is great"))
    assert found["rude"] < 0 < found["great"]
    assert assessments("") == []


def test_blobber_uses_engage_analyzer() -> None:
    tb = Blobber(analyzer=EngageAnalyzer())
    text = "I don't feel safe. The youth program is a blessing!"
    blob = tb(text)
    assert blob.sentiment.polarity == pytest.approx(score(text))
    # TextBlob's ``blob.polarity`` shortcut always uses PatternAnalyzer; ``sentiment`` is ours.
    assert 0.0 <= blob.sentiment.subjectivity <= 1.0
    # (blob.sentences needs NLTK's punkt corpus, which engage never downloads)
    assert tb("I don't feel safe.").sentiment.polarity < 0 < tb("A blessing!").sentiment.polarity
    assessed = blob.sentiment_assessments
    assert assessed.polarity == pytest.approx(score(text))
    assert any(term == "blessing" for term, _ in assessed.assessments)


def test_analyzer_is_a_textblob_sentiment_analyzer() -> None:
    from textblob.base import CONTINUOUS, BaseSentimentAnalyzer

    analyzer = EngageAnalyzer()
    assert isinstance(analyzer, BaseSentimentAnalyzer)
    assert analyzer.kind == CONTINUOUS
    assert analyzer.analyze("").polarity == 0.0


def test_scorer_needs_no_corpus_and_never_imports_vader(tmp_path: Path) -> None:
    """Run in a fresh interpreter with an empty NLTK data path and no home directory data."""
    code = (
        "import sys\n"
        "from engage.analytics.sentiment import score\n"
        'assert score("I don\'t feel safe") < 0\n'
        "assert 'vaderSentiment' not in sys.modules\n"
        "print('ok')\n"
    )
    env = {**os.environ, "NLTK_DATA": str(tmp_path / "nltk"), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_lexicon_file_format() -> None:
    parsed = parse_lexicon_text("# comment\ngood 2\nfelt heard\t2.4  # a phrase\n\nbad   -4\n")
    assert parsed == {"good": 0.5, "felt heard": 0.6, "bad": -1.0}
    with pytest.raises(ValueError):
        parse_lexicon_text("good\n")


def test_shipped_lexicon_has_domain_terms_and_pattern_words() -> None:
    lexicon = load_lexicon()
    assert lexicon.words["harassed"] < 0
    assert lexicon.words["shootings"] < 0
    assert lexicon.phrases[("felt", "heard")] > 0
    assert "abhorrent" in lexicon.words  # from TextBlob's own pattern lexicon
    assert all(-1.0 <= v <= 1.0 for v in lexicon.words.values())


def test_cli_prints_the_score() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["sentiment", "I don't feel safe walking home"])
    assert result.exit_code == 0, result.output
    assert float(result.output.strip()) == pytest.approx(
        score("I don't feel safe walking home"), abs=0.0005
    )
    explained = runner.invoke(app, ["sentiment", "--explain", "no complaints"])
    assert explained.exit_code == 0
    assert SCORER_VERSION in explained.output and "no complaints" in explained.output


def test_cli_rejects_empty_text_with_one_line() -> None:
    result = CliRunner().invoke(app, ["sentiment", "   "])
    assert result.exit_code == 1
    assert "error: no text to score" in result.output


@pytest.mark.skipif(SHARED is None, reason="the shared development data is not present")
def test_community_dev_figures_when_shared_data_is_present() -> None:
    assert SHARED is not None
    rows = bench.load_rows(SHARED / "community_dev.tsv")
    human = [row.human for row in rows]
    engage_r = bench.pearson(human, [score(row.text) for row in rows])
    textblob_r = bench.pearson(human, [TextBlob(row.text).sentiment.polarity for row in rows])
    assert engage_r >= 0.85
    assert engage_r > textblob_r


def _without(switch: str) -> Rules:
    return dataclasses.replace(DEFAULT_RULES, **{switch: False})


def _score_with(text: str, rules: Rules) -> float:
    return polarity_of(prepare(text, rules), rules)


# One text per rule whose score that rule changes: turning a switch off must change it, so
# the ablation table in docs/SENTIMENT.md measures something real for every row.
RULE_EXAMPLES = {
    "capitals": "I feel SAFE here",
    "stretched": "sooo good",
    "exclamations": "thank you!!!",
    "questions": "is it any good?",
    "insistence": "why is nobody fixing this??",
    "degree": "very safe",
    "contrast": "The officer was rude but the sergeant was very helpful",
    "negation": "I don't feel safe",
    "concord": "no hay nada bueno aquí",
    "idioms": "we felt heard",
    "emoji": "police never came 😡",
    "slang": "smh",
    "public_words": "a scandal, they blamed us",
    "word_forms": "it worked flawlessly",
    "wishes": "it would have been nice to hear back",
    "sarcasm": "Great, another car broken into",
}


def test_every_rule_has_an_example() -> None:
    assert set(RULE_EXAMPLES) == set(SWITCHES)


@pytest.mark.parametrize("switch", SWITCHES)
def test_turning_a_rule_off_changes_its_example(switch: str) -> None:
    text = RULE_EXAMPLES[switch]
    assert _score_with(text, DEFAULT_RULES) == score(text)
    assert _score_with(text, _without(switch)) != pytest.approx(score(text), abs=1e-3)


def test_rules_move_scores_the_way_people_mean_them() -> None:
    assert score("I don't feel safe") < 0 < _score_with("I don't feel safe", _without("negation"))
    assert score("no hay nada bueno aquí") < 0
    assert score("no me siento nada seguro") < 0
    assert score("why is nobody fixing this??") < score("why is nobody fixing this?") < 0
    assert score("scary af") < score("scary") < 0
    assert score("good as hell") > score("good") > 0
    assert score("hated it, least favorite") < score("hated it") < 0
    assert score("at least it was quiet") > 0
    assert score("I could care less") < 0


def test_web_addresses_and_mentions_are_not_read() -> None:
    assert score("see http://great.example.com/awful-news") == 0.0
    assert score("write to help@great.example.org") == 0.0
    assert score("@happyneighbor said it") == 0.0
    assert score("thanks @officer_lee, great work") == score("thanks, great work")


def test_emoticon_spellings() -> None:
    assert score("good :)))") == score("good :)")
    assert score("love it <333") == score("love it <3")
    assert score("^_^") > 0 > score("</3")


def test_spanish_without_accents_and_wishes() -> None:
    assert score("pesimo servicio") == score("pésimo servicio") < 0
    assert score("podría ser mejor") < 0
    assert score("los vecinos nos cuidamos") > 0


def test_fitted_numbers_are_fields_of_rules() -> None:
    names = {f.name for f in dataclasses.fields(Rules)}
    assert set(FITTED) <= names and set(SWITCHES) <= names
    assert all(isinstance(getattr(DEFAULT_RULES, n), float) for n in FITTED)
    assert all(getattr(DEFAULT_RULES, n) is True for n in SWITCHES)


def test_version_names_this_scorer() -> None:
    assert SCORER_VERSION == "engage-sentiment/2.0"
    assert len(SCORER_VERSION) <= 40  # stored in a 40-character column beside each score


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_scores_in_range_under_every_rule_set(text: str) -> None:
    for rules in (DEFAULT_RULES, *(_without(s) for s in SWITCHES[:4])):
        value = _score_with(text, rules)
        assert -1.0 <= value <= 1.0 and not math.isnan(value)
    assert score(text) == _score_with(text, DEFAULT_RULES)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 50_000 + "@",
        "a." * 25_000 + "@x",
        "@" + "a" * 50_000,
        "http" + "s" * 50_000,
        ":" + ")" * 50_000,
        "no " * 20_000 + "good",
    ],
)
def test_long_hostile_texts_finish(text: str) -> None:
    """No pattern backtracks badly (the suite's timeout would stop a quadratic one)."""
    assert -1.0 <= score(text) <= 1.0
