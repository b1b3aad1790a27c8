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
# # 4. Inside an LSTM
#
# Lesson 1 ended with a state that forgets: every step multiplies it by W_hh and squashes
# it. The LSTM (Hochreiter & Schmidhuber, 1997; forget gate: Gers et al., 2000) adds a second
# state, the **cell state** c, that runs along the sequence like a conveyor belt. Nothing
# multiplies it by a matrix; at each step three *gates*, numbers between 0 and 1 computed
# from the input and the previous output, decide what to do with it:
#
#     i = σ(W_ii x + b_ii + W_hi h_prev + b_hi)    input gate: how much to write
#     f = σ(W_if x + b_if + W_hf h_prev + b_hf)    forget gate: how much to keep
#     g = tanh(W_ig x + b_ig + W_hg h_prev + b_hg) candidate: what to write
#     o = σ(W_io x + b_io + W_ho h_prev + b_ho)    output gate: how much to show
#     c = f * c_prev + i * g                       the conveyor belt: keep some, add some
#     h = o * tanh(c)                              what the rest of the network sees
#
# These are the numbered equations at the top of `rnnkit/cells/lstm.py`, and
# `rnnkit.lstm_step` computes them line by line. colah's "Understanding LSTM Networks"
# draws the same thing.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import torch

import rnnkit
from rnnkit.lm import TrainConfig, train

SMALL = os.environ.get("RNNKIT_LESSON_SMALL") == "1"  # the tests run every lesson in this mode
torch.manual_seed(0)
torch.set_num_threads(1)  # small models on a shared 2-core machine: one thread measured 4x faster than two

# %% [markdown]
# ## A worked example: counting rainy days
#
# One LSTM unit (H = 1) with weights set by hand. Each day's input is three numbers:
# `rain` (1 if it rained), `monday` (1 at the start of a week) and `sunday` (1 on the day
# a weekly report is due). We want the unit to count this week's rainy days and to show the
# count only on Sundays. Each gate gets one job:
#
# - **forget gate**: keep the count (f ≈ 1), except on Monday, when the week starts over (f ≈ 0);
# - **input gate**: write only on rainy days (i ≈ 1 if rain, else ≈ 0);
# - **candidate**: what is written is always "one more rainy day", g = 0.2;
# - **output gate**: show the count only on Sunday (o ≈ 1), hide it otherwise (o ≈ 0).
#
# The weights are laid out as PyTorch lays them: four blocks of rows in the order i, f, g, o.

# %%
BIG = 10.0  # large pre-activations push a sigmoid to ~0 or ~1
weight_ih = torch.tensor([
    # rain, monday, sunday
    [BIG, 0.0, 0.0],     # i: open on rain
    [0.0, -BIG, 0.0],    # f: close on Monday
    [0.0, 0.0, 0.0],     # g: constant, set by its bias
    [0.0, 0.0, BIG],     # o: open on Sunday
])                        # (4H, I) = (4, 3)
weight_hh = torch.zeros(4, 1)  # this example needs no feedback from h_prev
bias_ih = torch.tensor([-BIG / 2, BIG / 2, float(np.arctanh(0.2)), -BIG / 2])  # (4H,)

days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] * 2
rain = [1, 0, 1, 1, 0, 0, 0,   0, 1, 0, 0, 0, 1, 1]
h, c = torch.zeros(1, 1), torch.zeros(1, 1)
rows = []
print(" day  rain |    i     f     g     o |  c (count x 0.2)   h")
for day, r in zip(days, rain, strict=True):
    x = torch.tensor([[float(r), float(day == "Mon"), float(day == "Sun")]])  # (B, I) = (1, 3)
    gates: dict[str, torch.Tensor] = {}
    h, c = rnnkit.lstm_step(x, h, c, weight_ih, weight_hh, bias_ih, None, record=gates)
    row = [gates[k].item() for k in "ifgo"] + [c.item(), h.item()]
    rows.append(row)
    print(f" {day}   {r}   | {row[0]:5.2f} {row[1]:5.2f} {row[2]:5.2f} {row[3]:5.2f} | {row[4]:6.2f}  {row[5]:9.3f}")

# %%
rows_array = np.array(rows)
fig, ax = plt.subplots(figsize=(9, 3))
for k, name in enumerate(["input gate i", "forget gate f", "output gate o"]):
    ax.step(range(len(days)), rows_array[:, [0, 1, 3][k]], where="mid", label=name)
ax.bar(range(len(days)), rows_array[:, 4], color="#9fd89f", alpha=0.6, label="cell state c")
ax.set_xticks(range(len(days)), [f"{d}\n{'rain' if r else ''}" for d, r in zip(days, rain, strict=True)], fontsize=8)
ax.legend(fontsize=8, ncol=4, loc="upper left")
ax.set_ylim(0, 1.25)
ax.set_title("One LSTM unit counting rainy days: the belt is reset on Monday and read on Sunday")
plt.show()

# %% [markdown]
# The count survives Tuesday to Saturday untouched because f ≈ 1 and i ≈ 0 on dry days:
# c = 1·c + 0·g. In a plain RNN the same number would have been multiplied by a weight and
# squashed every day. Translation needs the same trick: a gender or a number seen early in a
# sentence is kept in c until the word that must agree with it comes along.
#
# ## The gates of a trained model, character by character
#
# Next, an LSTM language model trained on Python's documentation (the corpus of lesson 3),
# with rnnkit's own trainer, `rnnkit.lm.train`.

# %%
STEPS = 40 if SMALL else 800
HIDDEN = 16 if SMALL else 128
settings = TrainConfig(max_steps=STEPS, eval_every=STEPS, eval_chars=20_000, lr=1e-2, warmup_steps=min(50, STEPS // 4))
lstm_run = train(settings, {"cell": "lstm", "hidden_size": HIDDEN, "embedding_size": 32}, progress=False)
model, vocab = lstm_run.model, lstm_run.vocab
print(f"LSTM: {lstm_run.step} steps, validation loss {lstm_run.last_val_loss:.3f} nats/char")

# %% [markdown]
# `layer.record(x)` runs the layer's reference loop and keeps every gate and state at every
# step: `rec.steps[layer][direction]` maps "i", "f", "g", "o", "h", "c" to (B, T, H) tensors.

# %%
# a paragraph first, so that the state is warmed up when the sentence we look at begins
warm_up = "Compound statements contain (groups of) other statements; they affect or control the execution of those other statements.\n\n"
sentence = 'The "for" statement is used to iterate over the elements of a sequence (such as a string).'
ids = torch.tensor([vocab.encode(warm_up + sentence)])  # (1, T)
model.eval()
with torch.no_grad():
    rec = model.rnn.record(model.embedding(ids))
shown = slice(len(warm_up), None)  # the sentence's steps
steps = {name: value[0, shown].numpy() for name, value in rec.steps[0][0].items()}  # each (T, H)
print({name: value.shape for name, value in steps.items()})


def per_character(values: np.ndarray, title: str, ax: plt.Axes, cmap: str = "viridis", lim: tuple = (0, 1)) -> None:
    """A (T, H) array as units x characters, the sentence along the bottom."""
    im = ax.imshow(values.T, aspect="auto", cmap=cmap, vmin=lim[0], vmax=lim[1], interpolation="nearest")
    ax.set_xticks(range(len(sentence)), list(sentence), fontsize=7, fontfamily="monospace")
    ax.set_ylabel("unit")
    ax.set_title(title, fontsize=10)
    plt.colorbar(im, ax=ax, pad=0.01)


units = np.argsort(-steps["f"].std(0))[:16]  # the 16 units whose forget gate moves most over the sentence
fig, axes = plt.subplots(4, 1, figsize=(15, 11))
per_character(steps["i"][:, units], "input gate i (1: write)", axes[0])
per_character(steps["f"][:, units], "forget gate f (1: keep)", axes[1])
per_character(steps["o"][:, units], "output gate o (1: show)", axes[2])
per_character(np.tanh(steps["c"][:, units]), "tanh(cell state c)", axes[3], cmap="RdBu_r", lim=(-1, 1))
fig.tight_layout()
plt.show()

# %% [markdown]
# Things to look for: forget gates that dip at a space or a quote (a unit dropping what it
# kept about the current word or string), input gates that open on particular characters,
# cell states that hold a value across the quoted word. The gates are mostly saturated,
# near 0 or 1, which is what makes them act like switches.

# %%
fig, ax = plt.subplots(figsize=(15, 2.8))
for name in "ifo":
    ax.plot(steps[name].mean(1), label=f"mean {name} over {steps[name].shape[1]} units", marker=".")
ax.set_xticks(range(len(sentence)), list(sentence), fontsize=7, fontfamily="monospace")
ax.set_ylim(0, 1)
ax.legend(fontsize=8, ncol=3)
ax.set_title("Average gate value at each character")
plt.show()

# %% [markdown]
# ## The GRU's two gates
#
# The GRU (Cho et al., 2014) merges the cell and hidden states and uses two gates:
#
#     r = σ(W_ir x + b_ir + W_hr h_prev + b_hr)          reset gate: how much of h_prev the candidate sees
#     z = σ(W_iz x + b_iz + W_hz h_prev + b_hz)          update gate: how much of h_prev to keep
#     n = tanh(W_in x + b_in + r * (W_hn h_prev + b_hn)) candidate
#     h = (1 - z) * n + z * h_prev
#
# z plays the forget gate and 1 − z the input gate, tied together: whatever is kept is not
# overwritten. The same sentence through a GRU language model of the same size:

# %%
gru_run = train(settings, {"cell": "gru", "hidden_size": HIDDEN, "embedding_size": 32}, progress=False)
print(f"GRU: {gru_run.step} steps, validation loss {gru_run.last_val_loss:.3f} nats/char")
gru = gru_run.model.eval()
with torch.no_grad():
    gru_steps = {k: v[0, shown].numpy() for k, v in gru.rnn.record(gru.embedding(ids)).steps[0][0].items()}
units = np.argsort(-gru_steps["z"].std(0))[:16]  # the units whose update gate moves most
fig, axes = plt.subplots(3, 1, figsize=(15, 8))
per_character(gru_steps["r"][:, units], "reset gate r", axes[0])
per_character(gru_steps["z"][:, units], "update gate z (1: keep h_prev)", axes[1])
per_character(gru_steps["h"][:, units], "state h", axes[2], cmap="RdBu_r", lim=(-1, 1))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise
#
# 1. In the rainy-day unit, make the forget gate close on Sunday *after* the report instead
#    of on Monday. (Hint: the gate at a step sees that step's input only, and h_prev;
#    you may give `weight_hh` a non-zero entry.)
# 2. Build the same counter from a GRU step (`rnnkit.gru_step`, gate order r, z, n). Which
#    gate plays the forget gate, and can a GRU hide its count until Sunday the way the output
#    gate did?
# 3. Find a unit in the trained LSTM whose forget gate drops at every space. What does its
#    cell state do over a word? Try `sentence = "a bb ccc dddd eeeee"` with characters from the vocabulary.
