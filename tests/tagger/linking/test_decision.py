"""A link decided again from its stored inputs under new thresholds decides as linking it again would,
and inputs that cannot say (never measured what the new level asks, not written by `stored`) say so."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from tagger.linking.decision import (
    Decided,
    Decision,
    DecisionInputs,
    LinkThresholds,
    decide,
    decided,
)

MATCHED = "crop 1: its print matched (40 keypoints)"


def _random_thresholds(draw: random.Random) -> LinkThresholds:
    floor = round(draw.uniform(0.0, 0.6), 2)
    return LinkThresholds(
        auto_approve=round(draw.uniform(floor, 1.0), 2),
        floor=floor,
        own_print_approve=round(draw.uniform(0.0, 1.0), 2),
        require_print_evidence=draw.random() < 0.8,
    )


def _random_inputs(draw: random.Random) -> DecisionInputs:
    """Inputs as a link measures them, with the packshots' opinion known (whether or not asked)."""
    return DecisionInputs(
        # Often on a level's exact value, where rounding and >= matter.
        confidence=draw.choice([round(draw.random(), 4), 0.8, 0.5, 0.3, 0.0, 1.0]),
        print_evidence=draw.random() < 0.7,
        reason=MATCHED,
        contradicted=draw.random() < 0.15,
        own_print_unseen=draw.random() < 0.15,
        own_print_confirmed=draw.random() < 0.4,
        scenes=draw.random() < 0.5,
        packshot_confidence=draw.choice([round(draw.random(), 4), 0.8, 0.5]),
    )


def _as_linked_under(inputs: DecisionInputs, thresholds: LinkThresholds) -> DecisionInputs:
    """What a link under `thresholds` keeps: the packshots' opinion only where they asked for it."""
    if inputs.asks_packshots(thresholds):
        return inputs
    return replace(inputs, packshot_confidence=None)


def _linking_again(measured: DecisionInputs, thresholds: LinkThresholds) -> Decided:
    """What `Linker.link_track` decided before the inputs were kept, written out as it was: the
    packshots' opinion measured only for a link the other rules would approve in a catalog with
    scenes, its reason extended by that opinion."""
    own_print = measured.own_print_confirmed and not measured.own_print_unseen
    level = thresholds.approval_level(own_print)
    trusted = measured.print_evidence or not thresholds.require_print_evidence
    vetoed = measured.contradicted or measured.own_print_unseen
    alone = None
    if measured.confidence >= level and trusted and not vetoed and measured.scenes:
        alone = measured.packshot_confidence
    reason = measured.reason
    if alone is not None:
        under = ", under the approval level: scene images made it sure"
        reason += f"; {alone:.4f} on its packshots alone" + ("" if alone >= level else under)
    decision = decide(
        measured.confidence,
        thresholds,
        print_evidence=measured.print_evidence,
        contradicted=measured.contradicted,
        packshot_confidence=alone,
        own_print_unseen=measured.own_print_unseen,
        own_print_confirmed=measured.own_print_confirmed,
    )
    return Decided(decision, level, reason)


def test_deciding_stored_inputs_again_agrees_with_linking_again_under_any_thresholds() -> None:
    draw = random.Random(20261206)
    undecidable = 0
    for _ in range(20_000):
        measured = _random_inputs(draw)
        then, now = _random_thresholds(draw), _random_thresholds(draw)
        stored = DecisionInputs.from_stored(_as_linked_under(measured, then).stored())
        assert stored is not None

        again = decided(stored, now)
        linked_again = _linking_again(measured, now)

        # As linked then, the inputs decide as linking did
        assert decided(stored, then) == _linking_again(measured, then)
        if again is None:
            # Only where the new level asks for an opinion the first link never measured.
            assert stored.asks_packshots(now)
            assert stored.packshot_confidence is None
            undecidable += 1
        else:
            assert again == linked_again
    assert 0 < undecidable < 20_000 // 4


def test_the_decision_is_decides_own_and_the_reason_tells_the_packshots_opinion() -> None:
    inputs = DecisionInputs(0.85, True, MATCHED, scenes=True, packshot_confidence=0.6)

    strict = decided(inputs, LinkThresholds())
    lenient = decided(inputs, LinkThresholds(auto_approve=0.55))
    above = decided(inputs, LinkThresholds(auto_approve=0.9))

    assert strict == Decided(
        Decision.PROPOSED,
        0.8,
        MATCHED + "; 0.6000 on its packshots alone, under the approval level: scene images made it sure",
    )
    assert strict.decision is decide(0.85, LinkThresholds(), packshot_confidence=0.6)
    assert lenient == Decided(Decision.APPROVED, 0.55, MATCHED + "; 0.6000 on its packshots alone")
    # Not asked under a level the link does not reach: the reason does not mention it
    assert above == Decided(Decision.PROPOSED, 0.9, MATCHED)


def test_a_lowered_level_that_asks_for_an_unmeasured_opinion_cannot_be_decided_without_the_crops() -> None:
    measured_at_08 = DecisionInputs(0.7, True, MATCHED, scenes=True)  # under 0.8: never asked

    assert decided(measured_at_08, LinkThresholds()) == Decided(Decision.PROPOSED, 0.8, MATCHED)
    assert decided(measured_at_08, LinkThresholds(auto_approve=0.6)) is None
    # A catalog of packshots only never needs it
    assert decided(replace(measured_at_08, scenes=False), LinkThresholds(auto_approve=0.6)) == Decided(
        Decision.APPROVED, 0.6, MATCHED
    )


@pytest.mark.parametrize(
    "stored",
    [
        None,
        [],
        "0.9",
        {},
        {"confidence": 0.9},
        {**DecisionInputs(0.9, True, MATCHED).stored(), "confidence": 1.5},
        {**DecisionInputs(0.9, True, MATCHED).stored(), "confidence": True},
        {**DecisionInputs(0.9, True, MATCHED).stored(), "confidence": "0.9"},
        {**DecisionInputs(0.9, True, MATCHED).stored(), "confidence": float("nan")},
        {**DecisionInputs(0.9, True, MATCHED).stored(), "packshot_confidence": -0.1},
        {**DecisionInputs(0.9, True, MATCHED).stored(), "print_evidence": 1},
        {**DecisionInputs(0.9, True, MATCHED).stored(), "scenes": None},
        {**DecisionInputs(0.9, True, MATCHED).stored(), "reason": None},
        {**DecisionInputs(0.9, True, MATCHED).stored(), "scorer": 7},
    ],
)
def test_inputs_not_written_by_stored_are_refused_not_guessed(stored: object) -> None:
    assert DecisionInputs.from_stored(stored) is None


def test_stored_inputs_come_back_equal() -> None:
    inputs = DecisionInputs(0.8123, False, MATCHED, True, True, True, True, 0.4, "9857aeefa70d9d29")

    assert DecisionInputs.from_stored(inputs.stored()) == inputs
    # Inputs stored before the scorer was kept name none: no linker's scorer matches it
    unnamed = {key: value for key, value in inputs.stored().items() if key != "scorer"}
    assert DecisionInputs.from_stored(unnamed) == replace(inputs, scorer="")
    assert DecisionInputs.from_stored({**inputs.stored(), "confidence": 1}) == replace(inputs, confidence=1.0)
