"""Framework-free pieces of the mini-CLIP twins (``torch_models/clip.py``, ``keras_models/clip.py``): their one config.

Both twins import :class:`CLIPConfig` from here, so a model built from the
same config has the same sizes in either framework, checked in one place.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CLIPConfig:
    """Sizes of a mini-CLIP for 32 x 32 images and captions of word ids < vocab_size.

    Image: four conv blocks (``channels``) take 32 x 32 to a 2 x 2 grid, one
    visual token of ``channels[-1]`` numbers per grid cell (N = 4, D =
    token_dim). Text: word vectors of ``word_dim``, a bidirectional GRU of
    ``text_width // 2`` units each way. Both end in ``embed_dim``.
    """

    vocab_size: int
    channels: tuple[int, int, int, int] = (32, 64, 96, 128)
    word_dim: int = 64
    text_width: int = 128
    embed_dim: int = 64

    def __post_init__(self):
        self.channels = tuple(self.channels)
        for name in ("vocab_size", "word_dim", "text_width", "embed_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2 (<pad> and <unk>), got {self.vocab_size}")
        if len(self.channels) != 4 or not all(isinstance(c, int) and c > 0 for c in self.channels):
            raise ValueError(f"channels must be 4 positive ints (one per conv block), got {self.channels!r}")
        if self.text_width % 2:
            raise ValueError(f"text_width must be even (half per GRU direction), got {self.text_width}")

    @property
    def token_dim(self) -> int:
        """D, the size of one visual token: the last conv block's channels."""
        return self.channels[-1]


IMAGE_SIZE = 32
GRID = 2  # the image encoder's token grid: GRID x GRID tokens, one per cell of the scenes' 2 x 2 layout
