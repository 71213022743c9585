"""Words printed where a packshot matched (`print_words`): where OCR's words fall on the packshot, and
which of them name another product than the SKU."""

from __future__ import annotations

import numpy as np
import pytest

from tagger.linking.ocr import TextLine
from tagger.linking.print_words import MIN_NAMING_SIMILARITY, foreign_words, word_readings, words_on_print
from tagger.linking.text import TextVocabulary, normalize_words

DOCUMENTS = {
    "orange": frozenset({"god", "morgon", "orange", "juice", "oranges", "pressed"}),
    "apple": frozenset({"god", "morgon", "apple", "juice", "unfiltered"}),
    "milk": frozenset({"garant", "ecological", "medium", "fat", "milk", "mellanmjolk"}),
}
VOCABULARY = TextVocabulary.from_documents(list(DOCUMENTS.values()))
NAMING = frozenset(
    {"god", "morgon", "orange", "apple", "juice", "garant", "ecological", "medium", "fat", "milk"}
)


def _foreign(words: list[str], sku: str) -> tuple[str, ...]:
    return foreign_words(words, DOCUMENTS[sku], word_readings(words, VOCABULARY), NAMING)


def _packshot(size: int = 64, corner: bool = False) -> np.ndarray:
    """A thumbnail: white card, the product in its middle half (or in its top-left quarter)."""
    image = np.full((size, size, 3), 255, np.uint8)
    if corner:
        image[: size // 2, : size // 2] = (40, 90, 200)
    else:
        image[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = (40, 90, 200)
    return image


def test_words_the_homography_puts_on_the_product_are_on_its_print() -> None:
    # A packshot 400 wide and 800 high (the thumbnail squeezes it square); the crop is it at half
    # scale: crop pixel p is packshot pixel 2p. Its product spans x 100-300, y 200-600.
    homography = np.diag([2.0, 2.0, 1.0])
    points = np.array([[100, 200], [10, 10], [100, 310], [60, 200], [200, 200], [-5, 200]], np.float32)

    on_print = words_on_print(points, homography, _packshot(), (800, 400))

    # middle; white card; below the product (y 620); its left part (x 120); right edge (x 400); outside
    assert on_print.tolist() == [True, False, False, True, False, False]


def test_a_white_panel_inside_the_products_outline_is_print() -> None:
    """A milk carton's white panel is part of its print: the product is the hull of the non-white."""
    thumbnail = _packshot()
    thumbnail[28:36, 28:36] = 255  # a white panel in the middle of the product
    homography = np.eye(3)

    assert words_on_print(np.array([[32, 32]], np.float32), homography, thumbnail, (64, 64)).tolist() == [
        True
    ]


@pytest.mark.parametrize(
    "homography",
    [np.full((3, 3), np.nan), np.zeros((3, 3)), np.array([[1.0, 2, 0], [2, 4, 0], [0, 0, 1]])],
    ids=["not finite", "zero", "singular"],
)
def test_a_degenerate_homography_puts_no_word_on_the_print(homography: np.ndarray) -> None:
    # The product covers the packshot's origin, where a degenerate projection tends to land.
    points = np.array([[100, 100], [0, 0]], np.float32)

    assert words_on_print(points, homography, _packshot(corner=True), (400, 400)).tolist() == [False, False]


def test_a_word_the_map_sends_behind_the_camera_is_not_on_the_print() -> None:
    """w = 0.01 x + 1 is negative left of x = -100: (-300, -100) divides to (150, 50), on the product,
    but it lies on the far side of the plane's horizon, not on the pack."""
    homography = np.array([[1.0, 0, 0], [0, 1, 0], [0.01, 0, 1]])
    points = np.array([[-300, -100], [50, 20]], np.float32)

    assert words_on_print(points, homography, _packshot(corner=True), (400, 400)).tolist() == [False, True]


def test_no_words_none_on_the_print() -> None:
    assert words_on_print(np.zeros((0, 2), np.float32), np.eye(3), _packshot(), (64, 64)).size == 0


def test_a_naming_word_the_sku_lacks_is_foreign_its_own_words_are_not() -> None:
    read = ["god", "morgon", "apple", "juice"]

    assert _foreign(read, "orange") == ("apple",)
    assert _foreign(read, "apple") == ()


def test_ocr_near_misses_count_as_the_word_they_are_close_to() -> None:
    # One letter wrong in a word of five or more still names it; a near miss of the SKU's own word
    # is its own.
    assert _foreign(["appie"], "orange") == ("apple",)
    assert _foreign(["mediun"], "orange") == ("medium",)
    assert _foreign(["orangc"], "orange") == ()


def test_a_cut_off_word_does_not_name_another_product() -> None:
    """A neighbouring carton's 'apple' cut by the crop's edge reads 'ple': close enough for the text
    signal's fuzzy match (0.75), not to say the pack names apple."""
    assert _foreign(["ple"], "orange") == ()
    assert MIN_NAMING_SIMILARITY > 0.75


def test_words_that_name_nothing_say_nothing() -> None:
    # digits, words no title uses ("unfiltered" is in a description only), words unknown to the catalog
    assert _foreign(["100", "1990", "unfiltered", "squeezed"], "orange") == ()


def test_each_foreign_word_is_named_once() -> None:
    assert _foreign(["apple", "apple", "milk"], "orange") == (
        "apple",
        "milk",
    )


def test_a_lines_words_are_placed_along_it_by_their_characters() -> None:
    line = TextLine("ÄPPLE JUICE", 0.9, (0.0, 10.0), (110.0, 10.0))

    apple, juice, missing = line.word_points(["apple", "juice", "milk"])

    assert apple[0] == pytest.approx(25.0)  # characters 0-5 of 11
    assert juice[0] == pytest.approx(85.0)  # characters 6-11
    assert missing[0] == pytest.approx(55.0)  # not in the line: its middle
    assert apple[1] == juice[1] == 10.0


def test_readings_are_worked_out_once_per_word_and_never_for_digits() -> None:
    readings = word_readings(["appie", "appie", "100", "orange"], VOCABULARY)

    assert set(readings) == {"appie", "orange"}
    assert "apple" in readings["appie"]
    assert _foreign(["100"], "orange") == ()


def test_words_are_placed_by_the_characters_they_were_folded_from() -> None:
    """Folding drops ø and ß and expands the ligature ﬁ, as `normalize_words` does; each word is still
    placed over the characters it was read from (one pixel a character here)."""
    text = "SMØR ﬁne STRAßE"
    line = TextLine(text, 0.9, (0.0, 0.0), (float(len(text)), 0.0))
    words = normalize_words(text)

    points = line.word_points(words)

    assert words == ["smr", "fine", "strae"]
    assert points[:, 0].tolist() == pytest.approx([2.0, 6.5, 12.0])  # characters 0-3, 5-7 and 9-14
