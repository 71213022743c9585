"""Text signal: normalize words, weight them by rarity in the catalog, fuzzy-match OCR to catalog text.

OCR of small in-store photos is noisy ("XPPLE", "JURCE"), so matching is fuzzy (difflib ratio) and a
word's weight is its inverse document frequency: "arla" on twenty cartons says little, "sommarmjolk"
on one says a lot.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MIN_TOKEN_LEN = 3
FUZZY_CUTOFF = 0.75
# Words that appear in most product descriptions carry no identity.
_STOPWORDS = frozenset(
    "the and with for from that this are has have its can our you your all not but was per ready "
    "taste fits made contains good great perfect use used also well very more than into".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def normalize_words(text: str) -> list[str]:
    """Lower-case ASCII words of ≥ 3 characters: accents folded (ÄPPLE → apple), stopwords dropped."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return [word for word in _WORD.findall(folded) if len(word) >= MIN_TOKEN_LEN and word not in _STOPWORDS]


def split_identifier(text: str) -> str:
    """'Bravo-Apple-Juice' → 'Bravo Apple Juice' so slugs and titles tokenize alike."""
    return re.sub(r"[-_]+", " ", text)


@dataclass(frozen=True, slots=True)
class TextVocabulary:
    """Inverse document frequency of every catalog word (documents = SKUs)."""

    idf: Mapping[str, float]

    @classmethod
    def from_documents(cls, documents: Sequence[Iterable[str]]) -> TextVocabulary:
        counts: dict[str, int] = {}
        for words in documents:
            for word in set(words):
                counts[word] = counts.get(word, 0) + 1
        total = max(1, len(documents))
        return cls({word: math.log(1.0 + total / count) for word, count in counts.items()})

    def expand(self, query_words: Iterable[str]) -> dict[str, float]:
        """Catalog words each OCR word may be, with the similarity: {catalog word: best similarity}."""
        vocabulary = list(self.idf)
        matches: dict[str, float] = {}
        for word in set(query_words):
            if word in self.idf:
                matches[word] = 1.0
                continue
            for close in difflib.get_close_matches(word, vocabulary, n=3, cutoff=FUZZY_CUTOFF):
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
