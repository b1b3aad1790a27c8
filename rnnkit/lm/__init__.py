"""The character-level language model: data, model, training, sampling, checkpoints.

    from rnnkit.lm import TrainConfig, train, load_model, sample
    result = train(TrainConfig(max_steps=500), text="input.txt", out="runs/shakespeare")
    model, vocab, meta = load_model("runs/shakespeare")
    print(sample(model, "ROMEO:", 200, temperature=0.8))
"""

from rnnkit.lm.char_lm import CharLM, CharLMConfig, detach_state
from rnnkit.lm.checkpoint import load_model
from rnnkit.lm.sample import sample
from rnnkit.lm.train import TrainConfig, TrainResult, evaluate, train
from rnnkit.lm.vocab import CharVocab

# the name before the token vocabulary (rnnkit.recipes.text.TokenVocab) got its own; kept for old code
Vocab = CharVocab

__all__ = [
    "CharLM", "CharLMConfig", "CharVocab", "TrainConfig", "TrainResult", "Vocab", "detach_state", "evaluate",
    "load_model", "sample", "train",
]
