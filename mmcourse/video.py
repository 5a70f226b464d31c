"""Framework-free pieces of the video twins (``torch_models/video.py``, ``keras_models/video.py``): checked once."""
from __future__ import annotations

from mmcourse.fusion import check_positive

TEMPORAL = ("mean", "gru")


def check_video_args(frame_size: int, channels: tuple[int, int], embed_dim: int, temporal: str) -> None:
    """Raise a ValueError unless frame_size is a positive multiple of 4 (two 2x2 poolings), the widths are
    positive ints and temporal is one of ``TEMPORAL``."""
    if isinstance(frame_size, bool) or not isinstance(frame_size, int) or frame_size < 4 or frame_size % 4:
        raise ValueError(f"frame_size must be a positive multiple of 4 (two 2x2 poolings), got {frame_size!r}")
    if not isinstance(channels, (tuple, list)) or len(channels) != 2:
        raise ValueError(f"channels must be a pair (c1, c2), got {channels!r}")
    for i, c in enumerate(channels):
        check_positive(c, f"channels[{i}]")
    check_positive(embed_dim, "embed_dim")
    if temporal not in TEMPORAL:
        raise ValueError(f"temporal must be one of {TEMPORAL}, got {temporal!r}")
