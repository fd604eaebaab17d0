"""``Worker(queues)`` reads its queues as CKAN's Worker does (reference, section 1.4):
one name or a list of names; ``None`` or an empty value means ``['default']``; anything
else is refused by name."""

from __future__ import annotations

from typing import Any

import pytest

import conveyor


@pytest.mark.parametrize("empty", [None, "", [], ()])
def test_an_empty_value_means_the_default_queue(empty: Any) -> None:
    worker = conveyor.Worker(empty)
    assert worker.queue_names == ["default"]
    assert worker.queues == [conveyor.config.current().queue_prefix + "default"]


def test_one_name_or_a_list_of_names() -> None:
    assert conveyor.Worker("priority").queue_names == ["priority"]
    assert conveyor.Worker(["priority", "default"]).queue_names == ["priority", "default"]


@pytest.mark.parametrize("bad", [5, 1.5, {"default"}])
def test_a_value_that_is_no_queue_name_is_refused_clearly(bad: Any) -> None:
    with pytest.raises(TypeError, match="a queue name or a list of queue names, not "):
        conveyor.Worker(bad)
