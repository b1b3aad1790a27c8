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
# # 5. Why gates: the long-term dependency problem
#
# > I grew up in France … (a long paragraph) … I speak fluent \_\_\_.
#
# The answer depends on one word far back. To learn that, the error at "fluent \_\_\_" has to
# reach the weights that read "France", backwards through every step in between.
# Backpropagation through time multiplies the gradient by the step Jacobian `∂h_t/∂h_{t-1}`
# once per step. For an Elman RNN that is `diag(1 − h_t²) W_hh`, whose norm is usually below
# one, so the gradient shrinks geometrically with the gap (Bengio, Simard & Frasconi, 1994;
# Pascanu, Mikolov & Bengio, 2013). The LSTM's cell state has `∂c_t/∂c_{t-1} = f_t`: with a
# forget gate near 1 the error passes back almost unchanged. The GRU's `h_t = (1 − z) n + z h_{t-1}`
# gives the same kind of path through z.
#
# This lesson measures both halves of that story with `rnnkit.lab`: the gradient flow
# itself, then whether each cell can *learn* tasks whose gap we control.

# %%
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import torch

from rnnkit.lab.gradient_flow import GradientFlowConfig, gradient_flow
from rnnkit.lab.long_term import LongTermConfig, run_long_term
from rnnkit.lab.model import ProbeModel
from rnnkit.lab.problems import COUNTRIES, RecallTask

SMALL = os.environ.get("RNNKIT_LESSON_SMALL") == "1"  # the tests run every lesson in this mode
torch.set_num_threads(1)  # small models on a shared 2-core machine: one thread measured 4x faster than two

# %% [markdown]
# ## Gradient flow through time
#
# The probe: the adding problem (two numbers in a sequence of T are marked; the answer, read
# after the last step, is their sum), one recurrent layer of 32 units and a linear readout.
# `gradient_flow` measures ‖∂L/∂h_t‖ at every step t, for each cell, at initialisation and
# after some training, stepping the layer through its own reference path so that every h_t
# is a node autograd can differentiate against.

# %%
T_FLOW = 20 if SMALL else 50
TRAIN = 10 if SMALL else 800
curves = gradient_flow(GradientFlowConfig(length=T_FLOW, train_steps=f"0,{TRAIN}", batch_size=64))

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
for ax, trained in zip(axes, [0, TRAIN], strict=True):
    for curve in (c for c in curves if c.trained_steps == trained):
        ax.plot(range(1, T_FLOW + 1), 10.0 ** np.array(curve.mean_log_norm), label=f"{curve.cell} (task loss {curve.final_loss:.3f})")
    ax.set_yscale("log")
    ax.set_xlabel("time step t (the loss is read after the last step)")
    ax.set_title("at initialisation" if trained == 0 else f"after {trained} training steps")
    ax.legend(fontsize=8)
axes[0].set_ylabel("||dL/dh_t|| (geometric mean over 64 sequences)")
plt.show()

for curve in curves:
    ratio = curve.mean_log_norm[0] - curve.mean_log_norm[-1]
    print(f"{curve.cell:>4} after {curve.trained_steps:>4} steps: ||dL/dh_1|| / ||dL/dh_{T_FLOW}|| = 10^{ratio:.1f}")

# %% [markdown]
# Read each panel from right to left: that is the direction the error travels. At
# initialisation the Elman RNN's gradient falls by orders of magnitude before it reaches the
# first steps; the LSTM's, carried by forget gates that start near σ(1) ≈ 0.73 (rnnkit's
# default forget bias of 1), falls more slowly, and the untrained GRU is as bad as the RNN.
# A cell that has learnt the task has had to open a path back to the marked numbers: compare
# each cell's task loss in the right panel with its curve. The lab page (`docs/lab.md`) has the
# full measurement (T = 100, 1,000 steps: the trained LSTM at 10^-1.7, the GRU at 10^-1.1,
# the RNN still at 10^-6.8).
#
# ## Learning across a growing gap
#
# A small gradient is not yet a failure to learn. The direct test: train each cell on the
# same task at growing gaps, with the same budget, and see where it stops learning.
# `run_long_term` is what `rnnkit lab long-term` runs. First the adding problem
# ("solved" means a held-out MSE below 0.01; always answering 1 scores 0.167):

# %%
out = tempfile.mkdtemp()  # run_long_term writes its CSV, table and plot here
adding = run_long_term(LongTermConfig(
    task="adding", lengths="5,10" if SMALL else "10,50", max_steps=20 if SMALL else 600,
    eval_every=10 if SMALL else 100, eval_size=256, skip_after_fails=0, out=out,
))

# %% [markdown]
# Then the recall task: "i grew up in *country* ·· T filler words ·· . i speak fluent \_\_\_",
# with 8 countries and their languages, so guessing scores ln 8 ≈ 2.08 and "solved" means a
# cross-entropy below a tenth of that.

# %%
task = RecallTask(length=6)
x, y = task.sample(2, torch.Generator().manual_seed(0))
for row, answer in zip(x, y, strict=True):
    print(task.decode(row), "->", task.vocabulary[int(answer)])

recall = run_long_term(LongTermConfig(
    task="recall", lengths="3,6" if SMALL else "5,25,50", max_steps=20 if SMALL else 600,
    eval_every=10 if SMALL else 100, eval_size=256, skip_after_fails=0, out=out,
))

# %%
# %matplotlib inline
# (rnnkit's plotting functions write files on matplotlib's file-only backend; the line above switches the notebook back)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
for ax, results, name in [(axes[0], adding, "adding (MSE)"), (axes[1], recall, "recall (cross-entropy)")]:
    for cell in ["rnn", "lstm", "gru"]:
        runs = [r for r in results if r.cell == cell]
        ax.plot([r.length for r in runs], [r.metric for r in runs], marker="o", label=cell)
    ax.axhline(results[0].baseline, color="grey", ls="--", label="remembers nothing")
    ax.axhline(results[0].solved_below, color="green", ls=":", label="solved below")
    ax.set_yscale("log")
    ax.set_xlabel("gap T")
    ax.set_title(name)
    ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# With this budget (at most 600 steps per run, one seed), the cells part ways as the gap
# grows; what you see above is this run's measurement. The lab's longer runs
# (lab page (`docs/lab.md`)) found the Elman RNN failing the adding problem from T = 50 on, the
# LSTM solving it up to T = 200 and the GRU up to T = 400; on recall, the GRU solved every
# gap up to 400 words while, at those settings, the LSTM did not learn it past T = 10,
# which that page reports as an open question rather than explaining it away.
#
# ## "… I speak fluent \_\_\_"
#
# Finally, the sentence itself. We train an Elman RNN, an LSTM and a GRU probe on the recall
# task with a gap of 20 filler words, 600 steps each, then hand each a sentence we wrote.

# %%
GAP = 4 if SMALL else 20
recall_task = RecallTask(length=GAP)
index = {w: k for k, w in enumerate(recall_task.vocabulary)}


def train_probe(cell: str, steps: int) -> ProbeModel:
    """Train a ProbeModel on the recall task: forward, backward, clip, step (the loop of `rnnkit lab`)."""
    torch.manual_seed(0)
    model = ProbeModel(recall_task, cell, hidden_size=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    data = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x, y = recall_task.sample(64, data)
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model.eval()


def complete(model: ProbeModel, sentence: str) -> str:
    """The three most likely next words after the sentence, with their probabilities."""
    ids = torch.tensor([[index[w] for w in sentence.split()]])  # (1, T)
    with torch.no_grad():
        output, _ = model(ids)                                    # (1, T, V)
    p = output[0, -1].softmax(-1)
    top = p.topk(3)
    return ", ".join(f"{recall_task.vocabulary[int(k)]} {float(v):.2f}" for v, k in zip(top.values, top.indices, strict=True))


probes = {cell: train_probe(cell, 30 if SMALL else 600) for cell in ["rnn", "lstm", "gru"]}
filler = "we walked to the old school in the village and played with the dog in the garden many years later"
for country in ["france", "japan"]:
    sentence = f"i grew up in {country} {filler} . i speak fluent"
    print(f"{sentence} ___   (gap: {len(filler.split())} words; the answer is {COUNTRIES[country]})")
    for cell, model in probes.items():
        print(f"    {cell:>4}: {complete(model, sentence)}")

# %% [markdown]
# Only the country word differs between the two sentences, twenty words before the blank.
# A model whose answer changes with it has carried the country across the gap; one that
# gives the same distribution for both has not.
#
# ## Exercise
#
# 1. Rerun the gradient-flow measurement with `GradientFlowConfig(forget_bias=0.0)` (the LSTM's
#    forget gates then start at σ(0) = 0.5). How does the LSTM's curve at initialisation change,
#    and by how much per step? Predict it from `∂c_t/∂c_{t-1} = f_t` before you run it.
# 2. Make the recall probes' sentence longer than the training gap (more filler words). Does the
#    GRU still answer right? What does that say about what it has learnt?
# 3. The lab page leaves open why the LSTM fails recall past T = 10 at lr 1e-2. Try
#    `LongTermConfig(task="recall", cells="lstm", lengths="25", lr=3e-3)`, or `hidden_size=64`.
#    Write down what you changed and what happened, whichever way it goes.
