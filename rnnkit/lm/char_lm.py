"""A character-level language model: embedding -> recurrent stack -> linear head over the vocabulary.

The model of char-rnn (Karpathy, 2015) with an embedding instead of one-hot input. Shapes:
B batch, T time, E embedding size, H hidden size, L layers, V vocabulary size.

    e_t = Embedding(x_t)                         # (B, T, E)
    h_t = RNN(e_t, h_{t-1})                      # (B, T, H), L layers deep
    p(x_{t+1} | x_<=t) = softmax(W h_t + b)      # (B, T, V)

The RNN is an LSTM, GRU or Elman stack (``rnnkit.layers.LAYERS``), or a minGRU/minLSTM stack, whose
gates read the input only, so that it runs as one scan over the whole sequence (``rnnkit.layers.MIN_LAYERS``).
AWD-LSTM's regularisers (``rnnkit.lm.awd``) are
options, all off by default: DropConnect on W_hh, embedding dropout, locked dropout on the stack's
input and output, and weight tying (W = the embedding matrix, when E = H).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from rnnkit.layers import LAYERS, MIN_LAYERS, MinRecurrentBase, RecurrentBase
from rnnkit.lm.awd import drop_connect, embedding_dropout, locked_dropout
from rnnkit.lm.vocab import CharVocab
from rnnkit.utils.config import option

# the whole factory: cell name -> layer class
LM_LAYERS: dict[str, type[RecurrentBase] | type[MinRecurrentBase]] = {**LAYERS, **MIN_LAYERS}
PROBABILITIES = ("dropout", "embedding_dropout", "input_dropout", "output_dropout", "weight_dropout")

# a recurrent state: an LSTM's (h, c), each (L, B, H); a GRU's or RNN's h, (L, B, H)
State = Tensor | tuple[Tensor, Tensor]


@dataclass(frozen=True)
class CharLMConfig:
    """The model's shape; ``asdict`` of it goes into every checkpoint."""

    vocab_size: int = field(metadata={"help": "number of distinct characters (set from the data)"})
    # the LSTM trains fastest to a low loss here
    cell: str = option("lstm",
                       "recurrent cell (mingru, minlstm: Feng et al. 2024, gates from the input alone, one scan over "
                       "time)", choices=sorted(LM_LAYERS))
    embedding_size: int = option(64, "size of the character embedding")  # ~V is plenty for ~100 characters
    # best loss after minutes on 2 busy cores; 512 for runs of 20+ minutes (docs/benchmarks.md)
    hidden_size: int = option(256, "units per recurrent layer")
    # one layer beat two at equal time on CPU (docs/benchmarks.md)
    num_layers: int = option(1, "number of stacked recurrent layers")
    # runs of minutes underfit: nothing to regularise
    dropout: float = option(0.0, "dropout on the embedding, between layers and before the head")
    # Jozefowicz et al. (2015): start out remembering
    forget_bias: float = option(1.0, "initial forget-gate bias (LSTM only)")
    # AWD-LSTM's regularisation (Merity et al., 2017; rnnkit.lm.awd): all off, so the defaults above are unchanged
    # AWD-LSTM used 0.5 (word level)
    weight_dropout: float = option(0.0,
                                   "DropConnect on the hidden-to-hidden weights, one mask per batch (LSTM, GRU, RNN)")
    # AWD-LSTM used 0.1
    embedding_dropout: float = option(0.0, "drop whole embedding rows (characters), one mask per batch")
    # AWD-LSTM used 0.65 (word level)
    input_dropout: float = option(0.0,
                                  "locked (variational) dropout on the recurrent stack's input: one mask per sequence")
    # AWD-LSTM used 0.4
    output_dropout: float = option(0.0, "locked (variational) dropout on the stack's output, before the head")
    # saves V*H parameters
    tie_weights: bool = option(False,
                               "the head's weight matrix is the embedding's (needs embedding_size == hidden_size)")

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CharLMConfig: {name} must be a positive integer, got {value!r}.")
        if self.cell not in LM_LAYERS:
            raise ValueError(f"CharLMConfig: cell must be one of {sorted(LM_LAYERS)}, got {self.cell!r}.")
        for name in PROBABILITIES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
                raise ValueError(f"CharLMConfig: {name} must be in [0, 1), got {value!r}.")
        if self.weight_dropout and self.cell in MIN_LAYERS:
            raise ValueError(f"CharLMConfig: weight_dropout={self.weight_dropout} needs hidden-to-hidden weights, and "
                             f"cell={self.cell!r} has none (its gates read the input only); use input_dropout instead.")
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise ValueError(f"CharLMConfig: tie_weights needs embedding_size == hidden_size (the head's matrix is the "
                             f"embedding's), got embedding_size={self.embedding_size}, hidden_size={self.hidden_size}; "
                             f"set --embedding-size {self.hidden_size}.")


class CharLM(nn.Module):
    """Predicts each next character. ``forward(ids, targets=None, state=None) -> (logits, loss)``.

    After every forward call, ``final_state`` holds the recurrent state after the last step
    (an LSTM's ``(h, c)``, each (L, B, H)), still attached to the graph: stateful truncated
    BPTT feeds it, detached, as ``state`` to the next chunk. ``vocab`` (optional) is the
    character set the ids refer to; ``sample()`` needs it.
    """

    def __init__(self, config: CharLMConfig, vocab: CharVocab | None = None) -> None:
        super().__init__()
        if vocab is not None and len(vocab) != config.vocab_size:
            raise ValueError(
                f"CharLM: the vocabulary has {len(vocab)} characters but config.vocab_size is {config.vocab_size}; "
                "build the config with vocab_size=len(vocab)."
            )
        self.config, self.vocab = config, vocab
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_size)
        options: dict[str, Any] = {"forget_bias": c.forget_bias} if c.cell == "lstm" else {}
        dropout = c.dropout if c.num_layers > 1 else 0.0  # between layers only; one layer has no "between"
        self.rnn = LM_LAYERS[c.cell](c.embedding_size, c.hidden_size, c.num_layers, dropout=dropout, batch_first=True,
                                     **options)
        self.head = nn.Linear(c.hidden_size, c.vocab_size)
        if c.tie_weights:
            self.head.weight = self.embedding.weight  # one Parameter (V, E = H), read by both ends
            with torch.no_grad():
                # N(0, 1) suits an input table but, read by the head, gives logits of size ~sqrt(H): start from
                # AWD-LSTM's U(-0.1, 0.1) instead
                self.embedding.weight.uniform_(-0.1, 0.1)
        self.final_state: State | None = None

    def forward(self, ids: Tensor, targets: Tensor | None = None,
                state: State | None = None) -> tuple[Tensor, Tensor | None]:
        """Args: ids (B, T) int64; targets (B, T), the next characters; state from a previous chunk.
        Returns: logits (B, T, V) and the mean cross-entropy in nats per character (None without targets)."""
        if ids.dim() != 2:
            raise ValueError(f"CharLM: expected ids of shape (B, T), got {tuple(ids.shape)}; add a batch dimension.")
        c = self.config
        x = embedding_dropout(self.embedding, ids, c.embedding_dropout, self.training)  # (B, T, E)
        x = locked_dropout(F.dropout(x, c.dropout, self.training), c.input_dropout, self.training)
        # DropConnect: the layer runs (its fused kernel too) on W_hh with this batch's mask, one mask for all steps
        dropped = drop_connect(self.rnn, c.weight_dropout, self.training)
        # (B, T, H)
        out, self.final_state = functional_call(self.rnn, dropped, (x, state)) if dropped else self.rnn(x, state)
        out = locked_dropout(F.dropout(out, c.dropout, self.training), c.output_dropout, self.training)
        logits = self.head(out)  # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def zero_state(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        """The initial state for ``batch_size`` streams (what ``state=None`` means)."""
        c = self.config
        h = torch.zeros(c.num_layers, batch_size, c.hidden_size, device=device)
        return (h, h.clone()) if c.cell == "lstm" else h

    def describe(self) -> dict[str, Any]:
        """The model's config as a plain dict (what checkpoints and reports record)."""
        return dataclasses.asdict(self.config)


def classic_rnn(model: CharLM, what: str) -> RecurrentBase:
    """``model.rnn`` for code written for LSTM/GRU/RNN stacks only (the batched Stepper, export); a minGRU or
    minLSTM model is refused with a message that names ``what``."""
    if not isinstance(model.rnn, RecurrentBase):
        raise ValueError(f"{what}: supports char-LMs with cell lstm, gru or rnn; this one has "
                         f"cell={model.config.cell!r} (sample it with `rnnkit sample` or rnnkit.lm.sample).")
    return model.rnn


def detach_state(state: State | None, dtype: torch.dtype | None = None) -> State | None:
    """Cut the graph at a chunk boundary: the values carry over, the gradients do not. With ``dtype``, the state
    also comes back to it (under bf16 autocast an LSTM's state leaves its kernel in bf16; it carries in float32)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return (state[0].detach().to(dtype or state[0].dtype), state[1].detach().to(dtype or state[1].dtype))
    return state.detach().to(dtype or state.dtype)
