"""``rnnkit train charlm``, ``rnnkit sample``, ``rnnkit eval`` and ``rnnkit demo``."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

from rnnkit.utils.config import add_dataclass_flags, read_settings


def register(sub: argparse._SubParsersAction) -> None:
    from rnnkit.lm.char_lm import CharLMConfig
    from rnnkit.lm.train import TrainConfig

    train = sub.add_parser("train", help="train a model (rnnkit train charlm ...)")
    kinds = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    charlm = kinds.add_parser("charlm", help="a character-level language model (stateful truncated BPTT)",
                              description="Train a character-level LM on a UTF-8 text (default: the embedded corpus). "
                                          "Runs under `torchrun --nproc_per_node N` too.")
    charlm.add_argument("--text", default=None,
                        help="UTF-8 text file to train on (default: Python's bundled reference documentation)")
    charlm.add_argument("--out", default=None,
                        help="run directory: best.pt, last.pt and metrics.jsonl are written there")
    charlm.add_argument("--resume", default=None,
                        help="continue the run in this directory exactly where it stopped (implies --out DIR)")
    charlm.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar or startup summary")
    add_dataclass_flags(charlm, CharLMConfig, exclude=("vocab_size",))
    add_dataclass_flags(charlm, TrainConfig)
    charlm.set_defaults(run=_run_train)

    sample = sub.add_parser("sample", help="generate text from a char-LM checkpoint (streams to the terminal)")
    sample.add_argument("checkpoint", help="a .pt file, or a run directory (its best.pt)")
    sample.add_argument("--prime", default="",
                        help="text that warms up the state before generating (default: a newline)")
    sample.add_argument("--length", type=int, default=500, help="number of characters to generate")
    sample.add_argument("--temperature", type=float, default=0.8,
                        help="below 1: safer and more repetitive; above 1: wilder")
    sample.add_argument("--top-k", type=int, default=None, help="sample only among the k most likely characters")
    sample.add_argument("--top-p", type=float, default=None,
                        help="sample only among the most likely characters whose probabilities sum to p")
    sample.add_argument("--greedy", action="store_true", help="always take the most likely character (argmax)")
    sample.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable sample")
    sample.add_argument("--skip-unknown", action="store_true",
                        help="drop prime characters outside the vocabulary instead of failing")
    sample.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"],
                        help="weight products: fp32; bf16 (half the bytes per step; only on CPUs with bf16 hardware); "
                             "auto (bf16 exactly there)")
    sample.set_defaults(run=_run_sample)

    evaluate = sub.add_parser("eval", help="score a char-LM checkpoint on a text: nats and bits per character")
    evaluate.add_argument("checkpoint", help="a .pt file, or a run directory (its best.pt)")
    evaluate.add_argument("--text", default=None,
                          help="UTF-8 text to score (default: the validation split of the training text)")
    evaluate.add_argument("--errors", default="strict", choices=["strict", "replace", "ignore"],
                          help="undecodable bytes: strict (error), replace or ignore")
    evaluate.add_argument("--skip-unknown", action="store_true",
                          help="drop characters outside the model's vocabulary instead of failing")
    evaluate.add_argument("--bptt", type=int, default=256,
                          help="characters per evaluation chunk (the state carries across chunks)")
    evaluate.set_defaults(run=_run_eval)

    demo = sub.add_parser("demo",
                          help="train a small char-LM on the embedded corpus for a few minutes, sample, write a report")
    demo.add_argument("--out", default=None, help="report folder (default: runs/demo-<date>-<time>)")
    demo.add_argument("--time-budget", type=float, default=240.0, help="seconds of training")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.set_defaults(run=_run_demo)


def _settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Explicit model and training settings: a --config JSON file first, then the flags that were given."""
    from rnnkit.lm.char_lm import CharLMConfig
    from rnnkit.lm.train import TrainConfig

    model_keys = {f.name for f in dataclasses.fields(CharLMConfig)} - {"vocab_size"}
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    values: dict[str, Any] = {}
    if args.config is not None:
        values = read_settings(args.config, CharLMConfig, TrainConfig, exclude=("vocab_size",))
    values.update({k: getattr(args, k) for k in model_keys | train_keys if getattr(args, k, None) is not None})
    return {k: v for k, v in values.items() if k in model_keys}, {k: v for k, v in values.items() if k in train_keys}


def _run_train(args: argparse.Namespace) -> int:
    from rnnkit.lm.train import TrainConfig, resume_config, train

    model_options, train_options = _settings(args)
    if args.resume is not None:
        config = resume_config(args.resume, train_options)
        out = args.out or (args.resume if Path(args.resume).is_dir() else str(Path(args.resume).parent))
    else:
        config, out = TrainConfig(**train_options), args.out
    train(config, model_options, text=args.text, out=out, resume=args.resume, progress=args.progress)
    return 0


def _run_sample(args: argparse.Namespace) -> int:
    import torch

    from rnnkit.lm.checkpoint import load_model
    from rnnkit.lm.sample import sample
    from rnnkit.utils.precision import resolve_precision

    model, vocab, _ = load_model(args.checkpoint)
    if not args.skip_unknown:
        vocab.encode(args.prime)  # a character the model does not know fails here, before the prime is printed
    low = resolve_precision(args.precision, model.head.weight.device) == "bf16"
    generator = torch.Generator().manual_seed(args.seed) if args.seed is not None else None

    def show(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    show(args.prime)
    sample(model, args.prime, args.length, args.temperature, args.top_k, args.top_p, generator,
           greedy=args.greedy, skip_unknown=args.skip_unknown, on_text=show, products=torch.bfloat16 if low else None)
    show("\n")
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    import numpy as np

    from rnnkit.lm.checkpoint import load_model
    from rnnkit.lm.data import corpus_from_text, read_text
    from rnnkit.lm.embedded import embedded_text
    from rnnkit.lm.train import evaluate

    if args.bptt < 1:  # 0 was a ZeroDivisionError; -1 a message about batch_size
        raise ValueError(f"--bptt must be at least 1, got {args.bptt}.")
    model, vocab, meta = load_model(args.checkpoint)
    if args.text is not None:
        text, what = read_text(args.text, args.errors), args.text
        ids = np.array(vocab.encode(text, skip_unknown=args.skip_unknown), dtype=np.int64)
    else:
        path = meta["data"]["text"]
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"{args.checkpoint} was trained on {path}, which is not there any more, so its "
                                    "validation split cannot be rebuilt; score a text of your own with --text FILE.")
        text = read_text(path, meta["train_config"]["errors"]) if path is not None else embedded_text()[0]
        if path is not None and len(text) != meta["data"].get("characters", len(text)):
            raise ValueError(f"{path} has {len(text):,} characters now, but {args.checkpoint} was trained on "
                             f"{meta['data']['characters']:,} of it: the file changed, so its validation split is not "
                             f"the one the model was trained with. To score the file as it is, pass --text {path}.")
        _, ids = corpus_from_text(text, vocab, meta["data"]["source"]).split(meta["train_config"]["val_fraction"])
        what = f"the validation split of {meta['data']['source']}"
    loss = evaluate(model, ids, batch_size=32, bptt=args.bptt)
    print(f"{what}: {len(ids):,} characters, model at step {meta['step']}")
    print(f"val_loss={loss:.4f} bpc={loss / math.log(2):.4f}")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from rnnkit.lm.demo import run_demo

    run_demo(args.out, args.time_budget, args.seed)
    return 0
