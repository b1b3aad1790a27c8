"""A hierarchical sentence tagger in the spirit of SummaRuNNer (Nallapati, Zhai and Zhou, AAAI 2017).

A word-level BiRNN reads each sentence; the mean of its outputs is the sentence's vector. A
sentence-level BiRNN reads those vectors over the whole document; its output h_j is sentence j
in context, and the document is d = tanh(W_d mean_j(h_j) + b_d). For each aspect a (challenge,
approach, outcome) the score of sentence j is the paper's, without its novelty term::

    logit_ja = w_a . h_j          (1) content: is this sentence informative at all
             + h_j^T W_a d        (2) salience: is it central to this document
             + p_a[min(j, P-1)]   (3) absolute position (papers say "we propose" early)
             + r_a[floor(R j / n)](4) relative position in the document of n sentences
             + b_a                (5)
    P(y_ja = 1) = sigmoid(logit_ja)

One model with one output per aspect, not three models: the encoders are shared, so each of
the 100 training papers teaches them three times; only (1)-(5) are per aspect. The novelty
term (minus the similarity of h_j to the summary so far) is left out: it ties the decisions
into a left-to-right chain, and the summaries here are one sentence long, where redundancy
between the 1-2 sentences picked hardly arises.

Shape legend: B documents, S sentences, N sentences in the batch (all documents), T words,
E embedding, H hidden size per direction, A aspects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.common import length_mask, make_recurrent
from rnnkit.recipes.text import pad_float
from rnnkit.utils.config import option


@dataclass(frozen=True)
class TaggerConfig:
    """Sizes of the hierarchical tagger."""

    vocab_size: int = field(metadata={"help": "words in the vocabulary, specials included"})
    num_aspects: int = option(3, "outputs per sentence")  # challenge, approach, outcome
    # SummaRuNNer's (they start from word2vec; we learn from 100 papers)
    embed_size: int = option(100, "word embedding size")
    word_hidden: int = option(64, "hidden units per direction of the word-level RNN")
    sent_hidden: int = option(64, "hidden units per direction of the sentence-level RNN")
    cell: str = option("gru", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])  # SummaRuNNer's GRU
    dropout: float = option(0.3, "dropout on word embeddings and sentence states")  # 100 papers overfit fast
    # the longest paper has 112
    max_position: int = option(100, "absolute positions learnt; later sentences share the last")
    position_buckets: int = option(10, "segments of the relative position")


def masked_mean(x: Tensor, lengths: Tensor) -> Tensor:
    """Mean over the first ``lengths[b]`` steps of each row: (B, T, F), (B,) -> (B, F)."""
    mask = length_mask(lengths, x.size(1), x.device).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    return (x * mask).sum(1) / lengths.clamp(min=1).unsqueeze(-1).to(x.dtype)  # (B, F)


class SentenceTagger(nn.Module):
    """Scores every sentence of a batch of documents for each aspect.

    Shapes:
        words: (N, T) word ids of all sentences, document by document; word_lengths: (N,) >= 1;
        sentence_counts: (B,) sentences per document, summing to N; targets: (B, S, A) 0/1 (any value past a count).
    Returns:
        (logits (B, S, A), loss or None): the loss is the binary cross-entropy averaged over real sentences and aspects.
    """

    k: Tensor  # (A,) buffer, declared for the type checker

    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.embedding = nn.Embedding(c.vocab_size, c.embed_size, padding_idx=0)
        self.word_rnn = make_recurrent("SentenceTagger", c.cell, c.embed_size, c.word_hidden, bidirectional=True)
        self.sent_rnn = make_recurrent("SentenceTagger", c.cell, 2 * c.word_hidden, c.sent_hidden, bidirectional=True)
        self.drop = nn.Dropout(c.dropout)
        H2, A = 2 * c.sent_hidden, c.num_aspects
        self.doc = nn.Linear(H2, H2)  # W_d, b_d
        self.content = nn.Linear(H2, A, bias=False)  # w_a, one row per aspect
        self.salience = nn.Parameter(torch.empty(A, H2, H2))  # W_a
        nn.init.xavier_uniform_(self.salience)
        self.absolute = nn.Embedding(c.max_position, A)  # p_a
        self.relative = nn.Embedding(c.position_buckets, A)  # r_a
        nn.init.zeros_(self.absolute.weight)
        nn.init.zeros_(self.relative.weight)
        self.bias = nn.Parameter(torch.zeros(A))  # b_a
        # k[a]: how many sentences a summary of aspect a takes; chosen on validation, saved with the weights
        self.register_buffer("k", torch.ones(A, dtype=torch.long))

    def read_sentences(self, words: Tensor, word_lengths: Tensor, chunk: int = 64) -> Tensor:
        """Word level: each sentence on its own through the word BiRNN, then the mean of its outputs: (N, T), (N,) ->
        (N, 2H).

        The sentences go shortest first, ``chunk`` at a time, each chunk cut to its own longest: a
        paper's sentences run from 3 to 60 words, and padding all to 60 would double the work.
        """
        order = torch.argsort(word_lengths)  # (N,)
        out = words.new_zeros(words.size(0), 2 * self.config.word_hidden, dtype=self.embedding.weight.dtype)  # (N, 2H)
        for start in range(0, len(order), chunk):
            idx = order[start : start + chunk]
            lengths = word_lengths[idx]
            x = self.drop(self.embedding(words[idx, : int(lengths.max())]))  # (n, t, E)
            h, _ = self.word_rnn(x, lengths=lengths)  # (n, t, 2H)
            out = out.index_put((idx,), masked_mean(h, lengths))  # out of place, so autograd sees every chunk
        return out

    def forward(self, words: Tensor, word_lengths: Tensor, sentence_counts: Tensor,
                targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if int(sentence_counts.sum()) != words.size(0):
            raise ValueError(f"SentenceTagger: sentence_counts sum to {int(sentence_counts.sum())} but words has "
                             f"{words.size(0)} sentences; give one row of words per sentence, document by document.")
        sentences = self.read_sentences(words, word_lengths)  # (N, 2H)

        # sentence level: the sentences of each document in order
        per_doc = list(torch.split(sentences, sentence_counts.tolist()))
        s, counts = pad_float(per_doc)  # (B, S, 2H), (B,)
        h, _ = self.sent_rnn(s, lengths=counts)  # (B, S, 2H)
        h = self.drop(h)
        d = torch.tanh(self.doc(masked_mean(h, counts)))  # (B, 2H)

        B, S = h.shape[:2]
        j = torch.arange(S, device=h.device).expand(B, S)  # (B, S) position of each sentence
        bucket = (j * self.config.position_buckets) // counts.unsqueeze(1).clamp(min=1)  # (B, S)
        logits = (self.content(h)  # (1)
                  + torch.einsum("bsh,ahk,bk->bsa", h, self.salience, d)  # (2)
                  + self.absolute(j.clamp(max=self.config.max_position - 1))  # (3)
                  + self.relative(bucket.clamp(max=self.config.position_buckets - 1))  # (4)
                  + self.bias)  # (5)  (B, S, A)
        if targets is None:
            return logits, None
        mask = length_mask(counts, S, h.device).unsqueeze(-1).expand_as(logits)  # (B, S, A)
        loss = F.binary_cross_entropy_with_logits(logits[mask], targets[mask].to(logits.dtype))
        return logits, loss
