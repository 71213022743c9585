from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tagger.exceptions import VideoError
from tagger.prefetch import Prefetch, PrefetchClosedError


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


def _one_then_held(until: threading.Event) -> Iterator[int]:
    """Yields 1, then waits for `until` before yielding 2: a stage held by the one after it."""
    yield 1
    until.wait()
    yield 2


def test_a_producer_waiting_on_its_consumer_is_released_when_the_consumer_stops() -> None:
    # Like the decoder waiting for the detector's answer about an earlier frame.
    answered = threading.Event()
    stream = Prefetch(_one_then_held(answered), depth=1, release=answered.set)
    with pytest.raises(RuntimeError, match="the detector failed"):
        _fail_on_the_first(stream)

    assert answered.is_set()
    assert not stream.running


def test_a_stage_reading_a_closed_stage_stops_instead_of_waiting_for_it() -> None:
    held = threading.Event()
    first = Prefetch(_one_then_held(held), depth=1, release=held.set)
    second = Prefetch((item * 10 for item in first), depth=1, release=first.close)
    seen = []
    for item in second:
        seen.append(item)
        break
    second.close()

    assert seen == [10]
    assert not first.running
    assert not second.running


def _fail_on_the_first(stream: Prefetch[int]) -> None:
    for _ in stream:
        raise RuntimeError("the detector failed")


def test_a_prefetch_closed_while_read_says_so_rather_than_ending_as_if_complete() -> None:
    held = threading.Event()
    stream = Prefetch(_one_then_held(held), depth=1, release=held.set)
    reader = iter(stream)
    assert next(reader) == 1
    stream.close()  # its reader's reader stopped, say

    with pytest.raises(PrefetchClosedError, match="closed"):
        next(reader)
