"""The regularisation of AWD-LSTM (Merity et al., 2017, "Regularizing and Optimizing LSTM Language Models").

Each is a pure function of its input and the default random generator, active in training only:

    DropConnect   W_hh' = W_hh * M / (1 - p),   M ~ Bernoulli(1 - p) per weight entry, one M per batch     (1)
    embedding     E' = E * m / (1 - p),         m ~ Bernoulli(1 - p) per row (character), one m per batch   (2)
    locked        y[b, t] = x[b, t] * m[b] / (1 - p),   one mask m[b] per sequence, the same at every t     (3)

(1) drops recurrent *weights*, not activations, so the recurrence itself stays an unmodified
LSTM: the dropped matrix is handed to the layer for one forward call (``torch.func.functional_call``)
and PyTorch's fused kernel (oneDNN on CPU) runs on it as on any weight; the gradient flows back to
W_hh through the multiply. (2) drops a character everywhere it occurs in the batch, so the model
cannot lean on any one character's vector. (3) is variational dropout (Gal & Ghahramani, 2016):
one mask for the whole sequence, unlike ordinary dropout's fresh mask at every step.
Weight tying (the head's matrix is the embedding's, Inan et al., 2017; Press & Wolf, 2017) is one
line in ``CharLM``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def drop_connect(layer: nn.Module, p: float, training: bool) -> dict[str, Tensor]:
    """The hidden-to-hidden weights of ``layer`` with DropConnect (1) applied, by parameter name, for one forward call.

    Pass the dict to ``torch.func.functional_call(layer, weights, args)``; empty when not training or p = 0.
    """
    if not training or p == 0.0:
        return {}
    return {name: F.dropout(w, p, True) for name, w in layer.named_parameters() if name.startswith("weight_hh")}  # (1)


def embedding_dropout(embedding: nn.Embedding, ids: Tensor, p: float, training: bool) -> Tensor:
    """Embed ids (B, T) with whole rows of the embedding matrix dropped (2). Returns (B, T, E)."""
    if not training or p == 0.0:
        return embedding(ids)
    weight = embedding.weight  # (V, E)
    keep = torch.bernoulli(weight.new_full((weight.size(0), 1), 1.0 - p)) / (1.0 - p)  # (V, 1): one draw per row
    return F.embedding(ids, weight * keep)  # (2)


def locked_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Variational dropout (3) on x (B, T, C): one mask per sequence, shared by all T steps. Returns (B, T, C)."""
    if not training or p == 0.0:
        return x
    keep = torch.bernoulli(x.new_full((x.size(0), 1, x.size(2)), 1.0 - p)) / (1.0 - p)  # (B, 1, C)
    return x * keep  # (3)
