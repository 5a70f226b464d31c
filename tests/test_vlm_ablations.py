"""The recorded ablations of chapter 10 cover every variant, at the budget the script states, with sane scores."""
import importlib.util
from dataclasses import asdict
from pathlib import Path

from mmcourse.experiments.vision_language import ABLATIONS

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "vlm_ablations.py"


def _script():
    spec = importlib.util.spec_from_file_location("vlm_ablations", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_recorded_table_holds_every_variant_at_the_scripts_budget():
    script = _script()
    recorded = script.read()
    assert set(recorded["variants"]) == set(ABLATIONS)
    assert recorded["recipe"] == asdict(script.budget())
    assert (recorded["n_qa"], recorded["n_captions"]) == (script.N_QA, script.N_CAPTIONS)


def test_the_recorded_scores_are_fractions_and_the_blind_baseline_is_lowest():
    variants = _script().read()["variants"]
    for scores in variants.values():
        assert all(0.0 <= value <= 1.0 for key, value in scores.items() if key != "train_s")
        assert scores["train_s"] > 0
    blind = variants["question_only"]["qa_exact_match"]
    assert all(blind < scores["qa_exact_match"] for name, scores in variants.items() if name != "question_only")
