"""The five input/output configurations of a recurrent network, one module each.

Every model takes one frozen config, and follows one contract:
``forward(inputs, targets=None, lengths=None) -> (output, loss)``; generation is a
separate method. Inputs are token ids (set ``vocab_size`` / ``input_vocab_size``) or real
feature vectors (leave it None); ``cell`` is "rnn", "lstm" or "gru".

    >>> import torch
    >>> from rnnkit.models import ManyToOne, ManyToOneConfig, Seq2Seq, Seq2SeqConfig
    >>> clf = ManyToOne(ManyToOneConfig(num_outputs=2, vocab_size=10, pooling="mean"))
    >>> ids, lengths = torch.randint(0, 10, (4, 7)), torch.tensor([7, 5, 3, 1])
    >>> logits, loss = clf(ids, torch.tensor([0, 1, 1, 0]), lengths=lengths)  # (4, 2), scalar
    >>> s2s = Seq2Seq(Seq2SeqConfig(vocab_size=12, input_vocab_size=10, attention="general"))
    >>> targets = torch.tensor([[5, 6, 2], [7, 2, 0], [3, 2, 0], [4, 2, 0]])  # eos_id=2 ends each; 0 pads
    >>> logits, loss = s2s(ids, targets, lengths=lengths, target_lengths=torch.tensor([3, 2, 2, 2]))
    >>> tokens, out_lengths, attention = s2s.generate(ids, lengths, max_length=5)  # attention (4, T, 7)
    >>> best = s2s.beam_search(ids, lengths, beam_width=3, n_best=2)  # 4 lists of 2 Hypothesis, best first
"""

from rnnkit.models.attention import Attention
from rnnkit.models.beam import Hypothesis, beam_search
from rnnkit.models.common import LAYERS
from rnnkit.models.crf import CRF
from rnnkit.models.decoding import filter_logits, generate_tokens, next_token
from rnnkit.models.many_to_many import ManyToMany, ManyToManyConfig
from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
from rnnkit.models.one_to_many import OneToMany, OneToManyConfig
from rnnkit.models.one_to_one import OneToOne, OneToOneConfig
from rnnkit.models.seq2seq import Encoded, Seq2Seq, Seq2SeqConfig

__all__ = [
    "CRF", "LAYERS", "Attention", "Encoded", "Hypothesis", "ManyToMany", "ManyToManyConfig", "ManyToOne",
    "ManyToOneConfig", "OneToMany", "OneToManyConfig", "OneToOne", "OneToOneConfig", "Seq2Seq", "Seq2SeqConfig",
    "beam_search", "filter_logits", "generate_tokens", "next_token",
]
