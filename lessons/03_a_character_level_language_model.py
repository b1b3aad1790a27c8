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
# # 3. A character-level language model
#
# A language model gives the probability of the next character given the ones before it.
# Trained on a text, it can then *write*: sample a character, feed it back in, repeat. This
# is the many-to-many configuration of lesson 2 where the target at step t is simply the
# input at step t + 1 (Karpathy's char-rnn, and min-char-rnn in 112 lines of numpy).
#
# In this lesson: the vocabulary, one-hot vectors versus an embedding, training with
# truncated backpropagation through time and a carried state, and sampling one character
# at a time with a temperature, watching the samples improve as training goes on. The
# model, the batching and the sampler are rnnkit's own (`rnnkit.lm`); the training loop is
# written out here so every step is visible. `rnnkit train charlm` runs the same loop with
# a learning-rate schedule, evaluation, checkpoints and exact resume.

# %%
import os
import time

import matplotlib.pyplot as plt
import torch

from rnnkit.lm import CharLM, CharLMConfig, detach_state, evaluate, sample
from rnnkit.lm.data import StreamBatches, corpus_from_text
from rnnkit.lm.embedded import embedded_text

SMALL = os.environ.get("RNNKIT_LESSON_SMALL") == "1"  # the tests run every lesson in this mode
torch.manual_seed(0)
torch.set_num_threads(1)  # small models on a shared 2-core machine: one thread measured 4x faster than two

# %% [markdown]
# ## The text and its vocabulary
#
# rnnkit ships no data set; its default corpus is one every Python installation already
# has, Python's own reference documentation (`pydoc_data.topics`).

# %%
text, source = embedded_text()
text = text[: 30_000 if SMALL else 465_000]
print(f"{source}: {len(text):,} characters")
print(text[:300])

# %%
corpus = corpus_from_text(text)  # the vocabulary, and the text as one id per character
vocab = corpus.vocab
print(f"{len(vocab)} distinct characters: {''.join(vocab.chars)!r}")
print("'for' ->", vocab.encode("for"), "->", repr(vocab.decode(vocab.encode("for"))))
train_ids, val_ids = corpus.split(0.1)  # the last 10% is held out
print(f"train {len(train_ids):,} characters, validation {len(val_ids):,}")

# %% [markdown]
# ## One-hot or embedding: the same thing
#
# The classic input is a one-hot vector of size V per character. Multiplying a one-hot
# vector by a matrix W (V × E) picks out one row of W; an embedding layer does exactly that,
# without building the zeros. So `nn.Embedding(V, E)` *is* a linear layer on one-hot input.

# %%
V, E = len(vocab), 16
embedding = torch.nn.Embedding(V, E)
ids = torch.tensor(vocab.encode("def"))                       # (3,)
one_hot = torch.nn.functional.one_hot(ids, V).float()          # (3, V)
torch.testing.assert_close(one_hot @ embedding.weight, embedding(ids))
print("one_hot(ids) @ W == embedding(ids):", tuple((one_hot @ embedding.weight).shape))

# %% [markdown]
# ## The model
#
# `CharLM` is embedding → LSTM → linear head over the V characters, with the
# `forward(ids, targets=None, state=None) -> (logits, loss)` contract. The loss is the mean
# cross-entropy in nats per character; dividing by ln 2 gives bits per character. A model
# that knows nothing scores ln V.

# %%
config = CharLMConfig(vocab_size=V, hidden_size=32 if SMALL else 128, embedding_size=32 if SMALL else 64)
model = CharLM(config, vocab)
print(config)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters; a uniform guess scores ln V = {torch.log(torch.tensor(V)):.2f} nats")

# %% [markdown]
# ## Truncated backpropagation through time, with a carried state
#
# The training text is cut into B parallel *streams*; batch k holds the k-th chunk of
# `bptt` characters of every stream (`StreamBatches`). The state at the end of one chunk is
# the start of the next, so the model sees context far longer than a chunk, but gradients
# flow back only within a chunk: `detach_state` keeps the values and cuts the graph.

# %%
B, BPTT = 32, 64
batches = StreamBatches(train_ids, B, BPTT)
x, y = batches.batch(0)
print("inputs ", tuple(x.shape), repr(vocab.decode(x[0, :40].tolist())))
print("targets", tuple(y.shape), repr(vocab.decode(y[0, :40].tolist())), " (shifted by one)")
x1, _ = batches.batch(1)
print("stream 0, chunk 1 continues where chunk 0 stopped:", repr(vocab.decode(x1[0, :40].tolist())))

# %% [markdown]
# Now the loop: forward, backward, clip, step, and every so often a sample. Sampling
# (`rnnkit.lm.sample`) warms the state on a prime, then draws one character at a time from
# softmax(logits / temperature), feeding each back in.

# %%
STEPS = 60 if SMALL else 1500
SHOW_AT = [0, 20, 60] if SMALL else [0, 100, 300, 700, 1500]
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2 if SMALL else 5e-3)
generator = torch.Generator().manual_seed(1)
history, samples, state = [], {}, None
start = time.perf_counter()
for step in range(STEPS + 1):
    if step in SHOW_AT:
        samples[step] = sample(model, "The ", 160, temperature=0.8, generator=generator)
        val = evaluate(model, val_ids, max_chars=20_000)
        history.append((step, val))
        print(f"--- step {step}: validation loss {val:.3f} nats/char ({val / 0.6931:.2f} bits/char), "
              f"{time.perf_counter() - start:.0f} s\nThe {samples[step]}\n")
        model.train()
    if step == STEPS:
        break
    if batches.starts_epoch(step):
        state = None  # the streams start over: the carried state belongs to another place in the text
    x, y = batches.batch(step)                   # (B, T) each
    _, loss = model(x, y, state)                 # forward over the chunk
    state = detach_state(model.final_state)      # carry the values, cut the graph
    optimizer.zero_grad()
    loss.backward()                              # gradients flow back at most BPTT characters
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()

# %%
steps, losses = zip(*history, strict=True)
plt.figure(figsize=(6, 3))
plt.plot(steps, losses, marker="o")
plt.axhline(torch.log(torch.tensor(float(V))).item(), color="grey", ls="--", label="uniform guess, ln V")
plt.xlabel("training step")
plt.ylabel("validation loss (nats/char)")
plt.legend()
plt.title("The samples above, as a number")
plt.show()

# %% [markdown]
# ## Temperature
#
# Dividing the logits by a temperature τ before the softmax sharpens the distribution
# (τ < 1: safer, more repetitive) or flattens it (τ > 1: more surprising, more mistakes).
# τ → 0 is the argmax (`greedy=True`).

# %%
for temperature in [0.2, 0.8, 1.5]:
    generated = sample(model, "The ", 200, temperature=temperature, generator=torch.Generator().manual_seed(2))
    print(f"--- temperature {temperature}\nThe {generated}\n")

# %%
logits, _ = model(torch.tensor([vocab.encode("The ")]))
fig, axes = plt.subplots(1, 3, figsize=(12, 2.6), sharey=True)
for ax, temperature in zip(axes, [0.2, 0.8, 1.5], strict=True):
    p = torch.softmax(logits[0, -1] / temperature, dim=-1).detach()
    top = p.topk(12)
    ax.bar([repr(vocab.chars[i])[1:-1] for i in top.indices], top.values)
    ax.set_title(f"p(next | 'The '), τ = {temperature}")
plt.show()

# %% [markdown]
# ## Exercise
#
# 1. Set `BPTT = 8` and train again. The carried state still reaches back further than 8
#    characters; what can the model no longer *learn*, and does the validation loss show it?
# 2. Replace `state = detach_state(model.final_state)` by `state = None` (no carried state).
#    How much worse is the loss after the same number of steps?
# 3. Train with `CharLMConfig(..., cell="gru")` and `cell="rnn"`. Which reaches the lowest
#    loss in the same number of steps, and in the same number of seconds?
# 4. From the command line: `rnnkit train charlm --hidden-size 128 --time-budget 300 --out runs/mine`,
#    then `rnnkit sample runs/mine --prime "The " --temperature 0.8`. The next lessons look inside such a model.
