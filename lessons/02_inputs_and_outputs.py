# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Inputs and outputs: the five configurations
#
# The loop of lesson 1 produces a state h_t at every step. What a model feeds into that
# loop, and which of its outputs a loss reads, decides what it can do. There are five
# arrangements (Karpathy, "The Unreasonable Effectiveness of Recurrent Neural Networks", 2015):

# %%
import os

import matplotlib.pyplot as plt
import torch
from diagrams import five_configurations

from rnnkit.models import (
    ManyToMany,
    ManyToManyConfig,
    ManyToOne,
    ManyToOneConfig,
    OneToMany,
    OneToManyConfig,
    OneToOne,
    OneToOneConfig,
    Seq2Seq,
    Seq2SeqConfig,
)

SMALL = os.environ.get("RNNKIT_LESSON_SMALL") == "1"  # the tests run every lesson in this mode
torch.set_num_threads(1)  # small models on a shared 2-core machine: one thread measured 4x faster than two
STEPS = 30 if SMALL else 400  # training steps per toy task; each full run takes seconds
torch.manual_seed(0)
rng = torch.Generator().manual_seed(0)

five_configurations()
plt.show()

# %% [markdown]
# rnnkit has one model per configuration, in `rnnkit.models`. They share one contract:
# `model(inputs, targets=None, lengths=None) -> (output, loss)`, so one small training
# loop serves all five toy tasks below.

# %%
def fit(model: torch.nn.Module, batch, steps: int = STEPS, lr: float = 1e-2) -> list[float]:
    """Adam on the batches `batch()` returns; `batch()` gives (inputs, targets, keyword arguments)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        inputs, targets, kwargs = batch()
        _, loss = model(inputs, targets, **kwargs)      # forward
        optimizer.zero_grad()
        loss.backward()                                 # backward through time
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


curves = {}

# %% [markdown]
# ## One-to-one
#
# One input, one output: no sequence at all. A recurrent step from the zero state is just
# a feed-forward layer, so `OneToOne` is an ordinary classifier; it completes the family.
# Toy task: which quadrant of the plane is a point in?

# %%
def quadrant_batch(B: int = 64):
    x = torch.randn(B, 2, generator=rng)                 # (B, 2)
    y = (x[:, 0] > 0).long() * 2 + (x[:, 1] > 0).long()  # (B,): 0..3
    return x, y, {}


one = OneToOne(OneToOneConfig(num_outputs=4, input_size=2, hidden_size=32))
curves["one-to-one"] = fit(one, quadrant_batch)
x, y, _ = quadrant_batch(1000)
print(f"one-to-one: quadrant accuracy {(one(x)[0].argmax(1) == y).float().mean():.1%}")

# %% [markdown]
# ## One-to-many
#
# One input conditions a generator that emits a sequence, one token at a time, each step
# reading the token it emitted before. Image captioning works this way (the image is the
# one input), and so does generating music from a key. Toy task: given a digit d, count
# up from d to 9 and stop.
#
# Token ids: 0 is padding, 1 is the start token `bos`, 2 the end token `eos`, and digit k is k + 3.

# %%
PAD, BOS, EOS = 0, 1, 2


def count_batch(B: int = 64):
    d = torch.randint(0, 10, (B,), generator=rng)                       # (B,) the condition
    T = 11                                                              # longest output: 0..9 and eos
    targets = torch.full((B, T), PAD)
    lengths = 10 - d + 1                                                # the digits, then eos
    for b in range(B):
        digits = torch.arange(int(d[b]), 10) + 3
        targets[b, : len(digits)] = digits
        targets[b, len(digits)] = EOS
    return d, targets, {"lengths": lengths}


gen = OneToMany(OneToManyConfig(vocab_size=13, input_vocab_size=10, hidden_size=64))
curves["one-to-many"] = fit(gen, count_batch)
tokens, lengths = gen.generate(torch.tensor([3, 7, 0]), greedy=True)
for d, row, n in zip([3, 7, 0], tokens, lengths, strict=True):
    print(f"one-to-many: {d} -> {' '.join(str(int(t) - 3) if t > EOS else '<eos>' for t in row[:n])}")

# %% [markdown]
# ## Many-to-one
#
# A whole sequence in, one answer out: only the last state (or a pooling of all of them)
# reaches the loss. Sentiment analysis, spam detection and gesture recognition are
# many-to-one. Toy task: a "review" is a sequence of words; it is positive when it has more
# positive words than negative ones.

# %%
POSITIVE = ["good", "great", "fun", "lovely", "clever"]
NEGATIVE = ["bad", "dull", "awful", "slow", "silly"]
NEUTRAL = ["the", "film", "plot", "was", "and", "actors", "music", "very", "quite", "ending"]
WORDS = ["<pad>"] + POSITIVE + NEGATIVE + NEUTRAL
WORD_ID = {w: k for k, w in enumerate(WORDS)}


def review_batch(B: int = 64, T: int = 12):
    ids = torch.randint(1, len(WORDS), (B, T), generator=rng)                         # (B, T)
    pos = (ids <= len(POSITIVE)).sum(1)
    neg = ((ids > len(POSITIVE)) & (ids <= len(POSITIVE) + len(NEGATIVE))).sum(1)
    return ids, (pos > neg).long(), {}


clf = ManyToOne(ManyToOneConfig(num_outputs=2, vocab_size=len(WORDS), hidden_size=64))
curves["many-to-one"] = fit(clf, review_batch)
x, y, _ = review_batch(1000)
print(f"many-to-one: held-out accuracy {(clf(x)[0].argmax(1) == y).float().mean():.1%}")
for text in ["the film was good and the music was lovely", "the plot was dull and the ending was silly and slow"]:
    ids = torch.tensor([[WORD_ID[w] for w in text.split()]])
    p = clf(ids)[0].softmax(1)[0, 1]
    print(f"  p(positive | {text!r}) = {p:.2f}")

# %% [markdown]
# ## Many-to-many, aligned
#
# One output per input step: tagging. Part-of-speech tagging and named-entity recognition
# are aligned many-to-many. Reading the sequence in both directions (`bidirectional=True`,
# the default here) lets each tag depend on the words after it too. Toy task: tag each word
# as DET, PRON, NOUN or VERB, where some words ("watch", "fly", "park", "can") are nouns
# after a determiner and verbs after a pronoun; only the context tells.

# %%
TAGS = ["DET", "PRON", "NOUN", "VERB"]
LEXICON = {
    "DET": ["the", "a", "my"], "PRON": ["i", "we", "they"],
    "NOUN": ["dog", "river", "ball", "watch", "fly", "park", "can"],
    "VERB": ["see", "like", "throw", "watch", "fly", "park", "can"],
}
AMBIGUOUS = {"watch", "fly", "park", "can"}
VOCAB = ["<pad>"] + sorted({w for ws in LEXICON.values() for w in ws})
VOCAB_ID = {w: k for k, w in enumerate(VOCAB)}
TEMPLATES = [["PRON", "VERB", "DET", "NOUN"], ["DET", "NOUN", "VERB", "DET", "NOUN"]]


def tagging_batch(B: int = 64):
    T = 5
    ids, tags = torch.zeros(B, T, dtype=torch.long), torch.zeros(B, T, dtype=torch.long)
    lengths = torch.zeros(B, dtype=torch.long)
    for b in range(B):
        template = TEMPLATES[int(torch.randint(0, 2, (1,), generator=rng))]
        for t, tag in enumerate(template):
            words = LEXICON[tag]
            ids[b, t] = VOCAB_ID[words[int(torch.randint(0, len(words), (1,), generator=rng))]]
            tags[b, t] = TAGS.index(tag)
        lengths[b] = len(template)
    return ids, tags, {"lengths": lengths}


tagger = ManyToMany(ManyToManyConfig(num_tags=len(TAGS), vocab_size=len(VOCAB), hidden_size=32))
curves["many-to-many (aligned)"] = fit(tagger, tagging_batch)
ids, tags, kw = tagging_batch(1000)
predicted = tagger.decode(ids, kw["lengths"])
real = predicted >= 0
ambiguous = torch.isin(ids, torch.tensor([VOCAB_ID[w] for w in AMBIGUOUS])) & real
print(f"many-to-many: tag accuracy {(predicted == tags)[real].float().mean():.1%}, "
      f"on the ambiguous words {(predicted == tags)[ambiguous].float().mean():.1%}")
for text in ["we watch the fly", "the fly can park a can"]:
    words = text.split()
    out = tagger.decode(torch.tensor([[VOCAB_ID[w] for w in words]]))[0]
    print("  " + " ".join(f"{w}/{TAGS[int(t)]}" for w, t in zip(words, out, strict=True)))

# %% [markdown]
# ## Encoder–decoder (sequence to sequence)
#
# Input and output are both sequences, of different lengths and not aligned: an encoder
# reads the whole input, a decoder writes the output one token at a time. Machine
# translation is the classic case; with attention (lesson 6) the decoder looks back at
# every encoder state instead of one summary vector. Toy task: reverse a string of digits.

# %%
def reverse_batch(B: int = 64):
    lengths = torch.randint(3, 9, (B,), generator=rng)                    # (B,) source lengths
    S = int(lengths.max())
    source = torch.zeros(B, S, dtype=torch.long)
    target = torch.zeros(B, S + 1, dtype=torch.long)
    for b in range(B):
        n = int(lengths[b])
        digits = torch.randint(0, 10, (n,), generator=rng) + 3
        source[b, :n] = digits
        target[b, :n] = digits.flip(0)
        target[b, n] = EOS
    return source, target, {"lengths": lengths, "target_lengths": lengths + 1}


s2s = Seq2Seq(Seq2SeqConfig(vocab_size=13, input_vocab_size=13, hidden_size=64, attention="general"))
curves["encoder-decoder"] = fit(s2s, reverse_batch)
source, target, kw = reverse_batch(500)
tokens, out_lengths, attention = s2s.generate(source, kw["lengths"], max_length=10)
exact = [tokens[b, : out_lengths[b]].tolist() == target[b, : kw["target_lengths"][b]].tolist() for b in range(500)]
print(f"encoder-decoder: sequences reversed exactly {sum(exact) / len(exact):.1%}")
example = torch.tensor([[4, 5, 6, 7, 11, 12]])  # the digits 1 2 3 4 8 9
tokens, n, attention = s2s.generate(example, max_length=10)
print("  1 2 3 4 8 9 ->", " ".join(str(int(t) - 3) if t > EOS else "<eos>" for t in tokens[0, : n[0]]))

# %% [markdown]
# Attention weights show which source position the decoder read at each output step;
# for reversal, the last digit first, so the picture is an anti-diagonal.

# %%
plt.figure(figsize=(4, 3.6))
plt.imshow(attention[0].numpy(), cmap="Greys", vmin=0, vmax=1)
plt.xticks(range(6), ["1", "2", "3", "4", "8", "9"])
plt.yticks(range(int(n[0])), [str(int(t) - 3) if t > EOS else "<eos>" for t in tokens[0, : n[0]]])
plt.xlabel("source position")
plt.ylabel("output step")
plt.title("encoder-decoder attention")
plt.colorbar()
plt.show()

# %%
plt.figure(figsize=(7, 3))
for name, losses in curves.items():
    plt.plot(losses, label=name)
plt.yscale("log")
plt.xlabel("training step")
plt.ylabel("training loss")
plt.title("Five toy tasks, five configurations, one training loop")
plt.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Where the applications sit
#
# | application | configuration | in rnnkit |
# |---|---|---|
# | image captioning | one-to-many (image in, sentence out) | `rnnkit recipe caption` |
# | music generation | one-to-many (key in, tune out) | `rnnkit recipe music` |
# | sentiment analysis | many-to-one | `rnnkit recipe sentiment` |
# | spam detection | many-to-one | `rnnkit recipe spam` |
# | gesture / activity recognition | many-to-one over sensor channels | `rnnkit recipe gesture` |
# | forecasting a series | many-to-one (the next value) | `rnnkit recipe forecast` |
# | part-of-speech tagging | many-to-many, aligned | `rnnkit recipe pos` |
# | named-entity recognition | many-to-many, aligned (BiLSTM-CRF) | `rnnkit recipe ner` |
# | machine translation | encoder-decoder with attention | `rnnkit recipe translate` |
# | character-level text generation | many-to-many, each step predicts the next | `rnnkit train charlm` (lesson 3) |
# | chatbots | encoder-decoder with attention | `rnnkit recipe chat` |
# | summarisation | encoder-decoder (pointer-generator); extractive: many-to-many over sentences | `rnnkit recipe summarize`, `rnnkit recipe extract` |
# | fraud detection | one-to-one (one transaction in, fraud or not out) | `rnnkit recipe fraud` |
# | speech recognition | many-to-one (isolated words); many-to-many, not aligned (CTC) | `rnnkit recipe digits-spoken`, `rnnkit recipe digits-ctc` |
# | video action recognition | many-to-many per frame and many-to-one per clip | `rnnkit recipe video-action` |
# | video captioning | encoder-decoder with attention over frames | `rnnkit recipe video-caption` |
#
# `rnnkit recipe --help` lists the recipes that exist; each trains on real data that
# installs offline, and the results page (`docs/results.md`) gives the figures each one reaches.
#
# ## Exercise
#
# 1. The many-to-one classifier reads the last state. Build it with `pooling="mean"` and
#    with `pooling="max"` (see `ManyToOneConfig`). Which learns the counting task faster, and why?
# 2. Train the tagger with `bidirectional=False`. Which of the ambiguous words does it still
#    tag right, and which can it not, even in principle?
# 3. Train the encoder-decoder with `attention="none"` on sources of length 3–8, then test it
#    on length 12. What happens, and what does attention change?
