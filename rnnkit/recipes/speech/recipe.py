"""Spoken digits, two recipes on one data pipeline: ``digits-spoken`` (isolated words, many-to-one) and
``digits-ctc`` (connected strings of 1-7 digits, unaligned many-to-many with CTC).

No registry ships a multi-speaker corpus of spoken digits, so training audio is synthesised
(``synth.py``: espeak-ng's ~100 voice variants in 7 English accents and flite's 5 US voices, each
take with its own speed and pitch), augmented as a speech system's training is (``augment.py``),
and the synthetic test is voices never heard in training. The real test is every real recording
of the words that installs: 21 clips of two speakers (``data.real_clips``), reported with a Wilson
interval because 21 is few. Features: normalised log-mel frames, three stacked per step.

    rnnkit recipe digits-spoken                  # BiLSTM over frames -> the word; held-out voices and the 21 real clips
    rnnkit recipe digits-ctc                     # BiLSTM + CTC; digit error rate and string accuracy on held-out voices
    rnnkit recipe digits-ctc --members 4         # four runs from init seeds 0-3, decoded as one (--combine strings)
    rnnkit listen runs/digits-ctc call.wav --explain posteriors.png

Targets: >= 97% word accuracy (isolated) and <= 5% digit error rate (connected) on held-out synthetic voices. Measured
(docs/results.md, every run with its command): isolated 95.5% and 97.2% in two runs of the same settings; connected,
one model 5.57% with the defaults (4.0-5.5% over init seeds 0-4 with the copies' earlier speed range), an ensemble of
four or five decoded by strings 3.4-3.7%: the target is met by ``--members 4`` (or more), at four times the training.
An ensemble is decoded by strings (each member's best labellings rescored by all members' CTC likelihoods, ``ctc.py``
(4)); the mean of the members' log-posteriors (``--combine posteriors``) tested worse than a single model, since the
members' spikes fall on different frames. Of the 21 real clips, 11-18 are heard right, depending on the model.
``--data-dir`` trains on your own recordings instead (DIR/<speaker>/<digits>.wav; speakers are held out as
voices are).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
from rnnkit.recipes import classify
from rnnkit.recipes.classify import Labelled, wilson_interval
from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.runner import load_run
from rnnkit.recipes.speech import ctc, data, pictures
from rnnkit.recipes.speech.audio import read_wav
from rnnkit.recipes.speech.augment import augment
from rnnkit.recipes.speech.data import WORDS, Utterance, spell
from rnnkit.recipes.speech.features import FeatureConfig, features
from rnnkit.recipes.speech.metrics import error_rate, string_accuracy, voice_error_rate, voice_error_rates
from rnnkit.recipes.speech.model import CTCConfig, CTCEnsemble, CTCModel
from rnnkit.recipes.speech.specaugment import SpecAugmentConfig, spec_augment
from rnnkit.recipes.text import bucket_batches, pad_float
from rnnkit.recipes.training import torch_threads
from rnnkit.utils.checkpoint import atomic_save, make_checkpoint
from rnnkit.utils.config import option

SPEED_HELP = "augmented copies: half of them play at a speed (and pitch) factor drawn from [1 - speed, 1 + speed]"


@dataclass(frozen=True)
class SpeechConfig(RecipeConfig):
    """Settings both spoken-digit recipes share: data, features, model, training."""

    data_dir: str = option("", "train on your own recordings: DIR/<speaker>/<digits>.wav (default: synthesised voices)")
    # plus one flite voice
    test_voices: int = option(16, "voices (or speakers) held out for the test, never heard in training")
    dev_voices: int = option(8, "voices (or speakers) held out for early stopping")  # plus one flite voice
    # 5 flite voices against ~100 variants
    flite_weight: int = option(5, "a flite voice makes this many times the utterances of an espeak-ng variant")
    augment_copies: int = option(2,
                                 "augmented copies of each training utterance (speed, noise, gain, shift, telephone "
                                 "band)")
    real: bool = option(True, "also test on the 21 real recordings (Asterisk prompts and spokennumbers)")
    speed: float = option(0.1, SPEED_HELP)
    n_mels: int = option(40, "mel bands per frame")
    stack: int = option(3, "10 ms frames stacked into one recurrent step")  # 30 ms steps: a third of the recurrent work
    hidden_size: int = option(128, "recurrent units per direction")
    num_layers: int = option(2, "stacked bidirectional layers")
    cell: str = option("lstm", "lstm, gru or rnn", choices=["lstm", "gru", "rnn"])
    dropout: float = option(0.2, "dropout on inputs, between layers and before the output")
    batch_size: int = option(32, "utterances per batch")
    threads: int | None = option(1, "CPU threads for torch")  # small batches: one thread is fastest on a busy machine


@dataclass
class Transcribed:
    """Feature sequences (T, F), their words, where each came from and who said it (a voice or a speaker)."""

    inputs: list[Tensor]
    words: list[list[int]]
    sources: list[str]
    speakers: list[str]

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass
class SpeechData:
    """The prepared data of a speech recipe: features and transcripts per split, the real clips, the voices."""

    train: Transcribed
    dev: Transcribed
    test: Transcribed
    real: Transcribed | None
    voices: dict[str, list[str]]
    features: FeatureConfig


def versions(utterances: Sequence[Utterance], rate: int, copies: int = 0, seed: int = 0,
             speed: float = 0.1) -> Iterator[tuple[np.ndarray, Utterance]]:
    """Each utterance's waveform, then ``copies`` augmented versions of it, with the utterance they come from
    (seeded: every front end gets the same draws)."""
    rng = np.random.default_rng(seed)
    for u in utterances:
        yield u.samples, u
        for _ in range(copies):
            yield augment(u.samples, rate, rng, speed), u


def featurise(utterances: Sequence[Utterance], fc: FeatureConfig, copies: int = 0, seed: int = 0,
              speed: float = 0.1) -> Transcribed:
    """Features of each utterance, and of ``copies`` augmented versions of it (seeded; ``speed``: ``augment``'s
    range)."""
    out = Transcribed([], [], [], [])
    threads = torch.get_num_threads()
    # one short STFT at a time: a second thread only waits (28x slower on a busy 2-core machine)
    torch.set_num_threads(1)
    try:
        for v, u in versions(utterances, fc.rate, copies, seed, speed):
            out.inputs.append(features(v, fc))
            out.words.append(u.words)
            out.sources.append(u.source)
            out.speakers.append(u.speaker)
    finally:
        torch.set_num_threads(threads)
    return out


S = TypeVar("S", bound=SpeechConfig)  # each recipe's own config, so its methods can read its own fields


class SpeechRecipe(Recipe[S, SpeechData]):
    """What the isolated and connected recipes share: the data, features, real clips and `rnnkit listen`."""

    kind = "isolated"
    inputs = "WAV files (16-bit PCM, mono; any sample rate is resampled)"

    def counts(self, config: Any) -> tuple[int, int]:
        """(training count, held-out count) for ``data.synthetic_split``."""
        raise NotImplementedError

    def utterances(self, config: SpeechConfig, rate: int) -> tuple[dict[str, list[str]], dict[str, list[Utterance]]]:
        """The voices and the utterances (at ``rate``) of train, dev and test: the user's folder split by speaker, or
        synthesised, the voices split alike (held-out voices in dev and test) and the takes seeded."""
        if not 0.0 <= config.speed < 1.0:  # before minutes of synthesis, not when the first copy is made
            raise ValueError(f"{self.name}: --speed must be in [0, 1) (the copies' speed factor is drawn from "
                             f"[1 - speed, 1 + speed]), got {config.speed}.")
        if config.data_dir:
            by_speaker = data.read_folder(config.data_dir, rate)
            voices = data.split_voices(sorted(by_speaker), config.dev_voices, config.test_voices, config.seed)
            return voices, {k: [u for s in v for u in by_speaker[s]] for k, v in voices.items()}
        train_n, held_n = self.counts(config)
        max_digits = getattr(config, "max_digits", 1)
        voices = data.split_voices(data.all_voices(), config.dev_voices, config.test_voices, config.seed)
        splits = {k: data.synthetic_split(voices[k], self.kind, count, max_digits, rate, config.seed * 10 + n,
                                          config.flite_weight)
                  for n, (k, count) in enumerate([("train", train_n), ("dev", held_n), ("test", held_n)])}
        takes = getattr(config, "isolated_takes", 0)
        if takes:  # single words as one-word strings, drawn exactly as digits-spoken draws its training words
            splits["train"] += data.synthetic_split(voices["train"], "isolated", takes, 1, rate, config.seed * 10,
                                                    config.flite_weight)
        return voices, splits

    def prepare_data(self, config: SpeechConfig) -> SpeechData:
        fc = FeatureConfig(n_mels=config.n_mels, stack=config.stack)
        start = time.perf_counter()
        voices, splits = self.utterances(config, fc.rate)
        if self.kind == "isolated":
            for us in splits.values():
                if any(len(u.words) != 1 for u in us):
                    bad = next(u for u in us if len(u.words) != 1)
                    raise ValueError(f"{self.name}: {bad.source} holds {len(bad.words)} digits; the isolated recipe "
                                     "takes one word per file (use digits-ctc for strings).")
        made = time.perf_counter() - start
        train = featurise(splits["train"], fc, config.augment_copies, config.seed, config.speed)
        dev, test = featurise(splits["dev"], fc), featurise(splits["test"], fc)
        real = featurise(data.real_clips(fc.rate), fc) if config.real else None
        print(f"{self.name}: {len(splits['train'])} training utterances ({len(train)} with augmented copies) from "
              f"{len(voices['train'])} voices, {len(dev)} dev from {len(voices['dev'])}, {len(test)} test from "
              f"{len(voices['test'])} held-out voices {voices['test']}; {len(real) if real else 0} real clips; "
              f"audio {made:.0f}s, features {time.perf_counter() - start - made:.0f}s")
        return SpeechData(train, dev, test, real, voices, fc)

    def describe(self, d: SpeechData) -> Meta:
        return {"words": list(WORDS), "features": asdict(d.features), "kind": self.kind, "voices": d.voices}

    def validates(self, config: SpeechConfig, d: SpeechData) -> bool:
        return len(d.dev) > 0

    def split(self, d: SpeechData, split: str) -> Transcribed:
        """The utterances of ``split``: "dev", "test" or "real" (empty when there are none)."""
        return {"dev": d.dev, "test": d.test, "real": d.real}[split] or Transcribed([], [], [], [])

    # ---- applying a trained model -----------------------------------------------------------------

    def read(self, meta: Meta, paths: Sequence[str], mix: bool = False) -> list[Tensor]:
        """The features of WAV files, as the model was trained on them (``mix``: average stereo channels)."""
        fc = FeatureConfig(**meta["features"])
        return [features(read_wav(p, fc.rate, mix), fc) for p in paths]

    def hear(self, model: nn.Module, meta: Meta, inputs: Sequence[Tensor], beam: int) -> list[dict[str, Any]]:
        """What the model hears in each feature sequence: words, digits and a confidence."""
        raise NotImplementedError

    def predict(self, model: nn.Module, config: SpeechConfig, meta: Meta,
                inputs: Sequence[str]) -> list[dict[str, Any]]:
        heard = self.hear(model, meta, self.read(meta, inputs), getattr(config, "beam", 1))
        return [{"input": p, **h} for p, h in zip(inputs, heard, strict=True)]

    def show(self, result: dict[str, Any]) -> str:
        return f"{result['digits']}\t{' '.join(result['words'])}\t{result['input']}"


# ---- isolated words -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpokenDigitsConfig(SpeechConfig):
    """Isolated spoken digits: one word per utterance."""

    takes: int = option(4, "takes of each word by each training voice")
    # trains faster than the LSTM on CPU, as accurate here
    cell: str = option("gru", "lstm, gru or rnn", choices=["lstm", "gru", "rnn"])
    held_out_takes: int = option(2, "takes of each word by each dev/test voice")
    # the word is somewhere in the clip
    pooling: str = option("attention", "how frames become one vector", choices=["last", "mean", "max", "attention"])
    epochs: int = option(15, "passes over the training set (at most)")
    max_minutes: float | None = option(15.0, "stop after this much wall time")
    patience: int = option(4, "stop after this many epochs without a better validation accuracy")


class SpokenDigitsRecipe(SpeechRecipe[SpokenDigitsConfig]):
    """Isolated spoken digits: a BiLSTM over log-mel frames names the word; held-out voices and real recordings."""

    name = "digits-spoken"
    config_class = SpokenDigitsConfig
    monitor = "accuracy"
    kind = "isolated"

    def counts(self, config: Any) -> tuple[int, int]:
        return config.takes, config.held_out_takes

    def build_model(self, config: SpokenDigitsConfig, meta: Meta) -> nn.Module:
        fc = FeatureConfig(**meta["features"])
        return ManyToOne(ManyToOneConfig(num_outputs=len(meta["words"]), input_size=fc.stack * fc.n_mels,
                                         hidden_size=config.hidden_size, num_layers=config.num_layers, cell=config.cell,
                                         bidirectional=True, dropout=config.dropout, pooling=config.pooling))

    def labelled(self, t: Transcribed) -> Labelled:
        """Isolated words as a classification set: each utterance's one word is its class."""
        return Labelled(t.inputs, [w[0] for w in t.words])

    def batches(self, config: SpeechConfig, d: SpeechData, epoch: int) -> Iterator[dict[str, Tensor]]:
        return classify.batches(self.labelled(d.train), config.batch_size, shuffle=True,
                                seed=config.seed * 1000 + epoch)

    def evaluate(self, model: nn.Module, config: SpeechConfig, d: SpeechData, split: str) -> dict[str, float]:
        metrics = {"accuracy": classify.accuracy(model, self.labelled(self.split(d, split)))}
        if split == "test" and d.real is not None:
            pred = classify.predict_proba(model, d.real.inputs).argmax(1).tolist()
            correct = sum(p == w[0] for p, w in zip(pred, d.real.words, strict=True))
            low, high = wilson_interval(correct, len(d.real))
            metrics.update({"real_accuracy": correct / len(d.real), "real_correct": float(correct),
                            "real_clips": float(len(d.real)), "real_low95": low, "real_high95": high})
            for p, w, s in zip(pred, d.real.words, d.real.sources, strict=True):
                if p != w[0]:
                    print(f"{self.name}: real clip {s}: heard {WORDS[p]!r}, said {WORDS[w[0]]!r}")
        return metrics

    def hear(self, model: nn.Module, meta: Meta, inputs: Sequence[Tensor], beam: int) -> list[dict[str, Any]]:
        probs = classify.predict_proba(model, inputs)  # (N, C)
        out = []
        for row in probs:
            w = int(row.argmax())
            out.append({"digits": spell([w]), "words": [WORDS[w]], "p": round(float(row[w]), 4)})
        return out

    def report(self, model: nn.Module, config: SpeechConfig, d: SpeechData, out: Path) -> list[Path]:
        test = self.labelled(d.test)
        pred = classify.predict_proba(model, test.inputs).argmax(1).tolist()
        return [pictures.confusion(test.labels, pred, list(WORDS), out / "confusion.png", "held-out voices")]


# ---- connected strings (CTC) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectedDigitsConfig(SpeechConfig):
    """Connected digit strings: CTC over frames."""

    train_strings: int = option(3000, "synthesised training strings (before augmentation)")
    held_out_strings: int = option(400, "synthesised strings in each of dev and test")
    max_digits: int = option(7, "longest string (strings have 1..max_digits words)")
    # the same voices saying more words: 4 takes are digits-spoken's training corpus (synthesised once, then cached)
    isolated_takes: int = option(4, "also train on this many takes of each single word by each training voice")
    beam: int = option(8, "prefix beam width for the test and for predict (1 = greedy)")
    # VTLP: voices differ most in their formants
    warp: float = option(0.15,
                         "training features: frequencies scaled by a random factor in [1/(1+w), 1+w] each time an "
                         "utterance is drawn (0 = off)")
    freq_masks: int = option(2,
                             "training features: SpecAugment frequency masks of up to a fifth of the mel bands per "
                             "utterance")
    time_masks: int = option(2, "training features: SpecAugment time masks of up to 4 steps (120 ms) per utterance")
    augment_copies: int = option(1, "augmented copies of each training utterance")
    # 0.8-1.2 instead of 0.9-1.1: validation by voice / by digit over init seeds 0-3, 3.26/8.36, 3.91/9.28,
    # 3.51/9.04, 3.47/8.30 % against 3.47/9.04, 3.91/10.51, 4.24/10.39, 4.01/10.33 %: better or equal in every seed
    # (means 3.54/8.75 against 3.91/10.07). The test of seed 0, read after that choice: 5.57 % (was 5.45 %)
    speed: float = option(0.2, SPEED_HELP)
    lr: float = option(3e-3, "Adam learning rate")
    # the cosine's length: about 20 minutes on one thread under a load of 2-3. Validation error by voice (by digit)
    # at 12 epochs 4.5% (10.6%), 15: 4.1% (10.1%), 20: 3.5% (9.2%); 3 versions of each utterance in 12 epochs'
    # steps: 4.5% (10.4%)
    epochs: int = option(20, "passes over the training set (at most)")
    # the masked features keep the loss noisy; the small last rates settle it
    schedule: str = option("cosine", "learning rate per epoch: cosine (from lr down towards 0) or constant",
                           choices=["constant", "cosine"])
    # room for the 20 epochs on a busy machine (an epoch took 50-80 s in a lane under loads of 2-4)
    max_minutes: float | None = option(40.0, "stop after this much wall time")
    # checkpoint averaging (fit's docstring): the cosine's last epochs end close together, and a mean of them can
    # validate better than any one; 10 covers the half of the cosine below half the peak rate. With 20 epochs the
    # mean of epochs 16-20 validated best: 3.47 % by voice (9.04 % by digit) against epoch 19's 3.53 % (9.22 %);
    # the means of 7 or more were worse (3.58-3.66 %)
    average_last: int = option(10,
                               "after training, also validate the mean weights of the last 2..N epochs and keep "
                               "whichever of them or the best epoch validates best (0 = off)")
    patience: int = option(6, "stop after this many epochs without a better validation error rate")
    # what an ensemble's members differ in; the voices, takes and augmented copies stay those of --seed
    init_seed: int | None = option(None,
                                   "seed of the initial weights, the batch order and the feature masks (default: "
                                   "--seed); the data stay those of --seed")
    # not the default: N times the training, for a gain on validation within what init seeds alone move (0.2-0.45
    # points by voice); on the test every ensemble by strings beat each of its members (docs/results.md)
    members: int = option(1,
                          "train this many models on the same data, init seeds seed, seed+1, ... (each in "
                          "OUT/member<k>; with --resume finished ones are reused), and decode them as one "
                          "(--combine); 4 reach the target of at most 5 percent digit errors on held-out voices, at 4x "
                          "the training")
    # strings: no common alignment needed. Validation by voice / by digit, greedy (beam 8, each member's 4 best as
    # the candidates), 4 members: strings 3.30 / 8.73 % (3.23 / 8.48 %), posteriors 3.44 / 9.22 % (3.35 / 8.91 %);
    # strings ahead with 2 and 3 members too. Test, strings: 4 members 3.55 % (3.49 %), 2 members 3.80 % (3.61 %)
    combine: str = option("strings",
                          "--members N: decode by strings (each member's best labellings as the candidates, the one "
                          "with the highest sum of the members' log p(y|x) kept) or from the mean of their per-frame "
                          "log-posteriors", choices=["strings", "posteriors"])


class ConnectedDigitsRecipe(SpeechRecipe[ConnectedDigitsConfig]):
    """Connected spoken digits: a BiLSTM trained with CTC hears strings of 1-7 digits; greedy and prefix-beam
    decoding."""

    name = "digits-ctc"
    config_class = ConnectedDigitsConfig
    # each validation voice weighs the same: by digits, flite slt (143 of the 400 strings, at ~25 % error in every
    # run) would be most of the figure, and the best epoch would be the one that hears slt best
    monitor = "wer_voices"
    mode = "min"
    kind = "connected"

    def counts(self, config: Any) -> tuple[int, int]:
        return config.train_strings, config.held_out_strings

    def build_model(self, config: ConnectedDigitsConfig, meta: Meta) -> nn.Module:
        fc = FeatureConfig(**meta["features"])

        def one() -> CTCModel:
            return CTCModel(CTCConfig(num_labels=len(meta["words"]), input_size=fc.stack * fc.n_mels,
                                      hidden_size=config.hidden_size, num_layers=config.num_layers, cell=config.cell,
                                      dropout=config.dropout))

        if config.members > 1:  # its weights are the members' (combine), so their initialisation does not matter
            return CTCEnsemble([one() for _ in range(config.members)], config.combine)
        if config.init_seed is None:
            return one()  # the runner has just seeded torch with --seed
        with torch.random.fork_rng(devices=[]):  # dropout's stream stays --seed's; only the weights move
            torch.manual_seed(config.init_seed)
            return one()

    def runs(self, config: ConnectedDigitsConfig) -> list[ConnectedDigitsConfig] | None:
        """--members N: N runs in OUT/member0..N-1 on the same data, member k from init seed seed + k (member 0 is
        the plain run of --seed); None for one model."""
        if config.members < 1:
            raise ValueError(f"{self.name}: --members must be 1 or more, got {config.members}.")
        if config.members == 1:
            return None
        if config.init_seed is not None:
            raise ValueError(f"{self.name}: --members {config.members} sets each member's init seed (seed + k); "
                             f"drop --init-seed {config.init_seed}.")
        out = Path(config.out or f"runs/{self.name}")
        return [replace(config, members=1, init_seed=None if k == 0 else config.seed + k, out=str(out / f"member{k}"))
                for k in range(config.members)]

    def combine(self, config: ConnectedDigitsConfig, summaries: list[dict[str, Any]]) -> dict[str, Any]:
        """The members as one model (``--combine``): each member's and the ensemble's validation figures (greedy and
        beam), the ensemble's test figures, and OUT/best.pt holding the ensemble (what listen and predict load)."""
        out = Path(config.out or f"runs/{self.name}")
        with torch_threads(config.threads):
            torch.manual_seed(config.seed)
            d = self.prepare_data(config)
            members = [self.model_as(load_run(Path(s["config"]["out"]) / "best.pt", {self.name: self}).model,
                                     CTCModel) for s in summaries]
            model = CTCEnsemble(members, config.combine).eval()
            with torch.no_grad():
                member_dev = [self.validate_with_beam(m, config, d) for m in members]
                dev = self.validate_with_beam(model, config, d)
                test = self.evaluate(model, config, d, "test")
            pictures = self.report(model, config, d, out)
        meta = self.describe(d)
        atomic_save(make_checkpoint(self.name, model, asdict(config), meta, metrics={f"dev_{k}": v
                                                                                      for k, v in dev.items()}),
                    out / "best.pt")
        def shown(metrics: dict[str, float]) -> str:
            return ", ".join(f"{n} {v:.4f}" for n, v in metrics.items())

        for k, m in enumerate(member_dev):
            print(f"{self.name}: member {k} validation {shown(m)}")
        print(f"{self.name}: ensemble of {len(members)} validation {shown(dev)}")
        print(f"{self.name}: ensemble of {len(members)} test {shown(test)}")
        print(f"{self.name}: checkpoint {out / 'best.pt'}")
        return {"recipe": self.name, "members": len(members), "dev": dev, "test": test, "member_dev": member_dev,
                "pictures": [str(p) for p in pictures], "config": asdict(config), "runs": summaries}

    def batches(self, config: ConnectedDigitsConfig, d: SpeechData, epoch: int) -> Iterator[dict[str, Tensor]]:
        seed = config.seed if config.init_seed is None else config.init_seed
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        masks = torch.Generator().manual_seed(seed * 1000 + epoch + 500)  # its own stream: the same batches
        sa = SpecAugmentConfig(warp=config.warp, freq_masks=config.freq_masks, time_masks=config.time_masks)
        for idx in bucket_batches([len(x) for x in d.train.inputs], config.batch_size, shuffle=True, generator=g):
            inputs = [spec_augment(d.train.inputs[i], d.features, sa, masks) for i in idx]
            yield ctc_batch(inputs, [d.train.words[i] for i in idx])

    @torch.no_grad()
    def log_probs(self, model: nn.Module, inputs: Sequence[Tensor]) -> list[Tensor]:
        """(T_n, V+1) frame log probabilities of each input, in order."""
        out: list[Tensor] = [torch.empty(0)] * len(inputs)
        for idx in bucket_batches([len(x) for x in inputs], 64, shuffle=False):
            x, lengths = pad_float([inputs[i] for i in idx])
            lp, _ = model(x, lengths=lengths)  # (B, T, V+1)
            for row, i, n in zip(lp, idx, lengths.tolist(), strict=True):
                out[i] = row[:n]
        return out

    def transcribe(self, model: nn.Module, inputs: Sequence[Tensor], beam: int) -> list[list[int]]:
        """Word ids heard in each input (CTC label l is word l-1); an ensemble combining strings rescores its
        members' candidates (their greedy labellings for ``beam`` 1, else each one's 4 best of the beam)."""
        if isinstance(model, CTCEnsemble) and model.combine == "strings":
            each = [self.log_probs(m, inputs) for m in model.members]  # per member: (T_n, V+1) per input
            labels = [ctc.decode_strings(lps, beam) for lps in zip(*each, strict=True)]
        else:
            labels = [ctc.decode(lp, beam) for lp in self.log_probs(model, inputs)]
        return [[label - 1 for label in y] for y in labels]

    def validate_with_beam(self, model: nn.Module, config: ConnectedDigitsConfig, d: SpeechData) -> dict[str, float]:
        """The validation figures, greedy (as fit sees them) and with the prefix beam."""
        heard = self.transcribe(model, d.dev.inputs, config.beam)
        return {**self.evaluate(model, config, d, "dev"), "wer_beam": error_rate(d.dev.words, heard),
                "wer_voices_beam": voice_error_rate(d.dev.words, heard, d.dev.speakers),
                "string_accuracy_beam": string_accuracy(d.dev.words, heard)}

    def evaluate(self, model: nn.Module, config: ConnectedDigitsConfig, d: SpeechData, split: str) -> dict[str, float]:
        t = self.split(d, split)
        greedy = self.transcribe(model, t.inputs, 1)
        metrics = {"wer": error_rate(t.words, greedy), "wer_voices": voice_error_rate(t.words, greedy, t.speakers),
                   "string_accuracy": string_accuracy(t.words, greedy)}
        if split == "test":
            print(f"{self.name}: test digit error rate by voice (greedy): " + ", ".join(
                f"{v} {r:.3f}" for v, r in sorted(voice_error_rates(t.words, greedy, t.speakers).items())))
            beam = self.transcribe(model, t.inputs, config.beam)
            metrics.update({"wer_beam": error_rate(t.words, beam),
                            "string_accuracy_beam": string_accuracy(t.words, beam)})
            if d.real is not None:
                heard = self.transcribe(model, d.real.inputs, config.beam)
                correct = sum(h == w for h, w in zip(heard, d.real.words, strict=True))
                low, high = wilson_interval(correct, len(d.real))
                metrics.update({"real_string_accuracy": correct / len(d.real), "real_correct": float(correct),
                                "real_clips": float(len(d.real)), "real_low95": low, "real_high95": high,
                                "real_wer": error_rate(d.real.words, heard)})
                for h, w, s in zip(heard, d.real.words, d.real.sources, strict=True):
                    if h != w:
                        print(f"{self.name}: real clip {s}: heard {spell(h) or '(nothing)'}, said {spell(w)}")
        return metrics

    def hear(self, model: nn.Module, meta: Meta, inputs: Sequence[Tensor], beam: int) -> list[dict[str, Any]]:
        return [{"digits": spell(words), "words": [WORDS[w] for w in words], "frames": len(x)}
                for x, words in zip(inputs, self.transcribe(model, inputs, beam), strict=True)]

    def explain(self, model: nn.Module, meta: Meta, path: str, png: str | Path, mix: bool = False) -> Path:
        """Picture of the frame-level CTC posteriors of one WAV file (an ensemble's: its members' mean) and what the
        model hears greedily."""
        x = self.read(meta, [path], mix)[0]
        lp = self.log_probs(model, [x])[0]
        fc = FeatureConfig(**meta["features"])
        heard = spell(self.transcribe(model, [x], 1)[0])
        return pictures.posteriors(x[:, : fc.n_mels], lp, list(WORDS), fc.stack * fc.hop_ms / 1000, Path(png),
                                   f"{Path(path).name}: heard {heard or '(nothing)'}{_mean_of(model)}")

    def report(self, model: nn.Module, config: SpeechConfig, d: SpeechData, out: Path) -> list[Path]:
        i = max(range(min(len(d.test), 50)), key=lambda n: len(d.test.words[n]))  # a long string among the first 50
        lp = self.log_probs(model, [d.test.inputs[i]])[0]
        heard = spell(self.transcribe(model, [d.test.inputs[i]], 1)[0])
        return [pictures.posteriors(d.test.inputs[i][:, : d.features.n_mels], lp, list(WORDS),
                                    d.features.stack * d.features.hop_ms / 1000, out / "posteriors.png",
                                    f"held-out voice {d.test.sources[i]}: said {spell(d.test.words[i])}, heard "
                                    f"{heard}{_mean_of(model)}")]


def _mean_of(model: nn.Module) -> str:
    """What a posteriors picture of ``model`` shows, for its title: an ensemble's is its members' mean."""
    return f"\n(the mean posteriors of {len(model.members)} members)" if isinstance(model, CTCEnsemble) else ""


def ctc_batch(inputs: Sequence[Tensor], words: Sequence[Sequence[int]]) -> dict[str, Tensor]:
    """Padded features and the concatenated CTC targets (word w is label w+1; 0 is the blank)."""
    x, lengths = pad_float(inputs)  # (B, T, F), (B,)
    targets = torch.tensor([w + 1 for ws in words for w in ws], dtype=torch.long)  # (sum of U,)
    target_lengths = torch.tensor([len(ws) for ws in words], dtype=torch.long)  # (B,)
    return {"inputs": x, "targets": targets, "lengths": lengths, "target_lengths": target_lengths}
