"""`LinkQueue`: placements linked on threads as shots end, listed in the builder's order."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from tagger.arrays import Image
from tagger.link_queue import LinkQueue
from tagger.linking.decision import Decision, LinkThresholds
from tagger.linking.errors import LinkingError
from tagger.linking.linker import CropLike, LinkResult
from tagger.placements import Keyframe, Placement
from tests.tagger.factories import link_result


def placement(name: str, start_ms: int, *, shot: int = 0) -> Placement:
    return Placement(
        id=name,
        label="bottle",
        confidence=0.9,
        start_ms=start_ms,
        end_ms=start_ms + 1000,
        start_frame=0,
        end_frame=30,
        keyframes=(Keyframe(start_ms, (0.1, 0.1, 0.2, 0.2)),),
        thumbnail=None,
        crops=(),
        shot=shot,
    )


class RecordingLinker:
    """Links every placement to the SKU named by its crop count; `fail_on` (a call number, from 1)
    raises; `gate` (when given) holds every call until it is set."""

    def __init__(self, fail_on: int | None = None, gate: threading.Event | None = None) -> None:
        self.calls = 0
        self.fail_on = fail_on
        self.gate = gate
        self.started = threading.Event()
        self._lock = threading.Lock()

    def link_track(
        self, crops: Sequence[Image | CropLike], thresholds: LinkThresholds | None = None
    ) -> LinkResult:
        with self._lock:
            self.calls += 1
            call = self.calls
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10), "the test never opened the gate"
        if call == self.fail_on:
            raise LinkingError("the catalog index went away")
        return link_result(f"SKU-{call}", "Product", 0.9, Decision.APPROVED)


def test_placements_submitted_shot_by_shot_come_back_linked_in_the_builders_order() -> None:
    linker = RecordingLinker()
    steps: list[tuple[int, int]] = []
    late, early, middle = (
        placement("late", 9000, shot=2),
        placement("early", 0),
        placement("mid", 4000, shot=1),
    )

    with LinkQueue(linker, None, threads=2) as links:
        links.submit([late])
        links.submit([early, middle])
        linked = links.linked(lambda done, total: steps.append((done, total)))

    assert [p.id for p in linked] == ["early", "mid", "late"]
    assert all(p.link is not None and p.link.decision is Decision.APPROVED for p in linked)
    assert sorted(str(p.link.sku) for p in linked if p.link) == ["SKU-1", "SKU-2", "SKU-3"]
    assert steps == [(1, 3), (2, 3), (3, 3)]


def test_nothing_submitted_is_nothing_linked() -> None:
    with LinkQueue(RecordingLinker(), None, threads=1) as links:
        links.submit([])
        assert links.linked() == ()


def test_a_failing_link_stops_the_queue_and_its_error_reaches_the_caller() -> None:
    gate = threading.Event()
    linker = RecordingLinker(fail_on=1, gate=gate)

    with LinkQueue(linker, None, threads=1) as links:
        links.submit([placement("a", 0), placement("b", 1000), placement("c", 2000)])
        gate.set()
        with pytest.raises(LinkingError, match="the catalog index went away"):
            links.linked()
        # The next shot's placements are refused with the same error: tagging stops there.
        with pytest.raises(LinkingError, match="the catalog index went away"):
            links.submit([placement("d", 3000)])

    assert linker.calls == 1  # the links queued behind the failing one never ran


def test_closing_the_queue_skips_links_not_yet_started_and_waits_for_the_running_one() -> None:
    gate = threading.Event()
    linker = RecordingLinker(gate=gate)
    links = LinkQueue(linker, None, threads=1)
    links.submit([placement("a", 0), placement("b", 1000)])
    closing = threading.Thread(target=links.close)
    assert linker.started.wait(10)  # "a" is running, "b" waits for the one thread

    closing.start()
    while not links.stopped:  # close() has begun: "b" can no longer start
        closing.join(0.01)
    closing.join(0.2)
    assert closing.is_alive()  # close() waits for "a", held at the gate
    gate.set()
    closing.join(10)

    assert not closing.is_alive()
    assert linker.calls == 1
    with pytest.raises(RuntimeError, match="closed"):
        links.submit([placement("c", 2000)])
