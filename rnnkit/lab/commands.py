"""``rnnkit lab long-term``, ``rnnkit lab gradient-flow`` and ``rnnkit inspect CHECKPOINT``."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from rnnkit.lab.features import FEATURES
from rnnkit.lab.gradient_flow import GradientFlowConfig
from rnnkit.lab.long_term import LongTermConfig
from rnnkit.utils.config import add_dataclass_flags, dataclass_from_args


def register(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser("lab", help="long-term dependency experiments: what each cell can remember")
    experiments = lab.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    long_term = experiments.add_parser(
        "long-term", help="train each cell at each gap length T; write a results table and plot",
        description="Train rnn, lstm and gru probes on a synthetic task at each gap length T with a fixed "
                    "budget; writes results.csv, results.md and results.png to --out.",
    )
    add_dataclass_flags(long_term, LongTermConfig)
    long_term.set_defaults(run=_run_long_term)
    flow = experiments.add_parser(
        "gradient-flow", help="plot ||dL/dh_t|| against t per cell: the vanishing gradient made visible",
    )
    add_dataclass_flags(flow, GradientFlowConfig)
    flow.set_defaults(run=_run_gradient_flow)

    inspect = sub.add_parser(
        "inspect", help="look inside a char-LM checkpoint: neurons coloured over text, gate saturation, heatmaps",
        description="Record every gate and state of a character-level LM over a text and render PNGs and a "
                    "self-contained HTML page to --out.",
    )
    inspect.add_argument("checkpoint", help="a char-LM checkpoint (or run directory) from `rnnkit train charlm`")
    inspect.add_argument("--text", default=None, help="the text to run the model on "
                         "(default: the validation part of the text the checkpoint was trained on)")
    inspect.add_argument("--text-file", type=Path, default=None, help="read the text from this file instead")
    inspect.add_argument("--start", type=int, default=None,
                         help="first character to use (default: 0, or the start of the validation split)")
    inspect.add_argument("--chars", type=int, default=1500, help="at most this many characters are recorded")
    inspect.add_argument("--features", default=",".join(FEATURES),
                         help=f"comma-separated features to correlate with (from {', '.join(FEATURES)})")
    inspect.add_argument("--neuron", action="append", default=None, metavar="LAYER:STATE:UNIT",
                         help="also show this unit, e.g. 2:c:17 (layers count from 1); may be repeated")
    inspect.add_argument("--top", type=int, default=3, help="units listed per feature")
    inspect.add_argument("--heatmap-chars", type=int, default=100, help="characters shown in the heatmap")
    inspect.add_argument("--out", type=Path, default=Path("inspect-out"), help="output directory")
    inspect.set_defaults(run=_run_inspect)


def _run_long_term(args: argparse.Namespace) -> int:
    from rnnkit.lab.long_term import run_long_term

    config = dataclass_from_args(LongTermConfig, args)
    _set_threads(config.threads)
    print("lab long-term:", json.dumps(dataclasses.asdict(config)), flush=True)
    results = run_long_term(config, log=lambda line: print(line, flush=True))
    print(f"wrote {config.out}/results.csv, results.md and results.png ({len(results)} runs)")
    return 0


def _run_gradient_flow(args: argparse.Namespace) -> int:
    from rnnkit.lab.gradient_flow import gradient_flow, plot_gradient_flow, write_curves

    config = dataclass_from_args(GradientFlowConfig, args)
    _set_threads(config.threads)
    print("lab gradient-flow:", json.dumps(dataclasses.asdict(config)), flush=True)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)  # before the training: a folder that cannot be made fails at once
    curves = gradient_flow(config)
    write_curves(curves, out / "gradient_flow.csv")
    plot_gradient_flow(curves, config.task, out / "gradient_flow.png")
    for c in curves:
        first, last = c.mean_log_norm[0], c.mean_log_norm[-1]
        print(f"{c.cell:>4} after {c.trained_steps} steps: ||dL/dh_1|| / ||dL/dh_T|| = 10^{first - last:+.1f}")
    print(f"wrote {out}/gradient_flow.csv and gradient_flow.png")
    return 0


def _run_inspect(args: argparse.Namespace) -> int:
    from rnnkit.lab.report import inspect_report
    from rnnkit.lm import load_model
    from rnnkit.lm.char_lm import classic_rnn

    neurons = [_parse_neuron(spec) for spec in args.neuron or []]
    features = [f.strip() for f in args.features.split(",") if f.strip()]
    model, vocab, meta = load_model(args.checkpoint)
    classic_rnn(model, "rnnkit inspect")  # the page shows gates, which record() gives for LSTM, GRU and RNN layers
    text, source = _read_text(args, meta)
    try:
        vocab.encode(text)
    except ValueError as e:
        raise ValueError(f"inspect: the text does not fit the model's vocabulary ({e})") from None
    print(f"inspect: {len(text)} characters of {source}", flush=True)
    page = inspect_report(model, vocab.encode, text, args.out, features=features, extra=neurons, top=args.top,
                          heatmap_chars=args.heatmap_chars, title=f"Inside {Path(args.checkpoint).name}")
    print(f"wrote {page} and the PNGs beside it")
    return 0


def _read_utf8(path: Path) -> str:
    """A UTF-8 text file; a missing file or an undecodable byte is an error naming the file (and the line)."""
    from rnnkit.utils.reading import decode_utf8

    if not path.is_file():
        raise FileNotFoundError(f"inspect: no text file {path}; pass --text-file PATH or --text TEXT.")
    return decode_utf8(path.read_bytes(), str(path), "Convert it to UTF-8, or pass --text.")


def _read_text(args: argparse.Namespace, meta: dict) -> tuple[str, str]:
    """The text to inspect and where it came from: --text, --text-file, or the checkpoint's own data."""
    if args.text is not None and args.text_file is not None:
        raise ValueError("inspect: pass --text or --text-file, not both.")
    if args.chars < 1 or (args.start is not None and args.start < 0):
        raise ValueError(f"inspect: need --chars >= 1 and --start >= 0, got {args.chars} and {args.start}.")
    start = args.start or 0
    if args.text is not None:
        text, source = args.text, "--text"
    elif args.text_file is not None:
        text, source = _read_utf8(args.text_file), str(args.text_file)
    else:
        data = meta.get("data") or {}
        if data.get("text"):
            text, source = _read_utf8(Path(data["text"])), data["text"]
        else:
            from rnnkit.lm.embedded import embedded_text

            text, source = embedded_text()
        if args.start is None:
            # the checkpoint's validation split: text the model has not trained on
            start = int(len(text) * (1.0 - float(meta.get("train_config", {}).get("val_fraction", 0.1))))
            source += f", from character {start} (the validation split)"
    if not text:
        raise ValueError(f"inspect: {source} is empty; give a text to trace.")
    whole = len(text)
    text = text[start : start + args.chars]
    if not text:
        raise ValueError(f"inspect: no text left after --start {start}: {source} has {whole:,} characters.")
    return text, source


def _set_threads(threads: int) -> None:
    if threads < 0:
        raise ValueError(f"lab: --threads must be >= 0 (0 keeps torch's default), got {threads}.")
    if threads:
        import torch

        torch.set_num_threads(threads)


def _parse_neuron(spec: str) -> tuple[int, str, int]:
    """'2:c:17' -> (1, 'c', 17): layers count from 1 on the command line, from 0 inside."""
    parts = spec.split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit() or int(parts[0]) < 1:
        raise ValueError(f"inspect: --neuron must look like LAYER:STATE:UNIT, e.g. 1:c:17, got {spec!r}.")
    return int(parts[0]) - 1, parts[1], int(parts[2])

