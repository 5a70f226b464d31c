"""Chapter 10's ablations of the toy VLM: train each variant of ``ABLATIONS`` and record its scores.

Each variant is ``tiny_vlm``'s recipe at a smaller budget (stage 1: 100
steps, stage 2: 400 steps, 5,000 scenes) with one change, scored on 300
held-out questions and 100 held-out captions. About 30 minutes on one CPU
core, so the chapter reads the recorded table instead of training six
models::

    python benchmarks/vlm_ablations.py --write    # measure and write benchmarks/vlm_ablations.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import asdict, replace
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("vlm_ablations.json")
N_QA, N_CAPTIONS = 300, 100


def budget():
    """The recipe every variant starts from: tiny_vlm's, with fewer steps and scenes."""
    from mmcourse.experiments.vision_language import Recipe
    return replace(Recipe(), stage2_steps=400, n_train=5000)


def measure() -> dict:
    """{"recipe": ..., "machine": ..., "variants": {name: scores | {"train_s": s}}} for every ablation."""
    from mmcourse.experiments.vision_language import ablation_study
    from mmcourse.pretrained.course import load_course_model

    encoder = load_course_model("mini_clip").image_encoder.tokens
    variants = ablation_study(encoder, budget(), n_qa=N_QA, n_captions=N_CAPTIONS)
    return {"recipe": asdict(budget()), "n_qa": N_QA, "n_captions": N_CAPTIONS,
            "machine": f"{os.cpu_count()} cores ({platform.machine()}), torch {torch.__version__}, "
                       f"{torch.get_num_threads()} torch thread(s)",
            "variants": {name: {k: round(v, 3) for k, v in scores.items()} for name, scores in variants.items()}}


def read() -> dict:
    """The recorded results."""
    return json.loads(RESULTS.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write the results to {RESULTS.name}")
    args = parser.parse_args()
    results = measure()
    print(json.dumps(results, indent=2))
    if args.write:
        RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
