"""Branch conditions: parsed by hand, evaluated without eval, never raising."""

from __future__ import annotations

import pytest

from engage.flow.conditions import ConditionError, evaluate, parse_condition, refs

ENV = {"answer": "2", "likert": 2.0, "number": 2.0, "category": None, "language": "es",
       "results.contact_type": "none", "contact_type": "none", "results.area": "Canton"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("likert <= 2", True), ("likert < 2", False), ("answer == 2", True), ("answer = '2'", True),
     ("results.contact_type == none", True), ("contact_type != none", False),
     ("language == es and likert >= 1", True), ("likert > 4 or language == 'es'", True),
     ("not (likert > 1)", False), ("results.area in [Canton, 'Fells Point']", True),
     ("results.area in [Hampden]", False), ("category", False), ("results.missing > 3", False),
     ("results.missing != 3", True), ("results.area > 3", False)],
)
def test_evaluate(text: str, expected: bool) -> None:
    assert evaluate(parse_condition(text), ENV) is expected


@pytest.mark.parametrize("text", ["", "likert <=", "<= 2", "likert <<= 2", "a == 1 b", "(a == 1",
                                  "x in 3", "__import__('os')", "a.b() == 1", "2"])
def test_parse_errors(text: str) -> None:
    with pytest.raises(ConditionError):
        parse_condition(text)


def test_refs() -> None:
    tree = parse_condition("likert <= 2 and results.area in [Canton] or not context.x")
    assert refs(tree) == ["likert", "results.area", "context.x"]
