"""Own-print marks checked against crops of the brand's footage: a sibling's pack as sold may print what
the marks hold even where its packshot does not."""

from __future__ import annotations

import numpy as np
import pytest

from tagger.linking.catalog import CatalogItem
from tagger.linking.index import CatalogIndex, build_catalog_index
from tagger.linking.linker import OWN_PRINT_INLIERS
from tagger.linking.own_print import points_inside
from tagger.linking.own_print_check import OwnPrintCheckError, check_own_print
from tagger.linking.own_print_footage import footage_inside_marks, matched_on_marked_image
from tests.tagger.linking.factories import combined_edition, extractor, family_packshot, photo_of

OWN_PICTURE = (0.22, 0.07, 0.78, 0.45)


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    items = [
        CatalogItem("YOG-S", "Yoggi Strawberry", "Yoggi", "", (family_packshot(101),)),
        CatalogItem("YOG-V", "Yoggi Vanilla", "Yoggi", "", (family_packshot(202),)),
    ]
    return build_catalog_index(items, extractor())


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
