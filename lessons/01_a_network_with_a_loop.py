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
# # 1. A network with a loop
#
# A feed-forward network maps one input to one output. A **recurrent** network reads a
# sequence x_1, x_2, …, x_T one element at a time and keeps a *state* h_t that summarises
# what it has read so far. At every step it applies the same function, with the same
# weights, to the previous state and the new input:
#
#     h_t = f(h_{t-1}, x_t)
#
# For the simplest recurrent cell, the Elman RNN (Elman, 1990), f is one affine map and a tanh:
#
#     h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
#
# That is the whole idea. In this lesson we compute it by hand for a few steps on a tiny
# example, check that `rnnkit.rnn_step` computes the same thing, then unroll it over a
# sequence and draw the shapes at each step.
#
# Shape legend used everywhere in rnnkit: **B** batch, **T** time steps, **I** input size,
# **H** hidden size.

# %%
import os

import matplotlib.pyplot as plt
import torch
from diagrams import unrolled

import rnnkit

SMALL = os.environ.get("RNNKIT_LESSON_SMALL") == "1"  # the tests run every lesson in this mode
torch.set_num_threads(1)  # small models on a shared 2-core machine: one thread measured 4x faster than two
torch.manual_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)

# %% [markdown]
# ## One step, by hand
#
# A batch of B = 1 sequence, inputs of size I = 2, a state of size H = 3. The weights are
# small random numbers; the initial state h_0 is zero.

# %%
B, I, H = 1, 2, 3
W_ih = torch.randn(H, I) * 0.5   # (H, I): how the input enters the state
W_hh = torch.randn(H, H) * 0.5   # (H, H): how the previous state enters the new one
b_ih = torch.zeros(H)
b_hh = torch.zeros(H)

x_1 = torch.tensor([[1.0, 0.0]])  # (B, I)
h_0 = torch.zeros(B, H)           # (B, H)

# the equation, term by term
input_part = x_1 @ W_ih.T + b_ih        # (B, H)
state_part = h_0 @ W_hh.T + b_hh        # (B, H): zero at the first step, since h_0 = 0
h_1 = torch.tanh(input_part + state_part)
print("input part:", input_part)
print("state part:", state_part)
print("h_1       :", h_1)

# %% [markdown]
# The second step is where the loop shows: the state part is no longer zero, so h_2
# depends on x_1 through h_1.

# %%
x_2 = torch.tensor([[0.0, 1.0]])
h_2 = torch.tanh(x_2 @ W_ih.T + b_ih + h_1 @ W_hh.T + b_hh)
print("h_2:", h_2)

# %% [markdown]
# ## The same step with rnnkit
#
# `rnnkit.rnn_step` is the pure function the library's Elman cell, layer and fast paths are
# checked against. Its arguments use PyTorch's names (`weight_ih`, `weight_hh`, …), so the
# numbers above go straight in.

# %%
h_1_lib = rnnkit.rnn_step(x_1, h_0, W_ih, W_hh, b_ih, b_hh)
h_2_lib = rnnkit.rnn_step(x_2, h_1_lib, W_ih, W_hh, b_ih, b_hh)
torch.testing.assert_close(h_1_lib, h_1)
torch.testing.assert_close(h_2_lib, h_2)
print("rnn_step agrees with the hand computation:", h_2_lib)

# %% [markdown]
# ## Unrolled over a sequence
#
# Running the loop over T steps is "unrolling" the network: T copies of the same cell,
# sharing one set of weights, each handing its state to the next. Below, a batch of
# B = 4 sequences of length T = 5, stepped through by hand with `rnn_step`.

# %%
B, T = 4, 5
x = torch.randn(B, T, I)  # (B, T, I)
h = torch.zeros(B, H)     # (B, H)
states = []
for t in range(T):
    h = rnnkit.rnn_step(x[:, t], h, W_ih, W_hh, b_ih, b_hh)  # (B, I), (B, H) -> (B, H)
    states.append(h)
    print(f"t = {t + 1}: x_t {tuple(x[:, t].shape)}, h_t {tuple(h.shape)}")
outputs = torch.stack(states, dim=1)  # (B, T, H): every step's state

# %%
fig, ax = plt.subplots(figsize=(11, 2.6))
unrolled(ax, T, "(B, I)", "(B, H)", title=f"The recurrence unrolled over T = {T} steps; B = {B}, I = {I}, H = {H}")
plt.show()

# %% [markdown]
# The layer `rnnkit.RNN` does the same loop for whole sequences (and, when it can, runs a fused
# kernel instead of the Python loop; tests prove the two equal). Its parameters carry a layer
# suffix, `weight_ih_l0`, exactly as `torch.nn.RNN`'s do, so we copy our weights in.

# %%
layer = rnnkit.RNN(input_size=I, hidden_size=H, batch_first=True)
with torch.no_grad():
    layer.weight_ih_l0.copy_(W_ih)
    layer.weight_hh_l0.copy_(W_hh)
    layer.bias_ih_l0.copy_(b_ih)
    layer.bias_hh_l0.copy_(b_hh)

out, h_n = layer(x)  # out (B, T, H): h_t at every step; h_n (num_layers, B, H): the last state
print("out", tuple(out.shape), " h_n", tuple(h_n.shape))
torch.testing.assert_close(out, outputs)
torch.testing.assert_close(h_n[0], outputs[:, -1])
print("the layer's output is the stack of the states we computed step by step")

# %% [markdown]
# `layer.record(x)` runs the readable reference loop and keeps what every step computed.
# For the Elman cell that is the pre-activation `a` (what goes into the tanh) and the state `h`.

# %%
rec = layer.record(x)
step = rec.steps[0][0]  # layer 0, forward direction
print({name: tuple(v.shape) for name, v in step.items()})
torch.testing.assert_close(torch.tanh(step["a"]), step["h"])

fig, axes = plt.subplots(1, 2, figsize=(10, 2.6))
for ax, name in zip(axes, ["a", "h"], strict=True):
    im = ax.imshow(step[name][0].detach().T, cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    ax.set_xlabel("time step t")
    ax.set_ylabel("unit")
    ax.set_xticks(range(T), [str(t + 1) for t in range(T)])
    ax.set_title(f"{name} of sequence 0 (H = {H} units)")
fig.colorbar(im, ax=axes)
plt.show()

# %% [markdown]
# ## How much of the past is left?
#
# Because each step multiplies the old state by W_hh and squashes it with tanh, the
# influence of x_1 on h_t usually fades as t grows. We can see it directly: change only
# x_1 and measure how much each h_t moves.

# %%
T_long = 10 if SMALL else 30
layer64 = rnnkit.RNN(I, H, batch_first=True).double()  # float64: the differences get tiny
layer64.load_state_dict(layer.state_dict())
x_a = torch.randn(1, T_long, I, dtype=torch.float64)
x_b = x_a.clone()
x_b[:, 0] += 1.0  # the same sequence, except for its first element
with torch.no_grad():
    diff = (layer64(x_a)[0] - layer64(x_b)[0]).norm(dim=-1)[0]  # (T,)
plt.figure(figsize=(6, 2.8))
plt.semilogy(range(1, T_long + 1), diff.numpy(), marker="o")
plt.xlabel("time step t")
plt.ylabel("||h_t(x) - h_t(x')||")
plt.title("Changing x_1 only: its effect on later states")
plt.show()
print(f"effect at t = 1: {diff[0]:.3f}; at t = {T_long}: {diff[-1]:.2e}")

# %% [markdown]
# This fading memory is the *long-term dependency problem*; lessons 4 and 5 show how the
# LSTM and GRU gates address it.
#
# ## Exercise
#
# 1. Set `W_hh` to zero and rerun. What does the network compute now, and why is
#    `out[:, t]` a function of `x[:, t]` alone?
# 2. Scale `W_hh` by 3 instead of 0.5. What happens to the "how much of the past is left"
#    plot? (Hint: look at how saturated the tanh is, `step["a"].abs()`.)
# 3. Build `rnnkit.RNN(I, H, nonlinearity="relu")` and copy the same weights. Does the
#    effect of x_1 fade in the same way?
# 4. How many parameters does `layer` have? Write the count as a formula in I and H, and
#    check it with `sum(p.numel() for p in layer.parameters())`.
