"""Text preprocessing (chapter 03): tokens, stop words, a vocabulary, bag of words, TF-IDF;
characters as tokens for a character-level language model (chapter 08).

Tokenisation uses NLTK's Treebank rules, which need no downloaded data (punkt,
stopwords and WordNet are not available offline). ``tfidf`` reproduces
scikit-learn's ``TfidfTransformer`` exactly, so a learner can check the
formula against the library.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from importlib import resources

import numpy as np
from nltk.stem.porter import PorterStemmer
from nltk.tokenize import TreebankWordTokenizer
from nltk.util import ngrams as _nltk_ngrams

_TREEBANK = TreebankWordTokenizer()
_PORTER = PorterStemmer()


def _load_stopwords() -> frozenset[str]:
    """Words of mmcourse/data/stopwords_en.txt, skipping '#' comments and blank lines."""
    text = resources.files("mmcourse").joinpath("data", "stopwords_en.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


STOPWORDS: frozenset[str] = _load_stopwords()


def tokenize(text: str, lowercase: bool = True, stem: bool = False) -> list[str]:
    """Split text into word tokens with NLTK's Treebank rules, dropping pure punctuation.

    Without punkt, Treebank splits off only the full stop that ends the whole
    string, so a token such as ``"sat."`` whose one dot is its last character
    is split here too; abbreviations with inner dots (``"U.S."``) stay whole.
    ``stem=True`` applies the Porter stemmer (``"running"`` -> ``"run"``).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    tokens = []
    for token in _TREEBANK.tokenize(text):
        if len(token) > 1 and token.endswith(".") and token.count(".") == 1:
            token = token[:-1]
        if not any(ch.isalnum() for ch in token):
            continue
        if lowercase:
            token = token.lower()
        if stem:
            token = _PORTER.stem(token, to_lowercase=lowercase)
        tokens.append(token)
    return tokens


def remove_stopwords(tokens: Iterable[str], stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """Tokens whose lowercase form is not a stop word, in their original order."""
    return [token for token in tokens if token.lower() not in stopwords]


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """Consecutive n-token windows: ngrams(["a", "b", "c"], 2) -> [("a", "b"), ("b", "c")]."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    return list(_nltk_ngrams(tokens, n))


def _check_docs(docs_tokens: Sequence[Sequence[str]]) -> None:
    """Raise if docs_tokens is not a list of token lists (a common slip: one flat list)."""
    if isinstance(docs_tokens, str) or any(isinstance(doc, str) for doc in docs_tokens):
        raise ValueError("docs_tokens must be a list of token lists, one per document, got a list of str; "
                         "wrap a single document's tokens as [tokens]")


class Vocabulary:
    """Token <-> id map with ``<pad>`` = 0 and ``<unk>`` = 1.

    Tokens seen at least ``min_freq`` times are kept, most frequent first, ties in
    alphabetical order, so the same corpus always gives the same ids.
    ``max_size`` caps the whole vocabulary, the two special tokens included.
    """

    PAD, UNK = "<pad>", "<unk>"
    PAD_ID, UNK_ID = 0, 1

    def __init__(self, docs_tokens: Sequence[Sequence[str]], min_freq: int = 1, max_size: int | None = None):
        _check_docs(docs_tokens)
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be a positive int, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2):
            raise ValueError(f"max_size must be None or an int >= 2 (room for <pad> and <unk>), got {max_size!r}")
        self.counts: Counter[str] = Counter(token for doc in docs_tokens for token in doc)
        kept = sorted((t for t, c in self.counts.items() if c >= min_freq and t not in (self.PAD, self.UNK)),
                      key=lambda t: (-self.counts[t], t))
        if max_size is not None:
            kept = kept[: max_size - 2]
        self.itos: list[str] = [self.PAD, self.UNK, *kept]
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens: {self.itos[:6]}{' ...' if len(self) > 6 else ''})"

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of tokens (length L in, length L out); unknown tokens map to ``<unk>`` = 1."""
        if isinstance(tokens, str):
            raise ValueError("tokens must be a list of tokens, got a str; call tokenize(text) first")
        return [self.stoi.get(token, self.UNK_ID) for token in tokens]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Tokens of ids (length L in, length L out); ``<pad>`` ids decode to ``"<pad>"``."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < len(self)]
        if bad:
            raise ValueError(f"ids must be in [0, {len(self)}), got {bad[:5]}")
        return [self.itos[i] for i in ids]

    def pad_sequences(self, sequences: Sequence[Sequence[int]], max_len: int) -> np.ndarray:
        """Id lists of any lengths -> (N, max_len) int64: pad with 0 at the end, cut what is longer."""
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
            raise ValueError(f"max_len must be a positive int, got {max_len!r}")
        out = np.full((len(sequences), max_len), self.PAD_ID, dtype=np.int64)  # (N, max_len)
        for row, seq in zip(out, sequences):
            seq = list(seq)[:max_len]
            row[: len(seq)] = seq
        return out


def bag_of_words(docs_tokens: Sequence[Sequence[str]], vocab: Vocabulary) -> np.ndarray:
    """Token counts (N, |V|) int64; column j counts token id j (unknown words land in ``<unk>``)."""
    _check_docs(docs_tokens)
    counts = np.zeros((len(docs_tokens), len(vocab)), dtype=np.int64)  # (N, |V|)
    for row, doc in zip(counts, docs_tokens):
        np.add.at(row, vocab.encode(doc), 1)
    return counts


def _check_counts(counts: np.ndarray) -> np.ndarray:
    """counts as a 2-D non-negative float64 array, or a ValueError naming counts."""
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"counts must be 2-D (N documents, |V| terms), got shape {counts.shape}")
    if not np.issubdtype(counts.dtype, np.number) or np.any(counts < 0):
        raise ValueError("counts must hold non-negative numbers (term counts)")
    return counts.astype(np.float64)


def inverse_document_frequency(counts: np.ndarray, smooth_idf: bool = True) -> np.ndarray:
    """idf (|V|,) of counts (N, |V|): ln((1+N)/(1+df)) + 1 when smoothed, else ln(N/df) + 1.

    df is the number of documents that contain the term; the +1 keeps terms
    that occur everywhere from getting weight 0 (scikit-learn's convention).
    A term with df = 0 gets idf = inf without smoothing; ``tfidf`` keeps it at 0.
    """
    counts = _check_counts(counts)
    n_docs = counts.shape[0]
    df = np.count_nonzero(counts, axis=0)  # (|V|,)
    if smooth_idf:
        return np.log((1 + n_docs) / (1 + df)) + 1.0
    with np.errstate(divide="ignore"):
        return np.log(n_docs / df) + 1.0


def tfidf(counts: np.ndarray, smooth_idf: bool = True, sublinear_tf: bool = False,
          norm: str | None = "l2", idf: np.ndarray | None = None) -> np.ndarray:
    """TF-IDF (N, |V|) float64 of counts (N, |V|), equal to scikit-learn's TfidfTransformer.

    tfidf = tf * idf, with tf = count (or 1 + ln(count) if ``sublinear_tf``), then
    each row divided by its L2 (or L1) norm; all-zero rows stay zero. Pass the
    ``idf`` of the training counts (``inverse_document_frequency``) to weight
    test documents the way the model saw in training.
    """
    if norm not in ("l2", "l1", None):
        raise ValueError(f"norm must be 'l2', 'l1' or None, got {norm!r}")
    counts = _check_counts(counts)
    if idf is None:
        idf = inverse_document_frequency(counts, smooth_idf)
    idf = np.asarray(idf, dtype=np.float64)
    if idf.shape != (counts.shape[1],):
        raise ValueError(f"idf must have shape ({counts.shape[1]},) to match counts, got {idf.shape}")
    present = counts > 0
    tf = np.where(present, 1.0 + np.log(np.where(present, counts, 1.0)), 0.0) if sublinear_tf else counts
    weights = tf * np.where(present, idf, 0.0)  # (N, |V|); absent terms stay 0 even where idf = inf
    if norm is None:
        return weights
    row_norm = np.linalg.norm(weights, ord=2 if norm == "l2" else 1, axis=1, keepdims=True)  # (N, 1)
    return np.divide(weights, row_norm, out=np.zeros_like(weights), where=row_norm > 0)


class CharTokenizer:
    """Character <-> id map for a character-level language model: ids 0 .. V-1 are the sorted unique characters.

    Fitted on a text (``CharTokenizer(text)``); there is no ``<unk>``, so
    ``encode`` refuses characters the text did not contain, naming them.
    """

    def __init__(self, text: str):
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty str, got {type(text).__name__} {text!r:.40}")
        self.chars: list[str] = sorted(set(text))
        self._codes = np.array([ord(ch) for ch in self.chars], dtype=np.uint32)  # (V,) sorted code points

    @property
    def vocab_size(self) -> int:
        """Number of distinct characters V."""
        return len(self.chars)

    def __repr__(self) -> str:
        return f"CharTokenizer({self.vocab_size} characters: {''.join(self.chars)[:40]!r})"

    def encode(self, text: str) -> np.ndarray:
        """Ids of the characters of text: (len(text),) int64."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # (L,) one code point per character
        ids = np.minimum(np.searchsorted(self._codes, codes), self.vocab_size - 1)  # (L,)
        unknown = self._codes[ids] != codes
        if unknown.any():
            missing = sorted({chr(code) for code in codes[unknown]})
            raise ValueError(f"text holds {len(missing)} character(s) the tokenizer was not fitted on: "
                             f"{''.join(missing)[:20]!r}")
        return ids.astype(np.int64)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of ids (L,) (a list, NumPy array or CPU tensor of ints in [0, V))."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise ValueError(f"ids must be a 1-D sequence of ints, got {ids.dtype} of shape {ids.shape}")
        bad = ids[(ids < 0) | (ids >= self.vocab_size)]
        if bad.size:
            raise ValueError(f"ids must be in [0, vocab_size = {self.vocab_size}), got {bad[:5].tolist()}")
        return "".join(self.chars[i] for i in ids.tolist())
