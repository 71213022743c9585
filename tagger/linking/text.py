"""Text signal: normalize words, weight them by rarity in the catalog, fuzzy-match OCR to catalog text.

OCR of small in-store photos is noisy ("XPPLE", "JURCE"), so matching is fuzzy (difflib ratio) and a
word's weight is its inverse document frequency: "arla" on twenty cartons says little, "sommarmjolk"
on one says a lot.
"""

from __future__ import annotations

import difflib
import heapq
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

MIN_TOKEN_LEN = 3
FUZZY_CUTOFF = 0.75
# Remembered `close_matches` answers per vocabulary (≈ 450 bytes each, so ≈ 4.5 MB at most; the API
# keeps a linker per brand). Link threads share a vocabulary; dict reads and writes are atomic, and a
# race only works an answer out twice.
CLOSE_MATCH_MEMORY = 10_000
# Words that appear in most product descriptions carry no identity.
_STOPWORDS = frozenset(
    "the and with for from that this are has have its can our you your all not but was per ready "
    "taste fits made contains good great perfect use used also well very more than into".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case ASCII: accents folded (ÄPPLE → apple), ligatures expanded (ﬁ → fi), the rest (ø, ß)
    dropped."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()


def normalize_words(text: str) -> list[str]:
    """Words of ≥ 3 characters of the `fold`ed text, stopwords dropped."""
    folded = fold(text)
    return [word for word in _WORD.findall(folded) if len(word) >= MIN_TOKEN_LEN and word not in _STOPWORDS]


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def split_identifier(text: str) -> str:
    """'Bravo-Apple-Juice' → 'Bravo Apple Juice' so slugs and titles tokenize alike.

    A UUID (the API keys a catalog by its product ids) yields no words: no pack prints one, and its
    fragments ('aadb', 'be28'), drawn anew at every import, were words OCR could fuzzily match, so a
    product's text score depended on the luck of its id."""
    return re.sub(r"[-_]+", " ", _UUID.sub(" ", text))


_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_LETTER_INDEX = {letter: position for position, letter in enumerate(_ALPHABET)}


def letter_counts(word: str) -> NDArray[np.int16]:
    """How often each of a-z, 0-9 occurs in a normalized word."""
    counts = np.zeros(len(_ALPHABET), dtype=np.int16)
    for letter in word:
        position = _LETTER_INDEX.get(letter)
        if position is not None:
            counts[position] += 1
    return counts


@dataclass(frozen=True, slots=True)
class TextVocabulary:
    """Inverse document frequency of every catalog word (documents = SKUs)."""

    idf: Mapping[str, float]
    # The words sorted by length, their lengths and letter counts (one row per letter, so summing over
    # a query word's few letters is a handful of vector additions): the pre-filter of `close_matches`.
    _words: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _lengths: NDArray[np.int16] = field(init=False, repr=False, compare=False)
    _letter_rows: NDArray[np.int16] = field(init=False, repr=False, compare=False)
    # Answers of `close_matches` already worked out: a crop's OCR words are looked up by the text
    # signal and again for the print's naming words, and a product's crops read the same words.
    _answers: dict[tuple[str, int, float], tuple[str, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        words = tuple(sorted(self.idf, key=len))
        counts = [letter_counts(word) for word in words]
        object.__setattr__(self, "_words", words)
        object.__setattr__(self, "_lengths", np.array([len(word) for word in words], dtype=np.int16))
        rows = np.stack(counts, axis=1) if counts else np.zeros((len(_ALPHABET), 0), np.int16)
        object.__setattr__(self, "_letter_rows", np.ascontiguousarray(rows))

    @classmethod
    def from_documents(cls, documents: Sequence[Iterable[str]]) -> TextVocabulary:
        counts: dict[str, int] = {}
        for words in documents:
            for word in set(words):
                counts[word] = counts.get(word, 0) + 1
        total = max(1, len(documents))
        return cls({word: math.log(1.0 + total / count) for word, count in counts.items()})

    def close_matches(self, word: str, n: int = 3, cutoff: float = FUZZY_CUTOFF) -> list[str]:
        """Exactly `difflib.get_close_matches(word, vocabulary, n, cutoff)`, fast on a large catalog;
        each answer is worked out once (`CLOSE_MATCH_MEMORY` are kept, then forgotten all at once)."""
        key = (word, n, cutoff)
        answer = self._answers.get(key)
        if answer is None:
            answer = tuple(self._close_matches(word, n, cutoff))
            if len(self._answers) >= CLOSE_MATCH_MEMORY:
                self._answers.clear()
            self._answers[key] = answer
        return list(answer)

    def forget_answers(self) -> None:
        """Drop the remembered `close_matches` answers (benchmarks time the lookups cold)."""
        self._answers.clear()

    def _close_matches(self, word: str, n: int, cutoff: float) -> list[str]:
        """`close_matches` without the memory.

        difflib's own upper bounds (real_quick_ratio: lengths; quick_ratio: shared letters) are
        evaluated for every vocabulary word at once with numpy; only the few words that pass them pay
        for SequenceMatcher.ratio(). At 10,000 SKUs (30,000 words) that is ≈ 0.5 ms a word, not ≈ 30."""
        if not self._words or not word:
            return []
        if any(letter not in _LETTER_INDEX for letter in word):  # not a normalized word: no shortcut
            return difflib.get_close_matches(word, self._words, n=n, cutoff=cutoff)
        # real_quick_ratio = 2·min(len) / (len + len) ≥ cutoff bounds the length: a contiguous slice.
        size = len(word)
        shortest = math.ceil(size * cutoff / (2.0 - cutoff) - 1e-9)
        longest = math.floor(size * (2.0 - cutoff) / cutoff + 1e-9)
        start, stop = np.searchsorted(self._lengths, [shortest, longest + 1])
        lengths = self._lengths[start:stop].astype(np.float64)
        total = lengths + size
        query = letter_counts(word)
        shared = np.zeros(stop - start, dtype=np.int16)
        for letter in np.flatnonzero(query):
            shared += np.minimum(self._letter_rows[letter, start:stop], query[letter])
        # Both of difflib's bounds, as difflib computes them.
        passing = (2.0 * np.minimum(lengths, size) / total >= cutoff) & (2.0 * shared / total >= cutoff)
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(word)
        scored = []
        for position in np.flatnonzero(passing):
            candidate = self._words[start + position]
            matcher.set_seq1(candidate)
            score = matcher.ratio()
            if score >= cutoff:
                scored.append((score, candidate))
        return [candidate for _, candidate in heapq.nlargest(n, scored)]

    def expand(self, query_words: Iterable[str]) -> dict[str, float]:
        """Catalog words each OCR word may be, with the similarity: {catalog word: best similarity}."""
        matches: dict[str, float] = {}
        for word in set(query_words):
            if word in self.idf:
                matches[word] = 1.0
                continue
            for close in self.close_matches(word):
                similarity = difflib.SequenceMatcher(None, word, close).ratio()
                matches[close] = max(matches.get(close, 0.0), similarity)
        return matches


def text_score(
    expanded_query: Mapping[str, float], document: frozenset[str], vocabulary: TextVocabulary
) -> float:
    """Sum of idf x similarity over the catalog words the OCR found in this SKU's text."""
    return float(
        sum(
            similarity * vocabulary.idf.get(word, 0.0)
            for word, similarity in expanded_query.items()
            if word in document
        )
    )
