"""The batch input file is validated whole, up front; each bad line is named with its number and reason."""

from __future__ import annotations

import json

import pytest

from modelyard.batch import ENDPOINTS, BatchInputError, read_items

GOOD = {"custom_id": "two-sum/python/tutorial", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "content", "messages": [{"role": "user", "content": "Two Sum in Python"}]}}


def _data(*lines: object) -> bytes:
    return b"\n".join(line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"{not json", "line 2: not valid JSON"),
        (b"[1, 2]", "line 2: must be a JSON object"),
        ({**GOOD, "custom_id": ""}, "line 2: custom_id must be a non-empty string"),
        ({**GOOD, "custom_id": 7}, "line 2: custom_id must be a non-empty string"),
        ({**GOOD}, "line 2: custom_id 'two-sum/python/tutorial' repeats line 1"),
        ({**GOOD, "custom_id": "b", "method": "GET"}, "line 2: method must be \"POST\""),
        ({**GOOD, "custom_id": "b", "url": "/v1/completions"}, "line 2: url '/v1/completions' is not served"),
        ({**GOOD, "custom_id": "b", "body": "hi"}, "line 2: body must be a JSON object"),
        ({**GOOD, "custom_id": "b", "body": {**GOOD["body"], "stream": True}}, "body.stream is not supported"),
        ({**GOOD, "custom_id": "b", "extra": 1}, "line 2: unknown field(s) extra"),
        ({**GOOD, "custom_id": "x" * 513}, "custom_id is longer than 512"),
    ],
)
def test_bad_lines_are_named(line: object, expected: str) -> None:
    with pytest.raises(BatchInputError) as info:
        read_items(_data(GOOD, line), source="in.jsonl", urls=set(ENDPOINTS))
    assert expected in str(info.value)
    assert str(info.value).startswith("in.jsonl: 1 invalid line(s)")


def test_the_issue_example_line_is_valid_and_blank_lines_skip() -> None:
    items = read_items(_data(GOOD, b"", {**GOOD, "custom_id": "b"}), source="in", urls=set(ENDPOINTS))
    assert [(i.custom_id, i.line) for i in items] == [("two-sum/python/tutorial", 1), ("b", 3)]


def test_gateway_endpoint_must_match_every_line() -> None:
    line = {**GOOD, "custom_id": "e", "url": "/v1/embeddings", "body": {"model": "m", "input": "x"}}
    with pytest.raises(BatchInputError, match="differs from the batch's endpoint"):
        read_items(_data(GOOD, line), source="in", urls=set(ENDPOINTS), endpoint="/v1/chat/completions")


def test_every_problem_is_counted_even_past_the_listed_ones() -> None:
    bad = [b"{" for _ in range(30)]
    with pytest.raises(BatchInputError) as info:
        read_items(_data(*bad), source="in", urls=set(ENDPOINTS))
    assert "30 invalid line(s) (and 10 more)" in str(info.value)
    assert len(info.value.problems) == 20


def test_empty_file_is_an_error() -> None:
    with pytest.raises(BatchInputError, match="holds no requests"):
        read_items(b"\n\n", source="in", urls=set(ENDPOINTS))
