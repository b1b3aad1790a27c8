"""``rnnkit chat RUN_DIR``: talk to a model trained by ``rnnkit recipe chat``.

Each line read is the user's turn; the bot's reply follows on a line of its own. The
conversation so far is the context (the model sees its last ``context_turns`` turns), so the
bot answers in context. Lines come from the terminal or a pipe (``printf 'hi\\nhow are you?\\n'
| rnnkit chat runs/chat``); ``/reset`` forgets the conversation, an empty line or end of input ends it.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import torch

from rnnkit.models.decoding import check_sampling
from rnnkit.recipes import Run, all_recipes, load_run
from rnnkit.recipes.chat.recipe import ChatConfig, ChatRecipe, detokenize

PROMPT, BOT = "you> ", "bot>"


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``rnnkit chat`` to the CLI."""
    p = sub.add_parser(
        "chat", help="talk to a trained `rnnkit recipe chat` model (reads lines from the terminal or a pipe)",
        description="Talk to a chatbot trained by `rnnkit recipe chat`. Each line is your turn; the bot answers it "
                    "with the conversation so far as context. Sampled replies are printed word by word as they are "
                    "decoded; with --beam the reply is printed once the search is done. '/reset' starts a new "
                    "conversation; an empty line or end of input ends the session.")
    p.add_argument("run_dir", help="a run directory (or checkpoint) written by `rnnkit recipe chat`")
    p.add_argument("--beam", type=int, default=0,
                   help="beam width: beam search with the run's length normalisation and n-gram blocking, the reply "
                        "printed when complete (default 0: sample, streamed word by word)")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="sampling temperature (below 1: safer replies; default 0.8)")
    p.add_argument("--top-p", type=float, default=0.9,
                   help="sample from the smallest set of words with this much probability (default 0.9)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sampling (default 0)")
    p.set_defaults(run=_run_chat)


def _run_chat(args: argparse.Namespace) -> int:
    run = load_run(args.run_dir, all_recipes())
    if not isinstance(run.recipe, ChatRecipe):
        raise ValueError(f"{args.run_dir} holds a {run.recipe.name!r} model; `rnnkit chat` needs one trained by "
                         "`rnnkit recipe chat`.")
    if args.beam < 0:
        raise ValueError(f"chat: --beam must be >= 0 (0 = sample), got {args.beam}.")
    check_sampling("chat", args.temperature, None, args.top_p, 1)
    generator = torch.Generator().manual_seed(args.seed)
    converse(run, sys.stdin, sys.stdout, args.beam, args.temperature, args.top_p, generator)
    return 0


@torch.no_grad()
def converse(run: Run, lines: TextIO, out: TextIO, beam: int, temperature: float, top_p: float,
             generator: torch.Generator) -> list[str]:
    """Read turns from ``lines`` until an empty line or the end, write each reply to ``out`` as it is decoded;
    return the conversation's turns."""
    recipe, config = run.recipe, run.config
    assert isinstance(recipe, ChatRecipe)  # _run_chat checked
    assert isinstance(config, ChatConfig)
    interactive = lines.isatty()
    history: list[str] = []
    while True:
        if interactive:
            out.write(PROMPT)
            out.flush()
        line = lines.readline()
        if not line.strip():
            return history
        if line.strip() == "/reset":
            history = []
            out.write(f"{BOT} (new conversation)\n")
            continue
        history.append(line.strip())
        out.write(BOT)
        words: list[str] = []
        for word in recipe.reply(run.model, config, run.meta, history, beam, temperature, top_p, generator):
            out.write(("" if words and word in ".,!?;:%)" else " ") + word)  # stream: each word as soon as it is chosen
            out.flush()
            words.append(word)
        out.write("\n")
        history.append(detokenize(words))
