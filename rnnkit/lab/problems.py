"""Synthetic problems whose difficulty is one number: the gap T that a memory must bridge.

Each task draws whole batches from a ``torch.Generator``, so a seed fixes the data, and
knows the score of the best model that remembers nothing (its trivial baseline):

* ``AddingTask`` (Hochreiter & Schmidhuber, 1997; the variant of Le et al., 2015): T
  numbers from U(0, 1), two of them marked, one in each half; the target is the sum of
  the two marked numbers. Predicting the mean, 1, gives MSE Var(u1 + u2) = 2/12 ≈ 0.167.
* ``CopyTask`` (Arjovsky, Shah & Bengio, 2016): 10 symbols from {1..8}, T blanks with a
  delimiter at the last of them, then 10 more blanks during which the symbols must be
  replayed. Emitting blanks until the delimiter and then guessing uniformly gives
  cross-entropy 10·log(8) / (T + 20), averaged over all T + 20 steps.
* ``RecallTask`` ("I grew up in France ... I speak fluent French"): a sentence names a
  country, T filler words follow, then ". i speak fluent" and the model must name that
  country's language. Nothing but the word T + 4 steps back decides the answer, so a
  model that forgot it can do no better than cross-entropy log(K) over K languages.

Shapes: B batch, T gap length; inputs are (B, T_total, I) floats or (B, T_total) token ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class AddingTask:
    """The adding problem with T numbers; ``sample`` returns x (B, T, 2) and y (B,)."""

    length: int  # T, the number of time steps (the marked numbers are up to T - 1 steps apart)

    name = "adding"
    metric = "mse"
    input_size = 2  # features per step: the number and its marker
    output_size = 1  # one regression output, read at the last step
    tokens = False  # inputs are float features, not token ids
    per_step = False  # only the last step is scored

    def __post_init__(self) -> None:
        _check_length("AddingTask", self.length, minimum=2)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        B, T = batch_size, self.length
        values = torch.rand(B, T, generator=generator)  # (B, T)
        first = torch.randint(0, T // 2, (B,), generator=generator)  # (B,) a mark in the first half
        second = torch.randint(T // 2, T, (B,), generator=generator)  # (B,) and one in the second
        marks = torch.zeros(B, T)
        rows = torch.arange(B)
        marks[rows, first] = 1.0
        marks[rows, second] = 1.0
        x = torch.stack([values, marks], dim=2)  # (B, T, 2)
        y = values[rows, first] + values[rows, second]  # (B,)
        return x, y

    def baseline(self) -> float:
        """MSE of always predicting E[y] = 1: Var(u1 + u2) = 2 · 1/12."""
        return 2.0 / 12.0

    def solved_below(self) -> float:
        """The usual bar for "solved" (e.g. Le et al., 2015): MSE under 0.01, 6% of the baseline."""
        return 0.01


@dataclass(frozen=True)
class CopyTask:
    """The copy-memory problem with T blanks; ``sample`` returns x (B, T + 20) and y (B, T + 20) token ids."""

    length: int  # T, the number of blanks between the symbols and the end of the recall cue
    num_symbols: int = 8  # symbols 1..8 are copied; 0 is blank, 9 the delimiter (as in the paper)
    memory: int = 10  # how many symbols must be remembered

    name = "copy"
    metric = "cross-entropy"
    tokens = True
    per_step = True  # every step is scored, the blanks too

    def __post_init__(self) -> None:
        _check_length("CopyTask", self.length, minimum=1)

    @property
    def input_size(self) -> int:
        return self.num_symbols + 2  # blank, the symbols, the delimiter

    @property
    def output_size(self) -> int:
        return self.num_symbols + 2

    @property
    def delimiter(self) -> int:
        return self.num_symbols + 1

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        B, T, M = batch_size, self.length, self.memory
        symbols = torch.randint(1, self.num_symbols + 1, (B, M), generator=generator)  # (B, M)
        x = torch.zeros(B, T + 2 * M, dtype=torch.long)  # (B, T + 2M) all blank
        x[:, :M] = symbols
        x[:, M + T - 1] = self.delimiter  # the last blank before the recall is the cue
        y = torch.zeros_like(x)
        y[:, -M:] = symbols  # replay after the cue
        return x, y

    def baseline(self) -> float:
        """Cross-entropy per step of blanks up to the cue, then a uniform guess: M·log(S) / (T + 2M)."""
        return self.memory * math.log(self.num_symbols) / (self.length + 2 * self.memory)

    def solved_below(self) -> float:
        """A tenth of the baseline: most of the replayed symbols are then right with confidence."""
        return 0.1 * self.baseline()


# The recall task's word lists: countries with their languages, and neutral filler.
COUNTRIES = {
    "france": "french", "germany": "german", "spain": "spanish", "italy": "italian",
    "japan": "japanese", "poland": "polish", "greece": "greek", "sweden": "swedish",
}
FILLER = (
    "the", "a", "and", "then", "we", "they", "it", "was", "were", "had", "went", "to", "of", "in",
    "on", "with", "house", "river", "school", "friends", "summer", "winter", "long", "small", "old",
    "new", "garden", "road", "morning", "evening", "walked", "played", "read", "book", "dog", "cat",
    "rain", "sun", "city", "village", "always", "often", "never", "later", "years", "days", "many",
)
PREFIX = ("i", "grew", "up", "in")  # followed by the country
CUE = ("i", "speak", "fluent")  # followed by the language to predict


@dataclass(frozen=True)
class RecallTask:
    """The long-context recall sentence with T filler words; ``sample`` returns x (B, T + 9) ids and y (B,) ids."""

    length: int  # T, the number of filler words between the country and the cue

    name = "recall"
    metric = "cross-entropy"
    tokens = True
    per_step = False  # only the word after the cue is scored

    def __post_init__(self) -> None:
        _check_length("RecallTask", self.length, minimum=0)

    @property
    def vocabulary(self) -> list[str]:
        words = list(PREFIX[1:]) + list(CUE[1:]) + list(COUNTRIES) + list(COUNTRIES.values()) + list(FILLER)
        return list(dict.fromkeys(["i", "."] + words))  # unique, in a fixed order

    @property
    def input_size(self) -> int:
        return len(self.vocabulary)

    @property
    def output_size(self) -> int:
        return len(self.vocabulary)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        index = {w: k for k, w in enumerate(self.vocabulary)}
        countries = list(COUNTRIES)
        B, T = batch_size, self.length
        pick = torch.randint(0, len(countries), (B,), generator=generator)  # (B,)
        filler_ids = torch.tensor([index[w] for w in FILLER])
        filler = filler_ids[torch.randint(0, len(FILLER), (B, T), generator=generator)]  # (B, T)
        prefix = torch.tensor([index[w] for w in PREFIX]).expand(B, -1)  # (B, 4)
        country = torch.tensor([index[countries[k]] for k in pick.tolist()]).unsqueeze(1)  # (B, 1)
        stop = torch.full((B, 1), index["."])  # (B, 1)
        cue = torch.tensor([index[w] for w in CUE]).expand(B, -1)  # (B, 3)
        x = torch.cat([prefix, country, filler, stop, cue], dim=1)  # (B, T + 9)
        y = torch.tensor([index[COUNTRIES[countries[k]]] for k in pick.tolist()])  # (B,)
        return x, y

    def decode(self, ids: Tensor) -> str:
        """Token ids (T_total,) back to words, for reading a sample."""
        words = self.vocabulary
        return " ".join(words[k] for k in ids.tolist())

    def baseline(self) -> float:
        """A model that knows the answer is a language but not which one: log(K)."""
        return math.log(len(COUNTRIES))

    def solved_below(self) -> float:
        return 0.1 * self.baseline()


Task = AddingTask | CopyTask | RecallTask
TASKS: dict[str, type[AddingTask] | type[CopyTask] | type[RecallTask]] = {
    "adding": AddingTask, "copy": CopyTask, "recall": RecallTask,
}


def make_task(name: str, length: int) -> Task:
    """The task called ``name`` with gap ``length``."""
    if name not in TASKS:
        raise ValueError(f"make_task: unknown task {name!r}; expected one of {sorted(TASKS)}.")
    return TASKS[name](length)


def _check_length(name: str, length: int, minimum: int) -> None:
    if not isinstance(length, int) or isinstance(length, bool) or length < minimum:
        raise ValueError(f"{name}: length must be an integer >= {minimum}, got {length!r}.")
