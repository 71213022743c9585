from __future__ import annotations

from collections.abc import Iterator

import pytest

from tagger.exceptions import VideoError
from tagger.prefetch import Prefetch


def test_items_arrive_in_order() -> None:
    assert list(Prefetch(iter(range(50)), depth=2)) == list(range(50))


def test_a_producer_error_is_raised_in_the_consumer_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise VideoError("clip.mp4: decoding failed after frame 2 (66 ms): boom")

    seen: list[int] = []
    with pytest.raises(VideoError, match="decoding failed after frame 2"):
        seen.extend(Prefetch(failing(), depth=1))

    assert seen == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer() -> None:
    produced: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    stream = Prefetch(endless(), depth=1)
    for item in stream:
        if item == 3:
            break
    stream.close()
    count = len(produced)

    assert count <= 6
    assert len(produced) == count
