"""Chapter 15's applications: text → image search (mini_clip), the retrieval-augmented assistant, VQA (tiny_vlm)."""
import numpy as np
import pytest

from mmcourse.data.char_corpus import load_char_corpus
from mmcourse.data.shape_scenes import make_scenes
from mmcourse.experiments import applications as app
from mmcourse.pretrained.course import load_course_model


@pytest.fixture(scope="module")
def clip():
    return load_course_model("mini_clip")


@pytest.fixture(scope="module")
def gallery(clip):
    return app.build_image_index(clip, app.scene_gallery(300))


@pytest.fixture(scope="module")
def passages():
    return app.build_passage_index()


def test_scene_gallery_holds_distinct_scenes_of_every_colour_and_shape():
    pairs = app.scene_gallery(300)
    assert len(pairs) == 300 and pairs.images.shape == (300, 32, 32, 3) and pairs.images.dtype == np.uint8
    assert len(set(pairs.captions)) == 300
    assert any(app.holds(o, "green", "circle") for o in pairs.objects)  # a pair mini_clip never trained on
    with pytest.raises(ValueError, match="n must be an int"):
        app.scene_gallery(0)


def test_search_finds_the_scene_a_full_caption_describes(clip, gallery):
    query = gallery.pairs.captions[7]
    scores, indices = app.search_images(clip, gallery, query, k=3)
    assert indices.shape == (3,) and indices.dtype.kind == "i" and np.all(np.diff(scores) <= 0)
    assert gallery.pairs.captions[indices[0]] == query


def test_search_precision_is_high_for_trained_combinations(clip, gallery):
    precision = app.search_precision(clip, gallery, k=5)
    assert len(precision) == 12 and all(0.0 <= p <= 1.0 for p in precision.values())
    seen = [p for q, p in precision.items() if q not in ("a red triangle", "a green circle", "a blue square",
                                                          "a yellow circle")]
    assert np.mean(seen) >= 0.7  # measured 0.80 on 300 scenes


def test_search_refuses_unknown_words_and_a_bad_k(clip, gallery):
    with pytest.raises(ValueError, match=r"never saw: \['dog', 'purple'\]"):
        app.search_images(clip, gallery, "a purple dog")
    with pytest.raises(ValueError, match="k must be an int in"):
        app.search_images(clip, gallery, "a red circle", k=0)
    with pytest.raises(ValueError, match="non-empty string"):
        app.search_images(clip, gallery, "  ")


def test_recall_at_k_by_hand():
    retrieved = [["a", "b", "c"], ["c", "a", "b"], ["b", "c", "a"]]
    assert app.recall_at_k(retrieved, ["a", "a", "a"], 1) == pytest.approx(1 / 3)
    assert app.recall_at_k(retrieved, ["a", "a", "a"], 2) == pytest.approx(2 / 3)
    assert app.recall_at_k(retrieved, ["a", "a", "a"], 3) == 1.0
    with pytest.raises(ValueError, match="one entry per question"):
        app.recall_at_k(retrieved, ["a"], 1)


def test_has_key_fact_matches_whole_words_only():
    assert app.has_key_fact("It returns None.", ("none",))
    assert not app.has_key_fact("Nonetheless it returns a value.", ("none",))
    assert app.has_key_fact("Use id() for that", ("id",))
    assert app.has_key_fact("it is a context manager", ("context manager",))
    assert not app.has_key_fact("a re-raise", ("raise",))


def test_build_messages_grounds_the_question_in_the_passage():
    alone = app.build_messages("What is x?")
    grounded = app.build_messages("What is x?", "x: the passage")
    assert alone == [{"role": "user", "content": "Answer in one sentence: What is x?"}]
    assert "x: the passage" in grounded[0]["content"] and "What is x?" in grounded[0]["content"]
    with pytest.raises(ValueError, match="question must be a non-empty string"):
        app.build_messages("")


def test_assistant_hands_over_the_top_passage_and_cites_it(passages):
    prompts = []

    def generate(messages):
        prompts.append(messages[0]["content"])
        return "An answer."

    assistant = app.Assistant(passages, generate)
    grounded = assistant.answer("Which module provides Python's interactive debugger?")
    debugger = passages.texts[passages.ids.index("debugger")]
    assert grounded.source == "debugger" and str(grounded) == "An answer. [debugger]" and debugger in prompts[-1]
    alone = assistant.answer("Which module provides Python's interactive debugger?", use_retrieval=False)
    assert alone.source is None and str(alone) == "An answer." and debugger not in prompts[-1]


def test_minilm_retrieves_the_answering_passage(passages):
    assert len(passages) == 79 and passages.embeddings.shape == (79, 384)
    recall = app.retrieval_recall(passages)
    assert recall["R@1"] >= 0.8 and recall["R@3"] >= 0.9
    assert app.retrieve(passages, ["Which module provides Python's interactive debugger?"], k=2)[0][0] == "debugger"


def test_grounded_smollm2_answer_states_the_fact_and_cites(passages):
    assistant = app.Assistant(passages, app.smollm2_generator(max_new_tokens=24))
    answer = assistant.answer("What is Python's standard mapping type?")
    assert answer.source == "typesmapping" and str(answer).endswith("[typesmapping]")
    assert app.has_key_fact(answer.text, ("dictionary", "dict"))


@pytest.fixture(scope="module")
def vqa(clip):
    return load_course_model("tiny_vlm"), clip.image_encoder.tokens, load_char_corpus().tokenizer


def test_vqa_answers_most_questions_about_new_scenes(vqa):
    scenes = make_scenes(20, seed=app.GALLERY_SEED)
    answers = [app.ask_about_scene(*vqa, scenes.images[i], [scenes.questions[i]])[0] for i in range(20)]
    assert np.mean([a == b for a, b in zip(answers, scenes.answers)]) >= 0.6


def test_vqa_refuses_a_bad_image_and_unknown_characters(vqa):
    image = make_scenes(1, seed=0).images[0]
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        app.ask_about_scene(*vqa, image.astype(np.float32), ["what colour is the circle?"])
    with pytest.raises(ValueError, match="not fitted on"):
        app.ask_about_scene(*vqa, image, ["what colour is the 圆?"])
    with pytest.raises(ValueError, match="non-empty list"):
        app.ask_about_scene(*vqa, image, "what colour is the circle?")
