"""Score pictures: a music21 melody engraved by verovio (MusicXML -> SVG), rasterised to PNG by CairoSVG.

One thing is decided before engraving: which accidentals are printed. music21's ABC reader
and the tunes' own spelling can disagree with what a reader of the picture would infer (in
"K:G ... =F F|" music21 reads the second F as F sharp again), so the picture prints each
accidental that the key signature, or an earlier note on the same step in the bar, does not
already imply: it shows what music21 read, the pitches the recipe scores and the MIDI plays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def score_svg(score: Any, title: str = "") -> str:
    """The first page of ``score`` (a music21 Score) engraved as SVG, with ``title`` above it."""
    import verovio
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    for part in score.parts:  # each accidental from the key signature and the notes before it in its bar
        key = part.recurse().getElementsByClass("KeySignature").first()
        for measure in part.getElementsByClass("Measure"):
            measure.makeAccidentals(useKeySignature=key if key is not None else True, inPlace=True,
                                    overrideStatus=True, cautionaryNotImmediateRepeat=False)
    if title:
        from music21 import metadata

        score.metadata = score.metadata or metadata.Metadata()
        score.metadata.title = title
    xml = GeneralObjectExporter(score).parse().decode("utf-8")
    toolkit = verovio.toolkit()
    # page width in verovio units (tenths of a staff space at scale 100): ~8 bars a system at scale 40 (percent)
    toolkit.setOptions({"pageWidth": 2100, "adjustPageHeight": True, "scale": 40, "footer": "none",
                        "header": "auto" if title else "none", "breaks": "auto"})
    if not toolkit.loadData(xml):
        raise ValueError(f"verovio could not read the MusicXML music21 wrote for {title or 'the score'}.")
    return str(toolkit.renderToSVG(1))


def draw_score(score: Any, path: str | Path, title: str = "") -> Path:
    """Write ``score`` (a music21 Score) as a PNG score at ``path``; returns the path."""
    import cairosvg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cairosvg.svg2png(bytestring=score_svg(score, title).encode("utf-8"), write_to=str(path), background_color="white")
    return path
