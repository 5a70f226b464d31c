"""Fusion operators in PyTorch: seven ways to turn per-modality features into one prediction.

Twin of ``mmcourse.keras_models.fusion`` (same class names, constructor
arguments, parameter shapes and outputs; ``copy_weights_torch_to_keras``
there makes the two agree to 1e-5). Every operator takes a list of M
feature tensors ``[f_1, ..., f_M]``, f_i of shape (B, d_i), with the d_i
given to the constructor as ``input_dims``, and returns (B, out_dim):

    ConcatFusion          F = W [f_1; ...; f_M] + b                       (early fusion)
    WeightedSumFusion     F = sum_i w_i (W_i f_i + b_i),  w = softmax(a)
    LateFusion            one head per modality, z_i = W_i f_i + b_i; F = sum_i z_i (summed logits)
                          or F = log(mean_i softmax(z_i)) (averaged probabilities)
    GatedFusion           F = sum_i sigmoid(G_i [f_1; ...; f_M] + c_i) * tanh(W_i f_i + b_i)
    TensorFusion          F = W vec([f_1; 1] x [f_2; 1] x ...) + b     (outer product, TFN)
    LowRankFusion         F = sum_k lambda_k prod_i ([f_i; 1] W_i^(k)) + b  (LMF, rank r)
    CrossAttentionFusion  tokens of each modality attend to the other's, pooled, then W [.; .] + b

``FusionClassifier`` puts a classification head on an operator:
logits = V relu(F) + c. ``LateFusion`` already ends in logits and is
trained as it is.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from mmcourse.fusion import LATE_COMBINES, check_dims, check_positive, low_rank_factors


def check_inputs(inputs: Sequence[torch.Tensor], input_dims: Sequence[int]) -> None:
    """Check a list of M feature tensors (B, d_i) against ``input_dims``; the ValueError names the bad one."""
    if not isinstance(inputs, (list, tuple)) or len(inputs) != len(input_dims):
        raise ValueError(f"inputs must be a list of {len(input_dims)} tensors (one per modality), got "
                         + (f"{len(inputs)}" if isinstance(inputs, (list, tuple)) else type(inputs).__name__))
    for i, (x, d) in enumerate(zip(inputs, input_dims)):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"inputs[{i}] must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 2 or x.shape[1] != d:
            raise ValueError(f"inputs[{i}] must have shape (B, {d}), got {tuple(x.shape)}")
    batch = inputs[0].shape[0]
    for i, x in enumerate(inputs[1:], start=1):
        if x.shape[0] != batch:
            raise ValueError(f"inputs[{i}] has batch size {x.shape[0]} but inputs[0] has {batch}: "
                             "every modality needs one row per example")


def with_ones(x: torch.Tensor) -> torch.Tensor:
    """[x; 1]: (B, d) -> (B, d + 1), a constant 1 appended to each row."""
    return torch.cat([x, torch.ones_like(x[:, :1])], dim=1)


class ConcatFusion(nn.Module):
    """Early fusion: F = W [f_1; ...; f_M] + b, (B, d_1), ..., (B, d_M) -> (B, out_dim)."""

    def __init__(self, input_dims: Sequence[int], out_dim: int):
        super().__init__()
        self.input_dims = check_dims(input_dims)
        self.out_dim = check_positive(out_dim, "out_dim")
        self.proj = nn.Linear(sum(self.input_dims), out_dim)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        check_inputs(inputs, self.input_dims)
        return self.proj(torch.cat(list(inputs), dim=1))  # [f_1; ...; f_M]: (B, sum d_i) -> (B, out_dim)


class WeightedSumFusion(nn.Module):
    """F = sum_i w_i (W_i f_i + b_i) with w = softmax(a): each modality projected to out_dim, then mixed.

    The M logits ``a`` start at 0 (equal weights 1/M) and are learned; the
    softmax keeps the weights positive and summing to 1.
    """

    def __init__(self, input_dims: Sequence[int], out_dim: int):
        super().__init__()
        self.input_dims = check_dims(input_dims)
        self.out_dim = check_positive(out_dim, "out_dim")
        self.proj = nn.ModuleList([nn.Linear(d, out_dim) for d in self.input_dims])
        self.weight_logits = nn.Parameter(torch.zeros(len(self.input_dims)))  # a: (M,)

    def modality_weights(self) -> torch.Tensor:
        """w = softmax(a): (M,), positive, summing to 1."""
        return torch.softmax(self.weight_logits, dim=0)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        check_inputs(inputs, self.input_dims)
        projected = torch.stack([proj(x) for proj, x in zip(self.proj, inputs)], dim=1)  # (B, M, out_dim)
        return torch.einsum("m,bmo->bo", self.modality_weights(), projected)  # (B, out_dim)


class LateFusion(nn.Module):
    """One classifier per modality, combined at the end: (B, d_i) ... -> (B, out_dim) logits.

    Head i gives logits z_i = W_i f_i + b_i (with ``hidden`` > 0, a hidden
    ReLU layer first). ``combine='sum_logits'`` returns sum_i z_i, i.e. the
    product of the heads' probabilities once renormalised;
    ``combine='mean_probs'`` returns log(mean_i softmax(z_i)), the log of the
    averaged probabilities, so that cross-entropy and argmax apply to both.
    """

    def __init__(self, input_dims: Sequence[int], out_dim: int, combine: str = "sum_logits", hidden: int = 0):
        super().__init__()
        self.input_dims = check_dims(input_dims)
        self.out_dim = check_positive(out_dim, "out_dim")
        if combine not in LATE_COMBINES:
            raise ValueError(f"combine must be one of {LATE_COMBINES}, got {combine!r}")
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
            raise ValueError(f"hidden must be an int >= 0 (0: linear heads), got {hidden!r}")
        self.combine = combine
        self.heads = nn.ModuleList([
            nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, out_dim)) if hidden
            else nn.Sequential(nn.Linear(d, out_dim)) for d in self.input_dims])

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        check_inputs(inputs, self.input_dims)
        logits = torch.stack([head(x) for head, x in zip(self.heads, inputs)], dim=0)  # (M, B, out_dim)
        if self.combine == "sum_logits":
            return logits.sum(dim=0)
        log_probs = torch.log_softmax(logits, dim=2)  # (M, B, out_dim)
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.input_dims))  # log mean_i p_i


class GatedFusion(nn.Module):
    """F = sum_i g_i * h_i, h_i = tanh(W_i f_i + b_i), g_i = sigmoid(G_i [f_1; ...; f_M] + c_i).

    A gated multimodal unit (Arevalo et al., 2017): each gate sees every
    modality and decides, feature by feature and example by example, how
    much of its modality's projection to let through. -> (B, out_dim).
    """

    def __init__(self, input_dims: Sequence[int], out_dim: int):
        super().__init__()
        self.input_dims = check_dims(input_dims)
        self.out_dim = check_positive(out_dim, "out_dim")
        self.proj = nn.ModuleList([nn.Linear(d, out_dim) for d in self.input_dims])
        self.gates = nn.ModuleList([nn.Linear(sum(self.input_dims), out_dim) for _ in self.input_dims])

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        check_inputs(inputs, self.input_dims)
        joint = torch.cat(list(inputs), dim=1)  # (B, sum d_i)
        return sum(torch.sigmoid(gate(joint)) * torch.tanh(proj(x))  # (B, out_dim) each
                   for gate, proj, x in zip(self.gates, self.proj, inputs))


def outer_with_ones(inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """vec([f_1; 1] x [f_2; 1] x ...): (B, d_1), (B, d_2), ... -> (B, (d_1 + 1)(d_2 + 1)...).

    Row-major order: entry (a, b) of the two-modality product sits at
    a * (d_2 + 1) + b. Thanks to the 1s the product holds every f_1 and f_2
    entry on its own as well as every pairwise product f_1a f_2b.
    """
    fused = with_ones(inputs[0])  # (B, d_1 + 1)
    for x in inputs[1:]:
        fused = torch.einsum("bi,bj->bij", fused, with_ones(x)).flatten(1)  # (B, prev * (d + 1))
    return fused


class TensorFusion(nn.Module):
    """Tensor fusion (TFN, Zadeh et al., 2017): F = W vec([f_1; 1] x [f_2; 1] x ...) + b -> (B, out_dim).

    W has out_dim x prod_i (d_i + 1) entries: it grows with the product of
    the modality sizes, which is what low-rank fusion avoids.
    """

    def __init__(self, input_dims: Sequence[int], out_dim: int):
        super().__init__()
        self.input_dims = check_dims(input_dims)
        self.out_dim = check_positive(out_dim, "out_dim")
        self.proj = nn.Linear(math.prod(d + 1 for d in self.input_dims), out_dim)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        check_inputs(inputs, self.input_dims)
        return self.proj(outer_with_ones(inputs))  # (B, prod (d_i + 1)) -> (B, out_dim)


class LowRankFusion(nn.Module):
    """Low-rank multimodal fusion (LMF, Liu et al., 2018): TFN with W a sum of ``rank`` outer products.

        F = sum_k lambda_k prod_i ([f_i; 1] W_i^(k)) + b,   W_i^(k): (d_i + 1, out_dim)

    (product over modalities element by element). It never builds the outer
    product: the cost is linear in sum_i d_i instead of prod_i d_i. Each
    modality's factors form one (rank, d_i + 1, out_dim) tensor, kept in an
    ``nn.ParameterList`` so that ``parameters()`` and the optimizer see them.
    (A plain Python list would hide them, and ``nn.Parameter(...).cuda()``
    returns a copy that is no Parameter at all: both leave the factors
    untrained without any error.)
    """

    def __init__(self, input_dims: Sequence[int], out_dim: int, rank: int = 4):
        super().__init__()
        self.input_dims = check_dims(input_dims)
        self.out_dim = check_positive(out_dim, "out_dim")
        self.rank = check_positive(rank, "rank")
        self.factors = nn.ParameterList([nn.Parameter(torch.empty(rank, d + 1, out_dim)) for d in self.input_dims])
        self.rank_weights = nn.Parameter(torch.empty(rank))  # lambda: (rank,)
        self.bias = nn.Parameter(torch.zeros(out_dim))
        for factor in self.factors:
            nn.init.xavier_normal_(factor)
        nn.init.normal_(self.rank_weights, std=math.sqrt(2.0 / (1 + rank)))  # xavier-normal of a (1, rank) row

    @classmethod
    def from_tensor_fusion(cls, tensor_fusion: TensorFusion, rank: int) -> LowRankFusion:
        """An LMF of rank ``rank`` approximating a two-modality TensorFusion (exact at full rank)."""
        if not isinstance(tensor_fusion, TensorFusion) or len(tensor_fusion.input_dims) != 2:
            raise ValueError(f"tensor_fusion must be a TensorFusion of two modalities, got {tensor_fusion!r}")
        lmf = cls(tensor_fusion.input_dims, tensor_fusion.out_dim, rank)
        factors = low_rank_factors(tensor_fusion.proj.weight.detach().cpu().numpy(), tensor_fusion.input_dims, rank)
        with torch.no_grad():
            for factor, array in zip(lmf.factors, factors):
                factor.copy_(torch.from_numpy(array))
            lmf.rank_weights.fill_(1.0)
            lmf.bias.copy_(tensor_fusion.proj.bias)
        return lmf

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        check_inputs(inputs, self.input_dims)
        product = 1.0
        for x, factor in zip(inputs, self.factors):
            product = product * torch.einsum("bd,rdo->rbo", with_ones(x), factor)  # (rank, B, out_dim)
        return torch.einsum("r,rbo->bo", self.rank_weights, product) + self.bias  # (B, out_dim)


class CrossAttentionFusion(nn.Module):
    """Two modalities, each turned into ``n_tokens`` tokens whose queries attend to the other's keys and values.

        [T_i, Q_i, K_i, V_i] = reshape(P_i f_i + p_i): four (B, n, d_model) per modality i
        U_1 = T_1 + O_1 Attn(Q_1, K_2, V_2)   (modality 1 asks, modality 2 answers)
        U_2 = T_2 + O_2 Attn(Q_2, K_1, V_1)
        F = W [mean_t U_1; mean_t U_2] + b: (B, out_dim)

    Attn is multi-head scaled dot-product attention, softmax(Q K^T / sqrt(d_head)) V
    per head. One linear map per modality gives the tokens and their queries,
    keys and values at once: the usual tokens-then-W_q (W_k, W_v) is a linear
    map of a linear map, so it is the same model with more layers.
    """

    def __init__(self, input_dims: Sequence[int], out_dim: int, n_tokens: int = 4, d_model: int = 32,
                 n_heads: int = 2):
        super().__init__()
        self.input_dims = check_dims(input_dims, min_modalities=2, max_modalities=2)
        self.out_dim = check_positive(out_dim, "out_dim")
        self.n_tokens = check_positive(n_tokens, "n_tokens")
        self.d_model = check_positive(d_model, "d_model")
        self.n_heads = check_positive(n_heads, "n_heads")
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.tokens = nn.ModuleList([nn.Linear(d, n_tokens * 4 * d_model) for d in self.input_dims])
        self.attn_out = nn.ModuleList([nn.Linear(d_model, d_model) for _ in range(2)])
        self.proj = nn.Linear(2 * d_model, out_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n, d_model) -> (B, heads, n, d_head)."""
        return x.unflatten(2, (self.n_heads, self.d_model // self.n_heads)).transpose(1, 2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Multi-head attention of queries q on keys k and values v, each (B, n, d_model) -> (B, n, d_model)."""
        q, k, v = self._heads(q), self._heads(k), self._heads(v)  # (B, heads, n, d_head)
        scores = q @ k.transpose(2, 3) / math.sqrt(q.shape[-1])  # (B, heads, n, n)
        mixed = torch.softmax(scores, dim=3) @ v  # (B, heads, n, d_head)
        return mixed.transpose(1, 2).flatten(2)  # (B, n, d_model)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        check_inputs(inputs, self.input_dims)
        (t1, q1, k1, v1), (t2, q2, k2, v2) = (
            tokens(x).unflatten(1, (self.n_tokens, 4 * self.d_model)).chunk(4, dim=2)  # 4 x (B, n, d_model)
            for tokens, x in zip(self.tokens, inputs))
        u1 = t1 + self.attn_out[0](self.attend(q1, k2, v2))
        u2 = t2 + self.attn_out[1](self.attend(q2, k1, v1))
        return self.proj(torch.cat([u1.mean(dim=1), u2.mean(dim=1)], dim=1))  # (B, 2 d_model) -> (B, out_dim)


FUSIONS = (ConcatFusion, WeightedSumFusion, LateFusion, GatedFusion, TensorFusion, LowRankFusion,
           CrossAttentionFusion)


class FusionClassifier(nn.Module):
    """A fusion operator with a linear head: logits = V relu(F) + c, (B, d_i) ... -> (B, n_classes).

    ``LateFusion`` already returns logits, so it gets no head (its out_dim
    must then be n_classes). Unlike the operators, ``forward`` takes the
    modalities as separate arguments, ``model(f_1, f_2)``, as
    ``mmcourse.train`` calls models.
    """

    def __init__(self, fusion: nn.Module, n_classes: int):
        super().__init__()
        if not isinstance(fusion, FUSIONS):
            raise ValueError(f"fusion must be one of {[f.__name__ for f in FUSIONS]}, got {type(fusion).__name__}")
        n_classes = check_positive(n_classes, "n_classes")
        if isinstance(fusion, LateFusion) and fusion.out_dim != n_classes:
            raise ValueError(f"a LateFusion gives the logits itself: its out_dim ({fusion.out_dim}) must equal "
                             f"n_classes ({n_classes})")
        self.fusion = fusion
        self.head = None if isinstance(fusion, LateFusion) else nn.Linear(fusion.out_dim, n_classes)

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """features: one (B, d_i) tensor per modality -> logits (B, n_classes)."""
        fused = self.fusion(list(features))  # (B, out_dim)
        return fused if self.head is None else self.head(torch.relu(fused))


# -- unimodal encoders for AV digits (the chapter trains them once, then fuses their frozen features) ---------


class ImageEncoder(nn.Module):
    """Small CNN for one (B, 1, 28, 28) image batch: ``features`` (B, units), ``forward`` logits (B, n_classes).

        average-pool 2 (28 -> 14: halves the pixel noise, quarters the cost) -> conv 3x3 + ReLU -> max-pool 2
        -> conv 3x3 + ReLU -> max-pool 2 -> flatten (B, c2 * 3 * 3) -> dense + ReLU: features (B, units)
    """

    def __init__(self, n_classes: int = 10, conv_channels: tuple[int, int] = (8, 16), units: int = 32):
        super().__init__()
        c1, c2 = conv_channels
        self.body = nn.Sequential(
            nn.AvgPool2d(2), nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, c1, 7, 7)
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, c2, 3, 3)
            nn.Flatten(), nn.Linear(c2 * 9, units), nn.ReLU())  # (B, units)
        self.head = nn.Linear(units, check_positive(n_classes, "n_classes"))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 1, 28, 28) -> features (B, units)."""
        if images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28):
            raise ValueError(f"images must have shape (B, 1, 28, 28), got {tuple(images.shape)}")
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))  # (B, n_classes)


class AudioEncoder(nn.Module):
    """GRU over MFCC frames (B, T, 13): ``features`` = last hidden state (B, units), ``forward`` logits."""

    def __init__(self, n_classes: int = 10, n_coefficients: int = 13, units: int = 32):
        super().__init__()
        self.gru = nn.GRU(n_coefficients, units, batch_first=True)
        self.head = nn.Linear(units, check_positive(n_classes, "n_classes"))

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, T, 13) -> features (B, units)."""
        if audio.dim() != 3 or audio.shape[2] != self.gru.input_size:
            raise ValueError(f"audio must have shape (B, T, {self.gru.input_size}), got {tuple(audio.shape)}")
        _, last = self.gru(audio)  # last hidden state: (1, B, units)
        return last[0]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(audio))  # (B, n_classes)
