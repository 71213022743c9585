"""Text normalization and fuzzy, rarity-weighted matching of OCR words to catalog words."""

from __future__ import annotations

import difflib
import math
import random
import string

import pytest

from tagger.linking import text as text_module
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


def test_a_uuid_key_gives_no_words_but_a_brand_code_does() -> None:
    # The API keys products by random ids: their fragments must not become words OCR could match.
    assert normalize_words(split_identifier("e9bf6ee3-aadb-4151-be28-7f1fb3ebd346")) == []
    upper_case_id = "E9BF6EE3-AADB-4151-BE28-7F1FB3EBD346"
    assert normalize_words(split_identifier(f"{upper_case_id} Oat-Milk")) == ["oat", "milk"]
    assert normalize_words(split_identifier("ARLA-MJOLK_15")) == ["arla", "mjolk"]


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


def _misread(word: str, rng: random.Random) -> str:
    """What OCR does to a word: a few letters swapped, inserted or dropped."""
    letters = list(word)
    for _ in range(rng.randint(0, 3)):
        position = rng.randrange(len(letters) + 1)
        roll = rng.random()
        if roll < 0.4 and position < len(letters):
            letters[position] = rng.choice(string.ascii_lowercase + string.digits)
        elif roll < 0.7:
            letters.insert(position, rng.choice(string.ascii_lowercase + string.digits))
        elif len(letters) > 1 and position < len(letters):
            del letters[position]
    return "".join(letters)


def test_close_matches_are_exactly_difflibs_on_a_large_vocabulary() -> None:
    rng = random.Random(11)
    words = sorted(
        {"".join(rng.choice("aeiourstlnmkbdg") for _ in range(rng.randint(3, 12))) for _ in range(3000)}
    )
    vocabulary = TextVocabulary.from_documents(
        [words[start : start + 5] for start in range(0, len(words), 5)]
    )
    queries = [_misread(rng.choice(words), rng) for _ in range(150)] + ["zzzz", "a1b", "x", "ÄPPLE"]

    found = [vocabulary.close_matches(query) for query in queries]

    assert found == [
        difflib.get_close_matches(query, list(vocabulary.idf), n=3, cutoff=0.75) for query in queries
    ]
    assert sum(map(len, found)) > 100  # most misreadings still find their word


def test_an_answer_is_worked_out_once_and_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    vocabulary = TextVocabulary.from_documents([["apple", "juice"], ["orange", "juice"], ["apples"]])
    worked_out: list[str] = []
    uncached = TextVocabulary._close_matches

    def counting(self: TextVocabulary, word: str, n: int, cutoff: float) -> list[str]:
        worked_out.append(word)
        return uncached(self, word, n, cutoff)

    monkeypatch.setattr(TextVocabulary, "_close_matches", counting)
    monkeypatch.setattr(text_module, "CLOSE_MATCH_MEMORY", 2)

    first = vocabulary.close_matches("appel")
    first.append("changed by the caller")  # a caller's list is its own
    assert (
        vocabulary.close_matches("appel")
        == difflib.get_close_matches("appel", ["apple", "juice", "orange", "apples"], cutoff=0.75)
        == ["apple"]
    )
    assert worked_out == ["appel"]
    assert vocabulary.close_matches("appel", n=1) == ["apple"]  # another question, another answer
    vocabulary.close_matches("juise")  # a third answer: the memory (2) starts again
    vocabulary.close_matches("appel")
    assert worked_out == ["appel", "appel", "juise", "appel"]
    vocabulary.forget_answers()
    vocabulary.close_matches("appel")
    assert worked_out == ["appel", "appel", "juise", "appel", "appel"]
