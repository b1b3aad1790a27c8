"""Sentences about a clip, composed from the script that made it, and read back into facts.

A clip's script says, for each digit in it, which actions it does over which frames. Its
**facts** are what a caption must get right: which digits appear, and for each digit its
actions in the order it does them (consecutive segments doing the same action are one
action: the boundary between them cannot be seen). When one digit changes relative to the
other is not a fact here: only some phrasings say it, so a caption is not held to it.

Phrasings (all true, used together as BLEU references)::

    by digit:  "the two shrinks, and the seven moves up, then stops"          (canonical, trained on)
    in time:   "the seven moves up while the two shrinks, then the seven stops"
    variants:  either order, other verbs ("goes up", "gets smaller", "stays put"), "and then", "it"

The canonical phrasing names the digits in increasing order, so the first word after "the"
depends on the clip alone, not on how the script happened to list its actors (as the caption
recipe names the left item first). ``caption_facts`` parses any of these back: clauses are
split at ",", "and", "then", "while"; a clause is ``[the|a NUMBER | it] VERB PHRASE``, and a
clause without a subject (or with "it") continues the previous clause's digit.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from rnnkit.recipes.caption.scenes import NUMBERS
from rnnkit.recipes.text import tokenize
from rnnkit.recipes.video.clips import Actor, Script

# action -> its phrasings, the canonical one first. An action not listed is said as it is named.
VERBS: dict[str, tuple[str, ...]] = {
    "stays": ("stays still", "stays put", "does not move"),
    "moves left": ("moves left", "goes left", "slides left"),
    "moves right": ("moves right", "goes right", "slides right"),
    "moves up": ("moves up", "goes up", "rises"),
    "moves down": ("moves down", "goes down", "sinks"),
    "grows": ("grows", "gets bigger"),
    "shrinks": ("shrinks", "gets smaller"),
    "rotates": ("rotates", "turns", "spins"),
    "bounces": ("bounces", "bounces around"),
}
STOPS = "stops"  # "stays" after another action: "the seven moves up, then stops"
CONNECTORS = frozenset({",", "and", "then", "while"})

# the facts of a clip: (digit, its actions in order) per digit, sorted by digit
Facts = tuple[tuple[int, tuple[str, ...]], ...]


def runs(actor: Actor) -> list[tuple[str, int]]:
    """(action, first frame) of each run of equal consecutive segments, in time order."""
    out: list[tuple[str, int]] = []
    for segment in sorted(actor.segments, key=lambda s: s.start):
        if not out or out[-1][0] != segment.action:
            out.append((segment.action, segment.start))
    return out


def check_describable(script: Script) -> None:
    """A caption can name each digit only if no two actors show the same digit."""
    digits = [a.digit for a in script.actors]
    if not digits:
        raise ValueError("sentences: the script has no actors; a clip needs one or two digits to describe.")
    if len(set(digits)) != len(digits):
        raise ValueError(f"sentences: the script has two actors showing the same digit {digits}; "
                         "'the seven' would not say which one. Draw another script.")
    for d in digits:
        if not 0 <= d <= 9:
            raise ValueError(f"sentences: digit {d} is not in 0..9.")


def script_facts(script: Script) -> Facts:
    """The facts a true caption states: each digit with its actions in order."""
    check_describable(script)
    return tuple(sorted((a.digit, tuple(action for action, _ in runs(a))) for a in script.actors))


def _verb(action: str, first: bool, rng: random.Random | None) -> str:
    """How an action is said: the canonical phrase (rng None) or a random one; 'stops' may replace 'stays' after an
    action."""
    choices = VERBS.get(action, (action,))
    if action == "stays" and not first:
        choices = (STOPS, *choices)
    return choices[0] if rng is None else rng.choice(choices)


def by_digit(script: Script, reverse: bool = False, rng: random.Random | None = None) -> str:
    """Digit after digit (increasing, or decreasing with ``reverse``): "the two shrinks, and the seven moves up, then
    stops"."""
    then = ", then" if rng is None else rng.choice((", then", ", and then", " then"))
    clauses = []
    for actor in sorted(script.actors, key=lambda a: a.digit, reverse=reverse):
        actions = [_verb(action, k == 0, rng) for k, (action, _) in enumerate(runs(actor))]
        clauses.append(f"the {NUMBERS[actor.digit]} {actions[0]}" + "".join(f"{then} {a}" for a in actions[1:]))
    return ", and ".join(clauses)


def in_time(script: Script, rng: random.Random | None = None) -> str:
    """Events in the order they start, those starting together joined by "while":
    "the seven moves up while the two shrinks, then the seven stops"."""
    events = sorted(((start, actor.digit, k, action) for actor in script.actors for k,
                     (action, start) in enumerate(runs(actor))))
    text, previous = "", None
    for i, (start, digit, k, action) in enumerate(events):
        verb = _verb(action, k == 0, rng)
        subject = f"the {NUMBERS[digit]} "
        if digit == previous and rng is not None:
            subject = rng.choice(("", "it ", subject))  # the same digit again: may go unnamed
        if i == 0:
            text = f"{subject}{verb}"
        elif start == events[i - 1][0]:
            text += f" while {subject}{verb}"
        else:
            text += f", then {subject}{verb}"
        previous = digit
    return text


def canonical(script: Script) -> str:
    """The phrasing the model is trained to write: by digit, increasing, canonical verbs."""
    check_describable(script)
    return by_digit(script)


def phrasings(script: Script, count: int = 5, seed: int = 0) -> list[str]:
    """Up to ``count`` different true captions, the canonical first, then the in-time one, then
    random variants drawn from ``seed`` (the same seed gives the same list)."""
    check_describable(script)
    rng = random.Random(seed)
    out = [by_digit(script), in_time(script)]
    for _ in range(4 * count):  # variants may coincide (a one-action clip has few); try a few times over
        if len(dict.fromkeys(out)) >= count:
            break
        form = rng.randrange(3)
        out.append(in_time(script, rng) if form == 2 else by_digit(script, reverse=form == 1, rng=rng))
    return list(dict.fromkeys(out))[:count]


def words(caption: str) -> list[str]:
    """The caption's tokens (the model's output units): "the two shrinks, then" -> [the, two, shrinks, ",", then]."""
    return tokenize(caption)


def sentence(tokens: Sequence[str]) -> str:
    """Tokens back to text: a comma joins the word before it."""
    return " ".join(tokens).replace(" ,", ",")


def _phrase_table() -> dict[tuple[str, ...], str]:
    table: dict[tuple[str, ...], str] = {tuple(STOPS.split()): "stays"}
    for action, said in VERBS.items():
        for phrase in said:
            table[tuple(phrase.split())] = action
    return table


PHRASES = _phrase_table()


def caption_facts(caption: str) -> Facts | None:
    """The facts a caption states, or None if it does not parse (an unknown phrase, a clause
    without a digit to refer to, a digit named twice as a new subject after others)."""
    tokens = words(caption)
    clauses: list[list[str]] = [[]]
    for token in tokens:
        if token in CONNECTORS:
            if clauses[-1]:
                clauses.append([])
        else:
            clauses[-1].append(token)
    if not clauses[-1]:
        clauses.pop()
    if not clauses:
        return None
    actions: dict[int, list[str]] = {}
    subject: int | None = None
    for clause in clauses:
        if clause[0] in ("the", "a") and len(clause) >= 2 and clause[1] in NUMBERS:
            subject, verb = NUMBERS.index(clause[1]), clause[2:]
        elif clause[0] == "it":
            verb = clause[1:]
        else:
            verb = clause
        action = PHRASES.get(tuple(verb))
        if subject is None or action is None:
            return None
        actions.setdefault(subject, []).append(action)
    return tuple(sorted((digit, tuple(said)) for digit, said in actions.items()))


def facts_right(caption: str, script: Script) -> bool:
    """Whether the caption parses and every fact in it (digits, each digit's actions, their order) is the script's."""
    return caption_facts(caption) == script_facts(script)
