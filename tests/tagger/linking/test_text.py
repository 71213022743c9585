"""Text normalization and fuzzy, rarity-weighted matching of OCR words to catalog words."""

from __future__ import annotations

import math

from tagger.linking.text import TextVocabulary, normalize_words, split_identifier, text_score


def test_normalize_folds_accents_lowercases_and_drops_short_and_stop_words() -> None:
    assert normalize_words("ÄPPLE Juice, 2L — the BEST från Sverige!") == [
        "apple",
        "juice",
        "best",
        "fran",
        "sverige",
    ]


def test_split_identifier() -> None:
    assert split_identifier("Bravo-Apple_Juice") == "Bravo Apple Juice"


def test_rare_words_weigh_more_than_common_ones() -> None:
    vocabulary = TextVocabulary.from_documents([["arla", "milk"], ["arla", "sommarmjolk"], ["arla", "cream"]])

    assert vocabulary.idf["arla"] == math.log(2.0)
    assert vocabulary.idf["sommarmjolk"] == math.log(4.0)


def test_noisy_ocr_words_match_their_catalog_words() -> None:
    vocabulary = TextVocabulary.from_documents([["bravo", "apple", "juice"], ["tropicana", "orange"]])

    expanded = vocabulary.expand(["xpple", "jurce", "bravo", "zzzzz"])

    assert set(expanded) == {"apple", "juice", "bravo"}
    assert expanded["bravo"] == 1.0
    assert 0.75 <= expanded["apple"] < 1.0
    assert text_score(expanded, frozenset({"tropicana", "orange"}), vocabulary) == 0.0
    assert text_score(expanded, frozenset({"bravo", "apple", "juice"}), vocabulary) > 2.0
