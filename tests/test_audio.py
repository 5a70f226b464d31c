"""mmcourse.audio: frames, STFT, mel filterbank and MFCC from scratch, checked against tf.signal.

The only unit-test module that imports TensorFlow (about 7 s).
"""
import subprocess
import sys

import numpy as np
import pytest
from scipy.fft import dct

import mmcourse  # noqa: F401  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
from mmcourse.audio import (frame, hertz_to_mel, log_mel_spectrogram, make_window, mel_filterbank, mel_to_hertz,
                            mfcc, mfcc_from_log_mel, pool_mean_std, standardise, stft, synth_chirp, synth_tone)

import tensorflow as tf  # noqa: E402  (after mmcourse, see above)

RATE = 16000


@pytest.fixture(scope="module")
def speechlike() -> np.ndarray:
    """One second of three tones plus noise at 16 kHz, float32."""
    return synth_tone([220.0, 1200.0, 3100.0], 1.0, RATE, rng=np.random.default_rng(0), noise=0.1)


def _tf_log_mel(signal: np.ndarray) -> np.ndarray:
    """TensorFlow's log-mel recipe (its MFCC docstring's) with 400/160/512 framing and 40 bins over 20-8000 Hz."""
    magnitudes = tf.abs(tf.signal.stft(signal, 400, 160, 512))  # (T, 257)
    filters = tf.signal.linear_to_mel_weight_matrix(40, 257, RATE, 20.0, 8000.0)  # (257, 40)
    return tf.math.log(tf.tensordot(magnitudes, filters, 1) + 1e-6)  # (T, 40)


def _rel_err(ours: np.ndarray, ref: np.ndarray) -> float:
    """Largest absolute difference relative to the reference's largest magnitude."""
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def test_frame_counts_by_hand():
    signal = np.arange(10.0)
    frames = frame(signal, frame_length=4, frame_step=3)
    np.testing.assert_array_equal(frames, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    padded = frame(signal, frame_length=4, frame_step=3, pad_end=True)  # ceil(10 / 3) = 4 frames
    np.testing.assert_array_equal(padded[-1], [9, 0, 0, 0])
    assert frame(signal, 11, 1).shape == (0, 11)


@pytest.mark.parametrize("pad_end", [False, True])
@pytest.mark.parametrize("n_samples", [0, 5, 399, 400, 1000, 1001])
@pytest.mark.parametrize(("frame_length", "frame_step"), [(400, 160), (3, 7)])
def test_frame_equals_tf_signal_frame(frame_length, frame_step, n_samples, pad_end):
    signal = np.arange(n_samples, dtype=np.float32)
    ours = frame(signal, frame_length, frame_step, pad_end=pad_end)
    ref = tf.signal.frame(signal, frame_length, frame_step, pad_end=pad_end).numpy()
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("length", [1, 400, 401])
@pytest.mark.parametrize("name", ["hann", "hamming"])
def test_make_window_equals_tf_periodic_window_even_for_odd_lengths(name, length):
    tf_window = {"hann": tf.signal.hann_window, "hamming": tf.signal.hamming_window}[name]
    np.testing.assert_allclose(make_window(name, length), tf_window(length, dtype=tf.float64).numpy(), atol=1e-15)


def test_make_window_hann_is_scipys_periodic_hann_for_even_lengths_only():
    from scipy.signal import get_window

    np.testing.assert_allclose(make_window("hann", 400), get_window("hann", 400), atol=1e-15)
    assert not np.allclose(make_window("hann", 401), get_window("hann", 401))


def test_stft_equals_tf_signal_stft_in_float32(speechlike):
    ours = stft(speechlike, frame_length=400, frame_step=160, fft_length=512)
    ref = tf.signal.stft(speechlike, 400, 160, 512).numpy()
    assert ours.shape == ref.shape == (98, 257) and ours.dtype == np.complex64
    assert _rel_err(ours, ref) < 1e-4


@pytest.mark.parametrize("window", ["hann", "hamming", None])
def test_stft_equals_tf_signal_stft_in_float64_for_odd_frames(speechlike, window):
    signal = speechlike.astype(np.float64)
    window_fn = {"hann": tf.signal.hann_window, "hamming": tf.signal.hamming_window, None: None}[window]
    ref = tf.signal.stft(signal, 401, 100, 512, window_fn=window_fn).numpy()
    assert _rel_err(stft(signal, 401, 100, 512, window=window), ref) < 1e-12


def test_stft_of_a_pure_tone_peaks_at_its_bin():
    tone = synth_tone(1000.0, 0.5, RATE)
    spectrum = np.abs(stft(tone, 400, 160, 512))
    assert np.all(spectrum.argmax(axis=1) == round(1000 / (RATE / 512)))  # bin 32 of 31.25 Hz


def test_hertz_to_mel_is_the_htk_formula_and_inverts():
    freqs = np.array([0.0, 700.0, 1000.0, 8000.0])
    np.testing.assert_allclose(hertz_to_mel(freqs), 2595 * np.log10(1 + freqs / 700), rtol=1e-4)
    np.testing.assert_allclose(mel_to_hertz(hertz_to_mel(freqs)), freqs, atol=1e-9)


@pytest.mark.parametrize(("num_mel_bins", "num_spectrogram_bins", "sample_rate", "lower", "upper"), [
    (40, 257, 16000, 20.0, 8000.0),
    (20, 129, 8000, 125.0, 3800.0),
    (80, 513, 22050, 0.0, 11025.0),
])
def test_mel_filterbank_equals_tf_linear_to_mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sample_rate,
                                                             lower, upper):
    ours = mel_filterbank(num_mel_bins, num_spectrogram_bins, sample_rate, lower, upper)
    ref64 = tf.signal.linear_to_mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sample_rate, lower, upper,
                                                  dtype=tf.float64).numpy()
    ref32 = tf.signal.linear_to_mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sample_rate, lower, upper).numpy()
    assert ours.shape == (num_spectrogram_bins, num_mel_bins)
    np.testing.assert_allclose(ours, ref64, rtol=0, atol=1e-12)
    # TF's float32 default: mel values near 4000 carry ~2e-4 of rounding, over bands ~50 mel wide
    np.testing.assert_allclose(ours, ref32, rtol=0, atol=5e-5)
    np.testing.assert_array_equal(ours[0], 0.0)  # DC bin excluded, as in HTK
    assert ours.max() <= 1.0


def test_log_mel_spectrogram_equals_tf_recipe(speechlike):
    ours = log_mel_spectrogram(speechlike, RATE, frame_length=400, frame_step=160, fft_length=512,
                               num_mel_bins=40, lower_edge_hertz=20.0, upper_edge_hertz=8000.0)
    ref = _tf_log_mel(speechlike).numpy()
    assert ours.shape == (98, 40) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


def test_mfcc_from_log_mel_equals_tf_and_differs_from_scipy_ortho_only_in_c0():
    log_mel = np.random.default_rng(0).normal(size=(3, 5, 40))
    ours = mfcc_from_log_mel(log_mel)
    np.testing.assert_allclose(ours, tf.signal.mfccs_from_log_mel_spectrograms(log_mel).numpy(), atol=1e-12)
    ortho = dct(log_mel, type=2, norm="ortho", axis=-1)
    np.testing.assert_allclose(ours[..., 1:], ortho[..., 1:], atol=1e-12)
    np.testing.assert_allclose(ours[..., 0], np.sqrt(2) * ortho[..., 0], atol=1e-12)


def test_mfcc_equals_tf_pipeline_end_to_end(speechlike):
    ours = mfcc(speechlike, RATE, num_mfcc=13)
    ref = tf.signal.mfccs_from_log_mel_spectrograms(_tf_log_mel(speechlike))[..., :13].numpy()
    assert ours.shape == (98, 13)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: frame(np.zeros(10), 4, 0), "frame_step"),
    (lambda: frame(np.zeros(10), 0, 1), "frame_length"),
    (lambda: frame(np.zeros((2, 10)), 4, 1), "signal must be 1-D"),
    (lambda: stft(np.zeros(1000), 400, 160, 256), "fft_length must be >= frame_length"),
    (lambda: stft(np.zeros(1000), window="boxcar"), "window"),
    (lambda: mel_filterbank(0, 257, 16000, 20, 8000), "num_mel_bins"),
    (lambda: mel_filterbank(40, 257, 16000, 4000, 4000), "lower_edge_hertz"),
    (lambda: mel_filterbank(40, 257, 16000, 20, 9000), "upper_edge_hertz"),
    (lambda: mel_filterbank(40, 257, 0, 20, 8000), "sample_rate"),
    (lambda: mfcc_from_log_mel(np.zeros((5, 40)), num_mfcc=41), "num_mfcc"),
    (lambda: synth_tone(9000.0, 1.0, RATE), "freqs"),
    (lambda: synth_tone(440.0, 0.0, RATE), "duration"),
    (lambda: synth_tone(440.0, 1.0, RATE, noise=0.1), "rng"),
    (lambda: synth_chirp(100.0, 8000.0, 1.0, RATE), "end_hz"),
    (lambda: standardise(np.zeros((4, 3)), mean=np.zeros(2)), "mean"),
    (lambda: pool_mean_std(np.zeros(5)), "seq"),
])
def test_bad_arguments_raise_value_error_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_synth_tone_is_the_mean_of_unit_sines():
    tone = synth_tone([1000.0, 2000.0], 0.01, 8000)
    t = np.arange(80) / 8000
    assert tone.shape == (80,) and tone.dtype == np.float32
    np.testing.assert_allclose(tone, (np.sin(2e3 * np.pi * t) + np.sin(4e3 * np.pi * t)) / 2, atol=1e-6)


def test_synth_tone_noise_repeats_with_the_same_seed():
    first = synth_tone(440.0, 0.1, RATE, rng=np.random.default_rng(1), noise=0.5)
    np.testing.assert_array_equal(first, synth_tone(440.0, 0.1, RATE, rng=np.random.default_rng(1), noise=0.5))
    assert not np.array_equal(first, synth_tone(440.0, 0.1, RATE, rng=np.random.default_rng(2), noise=0.5))
    assert 0.4 < np.std(first - synth_tone(440.0, 0.1, RATE)) < 0.6


def test_synth_chirp_peak_frequency_rises_from_start_to_end():
    chirp = synth_chirp(500.0, 4000.0, 1.0, RATE)
    peaks = np.abs(stft(chirp, 400, 160, 512)).argmax(axis=1) * RATE / 512  # Hz of each frame's peak
    assert abs(peaks[0] - 500) < 100 and abs(peaks[-1] - 4000) < 100
    assert np.all(np.diff(peaks) >= 0)


def test_standardise_reuses_training_stats_and_divides_constant_features_by_one():
    train = np.array([[[1.0, 5.0], [3.0, 5.0]], [[5.0, 5.0], [7.0, 5.0]]])  # (N=2, T=2, D=2)
    z, mean, std = standardise(train)
    np.testing.assert_allclose(mean, [4.0, 5.0])
    np.testing.assert_allclose(std, [np.sqrt(5.0), 1.0])
    np.testing.assert_allclose(z.reshape(-1, 2).mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z[..., 0].std(), 1.0)
    test_z, _, _ = standardise(np.array([[4.0 + np.sqrt(5.0), 6.0]]), mean, std)
    np.testing.assert_allclose(test_z, [[1.0, 1.0]])


def test_pool_mean_std_concatenates_time_mean_and_std():
    seq = np.array([[1.0, 10.0], [3.0, 10.0]])  # (T=2, D=2)
    np.testing.assert_allclose(pool_mean_std(seq), [2.0, 10.0, 1.0, 0.0])
    batch = np.stack([seq, 2 * seq])  # (N=2, T=2, D=2)
    np.testing.assert_allclose(pool_mean_std(batch), [[2.0, 10.0, 1.0, 0.0], [4.0, 20.0, 2.0, 0.0]])


def test_importing_audio_does_not_import_torch_or_tensorflow():
    code = "import sys, mmcourse.audio; print(sorted({'torch', 'tensorflow'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
