"""Bad input raises a ValueError/TypeError that names the model, what it got and what it expected."""

import pytest
import torch

from rnnkit.models.many_to_many import ManyToMany, ManyToManyConfig
from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
from rnnkit.models.one_to_many import OneToMany, OneToManyConfig
from rnnkit.models.one_to_one import OneToOne, OneToOneConfig
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig


def many_to_one(**kw):
    return ManyToOne(ManyToOneConfig(num_outputs=3, input_size=4, hidden_size=5, **kw))


def tagger():
    return ManyToMany(ManyToManyConfig(num_tags=3, vocab_size=7, input_size=4, hidden_size=5))


def seq2seq():
    return Seq2Seq(Seq2SeqConfig(vocab_size=6, input_vocab_size=7, input_size=4, embed_size=4, hidden_size=5))


X = torch.randn(2, 3, 4)
IDS = torch.randint(0, 7, (2, 3))


@pytest.mark.parametrize(
    "make",
    [
        lambda cell: many_to_one(cell=cell),
        lambda cell: OneToOne(OneToOneConfig(num_outputs=2, cell=cell)),
        lambda cell: ManyToMany(ManyToManyConfig(num_tags=2, cell=cell)),
        lambda cell: OneToMany(OneToManyConfig(vocab_size=5, cell=cell)),
        lambda cell: Seq2Seq(Seq2SeqConfig(vocab_size=5, cell=cell)),
    ],
)
def test_unknown_cell_name(make):
    with pytest.raises(ValueError, match=r"unknown cell 'transformer'; expected one of \['gru', 'lstm', 'rnn'\]"):
        make("transformer")


def test_bad_config_values():
    with pytest.raises(ValueError, match="ManyToOne: pooling must be one of"):
        many_to_one(pooling="median")
    with pytest.raises(ValueError, match="ManyToOne: hidden_size must be a positive integer, got 0"):
        ManyToOne(ManyToOneConfig(num_outputs=3, hidden_size=0))
    with pytest.raises(ValueError, match="ManyToOne: task must be one of"):
        many_to_one(task="ranking")
    with pytest.raises(ValueError, match="Seq2Seq: attention must be one of"):
        Seq2Seq(Seq2SeqConfig(vocab_size=5, attention="cosine"))
    with pytest.raises(ValueError, match="Seq2Seq: teacher_forcing"):
        Seq2Seq(Seq2SeqConfig(vocab_size=5, teacher_forcing=1.5))
    with pytest.raises(ValueError, match="OneToMany: eos_id must be in"):
        OneToMany(OneToManyConfig(vocab_size=2))
    with pytest.raises(ValueError, match="init_state and/or feed_condition"):
        OneToMany(OneToManyConfig(vocab_size=5, init_state=False, feed_condition=False))


def test_mismatched_lengths():
    with pytest.raises(ValueError, match=r"ManyToOne: expected lengths of shape \(2,\), one per sequence, got \(3,\)"):
        many_to_one()(X, lengths=torch.tensor([3, 2, 1]))
    with pytest.raises(ValueError, match=r"ManyToOne: every entry of lengths must be in \[1, T=3\], got min 1, max 4"):
        many_to_one()(X, lengths=torch.tensor([4, 1]))
    with pytest.raises(TypeError, match="ManyToMany: lengths must be integers"):
        tagger()(IDS, lengths=torch.tensor([3.0, 2.0]))
    with pytest.raises(ValueError, match="Seq2Seq: every entry of target_lengths must be in"):
        seq2seq()(IDS, torch.ones(2, 2, dtype=torch.long), target_lengths=torch.tensor([3, 2]))
    with pytest.raises(ValueError, match="OneToOne: every input has length 1"):
        OneToOne(OneToOneConfig(num_outputs=2, input_size=4))(X[:, 0], lengths=torch.tensor([2, 1]))


def test_empty_sequences():
    with pytest.raises(ValueError, match=r"ManyToOne: inputs is empty, shape \(2, 0, 4\)"):
        many_to_one()(torch.randn(2, 0, 4))
    with pytest.raises(ValueError, match="ManyToMany: every entry of lengths must be in .* got min 0"):
        tagger()(IDS, lengths=torch.tensor([3, 0]))
    with pytest.raises(ValueError, match="Seq2Seq: targets are empty"):
        seq2seq()(IDS, torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="OneToMany: targets are empty"):
        OneToMany(OneToManyConfig(vocab_size=5, input_size=4))(X[:, 0], torch.zeros(2, 0, dtype=torch.long))


def test_targets_with_the_wrong_shape():
    with pytest.raises(ValueError, match=r"ManyToOne: expected classification targets of shape \(2,\)"):
        many_to_one()(X, torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"ManyToOne: expected real-valued regression targets of shape \(2, 3\)"):
        many_to_one(task="regression")(X, torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"ManyToMany: expected targets of shape \(2, 3\)"):
        tagger()(IDS, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"Seq2Seq: expected targets of shape \(2, T\)"):
        seq2seq()(IDS, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"OneToMany: expected targets of shape \(2, T\) with integer token ids"):
        OneToMany(OneToManyConfig(vocab_size=5, input_size=4))(X[:, 0], torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"ManyToOne: class ids must be in \[0, 3\)"):
        many_to_one()(X, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"ManyToMany: tag ids must be in \[0, 3\)"):
        tagger()(IDS, torch.full((2, 3), 5))


def test_wrong_kind_of_input():
    with pytest.raises(TypeError,
                       match="ManyToOne: inputs must be real-valued features .* For token ids set vocab_size"):
        many_to_one()(IDS)
    with pytest.raises(TypeError, match="ManyToMany: inputs must be integer token ids .* vocab_size=7"):
        tagger()(X)
    with pytest.raises(ValueError, match=r"ManyToOne: expected inputs of shape \(B, T, F=4\), got \(2, 3, 5\)"):
        many_to_one()(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"Seq2Seq: inputs ids must be in \[0, vocab_size=7\), got min 0, max 9"):
        seq2seq()(torch.tensor([[0, 9]]))
    with pytest.raises(TypeError, match="OneToOne: inputs must be a torch.Tensor, got list"):
        OneToOne(OneToOneConfig(num_outputs=2, input_size=4))([[0.0] * 4])


def test_bad_generation_arguments():
    model = OneToMany(OneToManyConfig(vocab_size=5, input_size=4))
    with pytest.raises(ValueError, match="OneToMany.generate: temperature must be > 0"):
        model.generate(X[:, 0], temperature=0.0)
    with pytest.raises(ValueError, match="OneToMany.generate: top_p must be in"):
        model.generate(X[:, 0], top_p=1.5)
    with pytest.raises(ValueError, match="Seq2Seq.generate: top_k must be a positive integer"):
        seq2seq().generate(IDS, top_k=0, greedy=False)


@pytest.mark.parametrize(
    ("make", "field", "value", "expected"),
    [
        (lambda **kw: ManyToOne(ManyToOneConfig(**{"num_outputs": 3, **kw})), "num_outputs", True, "an int"),
        (lambda **kw: ManyToOne(ManyToOneConfig(**{"num_outputs": 3, **kw})), "hidden_size", 64.0, "an int"),
        (lambda **kw: ManyToOne(ManyToOneConfig(**{"num_outputs": 3, **kw})), "vocab_size", "10", "an int or None"),
        (lambda **kw: ManyToOne(ManyToOneConfig(**{"num_outputs": 3, **kw})), "bidirectional", "no", "True or False"),
        (lambda **kw: ManyToOne(ManyToOneConfig(**{"num_outputs": 3, **kw})), "layer_norm", 1, "True or False"),
        (lambda **kw: ManyToOne(ManyToOneConfig(**{"num_outputs": 3, **kw})), "pooling", 0, "a string"),
        (lambda **kw: ManyToOne(ManyToOneConfig(**{"num_outputs": 3, **kw})), "dropout", "0.1", "a number"),
        (lambda **kw: ManyToOne(ManyToOneConfig(**{"num_outputs": 3, **kw})), "recurrent_dropout", True, "a number"),
        (lambda **kw: OneToOne(OneToOneConfig(**{"num_outputs": 2, **kw})), "cell", None, "a string"),
        (lambda **kw: OneToOne(OneToOneConfig(**{"num_outputs": 2, **kw})), "num_layers", "2", "an int"),
        (lambda **kw: ManyToMany(ManyToManyConfig(**{"num_tags": 3, **kw})), "crf", 0, "True or False"),
        (lambda **kw: ManyToMany(ManyToManyConfig(**{"num_tags": 3, **kw})), "num_tags", 3.0, "an int"),
        (lambda **kw: OneToMany(OneToManyConfig(**{"vocab_size": 5, **kw})), "init_state", "False", "True or False"),
        (lambda **kw: OneToMany(OneToManyConfig(**{"vocab_size": 5, **kw})), "bos_id", 1.0, "an int"),
        (lambda **kw: Seq2Seq(Seq2SeqConfig(**{"vocab_size": 5, **kw})), "teacher_forcing", "1", "a number"),
        (lambda **kw: Seq2Seq(Seq2SeqConfig(**{"vocab_size": 5, **kw})), "max_length", torch.tensor(5), "an int"),
        (lambda **kw: Seq2Seq(Seq2SeqConfig(**{"vocab_size": 5, **kw})), "attention", None, "a string"),
    ],
)
def test_config_fields_of_the_wrong_type(make, field, value, expected):
    """A config field of the wrong type is a TypeError (also a ValueError, as these were) naming the field and value."""
    with pytest.raises(TypeError) as info:
        make(**{field: value})
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert f"{field} must be {expected}, got {value!r} ({type(value).__name__})" in message, message


def test_config_values_in_range_still_build():
    """ints for float fields (as a JSON file gives them) and None for optional sizes are fine."""
    model = Seq2Seq(Seq2SeqConfig(vocab_size=5, dropout=0, teacher_forcing=1, input_vocab_size=None))
    assert model.config.teacher_forcing == 1
