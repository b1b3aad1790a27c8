"""Generate folk tunes in ABC notation (one-to-many): the key in, a tune out, character by character.

    u = emb(key)                                      the condition, e.g. "G" or "Ador"
    p(c_t | c_<t, key) = OneToMany(u)                 characters of "M:6/8 L:1/8\\n|:GAB c2d|..."

as folk-rnn (Sturm et al., 2016) did with ABC text, on O'Neill's 1850 collection from the
music21 corpus (data.py). Generation can be primed with a key, a meter, a seed note or a whole
first bar; pieces are written as ABC, MIDI, MusicXML and a PNG score (score.py). The model
learns whole tunes, each ending in <eos>: tunes longer than max_chars are left out, not cut.

There is no test split: the validation tunes pick the best epoch (NLL per event), and piece i
is conditioned on validation tune i's key and header and measured against it: the share of
pieces music21 parses back with at least 8 notes within the real tunes' pitch range, and
total-variation distances of the pitch-class, tonic-relative pitch-class and duration
histograms. The baseline is a unigram model drawing characters from their training
frequencies on the same prompts. Target: >= 95% of pieces parse, and distances below the
unigram's; docs/results.md has what the defaults reach.

    rnnkit recipe music --threads 1
    rnnkit generate runs/music --num 4 --prime "D;M:6/8 L:1/8\\n|:DFA"
    rnnkit predict runs/music tunes.abc        # NLL per event of each file's tunes
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models import OneToMany, OneToManyConfig
from rnnkit.models.common import length_mask
from rnnkit.models.decoding import generate_tokens
from rnnkit.recipes.contract import GenerateOptions, Meta, Recipe, RecipeConfig
from rnnkit.recipes.music.data import (
    DURATION_LABELS,
    Tune,
    cached_events,
    corpus_dir,
    degree_histogram,
    histograms,
    load_abc,
    normalise_key,
    parse_events,
    total_variation,
    try_events,
)
from rnnkit.recipes.music.score import draw_score
from rnnkit.recipes.runner import run_dir
from rnnkit.recipes.text import BOS, EOS, PAD, UNK, TokenVocab, bucket_batches, pad_batch
from rnnkit.utils.config import option
from rnnkit.utils.plotting import figure


@dataclass(frozen=True)
class MusicConfig(RecipeConfig):
    """Corpus, model, generation and training settings of the music recipe."""

    abc: str | None = option(None, "ABC file or folder of .abc files (default: the music21 corpus)")
    corpus: str = option("oneills1850", "music21 ABC corpus folder used without --abc")
    max_tunes: int | None = option(None, "use at most this many tunes (for quick runs)")
    max_chars: int = option(600, "longer tunes are cut to this many characters")  # bounds the unrolled length
    val_fraction: float = option(0.1, "share of tunes held out for validation")
    key_size: int = option(16, "embedding size of the key condition")  # ~30 keys
    embed_size: int = option(32, "character embedding size")  # ~90 characters
    hidden_size: int = option(256, "LSTM hidden units")  # folk-rnn used 512 x 3; this fits a CPU budget
    num_layers: int = option(1, "stacked LSTM layers")
    dropout: float = option(0.1, "dropout on embeddings and before the output layer")  # mild: 2,000 tunes
    batch_size: int = option(32, "tunes per batch")
    num_generate: int = option(200, "pieces generated for the evaluation")  # fewer left the distances noisy
    temperature: float = option(0.9, "sampling temperature")  # 0.8 parses more but narrows the pitch mix
    epochs: int = option(40, "passes over the training tunes (at most)")
    lr: float = option(3e-3, "AdamW learning rate")
    patience: int = option(3, "stop after this many epochs without a lower validation NLL")
    max_minutes: float | None = option(11.0, "stop after this much wall time (checked after each step)")
    out: str = option("runs/music", "run directory: best.pt, results.json, histograms.png, generated/ pieces")


@dataclass
class MusicData:
    """The character and key vocabularies and the tunes of each split."""

    chars: TokenVocab  # output characters: <pad> 0, <bos> 1, <eos> 2, <unk> 3, then the characters
    keys: TokenVocab  # conditions: <unk> 0, then the keys
    train: list[Tune]
    val: list[Tune]
    shuffle: torch.Generator = field(default_factory=torch.Generator)  # buckets the training tunes, across epochs
    evaluation: dict[str, Any] | None = None  # the last generation measurement (pieces, histograms, unigram figures)


def prepare_data(config: MusicConfig, seed: int = 0) -> MusicData:
    """Load the tunes, drop those over max_chars, split train/validation at random (``seed``), build both
    vocabularies."""
    tunes = load_abc(config.abc if config.abc is not None else corpus_dir(config.corpus))
    # whole tunes only: a tune cut at max_chars would teach the model to end mid-bar
    long = sum(len(t.text) > config.max_chars for t in tunes)
    tunes = [t for t in tunes if len(t.text) <= config.max_chars]
    if long:
        print(f"music: left out {long} tune(s) longer than --max-chars {config.max_chars}.")
    order = np.random.default_rng(seed).permutation(len(tunes))
    tunes = [tunes[i] for i in order][: config.max_tunes]
    n_val = max(1, int(round(config.val_fraction * len(tunes))))
    if len(tunes) - n_val < 1:
        raise ValueError(f"music: {len(tunes)} tune(s) are too few to hold out {n_val} for validation; add tunes.")
    train, val = tunes[:-n_val], tunes[-n_val:]
    chars = TokenVocab.build([list(t.text) for t in train], specials=(PAD, BOS, EOS, UNK))
    keys = TokenVocab.build([[t.key] for t in train], specials=(UNK,))
    print(f"{len(train)} training and {len(val)} validation tunes; {len(chars)} symbols, {len(keys)} keys")
    return MusicData(chars, keys, train, val, torch.Generator().manual_seed(seed))


def encode(tunes: list[Tune], data: MusicData) -> tuple[Tensor, Tensor, Tensor]:
    """Keys (B,), targets (B, T) ending in <eos>, lengths (B,)."""
    keys = torch.tensor(data.keys.encode([t.key for t in tunes]))  # (B,)
    eos = data.chars.stoi[EOS]
    targets, lengths = pad_batch([data.chars.encode(t.text) + [eos] for t in tunes], data.chars.pad_id)
    return keys, targets, lengths


def build_model(config: MusicConfig, data: MusicData) -> OneToMany:  # data: its vocabularies
    """A one-to-many generator: the key in, the tune's ABC characters out."""
    return OneToMany(OneToManyConfig(
        vocab_size=len(data.chars), input_vocab_size=len(data.keys), input_size=config.key_size,
        embed_size=config.embed_size, hidden_size=config.hidden_size, num_layers=config.num_layers,
        dropout=config.dropout, bos_id=data.chars.stoi[BOS], eos_id=data.chars.stoi[EOS],
        max_length=config.max_chars + 1,
    ))


@torch.no_grad()
def sample_tunes(model: OneToMany, data: MusicData, keys: list[str], prefix: str | list[str] = "",
                 temperature: float = 1.0, generator: torch.Generator | None = None) -> list[Tune]:
    """One tune per key, each starting with ``prefix`` (e.g. "M:6/8 L:1/8\\n|:G"), sampled to <eos> or max_length.

    ``prefix`` may also be a list, one per key; tunes sharing a prefix are sampled as one batch.
    """
    if isinstance(prefix, list):
        if len(prefix) != len(keys):
            raise ValueError(f"music: got {len(prefix)} prefixes for {len(keys)} keys; pass one prefix per key, or one "
                             "string.")
        out: dict[int, Tune] = {}
        for shared in dict.fromkeys(prefix):  # first-seen order, so a seeded generator gives the same tunes
            rows = [i for i, p in enumerate(prefix) if p == shared]
            out.update(zip(rows, sample_tunes(model, data, [keys[i] for i in rows], shared, temperature, generator),
                           strict=True))
        return [out[i] for i in range(len(keys))]
    model.eval()
    unknown = [k for k in keys if k not in data.keys]
    if unknown:
        raise ValueError(f"music: unknown key(s) {unknown}; this model knows {sorted(data.keys.itos[1:])}.")
    carry = model.condition(torch.tensor(data.keys.encode(keys)))  # (u (B, F), initial state)
    B = len(keys)
    previous = torch.full((B,), model.config.bos_id, dtype=torch.long)
    # the prefix warms the state: feed <bos> and every prefix character but the last, which
    # becomes the first input of sampling
    ids = data.chars.encode(prefix)
    for token in ids:
        _, carry = model.step(previous, carry)
        previous = torch.full((B,), token, dtype=torch.long)
    budget = max(1, model.config.max_length - len(ids))
    tokens, lengths, _ = generate_tokens(model.step, carry, B, int(previous[0]), model.config.eos_id, budget,
                                         carry[0].device, greedy=False, temperature=temperature, generator=generator)
    specials = {data.chars.stoi[t] for t in (PAD, BOS, EOS, UNK)}  # a sampled <pad>/<unk> is not music
    return [Tune(key, prefix + "".join(data.chars.decode([t for t in row[: int(n)].tolist() if t not in specials])))
            for key, row, n in zip(keys, tokens, lengths, strict=True)]


def unigram_tunes(data: MusicData, like: list[Tune], generator: np.random.Generator) -> list[Tune]:
    """The baseline: each tune's header line kept, its body replaced by characters drawn independently
    from their training frequencies, with the same length."""
    counts = Counter(c for t in data.train for c in t.text.partition("\n")[2])
    symbols, weights = zip(*sorted(counts.items()), strict=True)
    p = np.array(weights, dtype=float) / sum(weights)
    out = []
    for t in like:
        head, _, body = t.text.partition("\n")
        drawn = generator.choice(len(symbols), size=max(1, len(body)), p=p)
        out.append(Tune(t.key, head + "\n" + "".join(symbols[i] for i in drawn)))
    return out


def tune_loss(model: OneToMany, batch: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """Mean cross-entropy per real character of a padded batch (keys, targets, lengths).

    The model runs over the padding too and the loss masks it out: exact for a left-to-right generator, and much
    faster on CPU than passing ``lengths`` (a PackedSequence, whose backward grows faster than linearly with T).
    """
    keys, targets, lengths = batch
    logits, _ = model(keys, targets)  # (B, T, V); padding positions are computed, then ignored
    mask = length_mask(lengths, targets.size(1))  # (B, T)
    return F.cross_entropy(logits[mask], targets[mask])


@torch.no_grad()
def validation_nll(model: OneToMany, tunes: list[Tune], data: MusicData, batch_size: int = 64) -> float:
    """Mean negative log-likelihood per event (character, including <eos>) in nats."""
    total, count = 0.0, 0
    model.eval()
    for i in range(0, len(tunes), batch_size):
        batch = encode(tunes[i : i + batch_size], data)
        n = int(batch[2].sum())
        total, count = total + float(tune_loss(model, batch)) * n, count + n
    return total / max(count, 1)


def check_pieces(tunes: list[Tune], low: int, high: int) -> tuple[list[bool], list[list[tuple[int, float]]]]:
    """Whether each tune parses back with music21, has 8 notes or more, and stays within [low, high]; its events."""
    events = [try_events(t) for t in tunes]
    return [len(e) >= 8 and all(low <= p <= high for p, _ in e) for e in events], events


def measure_generation(model: OneToMany, data: MusicData, config: MusicConfig, seed: int = 0) -> dict[str, Any]:
    """Parse rate and histogram distances of generated pieces vs real validation tunes, and the unigram's.

    Piece i is conditioned on validation tune i's key and header line, cycling through the tunes,
    and compared with those same tunes, so the mix of keys and meters is the same on both sides.
    """
    val_events = cached_events(data.val)
    pitches = [p for e in val_events for p, _ in e]
    low, high = min(pitches), max(pitches)
    like = [i % len(data.val) for i in range(config.num_generate)]  # the validation tunes the pieces stand against
    real = [val_events[i] for i in like]
    real_pc, real_du = histograms(real)
    real_keys = [data.val[i].key for i in like]
    keys = [k if k in data.keys else data.keys.itos[1] for k in real_keys]  # a key unseen in training: the commonest
    headers = [data.val[i].text.partition("\n")[0] + "\n" for i in like]
    generated = sample_tunes(model, data, keys, headers, config.temperature, torch.Generator().manual_seed(seed))
    ok, gen_events = check_pieces(generated, low, high)
    baseline = unigram_tunes(data, generated, np.random.default_rng(seed))
    base_ok, base_events = check_pieces(baseline, low, high)
    gen_pc, gen_du = histograms([e for e in gen_events if e])  # every piece that parsed, as for the baseline
    base_pc, base_du = histograms([e for e in base_events if e])
    real_dg = degree_histogram(real, real_keys)
    return {
        "parse_rate": float(np.mean(ok)), "unigram_parse_rate": float(np.mean(base_ok)),
        "pitch_class_tv": total_variation(gen_pc, real_pc), "unigram_pitch_class_tv": total_variation(base_pc, real_pc),
        "duration_tv": total_variation(gen_du, real_du), "unigram_duration_tv": total_variation(base_du, real_du),
        "degree_tv": total_variation(degree_histogram(gen_events, keys), real_dg),
        "unigram_degree_tv": total_variation(degree_histogram(base_events, keys), real_dg),
        "generated": generated, "ok": ok,
        "histograms": {"real": [real_pc.tolist(), real_du.tolist()], "generated": [gen_pc.tolist(), gen_du.tolist()],
                       "unigram": [base_pc.tolist(), base_du.tolist()]},
    }


def write_piece(tune: Tune, stem: Path, title: str = "rnnkit") -> list[Path]:
    """Write ``stem``.abc always, and .mid, .musicxml and a .png score when music21 can parse the tune."""
    import music21

    stem.parent.mkdir(parents=True, exist_ok=True)
    written = [stem.with_suffix(".abc")]
    written[0].write_text(tune.abc(title))
    try:
        score = music21.converter.parse(tune.abc(title), format="abc")
        written.append(Path(score.write("midi", fp=stem.with_suffix(".mid"))))
        written.append(Path(score.write("musicxml", fp=stem.with_suffix(".musicxml"))))
        written.append(draw_score(score, stem.with_suffix(".png"), f"{title}, K:{tune.key}"))
    except Exception as e:  # a generated tune may not parse; the .abc shows why
        print(f"music: {stem.name} was written as ABC only; music21 could not read it ({type(e).__name__}).")
    return written


def piano_roll(events: list[tuple[int, float]], path: Path, title: str) -> Path:
    """A piano-roll PNG of note events (pitch against time in quarter notes)."""
    with figure(path, size=(9, 2.6), dpi=70) as (_, ax):
        t = 0.0
        for pitch, length in events:
            ax.broken_barh([(t, length)], (pitch - 0.4, 0.8), color="tab:blue")
            t += length
        ax.set_xlabel("time (quarter notes)")
        ax.set_ylabel("MIDI pitch")
        ax.set_title(title, fontsize=9)
    return path


def histogram_figure(h: dict[str, list[list[float]]], path: Path) -> Path:
    """Pitch-class and duration histograms of real, generated and unigram-baseline tunes side by side."""
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    with figure(path, size=(10, 3), dpi=70, ncols=2) as (_, axes):
        for ax, j, labels in ((axes[0], 0, names), (axes[1], 1, list(DURATION_LABELS))):
            x = np.arange(len(labels))
            for k, name in enumerate(("real", "generated", "unigram")):
                ax.bar(x + (k - 1) * 0.27, h[name][j], width=0.27, label=name)
            ax.set_xticks(x, labels, fontsize=7)
        axes[0].set_title("pitch class")
        axes[1].set_title("duration (quarter notes)")
        axes[0].legend(fontsize=7)
    return path


# the figures of measure_generation for the model's pieces and, prefixed "unigram_", for the baseline's
GENERATION_FIGURES = ("parse_rate", "pitch_class_tv", "duration_tv", "degree_tv")


def vocabularies(meta: Meta) -> MusicData:
    """The vocabularies stored in a checkpoint, as a MusicData without tunes (all sampling and scoring need)."""
    return MusicData(TokenVocab.from_dict(meta["chars"]), TokenVocab.from_dict(meta["keys"]), [], [])


class MusicRecipe(Recipe[MusicConfig, MusicData]):
    """Generate folk tunes in ABC notation, conditioned on the key (one-to-many, character by character)."""

    name = "music"
    config_class = MusicConfig
    monitor = "nll_per_event"
    mode = "min"
    inputs = "ABC files (X:, K: and the tune's lines), scored by the model's NLL per character"

    def prepare_data(self, config: MusicConfig) -> MusicData:
        return prepare_data(config, config.seed)

    def describe(self, data: MusicData) -> Meta:
        return {"chars": data.chars.to_dict(), "keys": data.keys.to_dict()}

    def build_model(self, config: MusicConfig, meta: Meta) -> OneToMany:
        return build_model(config, vocabularies(meta))

    def generators(self, data: MusicData) -> list[torch.Generator]:
        return [data.shuffle]

    def batches(self, config: MusicConfig, data: MusicData, epoch: int) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Padded batches of tunes of similar length, grouped afresh each epoch from ``data.shuffle``."""
        groups = bucket_batches([len(t.text) + 1 for t in data.train], config.batch_size, generator=data.shuffle)
        return [encode([data.train[i] for i in g], data) for g in groups]

    def loss(self, model: nn.Module, batch: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        return tune_loss(self.model_as(model, OneToMany), batch)

    def evaluate(self, model: nn.Module, config: MusicConfig, data: MusicData, split: str) -> dict[str, float]:
        """dev: NLL per event of the validation tunes. test: that, and the generated pieces measured against
        the same validation tunes (there is no separate test split); the unigram's figures go to ``baselines``."""
        generator = self.model_as(model, OneToMany)
        metrics = {"nll_per_event": validation_nll(generator, data.val, data)}
        if split == "dev":
            return metrics
        data.evaluation = measure_generation(generator, data, config, config.seed)
        return metrics | {k: data.evaluation[k] for k in GENERATION_FIGURES}

    def baselines(self, config: MusicConfig, data: MusicData) -> dict[str, dict[str, float]]:
        """The unigram model, scored on the same prompts and lengths as the model's pieces in ``evaluate``."""
        if data.evaluation is None:
            raise ValueError("music: baselines are measured beside the model's pieces; call evaluate(..., 'test') "
                             "first.")
        return {"unigram": {k: data.evaluation[f"unigram_{k}"] for k in GENERATION_FIGURES}}

    def report(self, model: nn.Module, config: MusicConfig, data: MusicData, out: Path) -> list[Path]:
        """The first four pieces (ABC, MIDI, MusicXML, score), a piano roll of the first that parses, the histograms."""
        if data.evaluation is None:
            return []
        generated, ok = data.evaluation["generated"], data.evaluation["ok"]
        pictures: list[Path] = []
        for i, tune in enumerate(generated[:4]):
            written = write_piece(tune, out / "generated" / f"tune-{i}",
                                  f"rnnkit tune {i} ({'parses' if ok[i] else 'does not parse'})")
            pictures += [p for p in written if p.suffix == ".png"]
        good = [t for t, g in zip(generated, ok, strict=True) if g]
        if good:
            pictures.append(piano_roll(parse_events(good[0].abc()), out / "generated" / "piano-roll.png",
                                       f"generated, K:{good[0].key}"))
        pictures.append(histogram_figure(data.evaluation["histograms"], out / "histograms.png"))
        return pictures

    def predict(self, model: nn.Module, config: MusicConfig, meta: Meta, inputs: Sequence[str]) -> list[dict[str, Any]]:
        data = vocabularies(meta)
        results = []
        for name in inputs:
            tunes = [Tune(t.key if t.key in data.keys else UNK, t.text) for t in load_abc(name)]
            results.append({"input": name, "tunes": len(tunes),
                            "nll_per_event": validation_nll(self.model_as(model, OneToMany), tunes, data)})
        return results

    def show(self, result: dict[str, Any]) -> str:
        if "abc" in result:  # a generated piece
            return f"{', '.join(result['files'])}\n{result['abc']}"
        return f"{result['input']}: {result['tunes']} tunes, {result['nll_per_event']:.4f} nats per event"

    def generate(self, model: nn.Module, config: MusicConfig, meta: Meta,
                 options: GenerateOptions) -> list[dict[str, Any]]:
        """``options.num`` tunes (ABC, MIDI, MusicXML, score) conditioned on ``options.prime``: a key, optionally ";"
        and a first bar (``"D;M:6/8 L:1/8\\n|:DFA"``, ``\\n`` typed literally); without one, the commonest key."""
        data = vocabularies(meta)
        key, _, prefix = (options.prime or "").partition(";")
        key = normalise_key(key.removeprefix("K:")) if options.prime else data.keys.itos[1]
        tunes = sample_tunes(self.model_as(model, OneToMany), data, [key] * options.num, prefix.replace("\\n", "\n"),
                             config.temperature, torch.Generator().manual_seed(options.seed))
        out = Path(options.out or run_dir(self, config) / "generated")
        return [{"key": tune.key, "abc": tune.abc(),
                 "files": [str(f) for f in write_piece(tune, out / f"sample-{options.seed}-{i}", f"rnnkit sample {i}")]}
                for i, tune in enumerate(tunes)]

    def upgrade(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint of the pre-contract recipe: its MusicConfig (with out_dir), the vocabularies beside it."""
        return self.upgraded(checkpoint, {"chars": checkpoint["chars"], "keys": checkpoint["keys"]})
