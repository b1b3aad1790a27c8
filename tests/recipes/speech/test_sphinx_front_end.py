"""sphinx_fe, run as the digits-ctc-sphinx recipe runs it, against an independent NumPy reference of
sphinxbase's MFCC (written from fe_sigproc.c's steps, listed in rnnkit/recipes/speech/sphinx.py), with
the TIDIGITS model's feat.params. The program comes from Debian; these tests use it only when its
packages are already in the cache (the slow TIDIGITS test, or one run of the recipe, fetches them)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.recipes.data_cache import cache_dir
from rnnkit.recipes.speech import sphinx

# hmm/feat.params of pocketsphinx-testdata's TIDIGITS model, as shipped (the decoder-only keys dropped)
TIDIGITS_PARAMS = {"dither": "yes", "lowerf": "1", "upperf": "4000", "nfilt": "20", "transform": "dct",
                   "round_filters": "no", "remove_dc": "yes", "wlen": "0.025"}


def cached_front_end(params: dict[str, str], seed: int = 0) -> sphinx.FrontEnd:
    missing = [p for p in sphinx.PACKAGES if not list((cache_dir() / "debian").glob(f"{p}_*.deb"))]
    if missing:
        pytest.skip(f"sphinx_fe's Debian packages are not in the cache ({', '.join(missing)}); "
                    "`rnnkit recipe digits-ctc-sphinx` or the slow TIDIGITS test fetches them")
    return sphinx.front_end(params, seed)


def mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_inverse(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def reference_mfcc(x: np.ndarray, rate: int = 16000, wlen: float = 0.025, nfft: int = 512, alpha: float = 0.97,
                   lowerf: float = 1.0, upperf: float = 4000.0, nfilt: int = 20, ncep: int = 13) -> np.ndarray:
    """(T, ncep) cepstra of int16 samples ``x``, dither off, every whole frame, in float64."""
    x = x.astype(np.float64)
    y = x - alpha * np.concatenate([[0.0], x[:-1]])  # pre-emphasis; the sample before the first is 0
    size, shift = int(wlen * rate + 0.5), int(rate / 100 + 0.5)  # 400, 160
    frames = np.stack([y[s:s + size] for s in range(0, len(y) - size + 1, shift)])  # (T, size)
    frames = frames - frames.mean(1, keepdims=True)  # -remove_dc yes
    frames = frames * (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(size) / (size - 1)))  # Hamming
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2  # (T, nfft/2 + 1)
    # filters: nfilt + 2 edges evenly spaced in mel; filter i spans edges i..i+2, peaks at i+1, has unit area
    edges = mel_inverse(mel(lowerf) + np.arange(nfilt + 2) * (mel(upperf) - mel(lowerf)) / (nfilt + 1))
    hz = np.arange(nfft // 2 + 1) * rate / nfft
    bank = np.zeros((nfilt, nfft // 2 + 1))
    for i in range(nfilt):
        lo, mid, hi = edges[i:i + 3]
        inside = (hz >= lo) & (hz <= hi) & (np.arange(hz.size) < nfft // 2)  # sphinx stops before the Nyquist bin
        slope = np.minimum((hz - lo) / (mid - lo), (hi - hz) / (hi - mid)) * 2 / (hi - lo)
        bank[i, inside] = slope[inside]
    log_energy = np.log(power @ bank.T + 1e-4)  # (T, nfilt)
    basis = np.cos(np.pi * np.arange(ncep)[:, None] * (np.arange(nfilt) + 0.5) / nfilt)  # (ncep, nfilt)
    scale = np.full(ncep, np.sqrt(2.0 / nfilt))
    scale[0] = np.sqrt(1.0 / nfilt)  # -transform dct: the orthonormal DCT-II
    return (log_energy @ basis.T) * scale  # (T, ncep)


def signal(seconds: float = 0.6, rate: int = 16000) -> np.ndarray:
    """A seeded chirp in noise with 50 ms of digital silence in the middle, as int16."""
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * rate)) / rate
    x = 6000 * np.sin(2 * np.pi * (200 + 3000 * t) * t) + 800 * rng.standard_normal(t.size)
    x[4000:4800] = 0.0
    return np.round(x).astype(np.int16)


def test_sphinx_fe_matches_the_reference_with_feat_params():
    fe = cached_front_end({**TIDIGITS_PARAMS, "dither": "no"})
    x = signal()
    got = sphinx.run(fe, [x.astype(np.float32) / 32767])[0]  # run() scales back by 32767: the same int16 samples
    want = reference_mfcc(x)
    assert got.shape[1] == 13
    assert len(got) in (len(want), len(want) + 1)  # sphinx_fe also pads the leftover samples into a last frame
    np.testing.assert_allclose(got[:len(want)], want, rtol=1e-4, atol=2e-4)


def test_the_reference_is_sensitive_to_each_setting_it_claims():
    # the comparison above would fail if any setting were passed wrongly: each changes the cepstra
    x = signal()
    base = reference_mfcc(x)
    for change in ({"nfilt": 40}, {"upperf": 6855.5}, {"lowerf": 133.3}, {"wlen": 0.025625}, {"alpha": 0.0}):
        other = reference_mfcc(x, **change)
        n = min(len(base), len(other))
        assert np.abs(other[:n] - base[:n]).max() > 0.05, change


def test_dither_is_seeded():
    x = signal().astype(np.float32) / 32767
    a = sphinx.run(cached_front_end(TIDIGITS_PARAMS, seed=3), [x, x])
    b = sphinx.run(cached_front_end(TIDIGITS_PARAMS, seed=3), [x, x])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert np.abs(a[0] - a[1]).max() > 0  # the second file draws other dither: the stream runs on
    plain = sphinx.run(cached_front_end({**TIDIGITS_PARAMS, "dither": "no"}), [x])[0]
    # +1 LSB now and then: speech barely moves, while digital silence (frames 26 and 27 hold only samples
    # 4000-4800 after pre-emphasis) gets the dither's energy instead of the log floor's
    assert np.abs(a[0][:20] - plain[:20]).max() < 0.05
    assert (a[0][26:28, 0] > plain[26:28, 0] + 10).all()


def test_run_refuses_audio_at_another_rate():
    fe = sphinx.FrontEnd(sphinx.Path("/nonexistent/sphinx_fe"), "", "0", (("samprate", "8000"),))
    with pytest.raises(ValueError, match="16000 Hz.*-samprate 8000"):
        sphinx.run(fe, [np.zeros(1000, np.float32)], rate=16000)


@pytest.mark.slow
def test_sphinx_fe_matches_the_reference_on_the_packages_tidigits_recording():
    # pocketsphinx-testdata also ships one TIDIGITS utterance as audio (dhd.2934z.raw: 16 kHz, 16-bit little-endian)
    from rnnkit.recipes.data_cache import archive_files, debian_archive

    try:
        deb = debian_archive("pocketsphinx-testdata")
        fe = sphinx.front_end({**TIDIGITS_PARAMS, "dither": "no"})
    except FileNotFoundError as e:
        pytest.skip(f"the Debian packages cannot be fetched here: {e}")
    x = np.frombuffer(next(iter(archive_files(deb, "*/tidigits/dhd.2934z.raw").values())), dtype="<i2")
    want = reference_mfcc(x)
    got = sphinx.run(fe, [x.astype(np.float32) / 32767])[0]
    assert len(want) == 238  # 2.4 s
    np.testing.assert_allclose(got[:len(want)], want, rtol=1e-4, atol=2e-4)
