"""A character-level language model: embedding -> recurrent stack -> linear head over the vocabulary.

The model of char-rnn (Karpathy, 2015) with an embedding instead of one-hot input. Shapes:
B batch, T time, E embedding size, H hidden size, L layers, V vocabulary size.

    e_t = Embedding(x_t)                         # (B, T, E)
    h_t = RNN(e_t, h_{t-1})                      # (B, T, H), L layers deep
    p(x_{t+1} | x_<=t) = softmax(W h_t + b)      # (B, T, V)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.layers import LAYERS
from rnnkit.lm.vocab import CharVocab

# the whole factory: cell name -> layer class

# a recurrent state: an LSTM's (h, c), each (L, B, H); a GRU's or RNN's h, (L, B, H)
State = Tensor | tuple[Tensor, Tensor]


@dataclass(frozen=True)
class CharLMConfig:
    """The model's shape; ``asdict`` of it goes into every checkpoint."""

    vocab_size: int = field(metadata={"help": "number of distinct characters (set from the data)"})
    cell: str = field(default="lstm", metadata={"help": "recurrent cell", "choices": sorted(LAYERS)})  # the LSTM trains fastest to a low loss here
    embedding_size: int = field(default=64, metadata={"help": "size of the character embedding"})  # ~V is plenty for ~100 characters
    hidden_size: int = field(default=256, metadata={"help": "units per recurrent layer"})  # best loss after minutes on 2 busy cores; 512 for runs of 20+ minutes (docs/benchmarks.md)
    num_layers: int = field(default=1, metadata={"help": "number of stacked recurrent layers"})  # one layer beat two at equal time on CPU (docs/benchmarks.md)
    dropout: float = field(default=0.0, metadata={"help": "dropout on the embedding, between layers and before the head"})  # runs of minutes underfit: nothing to regularise
    forget_bias: float = field(default=1.0, metadata={"help": "initial forget-gate bias (LSTM only)"})  # Jozefowicz et al. (2015): start out remembering

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CharLMConfig: {name} must be a positive integer, got {value!r}.")
        if self.cell not in LAYERS:
            raise ValueError(f"CharLMConfig: cell must be one of {sorted(LAYERS)}, got {self.cell!r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"CharLMConfig: dropout must be in [0, 1), got {self.dropout!r}.")


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
        self.rnn = LAYERS[c.cell](c.embedding_size, c.hidden_size, c.num_layers, dropout=dropout, batch_first=True, **options)
        self.head = nn.Linear(c.hidden_size, c.vocab_size)
        self.final_state: State | None = None

    def forward(self, ids: Tensor, targets: Tensor | None = None, state: State | None = None) -> tuple[Tensor, Tensor | None]:
        """Args: ids (B, T) int64; targets (B, T), the next characters; state from a previous chunk.
        Returns: logits (B, T, V) and the mean cross-entropy in nats per character (None without targets)."""
        if ids.dim() != 2:
            raise ValueError(f"CharLM: expected ids of shape (B, T), got {tuple(ids.shape)}; add a batch dimension.")
        x = F.dropout(self.embedding(ids), self.config.dropout, self.training)  # (B, T, E)
        out, self.final_state = self.rnn(x, state)  # (B, T, H)
        out = F.dropout(out, self.config.dropout, self.training)
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


def detach_state(state: State | None) -> State | None:
    """Cut the graph at a chunk boundary: the values carry over, the gradients do not."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return (state[0].detach(), state[1].detach())
    return state.detach()
