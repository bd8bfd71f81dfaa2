"""A batch image item is read by the same code as the gateway's ``/v1/images/generations`` body."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.batch.images import generation_request
from modelyard.errors import RequestError
from tests.media.images import BAD_GENERATION_BODIES


@pytest.mark.parametrize(("body", "param"), BAD_GENERATION_BODIES)
def test_a_bad_image_body_is_a_request_error_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(RequestError) as caught:
        generation_request(body)
    assert param in (caught.value.param or "") + str(caught.value)


@pytest.mark.parametrize(
    ("body", "route", "model"),
    [
        ({"prompt": "a cat"}, None, "lcm"),
        ({"prompt": "a cat", "model": "sdxl"}, None, "sdxl"),
        ({"prompt": "a cat", "model": "sdxl"}, "router:images", "router:images"),
    ],
)
def test_the_item_model_is_the_route_then_the_body_model_then_lcm(
    body: dict[str, Any], route: str | None, model: str
) -> None:
    item = {**body, "modelyard": {"tenant": "t1"}, "user": "u"}
    before = dict(item)
    chat = generation_request(item, route=route, cap=0.5)
    assert chat.model == model
    assert chat.image_task is not None and chat.image_task.prompt == "a cat"
    assert chat.hints.is_generative_image and chat.hints.max_cost_usd == 0.5
    assert item == before  # the item's body is kept as it was (a retry reads it again)
