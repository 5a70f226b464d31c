"""Audio features from scratch in NumPy (chapter 03): frames, STFT, mel filterbank, MFCC.

Each step reproduces its ``tf.signal`` twin (``frame``, ``stft``,
``linear_to_mel_weight_matrix``, ``mfccs_from_log_mel_spectrograms``), so a
learner can see the formula and check it against the library. Sizes are in
samples: at 16 kHz the defaults frame_length=400 and frame_step=160 are the
usual 25 ms windows every 10 ms.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_WINDOW_COEFFICIENTS = {"hann": (0.5, 0.5), "hamming": (0.54, 0.46)}


def _check_positive_int(name: str, value: int) -> int:
    """value as an int if it is a positive integer, else a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_signal(signal: np.ndarray) -> np.ndarray:
    """signal as a 1-D float array (integer PCM becomes float64), else a ValueError."""
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise ValueError(f"signal must be 1-D (samples,), got shape {signal.shape}")
    if not np.issubdtype(signal.dtype, np.number) or np.iscomplexobj(signal):
        raise ValueError(f"signal must hold real numbers, got dtype {signal.dtype}")
    return signal if np.issubdtype(signal.dtype, np.floating) else signal.astype(np.float64)


def frame(signal: np.ndarray, frame_length: int, frame_step: int, pad_end: bool = False) -> np.ndarray:
    """Overlapping frames (n_frames, frame_length) of signal (samples,), like ``tf.signal.frame``.

    n_frames = 1 + (samples - frame_length) // frame_step (0 if the signal is
    shorter than one frame); with ``pad_end`` the end is zero-padded so that
    n_frames = ceil(samples / frame_step). Without padding the result is a
    read-only view of the signal: no copy is made. Integer (PCM) samples
    come back as float64, here and in every function below.
    """
    signal = _check_signal(signal)
    frame_length = _check_positive_int("frame_length", frame_length)
    frame_step = _check_positive_int("frame_step", frame_step)
    if pad_end:
        n_frames = -(-len(signal) // frame_step)  # ceiling division
        padded_length = max(len(signal), (n_frames - 1) * frame_step + frame_length) if n_frames else 0
        signal = np.pad(signal, (0, padded_length - len(signal)))
    if len(signal) < frame_length:
        return np.zeros((0, frame_length), dtype=signal.dtype)
    return np.lib.stride_tricks.sliding_window_view(signal, frame_length)[::frame_step]  # (n_frames, frame_length)


def make_window(window: str, frame_length: int) -> np.ndarray:
    """Periodic raised-cosine window (frame_length,) as ``tf.signal.hann_window``/``hamming_window`` make it.

    w[n] = a - b cos(2 pi n / M), with (a, b) = (0.5, 0.5) for "hann" and
    (0.54, 0.46) for "hamming". TensorFlow's periodic window uses M = length
    for an even length but M = length - 1 (the symmetric window) for an odd
    one; we follow it, so ``scipy.signal.get_window("hann", length)`` (always
    M = length) differs for odd lengths.
    """
    if window not in _WINDOW_COEFFICIENTS:
        raise ValueError(f"window must be one of {sorted(_WINDOW_COEFFICIENTS)} or None, got {window!r}")
    frame_length = _check_positive_int("frame_length", frame_length)
    if frame_length == 1:
        return np.ones(1)
    a, b = _WINDOW_COEFFICIENTS[window]
    period = frame_length if frame_length % 2 == 0 else frame_length - 1
    return a - b * np.cos(2 * np.pi * np.arange(frame_length) / period)


def stft(signal: np.ndarray, frame_length: int = 400, frame_step: int = 160, fft_length: int = 512,
         window: str | None = "hann") -> np.ndarray:
    """Short-time Fourier transform: signal (samples,) -> complex (n_frames, fft_length // 2 + 1).

    X[t, k] = sum_n w[n] x[t * frame_step + n] exp(-2 pi i k n / fft_length):
    frame, multiply by the window, zero-pad each frame to fft_length, real FFT.
    Equals ``tf.signal.stft`` with the same arguments (and ``window=None`` is
    ``window_fn=None``). float32 in gives complex64 out, float64 gives complex128.
    """
    signal = _check_signal(signal)
    frame_length = _check_positive_int("frame_length", frame_length)
    fft_length = _check_positive_int("fft_length", fft_length)
    if fft_length < frame_length:
        raise ValueError(f"fft_length must be >= frame_length ({frame_length}), got {fft_length}")
    frames = frame(signal, frame_length, frame_step)  # (n_frames, frame_length)
    if window is not None:
        frames = frames * make_window(window, frame_length).astype(frames.dtype)
    return np.fft.rfft(frames, n=fft_length, axis=-1)  # (n_frames, fft_length // 2 + 1)


def hertz_to_mel(hertz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale, in TensorFlow's form: mel = 1127 ln(1 + f / 700) (= 2595 log10(1 + f / 700))."""
    return 1127.0 * np.log1p(np.asarray(hertz, dtype=np.float64) / 700.0)


def mel_to_hertz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of ``hertz_to_mel``: f = 700 (exp(mel / 1127) - 1)."""
    return 700.0 * np.expm1(np.asarray(mel, dtype=np.float64) / 1127.0)


def mel_filterbank(num_mel_bins: int, num_spectrogram_bins: int, sample_rate: float,
                   lower_edge_hertz: float, upper_edge_hertz: float) -> np.ndarray:
    """Triangular mel filters (num_spectrogram_bins, num_mel_bins), as ``tf.signal.linear_to_mel_weight_matrix``.

    num_mel_bins + 2 edges are spaced evenly in mel from lower to upper edge;
    filter m rises linearly (in mel) from edge m to a peak of 1 at edge m + 1
    and falls to 0 at edge m + 2. Spectrogram bin k sits at k / (K - 1) times
    the Nyquist frequency; the DC bin (k = 0) is given weight 0, as HTK does.
    Right-multiply a (T, K) spectrogram by it to get a (T, num_mel_bins) one.
    """
    num_mel_bins = _check_positive_int("num_mel_bins", num_mel_bins)
    num_spectrogram_bins = _check_positive_int("num_spectrogram_bins", num_spectrogram_bins)
    if num_spectrogram_bins < 2:
        raise ValueError(f"num_spectrogram_bins must be >= 2 (fft_length // 2 + 1), got {num_spectrogram_bins}")
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
    if not 0 <= lower_edge_hertz < upper_edge_hertz:
        raise ValueError(f"lower_edge_hertz must be >= 0 and < upper_edge_hertz ({upper_edge_hertz!r}), "
                         f"got {lower_edge_hertz!r}")
    if upper_edge_hertz > sample_rate / 2:
        raise ValueError(f"upper_edge_hertz must be <= sample_rate / 2 = {sample_rate / 2!r} (Nyquist), "
                         f"got {upper_edge_hertz!r}")
    bin_mel = hertz_to_mel(np.linspace(0.0, sample_rate / 2, num_spectrogram_bins)[1:])[:, None]  # (K - 1, 1)
    edges = np.linspace(hertz_to_mel(lower_edge_hertz), hertz_to_mel(upper_edge_hertz), num_mel_bins + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]  # each (num_mel_bins,)
    rising = (bin_mel - lower) / (centre - lower)  # (K - 1, num_mel_bins)
    falling = (upper - bin_mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.vstack([np.zeros((1, num_mel_bins)), weights])  # (K, num_mel_bins): DC row is 0


def log_mel_spectrogram(signal: np.ndarray, sample_rate: float, frame_length: int = 400, frame_step: int = 160,
                        fft_length: int = 512, num_mel_bins: int = 40, lower_edge_hertz: float = 20.0,
                        upper_edge_hertz: float | None = None, power: float = 1.0,
                        log_offset: float = 1e-6) -> np.ndarray:
    """log(|STFT|^power @ mel_filterbank + log_offset): signal (samples,) -> (n_frames, num_mel_bins).

    ``power=1`` uses magnitudes (TensorFlow's MFCC recipe), 2 uses power.
    ``upper_edge_hertz=None`` means sample_rate / 2. The offset keeps log away
    from -inf in silent frames.
    """
    if upper_edge_hertz is None:
        upper_edge_hertz = sample_rate / 2
    if not power > 0:
        raise ValueError(f"power must be positive, got {power!r}")
    if not log_offset > 0:
        raise ValueError(f"log_offset must be positive, got {log_offset!r}")
    spectrum = np.abs(stft(signal, frame_length, frame_step, fft_length)) ** power  # (T, fft_length // 2 + 1)
    filters = mel_filterbank(num_mel_bins, spectrum.shape[1], sample_rate, lower_edge_hertz, upper_edge_hertz)
    return np.log(spectrum @ filters.astype(spectrum.dtype) + log_offset)  # (T, num_mel_bins)


def mfcc_from_log_mel(log_mel: np.ndarray, num_mfcc: int | None = None) -> np.ndarray:
    """MFCCs (..., num_mfcc) of log_mel (..., M), scaled as ``tf.signal.mfccs_from_log_mel_spectrograms``.

    c_k = sqrt(2 / M) * sum_m log_mel[m] cos(pi k (2m + 1) / (2M)), for k < num_mfcc
    (all M by default): TensorFlow's unnormalised DCT-II (2 sum ...) times
    1 / sqrt(2M). scipy's ``dct(x, norm="ortho")`` agrees for k >= 1 but
    scales c_0 by sqrt(1 / M), so TensorFlow's c_0 is sqrt(2) times scipy's.
    """
    log_mel = np.asarray(log_mel)
    if log_mel.ndim < 1 or log_mel.shape[-1] < 1:
        raise ValueError(f"log_mel must have shape (..., num_mel_bins) with num_mel_bins >= 1, got {log_mel.shape}")
    num_mel_bins = log_mel.shape[-1]
    num_mfcc = num_mel_bins if num_mfcc is None else _check_positive_int("num_mfcc", num_mfcc)
    if num_mfcc > num_mel_bins:
        raise ValueError(f"num_mfcc must be <= num_mel_bins ({num_mel_bins}), got {num_mfcc}")
    k = np.arange(num_mfcc)[:, None]  # (num_mfcc, 1)
    m = np.arange(num_mel_bins)[None, :]  # (1, M)
    basis = np.sqrt(2.0 / num_mel_bins) * np.cos(np.pi * k * (2 * m + 1) / (2 * num_mel_bins))  # (num_mfcc, M)
    dtype = log_mel.dtype if np.issubdtype(log_mel.dtype, np.floating) else np.float64
    return log_mel @ basis.T.astype(dtype)  # (..., num_mfcc)


def mfcc(signal: np.ndarray, sample_rate: float, num_mfcc: int = 13, frame_length: int = 400,
         frame_step: int = 160, fft_length: int = 512, num_mel_bins: int = 40, lower_edge_hertz: float = 20.0,
         upper_edge_hertz: float | None = None, log_offset: float = 1e-6) -> np.ndarray:
    """Mel-frequency cepstral coefficients: signal (samples,) -> (n_frames, num_mfcc).

    ``mfcc_from_log_mel(log_mel_spectrogram(signal, ...), num_mfcc)`` with
    magnitudes (power=1), the recipe of TensorFlow's MFCC example.
    """
    log_mel = log_mel_spectrogram(signal, sample_rate, frame_length, frame_step, fft_length, num_mel_bins,
                                  lower_edge_hertz, upper_edge_hertz, power=1.0, log_offset=log_offset)
    return mfcc_from_log_mel(log_mel, num_mfcc)  # (n_frames, num_mfcc)


def _check_duration_and_rate(duration: float, sample_rate: int) -> int:
    """Number of samples for duration seconds at sample_rate, validating both."""
    sample_rate = _check_positive_int("sample_rate", sample_rate)
    if not duration > 0:
        raise ValueError(f"duration must be positive (seconds), got {duration!r}")
    return int(round(duration * sample_rate))


def synth_tone(freqs: float | Sequence[float], duration: float, sample_rate: int,
               rng: np.random.Generator | None = None, noise: float = 0.0) -> np.ndarray:
    """Sum of sines at freqs (Hz), mean amplitude 1 / len(freqs), plus Gaussian noise: (samples,) float32.

    samples = round(duration * sample_rate). ``noise`` is the noise's standard
    deviation and needs a seeded ``rng``, so the signal is reproducible.
    """
    n_samples = _check_duration_and_rate(duration, sample_rate)
    freqs = np.atleast_1d(np.asarray(freqs, dtype=np.float64))
    if freqs.ndim != 1 or len(freqs) == 0 or np.any(freqs <= 0) or np.any(freqs >= sample_rate / 2):
        raise ValueError(f"freqs must be one or more frequencies in (0, sample_rate / 2 = {sample_rate / 2}) Hz, "
                         f"got {freqs.tolist()}")
    if not noise >= 0:
        raise ValueError(f"noise must be a non-negative standard deviation, got {noise!r}")
    if noise > 0 and not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed)) when noise > 0")
    t = np.arange(n_samples) / sample_rate  # (samples,)
    signal = np.sin(2 * np.pi * freqs[:, None] * t).mean(axis=0)  # (len(freqs), samples) -> (samples,)
    if noise > 0:
        signal = signal + rng.normal(0.0, noise, size=n_samples)
    return signal.astype(np.float32)


def synth_chirp(start_hz: float, end_hz: float, duration: float, sample_rate: int) -> np.ndarray:
    """A sine whose frequency glides linearly from start_hz to end_hz: (samples,) float32.

    phase(t) = 2 pi (f0 t + (f1 - f0) t^2 / (2 T)), so the instantaneous
    frequency phase'(t) / 2 pi runs from f0 at t = 0 to f1 at t = T: a
    rising line on a spectrogram.
    """
    n_samples = _check_duration_and_rate(duration, sample_rate)
    for name, value in (("start_hz", start_hz), ("end_hz", end_hz)):
        if not 0 < value < sample_rate / 2:
            raise ValueError(f"{name} must be in (0, sample_rate / 2 = {sample_rate / 2}) Hz, got {value!r}")
    t = np.arange(n_samples) / sample_rate
    phase = 2 * np.pi * (start_hz * t + (end_hz - start_hz) * t**2 / (2 * duration))
    return np.sin(phase).astype(np.float32)


def standardise(features: np.ndarray, mean: np.ndarray | None = None,
                std: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-feature z-scores of features (..., D): returns ((features - mean) / std, mean (D,), std (D,)).

    Statistics are taken over every axis but the last, from these features
    unless given (fit on training data, reuse on test data). A feature with
    std 0 is divided by 1 instead, and the returned std says so.
    """
    features = np.asarray(features)
    if features.ndim < 1 or not np.issubdtype(features.dtype, np.number):
        raise ValueError(f"features must be a numeric array of shape (..., D), got {features.dtype} {features.shape}")
    dtype = features.dtype if np.issubdtype(features.dtype, np.floating) else np.float64
    flat = features.reshape(-1, features.shape[-1]).astype(np.float64)  # (rows, D)
    if mean is None:
        mean = flat.mean(axis=0)
    if std is None:
        std = flat.std(axis=0)
        std = np.where(std == 0, 1.0, std)
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    for name, stat in (("mean", mean), ("std", std)):
        if stat.shape != features.shape[-1:]:
            raise ValueError(f"{name} must have shape {features.shape[-1:]}, got {stat.shape}")
    if np.any(std <= 0):
        raise ValueError(f"std must be positive, got {std}")
    return ((features - mean) / std).astype(dtype), mean.astype(dtype), std.astype(dtype)


def pool_mean_std(seq: np.ndarray) -> np.ndarray:
    """Mean and std over time, concatenated: (T, D) -> (2D,), (N, T, D) -> (N, 2D).

    Turns a variable-length sequence into one fixed-size vector that a plain
    classifier can take. The std is the population one (ddof=0).
    """
    seq = np.asarray(seq)
    if seq.ndim not in (2, 3) or seq.shape[-2] == 0:
        raise ValueError(f"seq must have shape (T, D) or (N, T, D) with T >= 1, got {seq.shape}")
    return np.concatenate([seq.mean(axis=-2), seq.std(axis=-2)], axis=-1)
