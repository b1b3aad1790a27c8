"""``digits-ctc-sphinx``: digits-ctc on Sphinx cepstra, tested on 31 real TIDIGITS utterances too.

The same synthesised voices, augmentation, BiLSTM and CTC as ``digits-ctc`` (``recipe.py``), but
every waveform goes through CMU Sphinx's own front end (``sphinx_fe`` with the ``feat.params`` of
the TIDIGITS model in Debian ``pocketsphinx-testdata``; ``sphinx.py``), so that the 31 TIDIGITS
utterances that package ships as cepstra only (``tidigits.py``) are features of the same kind as
the training data. What the decoder would do after the front end is ours, on both sides alike:

    c_t      = the 13 cepstra of frame t (10 ms), from sphinx_fe or from the shipped MFC file
    d_t      = sum_{k=1..2} k (c_{t+k} - c_{t-k}) / (2 sum_{k=1..2} k^2)   deltas, ends repeated
    dd_t     = the deltas of d
    x_t      = per-utterance standardisation of [c_t, d_t, dd_t]          (39 per frame)

then three frames are stacked into one step (117 inputs). The mel-band augmentations of digits-ctc
(the frequency warp and the frequency masks) have no bands to act on here and must stay 0; time
masks still apply.

    rnnkit recipe digits-ctc-sphinx --threads 1    # held-out voices, the 21 real clips, the 31 TIDIGITS utterances

Measured (docs/results.md; seed 0, 15 epochs instead of the inherited 20, 15 minutes in a lane):
5.2 % digit error rate greedy, 4.9 % with the beam, on the held-out synthetic voices; on the 31
TIDIGITS utterances 31.8 % (34 of 107 digits) and 12 strings right (Wilson 95 %: 24-56 %).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.recipes.classify import wilson_interval
from rnnkit.recipes.contract import Meta
from rnnkit.recipes.speech import data, sphinx, tidigits
from rnnkit.recipes.speech.audio import read_wav
from rnnkit.recipes.speech.data import Utterance, spell
from rnnkit.recipes.speech.features import FeatureConfig, normalise, stack_frames
from rnnkit.recipes.speech.metrics import error_rate, string_accuracy
from rnnkit.recipes.speech.recipe import (
    SPEED_HELP,
    ConnectedDigitsConfig,
    ConnectedDigitsRecipe,
    SpeechConfig,
    SpeechData,
    Transcribed,
    versions,
)
from rnnkit.utils.config import option

CEPSTRA = 13  # per frame, as feat.params' front end writes them (sphinx_fe's -ncep default)
PER_FRAME = 3 * CEPSTRA  # cepstra, deltas, delta-deltas


def deltas(c: Tensor, window: int = 2) -> Tensor:
    """(T, F) -> (T, F) regression deltas over +-``window`` frames, the end frames repeated beyond the ends."""
    T = c.shape[0]
    padded = torch.cat([c[:1].expand(window, -1), c, c[-1:].expand(window, -1)])  # (T + 2 window, F)
    num = torch.zeros_like(c)
    for k in range(1, window + 1):
        num += k * (padded[window + k:window + k + T] - padded[window - k:window - k + T])  # c_{t+k} - c_{t-k}
    return num / (2 * sum(k * k for k in range(1, window + 1)))  # (T, F)


def cepstral_features(cepstra: np.ndarray, stack: int) -> Tensor:
    """The model's input for one utterance's (T, 13) cepstra: [c, d, dd] standardised, stacked: (T/stack, stack*39)."""
    c = torch.from_numpy(np.asarray(cepstra, dtype=np.float32))  # (T, 13)
    d = deltas(c)
    frames = torch.cat([c, d, deltas(d)], dim=1)  # (T, 39)
    return stack_frames(normalise(frames), stack)  # (T/stack, stack*39)


@dataclass(frozen=True)
class SphinxDigitsConfig(ConnectedDigitsConfig):
    """digits-ctc on the Sphinx front end's cepstra, with the TIDIGITS test."""

    tidigits: bool = option(True, "also test on the 31 TIDIGITS utterances of Debian pocketsphinx-testdata")
    warp: float = option(0.0, "must be 0: the frequency warp acts on mel bands, and cepstra have none")
    freq_masks: int = option(0, "must be 0: frequency masks act on mel bands, and cepstra have none")
    # digits-ctc's 0.2 was chosen on log-mel features; the Sphinx figures were measured with 0.1
    speed: float = option(0.1, SPEED_HELP)


@dataclass
class SphinxData(SpeechData):
    """digits-ctc's data on cepstra, plus the TIDIGITS utterances."""

    tidigits: Transcribed | None
    front_end: sphinx.FrontEnd


class SphinxDigitsRecipe(ConnectedDigitsRecipe):
    """Connected digits through CMU Sphinx's front end: held-out voices, the real clips and 31 TIDIGITS
    utterances."""

    name = "digits-ctc-sphinx"
    config_class = SphinxDigitsConfig

    def featurise(self, fe: sphinx.FrontEnd, utterances: Sequence[Utterance], stack: int, copies: int = 0,
                  seed: int = 0, speed: float = 0.1) -> Transcribed:
        """Cepstral features of each utterance and of ``copies`` augmented versions of it (seeded, as digits-ctc)."""
        pairs = list(versions(utterances, sphinx.RATE, copies, seed, speed))
        return Transcribed([cepstral_features(c, stack) for c in sphinx.run(fe, [v for v, _ in pairs])],
                           [u.words for _, u in pairs], [u.source for _, u in pairs], [u.speaker for _, u in pairs])

    def prepare_data(self, config: SpeechConfig) -> SpeechData:
        if not isinstance(config, SphinxDigitsConfig):
            raise TypeError(f"{self.name}: expected a SphinxDigitsConfig, got {type(config).__name__}.")
        if config.warp or config.freq_masks:
            raise ValueError(f"{self.name}: --warp {config.warp} and --freq-masks {config.freq_masks} act on mel "
                             "bands, which Sphinx cepstra do not have; set both to 0 (time masks still apply).")
        start = time.perf_counter()
        test = tidigits.load()  # its feat.params sets the front end, so it is read even with --no-tidigits
        fe = sphinx.front_end(test.params, seed=config.seed)
        voices, splits = self.utterances(config, sphinx.RATE)  # the same utterances as digits-ctc (its cached audio)
        made = time.perf_counter() - start
        train = self.featurise(fe, splits["train"], config.stack, config.augment_copies, config.seed, config.speed)
        dev, held = self.featurise(fe, splits["dev"], config.stack), self.featurise(fe, splits["test"], config.stack)
        real = self.featurise(fe, data.real_clips(sphinx.RATE), config.stack) if config.real else None
        tid = None
        if config.tidigits:
            tid = Transcribed([cepstral_features(c, config.stack) for c in test.cepstra], test.words,
                              test.ids, test.speakers)
        # n_mels holds the features per 10 ms frame, so digits-ctc's model and time masks size themselves from it
        fc = FeatureConfig(n_mels=PER_FRAME, stack=config.stack, rate=sphinx.RATE)
        print(f"{self.name}: {len(splits['train'])} training utterances ({len(train)} with augmented copies), "
              f"{len(dev)} dev, {len(held)} test from {len(voices['test'])} held-out voices; "
              f"{len(real) if real else 0} real clips, {len(tid) if tid else 0} TIDIGITS utterances; sphinx_fe "
              f"{fe.version} {' '.join(fe.arguments())}; audio {made:.0f}s, features "
              f"{time.perf_counter() - start - made:.0f}s")
        return SphinxData(train, dev, held, real, voices, fc, tid, fe)

    def describe(self, d: SpeechData) -> Meta:
        meta = super().describe(d)
        if isinstance(d, SphinxData):
            meta["front_end"] = {"program": "sphinx_fe", "debian_version": d.front_end.version,
                                 "params": dict(d.front_end.params)}
        return meta

    def evaluate(self, model: nn.Module, config: ConnectedDigitsConfig, d: SpeechData, split: str) -> dict[str, float]:
        metrics = super().evaluate(model, config, d, split)
        tid = d.tidigits if isinstance(d, SphinxData) else None
        if split == "test" and tid is not None:
            greedy = self.transcribe(model, tid.inputs, 1)
            beam = self.transcribe(model, tid.inputs, config.beam)
            correct = sum(h == w for h, w in zip(beam, tid.words, strict=True))
            low, high = wilson_interval(correct, len(tid))
            metrics.update({"tidigits_wer": error_rate(tid.words, greedy),
                            "tidigits_wer_beam": error_rate(tid.words, beam),
                            "tidigits_string_accuracy": string_accuracy(tid.words, beam),
                            "tidigits_correct": float(correct), "tidigits_utterances": float(len(tid)),
                            "tidigits_low95": low, "tidigits_high95": high,
                            "tidigits_digits": float(sum(len(w) for w in tid.words))})
            for h, w, s in zip(beam, tid.words, tid.sources, strict=True):
                if h != w:
                    print(f"{self.name}: TIDIGITS {s}: heard {spell(h) or '(nothing)'}, said {spell(w)}")
        return metrics

    def read(self, meta: Meta, paths: Sequence[str], mix: bool = False) -> list[Tensor]:
        """The features of WAV files as the model was trained on them: sphinx_fe with the run's settings."""
        fc = FeatureConfig(**meta["features"])
        settings = {k: v for k, v in meta["front_end"]["params"].items() if k != "seed"}
        fe = sphinx.front_end(settings, seed=int(meta["front_end"]["params"].get("seed", 0)))
        if fe.version != meta["front_end"]["debian_version"]:
            print(f"{self.name}: this model was trained with sphinx_fe {meta['front_end']['debian_version']}; "
                  f"Debian now gives {fe.version}")
        cepstra = sphinx.run(fe, [read_wav(p, sphinx.RATE, mix) for p in paths])
        with torch.no_grad():
            return [cepstral_features(c, fc.stack) for c in cepstra]
