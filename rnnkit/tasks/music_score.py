"""A small staff-notation renderer: one music21 melody on treble staves, drawn with matplotlib.

No engraver (MuseScore, LilyPond) is needed. The drawing follows common practice, kept simple:

    position p = 7 * octave + step - (7 * 4 + 2)   diatonic steps above the bottom line, E4
    y = p / 2                                      in staff spaces; lines at p = 0, 2, 4, 6, 8
    ledger lines at even p below 0 or above 8; stems up below the middle line (p < 4), else down
    an accidental is shown when a note's alteration differs from what the key signature, or an
    earlier note on the same line or space in the bar, implies

Heads are open for halves and wholes, filled otherwise; eighths and shorter get flags (there
is no beaming), dotted notes a dot. The clef is drawn as a letter G on the G line. Grace
notes, ties, slurs, repeats and tuplet brackets are left out: the picture shows pitches and rhythm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

STEPS = "CDEFGAB"
SHARP_ORDER, FLAT_ORDER = "FCGDAEB", "BEADGCF"
# where each sharp (F5 C5 G5 D5 A4 E5 B4) and flat (B4 E5 A4 D5 G4 C5 F4) of a treble key signature sits
SHARP_POSITIONS, FLAT_POSITIONS = (8, 5, 9, 6, 3, 7, 4), (4, 7, 3, 6, 2, 5, 1)
GLYPHS = {1: "\u266f", -1: "\u266d", 0: "\u266e", 2: "\u266f\u266f", -2: "\u266d\u266d"}  # sharp, flat, natural
FLAGS = {"eighth": 1, "16th": 2, "32nd": 3, "64th": 4}
OPEN_HEADS = ("half", "whole", "breve")
LINE_WIDTH = 80.0  # staff spaces per system; measures wrap to the next system
SYSTEM_GAP = 11.0  # staff spaces from one system's bottom line to the next


@dataclass(frozen=True)
class Event:
    """A note, chord or rest as drawn: staff positions (empty for a rest) and their accidentals."""

    positions: tuple[int, ...]  # 0 = bottom line (E4), 8 = top line (F5)
    accidentals: tuple[int | None, ...]  # alteration to print per position (1 sharp, -1 flat, 0 natural), or None
    kind: str  # music21 duration type: "whole", "half", "quarter", "eighth", "16th", ...
    dots: int
    length: float  # quarter notes, for spacing


def staff_position(step: str, octave: int) -> int:
    """Diatonic steps above E4, the bottom line of the treble staff: C4 -> -2, B4 -> 4, F5 -> 8."""
    return 7 * octave + STEPS.index(step) - (7 * 4 + 2)


def ledger_lines(position: int) -> list[int]:
    """The positions of the short lines a note outside the staff needs (even p below 0 or above 8)."""
    if position <= -2:
        return list(range(-2, position - 1, -2))
    if position >= 10:
        return list(range(10, position + 1, 2))
    return []


def key_alteration(sharps: int, step: str) -> int:
    """The alteration the key signature gives a step: +1, -1 or 0 (sharps < 0 counts flats)."""
    if sharps > 0 and step in SHARP_ORDER[:sharps]:
        return 1
    if sharps < 0 and step in FLAT_ORDER[:-sharps]:
        return -1
    return 0


def read_measures(stream: Any) -> tuple[int, str, list[list[Event]]]:
    """The key signature (sharps, negative for flats), the time signature text and the measures of a music21 stream."""
    import music21

    part = stream.parts[0] if getattr(stream, "parts", None) else stream
    keys = list(part.recurse().getElementsByClass(music21.key.KeySignature))
    sharps = int(keys[0].sharps) if keys else 0
    meters = list(part.recurse().getElementsByClass(music21.meter.TimeSignature))
    meter = "" if not meters else {"common": "C", "cut": "\u00a2"}.get(meters[0].symbol, meters[0].ratioString)
    bars = list(part.getElementsByClass(music21.stream.Measure)) or [part]
    measures = []
    for bar in bars:
        shown: dict[tuple[str, int], int] = {}  # (step, octave) -> alteration in force in this bar
        events = []
        for n in bar.recurse().notesAndRests:
            if n.duration.isGrace:
                continue
            positions, accidentals = [], []
            for p in [] if n.isRest else sorted(n.pitches, key=lambda p: p.ps):
                alter = int(p.accidental.alter) if p.accidental is not None else 0
                implied = shown.get((p.step, p.octave), key_alteration(sharps, p.step))
                positions.append(staff_position(p.step, p.octave))
                accidentals.append(alter if alter != implied else None)
                shown[(p.step, p.octave)] = alter
            events.append(Event(tuple(positions), tuple(accidentals), n.duration.type, n.duration.dots,
                                float(n.quarterLength)))
        if events:
            measures.append(events)
    return sharps, meter, measures


def glyph_offset(alter: int) -> float:
    """A centred sharp or natural sits a little high and a flat's bowl is its lower half: nudge onto the note."""
    return 0.0 if alter < 0 else -0.3


def event_width(event: Event) -> float:
    """Horizontal room for an event, in staff spaces: longer notes get more, accidentals add room."""
    return 1.3 + 1.4 * min(event.length, 4.0) ** 0.7 + (1.0 if any(a is not None for a in event.accidentals) else 0.0)


def draw_score(stream: Any, path: str | Path, title: str = "") -> Path:
    """Draw a music21 stream (its first part) as treble-staff notation and save it as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse, Rectangle

    sharps, meter, measures = read_measures(stream)
    fig, ax = plt.subplots()
    line = lambda x0, y0, x1, y1, w=0.9: ax.plot([x0, x1], [y0, y1], color="black", lw=w, solid_capstyle="butt")  # noqa: E731
    text = lambda x, y, s, size=13, **kw: ax.text(x, y, s, fontsize=size, ha="center", va="center", **kw)  # noqa: E731

    def start_system(row: int) -> tuple[float, float]:
        base = -row * SYSTEM_GAP
        text(1.2, base + 1.7, "G", 34, family="serif", style="italic")  # the clef, as text, on the G line
        x = 3.8
        positions, glyph = (SHARP_POSITIONS, 1) if sharps > 0 else (FLAT_POSITIONS, -1)
        for p in positions[: abs(sharps)]:
            text(x, base + p / 2 + glyph_offset(glyph), GLYPHS[glyph], 22)
            x += 1.0
        if row == 0 and meter:
            top, _, bottom = meter.partition("/")
            text(x + 0.8, base + (3.0 if bottom else 2.0), top, 20, weight="bold")
            if bottom:
                text(x + 0.8, base + 1.0, bottom, 20, weight="bold")
            x += 2.0
        return base, x + 1.0

    def draw_event(e: Event, x: float, base: float) -> None:
        if not e.positions:  # rests: block for whole and half, a zigzag for a quarter, a hook per flag below
            if e.kind in ("whole", "half"):
                ax.add_patch(Rectangle((x - 0.5, base + (2.5 if e.kind == "whole" else 2.0)), 1.0, 0.5, color="black"))
            elif e.kind == "quarter":
                ax.plot([x - 0.2, x + 0.3, x - 0.3, x + 0.3, x - 0.1], [b + base for b in (3.2, 2.5, 1.9, 1.3, 0.8)], color="black", lw=2)
            else:
                line(x - 0.3, base + 1.0, x + 0.3, base + 2.8, 1.4)
                for k in range(FLAGS.get(e.kind, 1)):
                    ax.add_patch(Ellipse((x - 0.2 - 0.15 * k, base + 2.6 - 0.6 * k), 0.35, 0.35, color="black"))
            return
        ys = [base + p / 2 for p in e.positions]
        for p, y, alter in zip(e.positions, ys, e.accidentals, strict=True):
            for q in ledger_lines(p):
                line(x - 1.1, base + q / 2, x + 1.1, base + q / 2)
            ax.add_patch(Ellipse((x, y), 1.3, 0.9, angle=20, lw=1.2, edgecolor="black",
                                 facecolor="white" if e.kind in OPEN_HEADS else "black"))
            if alter is not None:
                text(x - 1.3, y + glyph_offset(alter), GLYPHS[alter], 22)
            for d in range(e.dots):
                ax.add_patch(Ellipse((x + 1.0 + 0.45 * d, y + (0.25 if p % 2 == 0 else 0.0)), 0.3, 0.3, color="black"))
        if e.kind in ("whole", "breve"):
            return
        up = sum(e.positions) / len(e.positions) < 4  # below the middle line: stem up, on the right
        sx, sign = (x + 0.6, 1.0) if up else (x - 0.6, -1.0)
        end = (max(ys) if up else min(ys)) + sign * 3.5
        line(sx, min(ys) if up else max(ys), sx, end, 1.0)
        for k in range(FLAGS.get(e.kind, 0)):
            y0 = end - sign * 0.8 * k
            line(sx, y0, sx + 0.9, y0 - sign * 1.3, 1.3)

    row = 0
    base, x = start_system(row)
    ends = [x]
    for events in measures:
        width = sum(event_width(e) for e in events) + 1.0
        if x + width > LINE_WIDTH and x > ends[-1]:  # the measure does not fit: next system
            ends[-1] = x
            row += 1
            base, x = start_system(row)
            ends.append(x)
        for e in events:
            w = event_width(e)
            draw_event(e, x + 0.8 + (1.0 if any(a is not None for a in e.accidentals) else 0.0), base)
            x += w
        line(x, base, x, base + 4, 1.0)  # bar line
        x += 1.0
    ends[-1] = x
    for r, end in enumerate(ends):
        for k in range(5):
            line(0.0, -r * SYSTEM_GAP + k, end - 1.0, -r * SYSTEM_GAP + k, 0.8)
    ax.set_xlim(-0.5, LINE_WIDTH + 0.5)
    ax.set_ylim(-row * SYSTEM_GAP - 4.0, 9.0)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.set_size_inches(LINE_WIDTH * 0.14, (row * SYSTEM_GAP + 13.0) * 0.14)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
