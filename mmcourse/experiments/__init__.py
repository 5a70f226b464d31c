"""What the chapters run and plot: studies, benchmarks and baselines built on the rest of the package.

- ``tour``: helpers of the opening chapters (pinned versions, plain tables, a data tour).
- ``baselines``: quick logistic-regression baselines on AV digits (chapter 02).
- ``gradients``: vanishing and exploding gradients in RNNs and LSTMs (chapter 05).
- ``fusion_bench``: the fusion benchmark and the missing-modality study (chapter 06).
- ``attention_vs_rnn``: path length and time per layer, attention against the RNN (chapter 08).
- ``language_models``: training a character GPT and a masked LM, instruction tuning (chapter 08).

Each module imports its framework itself, so importing this package is cheap.
"""
