"""Deciding a link: approved, proposed for review, or an unknown product, from what the linker found
(`DecisionInputs`) and the brand's thresholds (`LinkThresholds`).

The inputs are kept with each placement, so a change of the brand's thresholds decides its links again
from them (`decided`) without reading a crop: milliseconds a placement where linking again takes most of
a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeGuard

from tagger.linking.errors import LinkingError

DEFAULT_AUTO_APPROVE = 0.8
# Where the crops confirmed a product's marked own print: more likely than all other answers together.
DEFAULT_OWN_PRINT_APPROVE = 0.5
DEFAULT_FLOOR = 0.3


class Decision(StrEnum):
    APPROVED = "approved"
    PROPOSED = "proposed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class LinkThresholds:
    """A brand's thresholds on the top SKU's probability. The default auto-approve level is the one
    at which cross-validated precision on grocery-dev was ≥ 98% (see BENCHMARKS.md, Linking)."""

    auto_approve: float = DEFAULT_AUTO_APPROVE
    floor: float = DEFAULT_FLOOR
    # Links whose own print the brand marked and the crops confirmed (`PrintEvidence.own_print_confirmed`)
    # are approved from this confidence, if lower than `auto_approve` (never below `floor`): more
    # likely than every other answer together, unknown included.
    own_print_approve: float = DEFAULT_OWN_PRINT_APPROVE
    # Auto-approve only a SKU whose print was seen (see `print_evidence`). Colour and shape alone
    # can be confidently wrong: on grocery-dev an orange went to "Satsumas" at 0.85 and, with its SKU
    # removed from the catalog, to another fruit at 0.84; with the rule no wrong link was approved and
    # every approved packaged link kept its approval (BENCHMARKS.md, Linking). Such links still get
    # their SKU, proposed for review.
    require_print_evidence: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.floor <= self.auto_approve <= 1.0:
            raise LinkingError(
                f"thresholds must satisfy 0 ≤ floor ≤ auto_approve ≤ 1, got {self.floor}, {self.auto_approve}"
            )
        if not 0.0 <= self.own_print_approve <= 1.0:
            raise LinkingError(f"own_print_approve must be between 0 and 1, got {self.own_print_approve}")

    def approval_level(self, own_print_confirmed: bool = False) -> float:
        """The confidence a link needs to be approved: `auto_approve`, or for a link whose marked own
        print was confirmed the lower of it and `own_print_approve`, not below the floor."""
        if not own_print_confirmed:
            return self.auto_approve
        return max(self.floor, min(self.auto_approve, self.own_print_approve))


def needed_level(thresholds: LinkThresholds, *, own_print_confirmed: bool, own_print_unseen: bool) -> float:
    """The confidence a link needs: the own-print level only when the marks were confirmed and not also
    reported unseen (flags from different sources must both agree before the bar is lowered)."""
    return thresholds.approval_level(own_print_confirmed and not own_print_unseen)


def decide(
    confidence: float,
    thresholds: LinkThresholds,
    *,
    print_evidence: bool = True,
    contradicted: bool = False,
    packshot_confidence: float | None = None,
    own_print_unseen: bool = False,
    own_print_confirmed: bool = False,
) -> Decision:
    """Approved above the threshold with print evidence (or without, for a brand that waived it), but
    never when the crops contradicted the SKU (another variant's name on its print, its print in other
    colours): that is evidence of another product, which no setting trusts appearance over. Nor when
    the brand marked the product's own print and no crop matched it (`own_print_unseen`). A link whose
    marked own print the crops confirmed (`own_print_confirmed`) needs only the brand's own-print level
    (`LinkThresholds.approval_level`). A catalog with scene images must also be sure of the SKU on its
    packshots alone (`packshot_confidence`, None when every image is a packshot), at the same level:
    see `Linker.link_track`."""
    level = needed_level(
        thresholds, own_print_confirmed=own_print_confirmed, own_print_unseen=own_print_unseen
    )
    trusted = print_evidence or not thresholds.require_print_evidence
    backed = packshot_confidence is None or packshot_confidence >= level
    allowed = not contradicted and not own_print_unseen
    if confidence >= level and trusted and backed and allowed:
        return Decision.APPROVED
    if confidence >= thresholds.floor:
        return Decision.PROPOSED
    return Decision.UNKNOWN


# What a link's reason adds when a catalog with scene images was asked for its packshots' opinion.
_UNDER_THE_LEVEL = ", under the approval level: scene images made it sure"


@dataclass(frozen=True, slots=True)
class DecisionInputs:
    """Everything `decide` weighs for one link besides the brand's thresholds, as the linker found it.

    `packshot_confidence` is measured only where some thresholds asked for it (a catalog with scene
    images, `scenes`, and a link the other rules would approve): it costs a second vote over the crops,
    so a link far under the level is spared it. Inputs whose new level would ask for it when it was
    never measured cannot be decided again without the crops (`decided` says None)."""

    confidence: float  # the top SKU's probability, rounded as the link reports it
    print_evidence: bool  # `PrintEvidence.seen`
    reason: str  # `PrintEvidence.reason`: why the print was or was not seen
    contradicted: bool = False
    own_print_unseen: bool = False
    own_print_confirmed: bool = False
    scenes: bool = False  # the catalog held scene images: approval also needs its packshots alone
    packshot_confidence: float | None = None
    # What scored the link (`tagger.linking.linker.scorer_id`: the fusion model and the shortlist). The
    # confidence is that model's, so inputs scored by another (a deploy that refits the fusion model)
    # are linked again rather than decided again. "" for inputs stored before it was kept.
    scorer: str = ""

    @property
    def vetoed(self) -> bool:
        """Never approved, whatever the confidence and the thresholds (`decide`)."""
        return self.contradicted or self.own_print_unseen

    def level(self, thresholds: LinkThresholds) -> float:
        return needed_level(
            thresholds, own_print_confirmed=self.own_print_confirmed, own_print_unseen=self.own_print_unseen
        )

    def asks_packshots(self, thresholds: LinkThresholds) -> bool:
        """Whether deciding under `thresholds` needs the packshots' opinion: the catalog holds scenes,
        and every other rule would approve the link."""
        trusted = self.print_evidence or not thresholds.require_print_evidence
        return self.scenes and self.confidence >= self.level(thresholds) and trusted and not self.vetoed

    def stored(self) -> dict[str, object]:
        """The JSON a placement keeps (`from_stored` reads it back)."""
        return {
            "confidence": self.confidence,
            "print_evidence": self.print_evidence,
            "reason": self.reason,
            "contradicted": self.contradicted,
            "own_print_unseen": self.own_print_unseen,
            "own_print_confirmed": self.own_print_confirmed,
            "scenes": self.scenes,
            "packshot_confidence": self.packshot_confidence,
            "scorer": self.scorer,
        }

    @classmethod
    def from_stored(cls, data: object) -> DecisionInputs | None:
        """The inputs `stored` wrote; None for anything else (a placement linked before they were kept,
        a row edited by hand): such a link is linked again from its crops instead."""
        if not isinstance(data, dict):
            return None
        confidence, packshots, reason = (
            data.get("confidence"),
            data.get("packshot_confidence"),
            data.get("reason"),
        )
        flags = ("print_evidence", "contradicted", "own_print_unseen", "own_print_confirmed", "scenes")
        if not _probability(confidence) or not isinstance(reason, str):
            return None
        if packshots is not None and not _probability(packshots):
            return None
        if not all(isinstance(data.get(flag), bool) for flag in flags):
            return None
        scorer = data.get("scorer", "")
        if not isinstance(scorer, str):
            return None
        return cls(
            confidence=float(confidence),
            print_evidence=data["print_evidence"],
            reason=reason,
            contradicted=data["contradicted"],
            own_print_unseen=data["own_print_unseen"],
            own_print_confirmed=data["own_print_confirmed"],
            scenes=data["scenes"],
            packshot_confidence=None if packshots is None else float(packshots),
            scorer=scorer,
        )


def _probability(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0


@dataclass(frozen=True, slots=True)
class Decided:
    """A link's decision under some thresholds, with the level it needed and the reason a reviewer reads."""

    decision: Decision
    level: float
    evidence: str


def decided(inputs: DecisionInputs, thresholds: LinkThresholds) -> Decided | None:
    """The decision `inputs` get under `thresholds`: what linking the crops again would decide, without
    reading them. None when these thresholds ask for the packshots' opinion and it was never measured
    (`DecisionInputs.asks_packshots`): only linking again can say."""
    asked = inputs.asks_packshots(thresholds)
    if asked and inputs.packshot_confidence is None:
        return None
    level = inputs.level(thresholds)
    alone = inputs.packshot_confidence if asked else None
    evidence = inputs.reason
    if alone is not None:
        evidence += f"; {alone:.4f} on its packshots alone" + ("" if alone >= level else _UNDER_THE_LEVEL)
    decision = decide(
        inputs.confidence,
        thresholds,
        print_evidence=inputs.print_evidence,
        contradicted=inputs.contradicted,
        packshot_confidence=alone,
        own_print_unseen=inputs.own_print_unseen,
        own_print_confirmed=inputs.own_print_confirmed,
    )
    return Decided(decision, level, evidence)
