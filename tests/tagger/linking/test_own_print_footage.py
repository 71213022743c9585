"""Own-print marks checked against crops of the brand's footage: a sibling's pack as sold may print what
the marks hold even where its packshot does not."""

from __future__ import annotations

import numpy as np
import pytest

from tagger.linking.index import CatalogIndex
from tagger.linking.linker import OWN_PRINT_INLIERS, PRINT_EVIDENCE_INLIERS
from tagger.linking.own_print import points_inside
from tagger.linking.own_print_check import OwnPrintCheckError, check_own_print
from tagger.linking.own_print_footage import (
    footage_inside_marks,
    matched_on_marked_image,
    own_footage_against_marks,
)
from tests.tagger.linking.factories import (
    combined_edition,
    family_packshot,
    other_edition,
    photo_of,
    yoggi_family_index,
)

OWN_PICTURE = (0.22, 0.07, 0.78, 0.45)


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return yoggi_family_index()


def _strawberry(index: CatalogIndex) -> str:
    return index.products[index.skus.index("YOG-S")].image_digests[0]


def test_a_siblings_pack_as_sold_that_prints_the_marked_picture_is_found_where_its_packshot_passes(
    index: CatalogIndex,
) -> None:
    digest = _strawberry(index)
    size = index.image_features[digest].size
    # The catalog check passes the marks: Vanilla's packshot shows its own picture there
    assert check_own_print(index, "YOG-S", digest, [OWN_PICTURE]).ok

    footage = [
        (
            "combined",
            matched_on_marked_image(
                index, digest, [photo_of(combined_edition(202, 101), seed) for seed in (1, 2)]
            ),
        ),
        ("vanilla", matched_on_marked_image(index, digest, [photo_of(family_packshot(202), 1)])),
        ("nothing", matched_on_marked_image(index, digest, [np.full((120, 80, 3), 90, np.uint8)])),
    ]
    found = footage_inside_marks(size, [OWN_PICTURE], footage)

    # Then the crops of the combined edition are named, with how many and where, the plain pack not
    (combined,) = found
    assert combined.key == "combined"
    assert combined.inliers >= OWN_PRINT_INLIERS
    assert combined.per_box == (combined.inliers,)
    x0, y0, x1, y1 = OWN_PICTURE
    assert 0 < len(combined.points) <= combined.inliers
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in combined.points)
    # The best of a placement's crops counts, as approval takes its best crop
    assert combined.inliers == max(points_inside(points, size, [OWN_PICTURE]) for points in footage[0][1])


def test_marks_on_an_image_the_index_lacks_cannot_be_checked_against_footage(index: CatalogIndex) -> None:
    with pytest.raises(OwnPrintCheckError, match="not in the catalog index yet"):
        matched_on_marked_image(index, "0" * 64, [family_packshot(101)])


def test_the_products_own_pack_of_another_edition_is_named_when_its_print_misses_the_marks(
    index: CatalogIndex,
) -> None:
    digest = _strawberry(index)
    size = index.image_features[digest].size
    # The edition sold: the family card as on the packshot, another picture where the marks are
    sold = other_edition(101, 303)
    footage = [
        ("as packshot", matched_on_marked_image(index, digest, [photo_of(family_packshot(101), 1)])),
        ("other edition", matched_on_marked_image(index, digest, [photo_of(sold, seed) for seed in (1, 2)])),
        ("nothing", matched_on_marked_image(index, digest, [np.full((120, 80, 3), 90, np.uint8)])),
    ]

    judged = own_footage_against_marks(size, [OWN_PICTURE], footage)

    # Then the other edition comes first, its print seen but (almost) none of it inside the marks
    other, as_packshot, nothing = judged
    assert other.key == "other edition"
    assert other.misses_marks
    assert other.print_seen
    assert other.matched >= PRINT_EVIDENCE_INLIERS
    assert other.inliers < OWN_PRINT_INLIERS
    # Where it matched is drawn: mostly outside the boxes, on the card the editions share
    x0, y0, x1, y1 = OWN_PICTURE
    within = [x0 <= x <= x1 and y0 <= y <= y1 for x, y in other.points]
    assert len(other.points) > 2 * sum(within)
    # The pack as its packshot shows it matches inside them, and a crop with no print is not named
    assert as_packshot.key == "as packshot"
    assert as_packshot.inliers >= OWN_PRINT_INLIERS
    assert not as_packshot.misses_marks
    assert nothing.key == "nothing"
    assert not nothing.print_seen
    assert not nothing.misses_marks


def test_own_footage_keeps_the_callers_order_after_those_that_miss_the_marks() -> None:
    size = (200, 200)
    inside = np.array([[100.0, 50.0]] * 12, np.float32)
    outside = np.array([[100.0, 150.0]] * 25, np.float32)
    judged = own_footage_against_marks(
        size,
        [OWN_PICTURE],
        [
            ("newest", (inside,)),
            ("misses by one", (np.vstack([outside, inside[:9]]),)),
            ("older", (inside,)),
            ("misses", (outside,)),
            ("unread", ()),
        ],
    )
    assert [item.key for item in judged] == ["misses", "misses by one", "newest", "older"]
    assert [item.inliers for item in judged] == [0, 9, 12, 12]
    assert judged[1].per_box == (9,)
    assert judged[1].matched == 34
