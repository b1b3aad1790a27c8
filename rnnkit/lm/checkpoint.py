"""Self-describing char-LM checkpoints: what the model is, what it was trained on, how far it got.

A checkpoint is a dict: the weights (``model``), and beside them everything needed to use
or continue it without the command line that made it: ``config`` (CharLMConfig),
``meta`` (the vocabulary), ``train_config``, ``step``, ``metrics``, the data source, the rnnkit version
and, for resuming, the optimizer state and the recurrent state carried across chunks.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch

from rnnkit.lm.char_lm import CharLM, CharLMConfig
from rnnkit.lm.vocab import CharVocab
from rnnkit.utils import checkpoint as shared

KIND = "charlm"  # the checkpoint's kind in rnnkit's one layout (rnnkit.utils.checkpoint)
LEGACY_FORMAT = "rnnkit.charlm/1"  # written before 2026-12: the vocabulary at the top level, no "meta"
WEIGHT_KEYS = ("model", "optimizer", "carry")  # the big entries; everything else is metadata


def make_checkpoint(model: CharLM, vocab: CharVocab, **entries: Any) -> dict[str, Any]:
    """The dict to ``atomic_save``: weights on CPU (so it loads anywhere), config, vocab (in ``meta``), and
    ``entries``."""
    return shared.make_checkpoint(KIND, model, dataclasses.asdict(model.config), {"vocab": vocab.to_list()}, **entries)


def metadata(checkpoint: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in checkpoint.items() if k not in WEIGHT_KEYS}


def is_charlm(checkpoint: dict[str, Any]) -> bool:
    """Whether a loaded checkpoint holds a char-LM (in the current layout or the one before it)."""
    return checkpoint.get("format") == LEGACY_FORMAT or (checkpoint.get("format") == shared.FORMAT
                                                         and checkpoint.get("kind") == KIND)


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check that ``path`` (a .pt file or a run directory) is a char-LM checkpoint (``vocab`` in ``meta``)."""
    checkpoint = shared.load_checkpoint(path, map_location)
    if checkpoint.get("format") == LEGACY_FORMAT:
        return {**checkpoint, "meta": {"vocab": checkpoint["vocab"]}}
    if not is_charlm(checkpoint):
        # "task": the older layout
        kind = checkpoint.get("task") if "format" not in checkpoint else checkpoint.get("kind")
        found = (f"a {kind!r} recipe model; use `rnnkit predict` with it" if kind
                 else f"format {checkpoint.get('format')!r}")
        raise shared.CheckpointError(f"{path} is not a character-LM checkpoint: it holds {found}.")
    shared.check_kind(checkpoint, path, (KIND,))
    return checkpoint


def load_model(path: str | os.PathLike[str],
               map_location: str | torch.device = "cpu") -> tuple[CharLM, CharVocab, dict[str, Any]]:
    """Rebuild a trained CharLM from its checkpoint. Returns (model in eval mode, vocab, metadata).

    ``map_location`` defaults to the CPU, so a model trained on a GPU loads on any machine.
    """
    checkpoint = read_checkpoint(path, map_location)
    vocab = CharVocab(checkpoint["meta"]["vocab"])
    config = CharLMConfig(**checkpoint["config"])
    if config.vocab_size != len(vocab):
        raise ValueError(
            f"{path}: the checkpoint's config says vocab_size={config.vocab_size} but its vocabulary has "
            f"{len(vocab)} characters; the file is inconsistent."
        )
    model = CharLM(config, vocab)
    shared.load_weights(model, checkpoint["model"], path, "character-LM", "rnnkit train charlm")
    return model.to(map_location).eval(), vocab, metadata(checkpoint)


def check_same(what: str, ours: dict[str, Any], theirs: dict[str, Any], where: str,
               keys: tuple[str, ...] | None = None) -> None:
    """Raise if any of ``keys`` differs between the settings asked for and a checkpoint's, naming both."""
    diffs = [k for k in (keys or tuple(ours)) if k in ours and k in theirs and ours[k] != theirs[k]]
    if diffs:
        listed = "; ".join(f"{k}: asked for {ours[k]!r}, the checkpoint has {theirs[k]!r}" for k in diffs)
        raise ValueError(
            f"{what}: settings differ from the checkpoint {where} ({listed}). "
            "Drop those flags to continue the run as it was, or start a new run in another --out directory."
        )
