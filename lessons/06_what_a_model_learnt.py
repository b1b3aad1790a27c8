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
# # 6. Seeing what a trained model learnt
#
# A trained network is a few hundred thousand numbers. Two ways to read some of them:
#
# 1. **Interpretable units** (Karpathy, Johnson & Fei-Fei, 2015, "Visualizing and
#    Understanding Recurrent Networks"): record every unit of a character-level LM over a
#    text, correlate each unit with simple properties of the text (inside quotes, position
#    in the line, indentation, …), and colour the text by the best unit.
# 2. **Attention** (Bahdanau, Cho & Bengio, 2015): in an encoder–decoder, the weights with
#    which each output step reads the input positions form a picture of the alignment.
#
# The tools are `rnnkit.lab` (what `rnnkit inspect` runs) and `rnnkit.models.Seq2Seq`.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from IPython.display import Image, display

from rnnkit.lab.features import compute_features
from rnnkit.lab.neurons import saturation, top_neurons, trace_text
from rnnkit.lab.render import text_png
from rnnkit.lab.report import inspect_report
from rnnkit.lm import TrainConfig, train
from rnnkit.lm.embedded import embedded_text
from rnnkit.models import Seq2Seq, Seq2SeqConfig

SMALL = os.environ.get("RNNKIT_LESSON_SMALL") == "1"  # the tests run every lesson in this mode
torch.set_num_threads(1)  # small models on a shared 2-core machine: one thread measured 4x faster than two
out = Path(tempfile.mkdtemp())  # pictures are written here, then shown
DOCS = Path("..") / "docs"  # the figures of longer runs that ship with rnnkit

# %% [markdown]
# ## A character-level LM to look into
#
# An LSTM of 128 units trained with `rnnkit.lm.train` on Python's reference documentation
# (as in lesson 3; about two minutes here). Then 1,500 characters of held-out text, the
# start of the validation split, which the model has not trained on.

# %%
settings = TrainConfig(max_steps=40 if SMALL else 2000, eval_every=2000, eval_chars=20_000, lr=1e-2,
                       warmup_steps=10 if SMALL else 50)
run = train(settings, {"cell": "lstm", "hidden_size": 16 if SMALL else 128}, progress=False)
model, vocab = run.model, run.vocab
print(f"{run.step} steps, validation loss {run.last_val_loss:.3f} nats/char")

corpus, _ = embedded_text()
start = int(len(corpus) * (1 - settings.val_fraction))  # the validation split
text = corpus[start : start + (300 if SMALL else 1500)]
print(text[:400])

# %% [markdown]
# `trace_text` feeds the text through the model's embedding and records its LSTM layer
# (`layer.record()`): every gate and state, (T, H) each. `compute_features` gives each
# character a number per property; `top_neurons` ranks units by their Pearson correlation
# with it.

# %%
trace = trace_text(model, vocab.encode, text)
features = compute_features(text)
best = {}
for name, values in features.items():
    if values.std() == 0:
        print(f"{name:>14}: constant on this text, skipped")
        continue
    found = top_neurons(trace, values, k=3)
    best[name] = found[0]
    print(f"{name:>14}: " + ", ".join(f"{n.label()} r = {n.r:+.2f}" for n in found))

# %% [markdown]
# The unit that tracks the position in the line best, coloured over the text (red:
# positive, blue: negative):

# %%
neuron = best["line_position"]
values = trace.steps[neuron.layer][neuron.state][:, neuron.unit]
display(Image(filename=str(text_png(text[:800], values[:800], out / "line.png",
                                    title=f"{neuron.label()}, r = {neuron.r:+.2f} with the position in the line"))))

# %%
# %matplotlib inline
# (rnnkit's plotting functions write files on matplotlib's file-only backend; the line above switches the notebook back)
fig, ax = plt.subplots(figsize=(12, 2.6))
show = slice(0, 300)
ax.plot(values[show], label=neuron.label())
ax2 = ax.twinx()
ax2.plot(features["line_position"][show], color="grey", alpha=0.5, label="position in the line")
ax.set_xlabel("character")
ax.set_title("The unit and the feature it correlates with, over the first 300 characters")
fig.legend(loc="upper right", fontsize=8)
plt.show()

# %% [markdown]
# A correlation is a clue, not a proof: a unit can correlate with a feature because it
# tracks something that goes with it. Look at the coloured text before naming the unit.
#
# ## How the gates are used
#
# For each sigmoid gate, each unit's fraction of steps below 0.1 ("left-saturated", off)
# against above 0.9 (on) — Karpathy et al.'s Fig. 3. Units in the corners act as switches.

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharex=True, sharey=True)
for ax, gate in zip(axes, ["i", "f", "o"], strict=True):
    low, high = saturation(trace.steps[0][gate])
    ax.scatter(low, high, s=10, alpha=0.7)
    ax.plot([0, 1], [1, 0], color="grey", lw=0.5)
    ax.set_xlabel("fraction of steps < 0.1")
    ax.set_title({"i": "input gate", "f": "forget gate", "o": "output gate"}[gate])
axes[0].set_ylabel("fraction of steps > 0.9")
plt.show()

# %% [markdown]
# `rnnkit inspect CHECKPOINT` writes all of this, and more, as one HTML page. The same
# function from Python:

# %%
page = inspect_report(model, vocab.encode, text, out / "inspect", title="Inside the lesson's model")
print("wrote", page, "with", sorted(p.name for p in page.parent.iterdir()))

# %% [markdown]
# A model trained for longer finds cleaner units. The page shipped in
# `docs/inspect/python-docs/index.html` comes from a 128-unit LSTM
# trained for 15 minutes (validation loss 1.289 nats/char); its cell c[111] tracks the
# position in the line with r = −0.90:

# %%
shipped = DOCS / "inspect" / "python-docs" / "neuron_L1_c111.png"
if shipped.exists():
    display(Image(filename=str(shipped)))

# %% [markdown]
# ## Attention in a translator
#
# An encoder–decoder with attention scores every encoder state against the decoder's state
# at each output step; the softmax of the scores weights the states into a context vector
# (`rnnkit.models.Attention`). Plotted as a matrix, output steps × input positions, the
# weights show which input word each output word was read from.
#
# A toy "translation" where the word order changes: English adjective–noun pairs become
# French-style noun–adjective pairs ("the red car" → "la voiture rouge"), so the alignment
# must cross.

# %%
ADJECTIVES = {"red": "rouge", "green": "verte", "big": "grande", "old": "vieille", "small": "petite"}
NOUNS = {"car": "voiture", "house": "maison", "door": "porte", "table": "table", "road": "route"}
SOURCE = ["<pad>", "<bos>", "<eos>", "the", "and"] + list(ADJECTIVES) + list(NOUNS)
TARGET = ["<pad>", "<bos>", "<eos>", "la", "et"] + sorted(set(ADJECTIVES.values()) | set(NOUNS.values()))
S_ID, T_ID = {w: k for k, w in enumerate(SOURCE)}, {w: k for k, w in enumerate(TARGET)}
rng = torch.Generator().manual_seed(0)


def phrase() -> tuple[list[str], list[str]]:
    """1 to 3 "the ADJ NOUN" phrases joined by "and", and their translation."""
    english, french = [], []
    for k in range(int(torch.randint(1, 4, (1,), generator=rng))):
        adjective = list(ADJECTIVES)[int(torch.randint(0, 5, (1,), generator=rng))]
        noun = list(NOUNS)[int(torch.randint(0, 5, (1,), generator=rng))]
        english += (["and"] if k else []) + ["the", adjective, noun]
        french += (["et"] if k else []) + ["la", NOUNS[noun], ADJECTIVES[adjective]]
    return english, french


def batch(B: int = 64):
    pairs = [phrase() for _ in range(B)]
    S, T = max(len(e) for e, _ in pairs), max(len(f) for _, f in pairs) + 1
    source, target = torch.zeros(B, S, dtype=torch.long), torch.zeros(B, T, dtype=torch.long)
    for b, (e, f) in enumerate(pairs):
        source[b, : len(e)] = torch.tensor([S_ID[w] for w in e])
        target[b, : len(f) + 1] = torch.tensor([T_ID[w] for w in f] + [2])  # eos
    lengths = torch.tensor([len(e) for e, _ in pairs])
    return source, target, lengths, torch.tensor([len(f) + 1 for _, f in pairs])


torch.manual_seed(0)
translator = Seq2Seq(Seq2SeqConfig(vocab_size=len(TARGET), input_vocab_size=len(SOURCE), hidden_size=64,
                                   attention="additive"))
optimizer = torch.optim.Adam(translator.parameters(), lr=1e-2)
for _ in range(30 if SMALL else 500):
    source, target, lengths, target_lengths = batch()
    _, loss = translator(source, target, lengths=lengths, target_lengths=target_lengths)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(translator.parameters(), 1.0)
    optimizer.step()
translator.eval()
print(f"training loss at the end: {loss.item():.3f}")

# %%
# %matplotlib inline
# (rnnkit's plotting functions write files on matplotlib's file-only backend; the line above switches the notebook back)
english = "the red car and the old house".split()
tokens, n, weights = translator.generate(torch.tensor([[S_ID[w] for w in english]]), max_length=12)
french = [TARGET[int(t)] for t in tokens[0, : n[0]]]
print(" ".join(english), "->", " ".join(french))

plt.figure(figsize=(5, 4.5))
plt.imshow(weights[0, : len(french)].numpy(), cmap="Greys", vmin=0, vmax=1)
plt.xticks(range(len(english)), english, rotation=45)
plt.yticks(range(len(french)), french)
plt.xlabel("source word")
plt.ylabel("output word")
plt.title("additive attention")
plt.colorbar()
plt.show()

# %% [markdown]
# Where the order is swapped, "voiture" reads "car" and then "rouge" reads "red": the
# crossing in the matrix. (With one short training run the weights can also be spread over
# neighbours; the alignment only has to be good enough for the decoder.)
#
# The real recipe, `rnnkit recipe translate` (German → English on Multi30k, about 40
# minutes here; the figures are in `docs/results.md`), draws the same picture for real sentences:

# %%
for k in range(2):
    path = DOCS / "examples" / "translate" / f"attention-{k}.png"
    if path.exists():
        display(Image(filename=str(path)))

# %% [markdown]
# ## Exercise
#
# 1. `top_neurons(trace, features["quotes"], states=("i", "f", "o"))` searches the
#    gates instead of the states. Is the best quote unit a gate or a state?
# 2. Colour the text by the worst-correlated unit of some feature (`top_neurons(..., k=128)[-1]`).
#    Does it look like noise, or like a feature nobody wrote down?
# 3. Retrain the translator with `attention="none"` and compare its accuracy on three joined
#    phrases; then with `attention="dot"`. Which pictures are sharper?
