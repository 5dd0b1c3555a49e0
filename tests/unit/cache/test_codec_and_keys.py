"""Codecs round-trip what they promise; stored keys never collide."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from tiered.cache import FunctionCodec, JsonCodec, ModelCodec, codec_for
from tiered.cache.keys import entry_key, normalise_tags


class Item(BaseModel):
    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class Point:
    x: int
    y: int


def test_json_keeps_json_values() -> None:
    value = {"a": [1, 2.5, None, True], "b": {"c": "ünï"}}
    codec = JsonCodec()
    assert codec.load(codec.dump(value)) == value


def test_a_type_becomes_a_model_codec_built_once() -> None:
    codec = codec_for(list[Item])
    items = [Item(id=uuid.uuid4(), name="a"), Item(id=uuid.uuid4(), name="b")]
    assert codec.load(codec.dump(items)) == items
    assert codec_for(list[Item]) is codec
    point = codec_for(Point)
    assert point.load(point.dump(Point(1, 2))) == Point(1, 2)
    assert isinstance(codec, ModelCodec)


def test_a_model_codec_refuses_a_value_of_another_type() -> None:
    with pytest.raises(Exception, match="Item"):
        codec_for(Item).dump(Point(1, 2))  # type: ignore[arg-type]


def test_codecs_pass_through_and_none_is_json() -> None:
    custom = FunctionCodec(lambda value: str(value).encode(), int)
    assert codec_for(custom) is custom
    assert custom.load(custom.dump(41)) == 41
    assert isinstance(codec_for(None), JsonCodec)


def test_tags_are_sorted_and_deduplicated() -> None:
    assert normalise_tags(["b", "a", "b"]) == ("a", "b")


_text = st.text(max_size=8)
_entry = st.tuples(_text, st.lists(st.tuples(_text, st.integers(0, 99)), max_size=3))


@given(_entry, _entry)
def test_distinct_entries_have_distinct_stored_keys(
    first: tuple[str, list[tuple[str, int]]], second: tuple[str, list[tuple[str, int]]]
) -> None:
    def stored(entry: tuple[str, list[tuple[str, int]]]) -> tuple[str, str]:
        key, tagged = entry
        versions = dict(tagged)
        tags = normalise_tags(versions)
        return key, entry_key(key, tags, [versions[tag] for tag in tags])

    (key_a, stored_a), (key_b, stored_b) = stored(first), stored(second)
    same = key_a == key_b and dict(first[1]) == dict(second[1])
    assert (stored_a == stored_b) == same
