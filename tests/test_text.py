"""mmcourse.text: tokens, stop words, vocabulary, bag of words and TF-IDF (checked against scikit-learn)."""
import subprocess
import sys

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer

from mmcourse.text import (STOPWORDS, Vocabulary, bag_of_words, inverse_document_frequency, ngrams,
                           remove_stopwords, tfidf, tokenize)

DOCS = [
    "A red circle sits above a blue square.",
    "The blue square is not red! It didn't move.",
    "Two red circles, one green triangle; the triangle is left of the circles.",
    "Green, green, green: every shape here is green.",
]


def test_tokenize_lowercases_splits_clitics_and_drops_punctuation():
    assert tokenize("The cat sat. The dog didn't run!") == ["the", "cat", "sat", "the", "dog", "did", "n't", "run"]


def test_tokenize_keeps_case_and_inner_dots_when_asked():
    assert tokenize("U.S. costs $3.50, e-mail: Bob.", lowercase=False) == ["U.S.", "costs", "3.50", "e-mail", "Bob"]


def test_tokenize_with_stem_applies_porter():
    assert tokenize("Running runners ran quickly", stem=True) == ["run", "runner", "ran", "quickli"]


def test_tokenize_rejects_non_string():
    with pytest.raises(TypeError, match="text must be a str"):
        tokenize(["a list"])


def test_stopwords_are_loaded_lowercase_without_header_or_negations():
    assert 140 <= len(STOPWORDS) <= 170
    assert {"the", "and", "of", "'s"} <= STOPWORDS
    assert not {"not", "no", "nor", "n't"} & STOPWORDS
    assert all(word == word.lower() and not word.startswith("#") for word in STOPWORDS)


def test_remove_stopwords_keeps_content_words_in_order():
    assert remove_stopwords(["The", "cat", "is", "not", "on", "the", "mat"]) == ["cat", "not", "mat"]


def test_ngrams_gives_consecutive_windows_and_rejects_bad_n():
    assert ngrams(["a", "b", "c"], 2) == [("a", "b"), ("b", "c")]
    assert ngrams(["a", "b"], 3) == []
    with pytest.raises(ValueError, match="n must be a positive int"):
        ngrams(["a"], 0)


def test_vocabulary_orders_by_frequency_then_alphabet_after_specials():
    vocab = Vocabulary([["b", "a", "c", "b"], ["a", "b", "d"]])
    assert vocab.itos == ["<pad>", "<unk>", "b", "a", "c", "d"]
    assert len(vocab) == 6
    assert vocab.encode(["a", "zebra", "b"]) == [3, 1, 2]
    assert vocab.decode([3, 1, 2, 0]) == ["a", "<unk>", "b", "<pad>"]


def test_vocabulary_min_freq_and_max_size_count_the_specials():
    docs = [["b", "a", "c", "b"], ["a", "b", "d"]]
    assert Vocabulary(docs, min_freq=2).itos == ["<pad>", "<unk>", "b", "a"]
    assert Vocabulary(docs, max_size=3).itos == ["<pad>", "<unk>", "b"]


@pytest.mark.parametrize(("kwargs", "match"), [({"min_freq": 0}, "min_freq"), ({"max_size": 1}, "max_size")])
def test_vocabulary_rejects_bad_limits(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Vocabulary([["a"]], **kwargs)


def test_vocabulary_rejects_a_flat_token_list():
    with pytest.raises(ValueError, match="docs_tokens must be a list of token lists"):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError, match="call tokenize"):
        Vocabulary([["a"]]).encode("a b")


def test_decode_rejects_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"ids must be in \[0, 3\)"):
        Vocabulary([["a"]]).decode([0, 3])


def test_pad_sequences_post_pads_and_truncates_to_int64():
    out = Vocabulary([["a"]]).pad_sequences([[5, 6, 7, 8], [9], []], max_len=3)
    np.testing.assert_array_equal(out, [[5, 6, 7], [9, 0, 0], [0, 0, 0]])
    assert out.dtype == np.int64
    with pytest.raises(ValueError, match="max_len"):
        Vocabulary([["a"]]).pad_sequences([[1]], max_len=0)


def test_bag_of_words_counts_by_id_and_sends_unknown_words_to_unk():
    vocab = Vocabulary([["a", "b", "b"]])  # <pad>, <unk>, b, a
    counts = bag_of_words([["b", "a", "b", "x"], []], vocab)
    np.testing.assert_array_equal(counts, [[0, 1, 2, 1], [0, 0, 0, 0]])


def test_bag_of_words_equals_sklearn_count_vectorizer_with_our_tokenizer():
    docs_tokens = [tokenize(doc) for doc in DOCS]
    vocab = Vocabulary(docs_tokens)
    counts = bag_of_words(docs_tokens, vocab)
    sk = CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None)
    sk_counts = sk.fit_transform(DOCS).toarray()
    assert set(sk.vocabulary_) == set(vocab.itos[2:])
    columns = [sk.vocabulary_[token] for token in vocab.itos[2:]]
    np.testing.assert_array_equal(counts[:, 2:], sk_counts[:, columns])
    assert not counts[:, :2].any()


@pytest.mark.parametrize("smooth_idf", [True, False])
@pytest.mark.parametrize("sublinear_tf", [False, True])
@pytest.mark.parametrize("norm", ["l2", "l1", None])
def test_tfidf_equals_sklearn_tfidf_vectorizer(smooth_idf, sublinear_tf, norm):
    docs_tokens = [tokenize(doc) for doc in DOCS]
    vocab = Vocabulary(docs_tokens)
    ours = tfidf(bag_of_words(docs_tokens, vocab), smooth_idf=smooth_idf, sublinear_tf=sublinear_tf, norm=norm)
    sk = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None, vocabulary=vocab.itos[2:],
                         smooth_idf=smooth_idf, sublinear_tf=sublinear_tf, norm=norm)
    np.testing.assert_allclose(ours[:, 2:], sk.fit_transform(DOCS).toarray(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours[:, :2], 0.0)  # <pad> and <unk> never occur here


def test_tfidf_by_hand_on_two_documents():
    counts = np.array([[2, 0], [1, 1]])
    idf = np.log(3 / np.array([3, 2])) + 1  # smoothed: ln((1 + N) / (1 + df)) + 1
    np.testing.assert_allclose(inverse_document_frequency(counts), idf)
    raw = counts * idf
    np.testing.assert_allclose(tfidf(counts), raw / np.linalg.norm(raw, axis=1, keepdims=True))


@pytest.mark.parametrize("smooth_idf", [True, False])
def test_inverse_document_frequency_equals_sklearn_idf(smooth_idf):
    counts = bag_of_words([tokenize(doc) for doc in DOCS], Vocabulary([tokenize(doc) for doc in DOCS]))[:, 2:]
    sk_idf = TfidfTransformer(smooth_idf=smooth_idf).fit(counts).idf_
    np.testing.assert_allclose(inverse_document_frequency(counts, smooth_idf), sk_idf, rtol=0, atol=1e-12)


def test_tfidf_reuses_training_idf_for_new_documents():
    train = np.array([[1, 0, 1], [1, 1, 0]])
    idf = inverse_document_frequency(train)
    test = np.array([[0, 3, 0]])
    np.testing.assert_allclose(tfidf(test, idf=idf, norm=None), [[0.0, 3 * idf[1], 0.0]])
    assert not np.allclose(tfidf(test, norm=None), tfidf(test, idf=idf, norm=None))


def test_tfidf_keeps_empty_rows_and_unseen_terms_at_zero():
    out = tfidf(np.array([[0, 0, 0], [1, 2, 0]]), smooth_idf=False)
    np.testing.assert_array_equal(out[0], 0.0)
    assert out[1, 2] == 0.0 and np.all(np.isfinite(out))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"counts": np.ones(3)}, "counts must be 2-D"),
    ({"counts": -np.ones((2, 2))}, "non-negative"),
    ({"counts": np.ones((2, 2)), "norm": "max"}, "norm"),
    ({"counts": np.ones((2, 2)), "idf": np.ones(3)}, "idf must have shape"),
])
def test_tfidf_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tfidf(**kwargs)


def test_importing_text_does_not_import_torch_or_tensorflow():
    code = "import sys, mmcourse.text; print(sorted({'torch', 'tensorflow'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
