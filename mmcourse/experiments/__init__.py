"""What the chapters run and plot: studies, benchmarks and baselines built on the rest of the package.

- ``tour``: helpers of the opening chapters (pinned versions, plain tables, a data tour).
- ``baselines``: quick logistic-regression baselines on AV digits (chapter 02).
- ``gradients``: vanishing and exploding gradients in RNNs and LSTMs (chapter 05).
- ``fusion_bench``: the fusion benchmark and the missing-modality study (chapter 06).
- ``attention_vs_rnn``: path length and time per layer, attention against the RNN (chapter 08).
- ``language_models``: training a character GPT and a masked LM, instruction tuning (chapter 08).
- ``contrastive``, ``real_clip``: the mini-CLIP and CLIP from frozen real parts (chapter 09).
- ``vision_language``, ``real_vlm``: the toy LLaVA and a projector into SmolLM2 (chapter 10).
- ``generative``: GAN and DDPM training, the judge and its metrics (chapter 11).
- ``audio``: spoken-digit models, the CTC recogniser, audio-visual fusion under noise (chapter 12).
- ``feedback``: preference pairs, the reward model, RLHF, DPO and reward hacking (chapter 13).
- ``deployment``, ``distributed``: exports, latency, quantisation, DDP and MirroredStrategy (chapter 14).
- ``applications``, ``privacy``, ``challenges``: search, RAG, VQA, FedAvg, DP-SGD, labels, video, compute
  (chapter 15).

Each module imports its framework itself, so importing this package is cheap.
"""
