"""2-D convolution (im2col + one matrix product) and max/average pooling, forward and backward.

Layout is PyTorch's: images x (N, C, H, W), kernels w (F, C, kh, kw). Like
every deep-learning framework, "convolution" here is cross-correlation (the
kernel is not flipped)::

    out[n, f, i, j] = b[f] + Σ_{c, p, q} w[f, c, p, q] · x_pad[n, c, i·s + p·d, j·s + q·d]

with stride s, dilation d and zero padding. The output size per axis is
``(n + 2·padding - dilation·(k - 1) - 1) / stride + 1`` (:func:`conv_output_size`).

The fast path turns the convolution into one matrix product. ``im2col``
copies every receptive field into a column of a matrix, per image
(N, C·kh·kw, H'·W'); then ``W (F, C·kh·kw) @ cols`` computes every output at
once in a single ``np.matmul`` call, which BLAS runs as one GEMM per image and
which lands directly in (N, F, H'·W'), the NCHW layout. The copy is a loop
over the kh·kw kernel offsets, each moving a whole strided slice of the
batch, so no Python loop runs per pixel. Backward is the same in reverse:
matmuls for dW and dcols, and ``col2im`` adds each column back onto the
pixels it came from.

Why per image and not one (F, C·kh·kw) @ (C·kh·kw, N·H'·W') product? That
layout needs the input and the output transposed between (N, C, ...) and
(C, N, ...); each transpose is another large temporary array, and fresh
large arrays cost page faults. Measured here (2 cores), the flat version was
1.5-7× slower than the batched one, though it is the same arithmetic.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import _checks


def _output_size(n: int, k: int, stride: int, padding: int, dilation: int, axis: str) -> int:
    """conv_output_size with ``axis`` ("height", "width", ...) named in the error messages."""
    span = dilation * (k - 1) + 1  # extent of the dilated kernel
    if span > n + 2 * padding:
        raise ValueError(
            f"kernel {axis} {k} (dilation {dilation}: spans {span} pixels) is bigger than the padded input "
            f"{axis} {n} + 2*{padding} = {n + 2 * padding}"
        )
    steps, rest = divmod(n + 2 * padding - span, stride)
    if rest:
        raise ValueError(
            f"output {axis} is not an integer: ({n} + 2*{padding} - {span}) / stride {stride} + 1 = "
            f"{(n + 2 * padding - span) / stride + 1:g}; change padding or crop the input "
            f"(torch and Keras would silently drop the last {rest} row(s)/column(s))"
        )
    return steps + 1


def conv_output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length (n + 2·padding - dilation·(k - 1) - 1) / stride + 1 of a convolution or pooling.

    Raises ValueError when the dilated kernel does not fit in the padded input
    or when the stride does not divide evenly (torch and Keras would floor and
    silently ignore the last pixels; here that is a mistake to fix).
    """
    n = _checks.integer("n", n, 1)
    k = _checks.integer("k", k, 1)
    stride = _checks.integer("stride", stride, 1)
    padding = _checks.integer("padding", padding, 0)
    dilation = _checks.integer("dilation", dilation, 1)
    return _output_size(n, k, stride, padding, dilation, "size")


def _conv_args(stride, padding, dilation) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """stride, padding and dilation, each an int or an (h, w) pair, as checked (h, w) pairs."""
    return _checks.pair("stride", stride, 1), _checks.pair("padding", padding, 0), _checks.pair("dilation", dilation, 1)


def _check_image(name: str, x) -> np.ndarray:
    return _checks.float_array(name, x, 4, "(N, C, H, W)")


def _geometry(x_shape, kh, kw, stride, padding, dilation) -> tuple[int, int]:
    """(H', W') of a convolution of an (N, C, H, W) input, with errors that name the axis."""
    ho = _output_size(x_shape[2], kh, stride[0], padding[0], dilation[0], "height")
    wo = _output_size(x_shape[3], kw, stride[1], padding[1], dilation[1], "width")
    return ho, wo


def _im2col(x: np.ndarray, kh: int, kw: int, stride, padding, dilation, ho: int, wo: int) -> np.ndarray:
    """Checked-arguments im2col: x (N, C, H, W) -> cols (N, C*kh*kw, H'*W')."""
    n, c, h, w = x.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    if ph or pw:
        xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)  # (N, C, H+2p, W+2p)
        xp[:, :, ph : ph + h, pw : pw + w] = x
    else:
        xp = x
    cols = np.empty((n, c, kh, kw, ho, wo), dtype=x.dtype)
    for p in range(kh):
        for q in range(kw):
            # every output pixel's input at kernel offset (p, q), for all images and channels at once
            cols[:, :, p, q] = xp[:, :, p * dh : p * dh + sh * (ho - 1) + 1 : sh, q * dw : q * dw + sw * (wo - 1) + 1 : sw]
    return cols.reshape(n, c * kh * kw, ho * wo)  # (N, C*kh*kw, H'*W')


def _col2im(cols: np.ndarray, x_shape, kh: int, kw: int, stride, padding, dilation, ho: int, wo: int) -> np.ndarray:
    """Checked-arguments col2im: cols (N, C*kh*kw, H'*W') -> x (N, C, H, W), overlaps summed."""
    n, c, h, w = x_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    cols = cols.reshape(n, c, kh, kw, ho, wo)  # (N, C, kh, kw, H', W')
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)  # (N, C, H+2p, W+2p)
    for p in range(kh):
        for q in range(kw):
            # a pixel feeds several windows when they overlap: += sums its gradients
            xp[:, :, p * dh : p * dh + sh * (ho - 1) + 1 : sh, q * dw : q * dw + sw * (wo - 1) + 1 : sw] += cols[:, :, p, q]
    return xp[:, :, ph : ph + h, pw : pw + w].copy() if ph or pw else xp  # (N, C, H, W)


def im2col(x: np.ndarray, kh: int, kw: int, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Unfold x (N, C, H, W) into cols (N, C*kh*kw, H'*W'): ``cols[n, :, i*W' + j]`` is one receptive field.

    Row ``c*kh*kw + p*kw + q`` holds channel c at kernel offset (p, q), the
    order of ``w.reshape(F, -1)``, so a convolution is ``w.reshape(F, -1) @ cols``,
    shape (N, F, H'*W').
    ``stride``, ``padding`` and ``dilation`` are an int or an (h, w) pair.
    """
    _check_image("x", x)
    kh, kw = _checks.integer("kh", kh, 1), _checks.integer("kw", kw, 1)
    stride, padding, dilation = _conv_args(stride, padding, dilation)
    ho, wo = _geometry(x.shape, kh, kw, stride, padding, dilation)
    return _im2col(x, kh, kw, stride, padding, dilation, ho, wo)


def col2im(
    cols: np.ndarray, x_shape: tuple[int, int, int, int], kh: int, kw: int, stride=1, padding=0, dilation=1
) -> np.ndarray:
    """Fold cols (N, C*kh*kw, H'*W') back to (N, C, H, W), summing where receptive fields overlap.

    This is the adjoint of :func:`im2col` (not its inverse): it is what the
    backward pass needs, since a pixel used by several windows gets the sum of
    their gradients.
    """
    _checks.float_array("cols", cols, 3, "(N, C*kh*kw, H'*W')")
    if len(x_shape) != 4:
        raise ValueError(f"x_shape must be (N, C, H, W), got {x_shape!r}")
    n, c, h, w = (_checks.integer(f"x_shape[{i}]", v, 1) for i, v in enumerate(x_shape))
    kh, kw = _checks.integer("kh", kh, 1), _checks.integer("kw", kw, 1)
    stride, padding, dilation = _conv_args(stride, padding, dilation)
    ho, wo = _geometry((n, c, h, w), kh, kw, stride, padding, dilation)
    _checks.same_shape("cols", cols, (n, c * kh * kw, ho * wo), f"N, C*kh*kw, H'*W' for x_shape {tuple(x_shape)}")
    return _col2im(cols, (n, c, h, w), kh, kw, stride, padding, dilation, ho, wo)


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride=1, padding=0, dilation=1
) -> tuple[np.ndarray, tuple]:
    """Cross-correlate x (N, C, H, W) with w (F, C, kh, kw) plus b (F,); returns out (N, F, H', W') and cache.

    ``stride``, ``padding`` (zeros) and ``dilation`` are an int or an (h, w)
    pair, as in ``torch.nn.functional.conv2d``.
    """
    _check_image("x", x)
    _checks.float_array("w", w, 4, "(F, C, kh, kw)", like=("x", x))
    _checks.float_array("b", b, 1, "(F,)", like=("x", x))
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"w has {w.shape[1]} input channels (w.shape[1], w is {w.shape}) but x has {x.shape[1]} "
            f"(x.shape[1], x is {x.shape}); they must match"
        )
    _checks.same_shape("b", b, (w.shape[0],), "one bias per filter, F = w.shape[0]")
    stride, padding, dilation = _conv_args(stride, padding, dilation)
    f, _, kh, kw = w.shape
    ho, wo = _geometry(x.shape, kh, kw, stride, padding, dilation)
    cols = _im2col(x, kh, kw, stride, padding, dilation, ho, wo)  # (N, C*kh*kw, H'*W')
    out = w.reshape(f, -1) @ cols  # (F, C*kh*kw) @ (N, C*kh*kw, H'*W') -> (N, F, H'*W'): the one matmul
    out += b[:, None]
    return out.reshape(x.shape[0], f, ho, wo), (x.shape, cols, w, stride, padding, dilation)  # (N, F, H', W')


def conv2d_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of conv2d for dout (N, F, H', W'): dx (N, C, H, W), dw (F, C, kh, kw), db (F,).

    With cols and W₂ = w.reshape(F, -1) from the forward pass and D = dout as
    (N, F, H'·W'): dW₂ = Σ_n D_n cols_nᵀ, db = Σ D, dcols = W₂ᵀ D, dx = col2im(dcols).
    """
    x_shape, cols, w, stride, padding, dilation = cache
    f, _, kh, kw = w.shape
    n, ho, wo = x_shape[0], *_geometry(x_shape, kh, kw, stride, padding, dilation)
    _checks.float_array("dout", dout, 4, "(N, F, H', W')", like=("x", cols))
    _checks.same_shape("dout", dout, (n, f, ho, wo), "the forward output")
    d3 = dout.reshape(n, f, ho * wo)  # (N, F, H'*W')
    dw = (d3 @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)  # (N, F, C*kh*kw) summed -> (F, C, kh, kw)
    db = d3.sum(axis=(0, 2))  # (F,)
    dcols = w.reshape(f, -1).T @ d3  # (C*kh*kw, F) @ (N, F, H'*W') -> (N, C*kh*kw, H'*W')
    dx = _col2im(dcols, x_shape, kh, kw, stride, padding, dilation, ho, wo)
    return dx, dw, db


def conv2d_einsum(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, optimize: bool = False
) -> np.ndarray:
    """A lesson, not a layer: conv2d as one ``np.einsum`` over a window view; returns (N, F, H', W').

    ``np.einsum("nchwpq,fcpq->nfhw", windows, w)`` is a correct convolution in
    one line. With ``optimize=False`` (NumPy's default) einsum runs its own
    generic nested loop over all seven indices, never calling BLAS, and is tens
    of times slower than the same contraction with ``optimize=True``, which
    hands it to ``tensordot``, i.e. one GEMM: 25-28× for the benchmark's
    (32, 3, 32, 32) * (16, 3, 3, 3) on 2 cores, more with more channels
    (see ``benchmarks/numpy_vs_frameworks.py``).
    """
    _check_image("x", x)
    _checks.float_array("w", w, 4, "(F, C, kh, kw)", like=("x", x))
    _checks.float_array("b", b, 1, "(F,)", like=("x", x))
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"w has {w.shape[1]} input channels (w.shape[1]) but x has {x.shape[1]} (x.shape[1]); they must match"
        )
    _checks.same_shape("b", b, (w.shape[0],), "one bias per filter, F = w.shape[0]")
    if not isinstance(optimize, bool):
        raise TypeError(f"optimize must be a bool, got {type(optimize).__name__}")
    stride, padding = _checks.integer("stride", stride, 1), _checks.integer("padding", padding, 0)
    kh, kw = w.shape[2:]
    _geometry(x.shape, kh, kw, (stride, stride), (padding, padding), (1, 1))
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))  # (N, C, H+2p, W+2p)
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]  # (N, C, H', W', kh, kw), a view
    return np.einsum("nchwpq,fcpq->nfhw", windows, w, optimize=optimize) + b[:, None, None]


def _pool_args(x, kernel, stride) -> tuple[tuple[int, int], tuple[int, int], int, int]:
    _check_image("x", x)
    kernel = _checks.pair("kernel", kernel, 1)
    stride = kernel if stride is None else _checks.pair("stride", stride, 1)
    ho, wo = _geometry(x.shape, *kernel, stride, (0, 0), (1, 1))
    return kernel, stride, ho, wo


def _windows(x: np.ndarray, kernel, stride) -> np.ndarray:
    """A strided view x (N, C, H, W) -> (N, C, H', W', kh, kw); no copy."""
    return sliding_window_view(x, kernel, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]


def max_pool2d_forward(x: np.ndarray, kernel=2, stride=None) -> tuple[np.ndarray, tuple]:
    """Max over each kh×kw window of x (N, C, H, W); returns out (N, C, H', W') and cache.

    ``kernel`` and ``stride`` are an int or an (h, w) pair; ``stride=None``
    means stride = kernel (non-overlapping windows), as in torch and Keras.
    """
    kernel, stride, ho, wo = _pool_args(x, kernel, stride)
    n, c = x.shape[:2]
    windows = _windows(x, kernel, stride).reshape(n, c, ho, wo, -1)  # (N, C, H', W', kh*kw), a copy
    arg = windows.argmax(axis=-1)  # (N, C, H', W'): first maximum wins ties, as in torch
    out = np.take_along_axis(windows, arg[..., None], axis=-1)[..., 0]
    return out, (x.shape, arg, kernel, stride)


def max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Route each dout (N, C, H', W') to the input pixel that was the window's max; returns dx (N, C, H, W)."""
    x_shape, arg, (kh, kw), (sh, sw) = cache
    _checks.float_array("dout", dout, 4, "(N, C, H', W')")
    _checks.same_shape("dout", dout, arg.shape, "the forward output")
    ho, wo = arg.shape[2:]
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for p in range(kh):
        for q in range(kw):
            # windows whose max sat at offset (p, q) send their gradient there; overlaps add up
            dx[:, :, p : p + sh * (ho - 1) + 1 : sh, q : q + sw * (wo - 1) + 1 : sw] += np.where(arg == p * kw + q, dout, 0)
    return dx


def avg_pool2d_forward(x: np.ndarray, kernel=2, stride=None) -> tuple[np.ndarray, tuple]:
    """Mean over each kh×kw window of x (N, C, H, W); returns out (N, C, H', W') and cache.

    ``stride=None`` means stride = kernel. No padding, so torch's
    ``count_include_pad`` question does not arise.
    """
    kernel, stride, ho, wo = _pool_args(x, kernel, stride)
    out = _windows(x, kernel, stride).mean(axis=(-2, -1))  # (N, C, H', W')
    return out, (x.shape, kernel, stride, (ho, wo))


def avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Spread each dout (N, C, H', W') evenly over its kh·kw window; returns dx (N, C, H, W)."""
    x_shape, (kh, kw), (sh, sw), (ho, wo) = cache
    _checks.float_array("dout", dout, 4, "(N, C, H', W')")
    _checks.same_shape("dout", dout, (*x_shape[:2], ho, wo), "the forward output")
    share = dout / (kh * kw)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for p in range(kh):
        for q in range(kw):
            dx[:, :, p : p + sh * (ho - 1) + 1 : sh, q : q + sw * (wo - 1) + 1 : sw] += share
    return dx
