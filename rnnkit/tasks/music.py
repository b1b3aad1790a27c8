"""Generate folk tunes in ABC notation (one-to-many): the key in, a tune out, character by character.

    u = emb(key)                                      the condition, e.g. "G" or "Ador"
    p(c_t | c_<t, key) = OneToMany(u)                 characters of "M:6/8 L:1/8\\n|:GAB c2d|..."

as folk-rnn (Sturm et al., 2016) did with ABC text, on O'Neill's 1850 collection from the
music21 corpus (rnnkit.tasks.music_data). Generation can be primed with a key, a meter,
a seed note or a whole first bar; pieces are written as ABC, MIDI, MusicXML and a PNG score
(rnnkit.tasks.music_score). The model learns whole tunes, each ending in <eos>: tunes longer
than max_chars are left out rather than cut, so it never learns to stop mid-bar.

Measured, with piece i conditioned on validation tune i's key and header (meter, unit length):
validation negative log-likelihood per event (an event is one ABC character); the share of
all generated pieces that music21 parses back with at least 8 notes, all within the pitch
range of the real tunes; and total-variation distances between the histograms of generated
and paired real tunes: pitch class, pitch class relative to the tonic, and duration. The
baseline is a unigram model that draws characters independently from their training frequencies.
Target: >= 95% of pieces parse, and distances below the unigram baseline's. With the defaults
(11 minutes on one CPU thread, val NLL 1.10) about 98-99% parse; the tonic-relative and
duration distances are a quarter and a seventh of the unigram's, while the pooled pitch-class
distance is a tie, as a unigram matches pooled letter frequencies by construction (docs/results.md).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.models import OneToMany, OneToManyConfig
from rnnkit.models.common import length_mask
from rnnkit.models.decoding import generate_tokens
from rnnkit.recipes.text import BOS, EOS, PAD, UNK, TokenVocab, bucket_batches, pad_batch
from rnnkit.recipes.training import TrainConfig, fit
from rnnkit.tasks.music_data import (
    Tune,
    cached_events,
    corpus_dir,
    degree_histogram,
    histograms,
    load_abc,
    normalise_key,
    parse_events,
    total_variation,
)
from rnnkit.tasks.music_score import draw_score
from rnnkit.utils.config import add_dataclass_flags, dataclass_from_args


@dataclass(frozen=True)
class MusicConfig:
    """Corpus, model and generation settings of the music recipe."""

    abc: str | None = field(default=None, metadata={"help": "ABC file or folder of .abc files (default: the music21 corpus)"})  # any tunes in ABC
    corpus: str = field(default="oneills1850", metadata={"help": "music21 ABC corpus folder used without --abc"})  # ~2,000 Irish tunes
    max_tunes: int | None = field(default=None, metadata={"help": "use at most this many tunes (for quick runs)"})  # all of them
    max_chars: int = field(default=600, metadata={"help": "longer tunes are cut to this many characters"})  # bounds the unrolled length; most tunes are shorter
    val_fraction: float = field(default=0.1, metadata={"help": "share of tunes held out for validation"})  # ~200 tunes
    key_size: int = field(default=16, metadata={"help": "embedding size of the key condition"})  # ~30 keys
    embed_size: int = field(default=32, metadata={"help": "character embedding size"})  # ~90 characters
    hidden_size: int = field(default=256, metadata={"help": "LSTM hidden units"})  # folk-rnn used 512 x 3; this fits a CPU budget
    num_layers: int = field(default=1, metadata={"help": "stacked LSTM layers"})  # one layer: fast on CPU
    dropout: float = field(default=0.1, metadata={"help": "dropout on embeddings and before the output layer"})  # mild: 2,000 tunes
    batch_size: int = field(default=32, metadata={"help": "tunes per batch"})  # bucketed by length
    num_generate: int = field(default=200, metadata={"help": "pieces generated for the evaluation"})  # about one per validation tune; 60 left the histogram distances noisy
    temperature: float = field(default=0.9, metadata={"help": "sampling temperature"})  # 0.9: >= 95% parse and pitch classes closer than a unigram on 4 seeds; 0.8 parses more but narrows the pitch mix (docs/results.md)
    out_dir: str = field(default="runs/music", metadata={"help": "directory for checkpoints, results and generated pieces"})  # best.pt, generated/


TRAIN_DEFAULTS = TrainConfig(epochs=40, lr=3e-3, patience=3, max_minutes=11.0)  # ~25 epochs fit in the 11-minute cap on one thread (--threads 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the recipe's flags (MusicConfig, then the shared TrainConfig) to ``parser``."""
    add_dataclass_flags(parser, MusicConfig)
    add_dataclass_flags(parser, TrainConfig)


# ---- data ------------------------------------------------------------------------------------


@dataclass
class MusicData:
    """The character and key vocabularies and the tunes of each split."""
    chars: TokenVocab  # output characters: <pad> 0, <bos> 1, <eos> 2, <unk> 3, then the characters
    keys: TokenVocab  # conditions: <unk> 0, then the keys
    train: list[Tune]
    val: list[Tune]


def prepare_data(config: MusicConfig, seed: int = 0) -> MusicData:
    """Load the tunes, drop those over max_chars, split train/validation at random, build both vocabularies."""
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
    return MusicData(chars, keys, train, val)


def encode(tunes: list[Tune], data: MusicData) -> tuple[Tensor, Tensor, Tensor]:
    """Keys (B,), targets (B, T) ending in <eos>, lengths (B,)."""
    keys = torch.tensor(data.keys.encode([t.key for t in tunes]))  # (B,)
    eos = data.chars.stoi[EOS]
    targets, lengths = pad_batch([data.chars.encode(t.text) + [eos] for t in tunes], data.chars.pad_id)
    return keys, targets, lengths


# ---- model -----------------------------------------------------------------------------------


def build_model(config: MusicConfig, data: MusicData) -> OneToMany:
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
            raise ValueError(f"music: got {len(prefix)} prefixes for {len(keys)} keys; pass one prefix per key, or one string.")
        out: dict[int, Tune] = {}
        for shared in dict.fromkeys(prefix):  # first-seen order, so a seeded generator gives the same tunes
            rows = [i for i, p in enumerate(prefix) if p == shared]
            out.update(zip(rows, sample_tunes(model, data, [keys[i] for i in rows], shared, temperature, generator), strict=True))
        return [out[i] for i in range(len(keys))]
    model.eval()
    unknown = [k for k in keys if k not in data.keys]
    if unknown:
        raise ValueError(f"music: unknown key(s) {unknown}; this model knows {sorted(data.keys.itos[1:])}.")
    u, state = model.condition(torch.tensor(data.keys.encode(keys)))  # (B, F), initial state
    carry = (u, state)
    B = len(keys)
    previous = torch.full((B,), model.config.bos_id, dtype=torch.long)
    # the prefix warms the state: feed <bos> and every prefix character but the last, which
    # becomes the first input of sampling
    ids = data.chars.encode(prefix)
    for token in ids[:-1] if ids else []:
        _, carry = model.step(previous, carry)
        previous = torch.full((B,), token, dtype=torch.long)
    if ids:
        _, carry = model.step(previous, carry)
        previous = torch.full((B,), ids[-1], dtype=torch.long)
    budget = max(1, model.config.max_length - len(ids))
    tokens, lengths, _ = generate_tokens(model.step, carry, B, int(previous[0]), model.config.eos_id, budget,
                                         u.device, greedy=False, temperature=temperature, generator=generator)
    specials = {data.chars.stoi[t] for t in (PAD, BOS, EOS, UNK)}
    tunes = []
    for key, row, n in zip(keys, tokens, lengths, strict=True):
        body = [t for t in row[: int(n)].tolist() if t not in specials]  # a sampled <pad>/<unk> is not music
        tunes.append(Tune(key, prefix + "".join(data.chars.decode(body))))
    return tunes


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


# ---- evaluation ------------------------------------------------------------------------------


def tune_loss(model: OneToMany, batch: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """Mean cross-entropy per real character of a padded batch (keys, targets, lengths).

    The model runs over the padding too and the loss masks it out. For a left-to-right
    generator this is exact (a step's output never depends on later inputs), and it is
    much faster to train: with ``lengths`` the LSTM goes through a PackedSequence, whose
    CPU backward pass grows faster than linearly with T (B=32, H=256, T=400 on one thread:
    10.7 s against 0.3 s padded), which is why a hidden-256 run once managed 68 steps in 12 minutes.
    """
    keys, targets, lengths = batch
    logits, _ = model(keys, targets)  # (B, T, V); padding positions are computed, then ignored
    mask = length_mask(lengths, targets.size(1))  # (B, T)
    return F.cross_entropy(logits[mask], targets[mask])


def validation_nll(model: OneToMany, tunes: list[Tune], data: MusicData, batch_size: int = 64) -> float:
    """Mean negative log-likelihood per event (character, including <eos>) in nats."""
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(tunes), batch_size):
            batch = encode(tunes[i : i + batch_size], data)
            n = int(batch[2].sum())
            total, count = total + float(tune_loss(model, batch)) * n, count + n
    return total / max(count, 1)


def check_pieces(tunes: list[Tune], low: int, high: int, min_notes: int = 8) -> tuple[list[bool], list[list[tuple[int, float]]]]:
    """Whether each tune parses back with music21, has ``min_notes`` notes, and stays within [low, high]."""
    ok: list[bool] = []
    events: list[list[tuple[int, float]]] = []
    for t in tunes:
        try:
            e = parse_events(t.abc())
        except ValueError:
            ok.append(False)
            events.append([])
            continue
        events.append(e)
        ok.append(len(e) >= min_notes and all(low <= p <= high for p, _ in e))
    return ok, events


def evaluate(model: OneToMany, data: MusicData, config: MusicConfig, seed: int = 0) -> dict[str, Any]:
    """NLL per event on validation tunes, parse rate, and histogram distances vs real validation tunes.

    Piece i is conditioned on validation tune i's key and header line (meter and unit
    length), cycling through the tunes, and the histograms compare against those same tunes:
    the comparison is paired, so the mix of keys and meters is the same on both sides.
    """
    val_events = cached_events(data.val)
    pitches = [p for e in val_events for p, _ in e]
    low, high = min(pitches), max(pitches)
    like = [i % len(data.val) for i in range(config.num_generate)]  # the validation tunes the pieces stand against
    real_pc, real_du = histograms([val_events[i] for i in like])
    keys = [data.val[i].key for i in like]
    keys = [k if k in data.keys else data.keys.itos[1] for k in keys]  # a key unseen in training: use the commonest
    headers = [data.val[i].text.partition("\n")[0] + "\n" for i in like]
    generated = sample_tunes(model, data, keys, headers, config.temperature, torch.Generator().manual_seed(seed))
    ok, gen_events = check_pieces(generated, low, high)
    baseline = unigram_tunes(data, generated, np.random.default_rng(seed))
    base_ok, base_events = check_pieces(baseline, low, high)
    gen_pc, gen_du = histograms([e for e in gen_events if e])  # every piece that parsed, as for the baseline
    base_pc, base_du = histograms([e for e in base_events if e])
    real_dg = degree_histogram([val_events[i] for i in like], [data.val[i].key for i in like])
    return {
        "val_nll_per_event": validation_nll(model, data.val, data),
        "parse_rate": float(np.mean(ok)), "unigram_parse_rate": float(np.mean(base_ok)),
        "pitch_class_tv": total_variation(gen_pc, real_pc), "unigram_pitch_class_tv": total_variation(base_pc, real_pc),
        "duration_tv": total_variation(gen_du, real_du), "unigram_duration_tv": total_variation(base_du, real_du),
        "degree_tv": total_variation(degree_histogram(gen_events, keys), real_dg),
        "unigram_degree_tv": total_variation(degree_histogram(base_events, keys), real_dg),
        "pitch_range": [low, high], "generated": generated, "ok": ok,
        "histograms": {"real": [real_pc.tolist(), real_du.tolist()], "generated": [gen_pc.tolist(), gen_du.tolist()],
                       "unigram": [base_pc.tolist(), base_du.tolist()]},
    }


# ---- writing pieces --------------------------------------------------------------------------


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 2.6))
    t = 0.0
    for pitch, length in events:
        ax.broken_barh([(t, length)], (pitch - 0.4, 0.8), color="tab:blue")
        t += length
    ax.set_xlabel("time (quarter notes)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


def histogram_figure(h: dict[str, list[list[float]]], path: Path) -> Path:
    """Pitch-class and duration histograms of real, generated and unigram-baseline tunes side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnkit.tasks.music_data import DURATION_LABELS

    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3))
    for ax, j, labels in ((axes[0], 0, names), (axes[1], 1, list(DURATION_LABELS))):
        x = np.arange(len(labels))
        for k, name in enumerate(("real", "generated", "unigram")):
            ax.bar(x + (k - 1) * 0.27, h[name][j], width=0.27, label=name)
        ax.set_xticks(x, labels, fontsize=7)
    axes[0].set_title("pitch class")
    axes[1].set_title("duration (quarter notes)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


# ---- recipe ----------------------------------------------------------------------------------


def train(model: OneToMany, data: MusicData, config: MusicConfig, train_config: TrainConfig, out_dir: Path | None) -> Any:
    """Fit ``model`` on the training tunes (padded, bucketed by length), validating on ``data.val``; returns the FitResult."""
    generator = torch.Generator().manual_seed(train_config.seed)
    lengths = [len(t.text) + 1 for t in data.train]

    def batches(epoch: int) -> list[tuple[Tensor, Tensor, Tensor]]:
        groups = bucket_batches(lengths, config.batch_size, generator=generator)
        return [encode([data.train[i] for i in g], data) for g in groups]

    def checkpoint(m: torch.nn.Module, info: dict[str, Any]) -> dict[str, Any]:
        return {"task": "music", "config": asdict(config), "chars": data.chars.to_dict(), "keys": data.keys.to_dict(),
                "model": m.state_dict(), **info}

    return fit(model, batches, train_config, loss_fn=tune_loss, evaluate=lambda m: {"val_nll": validation_nll(m, data.val, data)},  # type: ignore[arg-type]
               monitor="val_nll", mode="min", checkpoint=checkpoint if out_dir else None, out_dir=out_dir)


def run(args: argparse.Namespace) -> int:
    """``rnnkit recipe music``: prepare the tunes, train, evaluate and write example tunes; returns the exit code."""
    config = dataclass_from_args(MusicConfig, args)
    train_config = dataclass_from_args(TrainConfig, args, **{k: v for k, v in asdict(TRAIN_DEFAULTS).items()
                                                              if getattr(args, k, None) is None})
    print(f"music: {config}\n{train_config}")
    torch.manual_seed(train_config.seed)
    data = prepare_data(config, train_config.seed)
    print(f"{len(data.train)} training and {len(data.val)} validation tunes; {len(data.chars)} symbols, {len(data.keys)} keys")
    model = build_model(config, data)
    out = Path(config.out_dir)
    result = train(model, data, config, train_config, out)
    start = time.perf_counter()
    metrics = evaluate(model, data, config, train_config.seed)
    generated = metrics.pop("generated")
    ok = metrics.pop("ok")
    for i, tune in enumerate(generated[:4]):
        write_piece(tune, out / "generated" / f"tune-{i}", f"rnnkit tune {i} ({'parses' if ok[i] else 'does not parse'})")
    good = [t for t, g in zip(generated, ok, strict=True) if g]
    if good:
        piano_roll(parse_events(good[0].abc()), out / "generated" / "piano-roll.png", f"generated, K:{good[0].key}")
    histogram_figure(metrics["histograms"], out / "histograms.png")
    summary = {"config": asdict(config), "train_config": asdict(train_config), "metrics": metrics,
               "train_seconds": result.seconds, "epochs": result.epochs_run, "stopped": result.stopped_because,
               "eval_seconds": time.perf_counter() - start}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    shown = {k: v for k, v in metrics.items() if isinstance(v, float)}
    print(", ".join(f"{k} {v:.4f}" for k, v in shown.items()))
    print(f"trained {result.seconds:.0f}s ({result.epochs_run} epochs, {result.stopped_because}); pieces in {out / 'generated'}")
    return 0


def load(checkpoint: dict[str, Any]) -> tuple[OneToMany, MusicData, MusicConfig]:
    """The model (weights loaded), vocabularies and config stored in a music checkpoint."""
    config = MusicConfig(**checkpoint["config"])
    data = MusicData(TokenVocab.from_dict(checkpoint["chars"]), TokenVocab.from_dict(checkpoint["keys"]), [], [])
    model = build_model(config, data)
    model.load_state_dict(checkpoint["model"])
    return model.eval(), data, config


def parse_prime(prime: str | None, data: MusicData) -> tuple[str, str]:
    """``"D"`` -> key D; ``"D;M:6/8 L:1/8\\n|:DFA"`` -> key D and that text prefix (``\\n`` may be typed literally)."""
    if not prime:
        return data.keys.itos[1], ""  # the commonest key
    key, _, prefix = prime.partition(";")
    return normalise_key(key.removeprefix("K:")), prefix.replace("\\n", "\n")


def generate(checkpoint: dict[str, Any], args: argparse.Namespace) -> int:
    """Write ``--num`` tunes (ABC, MIDI, MusicXML) conditioned on ``--prime`` (a key, optionally ";" and a first bar)."""
    model, data, config = load(checkpoint)
    key, prefix = parse_prime(args.prime, data)
    tunes = sample_tunes(model, data, [key] * args.num, prefix, config.temperature,
                         torch.Generator().manual_seed(args.seed))
    out = Path(args.out or Path(config.out_dir) / "generated")
    for i, tune in enumerate(tunes):
        files = write_piece(tune, out / f"sample-{args.seed}-{i}", f"rnnkit sample {i}")
        print(f"{', '.join(str(f) for f in files)}\n{tune.abc()}")
    return 0


def predict(checkpoint: dict[str, Any], inputs: list[str], args: argparse.Namespace) -> int:
    """Score ABC files: the model's negative log-likelihood per event (character) of each file's tunes."""
    model, data, _ = load(checkpoint)
    if not inputs:
        raise ValueError("music: pass one or more ABC files to score.")
    for name in inputs:
        tunes = [Tune(t.key if t.key in data.keys else UNK, t.text) for t in load_abc(name)]
        print(f"{name}: {len(tunes)} tunes, {validation_nll(model, tunes, data):.4f} nats per event")
    return 0
