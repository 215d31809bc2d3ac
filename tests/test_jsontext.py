"""``store.jsontext`` writes what the standard library reads, and reads what it wrote."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store import jsontext

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_the_same_value_as_the_standard_library(value: Any) -> None:
    text = jsontext.dumps(value)
    assert isinstance(text, str)
    assert json.loads(text) == value  # what the standard library (and SQLAlchemy) read
    assert jsontext.loads(text) == value
    assert jsontext.loads(json.dumps(value)) == value  # rows written before, with spaces


def test_keys_and_tuples_as_json_dumps_writes_them() -> None:
    value = {1: ("a", 2), "b": [None, True]}
    assert jsontext.loads(jsontext.dumps(value)) == json.loads(json.dumps(value))


def test_what_json_cannot_hold_is_refused_as_json_refuses_it() -> None:
    with pytest.raises(TypeError):
        jsontext.dumps({"a": {1, 2}})
    with pytest.raises(ValueError):
        jsontext.loads("{not json")


def test_what_orjson_refuses_goes_through_the_standard_library() -> None:
    odd = {"text": "half a pair \ud800", "n": float("nan")}
    text = jsontext.dumps(odd)
    assert text == json.dumps(odd)  # written as it was before
    back = jsontext.loads(text)
    assert back["text"] == odd["text"] and back["n"] != back["n"]  # NaN
    assert jsontext.dumps_sorted({"b": "\ud800", "a": 1}) == '{"a": 1, "b": "\\ud800"}'
