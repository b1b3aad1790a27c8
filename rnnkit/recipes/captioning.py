"""What the recipes that write sentences share: one caption's token ids per input from a
decoder (greedy or beam search), and corpus BLEU against any number of references each.

The caption recipe decodes from image regions, the video-caption recipe from frames (with
their lengths), the translate recipe scores against one reference per sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from rnnkit.models import OneToMany, Seq2Seq


def caption_ids(decoder: OneToMany | Seq2Seq, condition: Tensor, beam: int = 1,
                lengths: Tensor | None = None) -> list[list[int]]:
    """Token ids of one caption per row of ``condition`` (without the end token): greedy, or beam search if beam > 1.

    ``condition`` is what the decoder starts from: a vector (B, F) for a OneToMany, a sequence
    (B, S, F) for a Seq2Seq, whose ``lengths`` (B,) mark the real positions the attention may look at.
    """
    if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
        raise ValueError(f"caption_ids: beam must be a positive integer (1 = greedy), got {beam!r}.")
    if isinstance(decoder, OneToMany) and lengths is not None:
        raise ValueError("caption_ids: a OneToMany decoder starts from one vector per input; it takes no lengths.")
    eos = decoder.config.eos_id
    if beam > 1:
        best = (decoder.beam_search(condition, beam_width=beam) if isinstance(decoder, OneToMany)
                else decoder.beam_search(condition, lengths, beam_width=beam))
        return [[t for t in hyps[0].tokens if t != eos] for hyps in best]
    if isinstance(decoder, OneToMany):
        tokens, counts = decoder.generate(condition, greedy=True)
    else:
        tokens, counts, _ = decoder.generate(condition, lengths, greedy=True)
    return [[t for t in row[: int(n)].tolist() if t != eos] for row, n in zip(tokens, counts, strict=True)]


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU-4 (sacreBLEU's defaults: 13a tokenisation, case-sensitive) of ``hypotheses[i]``
    against all of ``references[i]``; sentences may have different numbers of references."""
    try:
        import sacrebleu
    except ModuleNotFoundError:
        raise ValueError("BLEU needs sacrebleu; `pip install sacrebleu` (it is in rnnkit's recipes extra).") from None
    if len(hypotheses) != len(references):
        raise ValueError(f"corpus_bleu: {len(hypotheses)} hypotheses but {len(references)} reference lists; give one "
                         "list per hypothesis.")
    if any(len(refs) == 0 for refs in references):
        raise ValueError("corpus_bleu: every hypothesis needs at least one reference.")
    most = max((len(refs) for refs in references), default=0)
    # sacreBLEU takes reference *streams*; a sentence with fewer references fills its slots with None
    streams: list[Sequence[str | None]] = [[refs[k] if k < len(refs) else None for refs in references]
                                           for k in range(most)]
    return float(sacrebleu.corpus_bleu(list(hypotheses),
                                       streams).score)  # type: ignore[arg-type]  # None: no reference there
