"""A chatbot: encode the last turns of a conversation, decode a reply (attentional seq2seq that can copy).

    x = turn_{t-k+1} <sep> ... <sep> turn_t          the last k turns, words, cut to max_source from the left
    y_1..y_T ~ PointerGenerator(x)                    bidirectional LSTM encoder, LSTM decoder, Bahdanau scores,
                                                      each word generated or copied from x (See et al., 2017)
    reply = beam search (length-normalised, n-gram repeats blocked), or sampling (temperature, top-p)

Replies in chit-chat reuse the words of the turns they answer; copying (rnnkit.models.pointer,
without coverage) gives the model that signal directly. A share of the training pairs
(``context_dropout``) has its context hidden (a lone <sep>), so the same model also estimates
p(response) with no context, which the ranking below uses.

Data: the BYU Chit-Chat Challenge conversations (PyPI ``chitchat-dataset`` 0.9.0, MIT): 7,168
conversations, 131,548 query -> response pairs once back-to-back messages of one sender are
joined; split by conversation, 90/5/5, seeded. Words (lowercased, punctuation split off) from the
training split, the ``vocab_size`` most frequent kept, the rest <unk>.

Evaluation in one run, on the test conversations:
    - perplexity per token of the true responses (end token included) against an add-k word bigram
      of responses (k chosen on validation), same vocabulary and tokens;
    - recall@1 (and @2, @5) of 10: the true response against 9 responses of other test
      conversations (seeded), ranked by the model's pointwise mutual information per token,
          score(r | c) = (log p(r | c) - log p(r | no context)) / (|r| + 1)
      (``rank_by=pmi``: the MMI criterion of Li et al., 2016, with lambda = 1 and the context-free
      term from the same model; ``likelihood``: log p(r | c) / (|r| + 1); both are reported);
      chance is 10 %; against TF-IDF retrieval, which ranks by cos(context, candidate);
    - distinct-1/2 and mean length of generated replies (beam and sampled) against the replies
      TF-IDF retrieval gives (the training response of the nearest training context).
Target: perplexity below the bigram's; recall@1 of 10 >= 35 % and above TF-IDF.

Measured (docs/results.md; one run with the defaults, 30 minutes of training = 2.3 epochs on one
thread of a shared 2-core machine): test perplexity 76.7 against the bigram's 118.4 (met); recall@1 of
10 45.0 % by PMI per token against TF-IDF's 39.8 % (met; by the likelihood per token alone: 13.7 %,
near chance, as a generative model gives short, common replies the highest likelihood whatever the
context). Beam replies are sentences but generic (distinct-2 0.13).

    rnnkit recipe chat
    rnnkit chat runs/chat                       # talk to it; or pipe lines in
    rnnkit predict runs/chat "hi!" "hey, how are you?"   # a reply to the last turn, the others as context
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.models import Encoded, Seq2Seq
from rnnkit.models.beam import beam_search
from rnnkit.models.common import length_mask
from rnnkit.models.decoding import check_sampling, decode_steps
from rnnkit.models.pointer import PointerGenerator, PointerGeneratorConfig
from rnnkit.recipes.chat import data as cd
from rnnkit.recipes.chat import metrics
from rnnkit.recipes.chat.baselines import BigramLM, TfidfRetrieval
from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.text import BOS, EOS, PAD, UNK, TokenVocab, bucket_batches, pad_batch, tokenize
from rnnkit.utils.config import option

SEP = "<sep>"  # between the turns of the context
SPECIALS = (PAD, UNK, BOS, EOS, SEP)  # ids 0..4
NEVER_SAID = (PAD, UNK, BOS, SEP)  # tokens a reply may not contain when generated


@dataclass(frozen=True)
class ChatConfig(RecipeConfig):
    """Data, vocabulary, model, decoding, evaluation and training settings of the chatbot."""

    data: str | None = option(None,
                              "a dataset.json in the Chit-Chat format (default: the chitchat-dataset 0.9.0 package)")
    dev_fraction: float = option(0.05, "share of the conversations that validate")
    test_fraction: float = option(0.05, "share of the conversations that test")
    # the query and the turn it answers
    context_turns: int = option(2, "turns the model sees: the query and the turns before it")
    # 96.5% of the training tokens (8,000: 97.4%)
    vocab_size: int = option(6000, "words kept (most frequent in training), specials included; the rest are <unk>")
    max_source: int = option(40, "context tokens kept (the last ones)")  # two turns have 30 tokens (median)
    # a response has 14 tokens (median), 40 at the 90th percentile
    max_target: int = option(30, "response tokens kept in training, the end token included (and the reply limit)")
    embed_size: int = option(128, "word embedding size (source and target)")
    # several epochs in the time budget beat one of a wider model (192: 0.98 epoch in 60 minutes under load)
    hidden_size: int = option(128, "hidden units per encoder direction and of the decoder")
    num_layers: int = option(1, "layers of encoder and decoder")
    attention: str = option("additive", "additive (Bahdanau), dot or general (Luong)",
                            choices=["additive", "dot", "general"])
    # replies reuse the context's words: what TF-IDF ranks by
    copy: bool = option(True,
                        "pointer-generator: a reply may copy words of the context (See et al., 2017); --no-copy: the "
                        "plain attentional model")
    # enough for p(response) to be learnt, little lost for p(response | context)
    context_dropout: float = option(0.1,
                                    "share of the training pairs whose context is hidden (<sep> only), so that the "
                                    "same model also gives p(response) alone")
    # pmi: 45 % on validation against the likelihood's 14 % (docs/results.md)
    rank_by: str = option("pmi", "recall@k score per token of the candidate: pmi = log p(r | c) - log p(r | no "
                                 "context); likelihood = log p(r | c)", choices=["pmi", "likelihood"])
    dropout: float = option(0.2, "dropout on embeddings and before the output")
    batch_size: int = option(64, "pairs per batch (bucketed by length)")
    beam: int = option(5, "beam width for the evaluated replies and predict (1 = greedy)")
    # plain logp prefers 'lol'
    length_penalty: float = option(1.0, "beam score = logp / length ** this (1 = per token, 0 = plain logp)")
    no_repeat_ngram: int = option(3, "beam: no n-gram of this size twice in a reply (0 = off)")
    temperature: float = option(0.8, "temperature of the sampled replies")
    top_p: float = option(0.9, "nucleus (top-p) of the sampled replies")
    candidates: int = option(10, "recall@k: the true response among this many")  # recall@1 of 10
    rank_pairs: int = option(1000, "test queries ranked for recall@k (0 = all)")  # standard error ~1.5 points at 35%
    generate_pairs: int = option(300, "test queries answered for distinct-n, length and the examples")
    dev_pairs: int = option(1500, "validation pairs scored after each epoch (0 = all)")
    dev_rank_pairs: int = option(300, "validation queries ranked for recall@k after each epoch (0 = all)")
    examples: int = option(20, "example exchanges written to examples.md")
    epochs: int = option(8, "passes over the training pairs (at most)")
    patience: int = option(1, "stop after this many epochs without a better validation loss")
    # about 3 epochs on one busy core; evaluation adds about 10 minutes
    max_minutes: float | None = option(30.0, "stop training after this much wall time")
    out: str = option("runs/chat", "run directory: best.pt, last.pt, results.json, examples.md")


@dataclass
class ChatData:
    """The vocabulary; each split's pairs as text and as ids; the dev and test rankings; the shuffling generator."""

    vocab: TokenVocab
    pairs: dict[str, list[cd.Pair]]  # split -> (context turns, response) texts
    ids: dict[str, list[tuple[list[int], list[int]]]]  # split -> (source ids, response ids without the end token)
    # split -> (pair, the pairs of other conversations whose responses are its distractors)
    rankings: dict[str, list[tuple[int, list[int]]]]
    answered: list[int]  # test pairs answered by generation
    generator: torch.Generator
    replies: dict[str, list[str]] = field(default_factory=dict)  # model and baseline replies to ``answered``, once made


# ---- text <-> ids -----------------------------------------------------------------------------


def no_context(vocab: TokenVocab) -> list[int]:
    """The source that stands for no context at all (a lone <sep>), shown in training as often as
    ``context_dropout`` says, so that p(response | no context) is the model's p(response)."""
    return [vocab.stoi[SEP]]


def source_ids(turns: Sequence[Sequence[str]], vocab: TokenVocab, max_source: int) -> list[int]:
    """Token ids of ``turns`` joined with <sep>, the last ``max_source`` kept (never empty)."""
    tokens: list[str] = []
    for i, turn in enumerate(turns):
        tokens.extend([SEP, *turn] if i else turn)
    return vocab.encode(tokens[-max_source:]) or [vocab.unk_id]


def detokenize(words: Sequence[str]) -> str:
    """Words back to a line: no space before closing punctuation or after an opening bracket."""
    text = " ".join(words)
    return re.sub(r"([(\[{]) ", r"\1", re.sub(r" ([.,!?;:%)\]}])", r"\1", text))


def encode_pairs(pairs: Sequence[cd.Pair], vocab: TokenVocab, config: ChatConfig) -> list[tuple[list[int], list[int]]]:
    """(source ids, response ids cut to max_target - 1, so with its end token at most max_target)."""
    return [(source_ids([tokenize(t) for t in turns], vocab, config.max_source),
             vocab.encode(tokenize(response)[: config.max_target - 1])) for turns, response in pairs]


def make_batch(rows: Sequence[tuple[list[int], list[int]]], eos_id: int) -> dict[str, Tensor]:
    """inputs (B, S), lengths (B,), targets (B, T) ending in the end token, target_lengths (B,)."""
    inputs, lengths = pad_batch([s for s, _ in rows])
    targets, target_lengths = pad_batch([t + [eos_id] for _, t in rows])
    return {"inputs": inputs, "lengths": lengths, "targets": targets, "target_lengths": target_lengths}


# ---- scoring and replying ---------------------------------------------------------------------


@torch.no_grad()
def log_likelihoods(model: Seq2Seq, sources: Sequence[list[int]], responses: Sequence[list[int]], repeat: int = 1,
                    rows: int = 128) -> tuple[list[float], list[int]]:
    """log p(response, end | source) and the token count (len + 1) of each response; ``responses`` holds
    ``repeat`` candidates per source, source-major (each source is encoded once for all of them)."""
    if len(responses) != repeat * len(sources):
        raise ValueError(f"log_likelihoods: {len(sources)} sources x {repeat} candidates need {repeat * len(sources)} "
                         f"responses, got {len(responses)}.")
    c, step = model.config, max(1, rows // repeat)
    sums: list[float] = []
    counts: list[int] = []
    for q in range(0, len(sources), step):
        inputs, lengths = pad_batch(sources[q : q + step])
        encoded = model.encode(inputs, lengths).select(torch.arange(inputs.size(0)).repeat_interleave(repeat))
        targets, target_lengths = pad_batch([r + [c.eos_id] for r in responses[q * repeat : (q + step) * repeat]])
        # (N, T): y_{t-1}
        previous = torch.cat([targets.new_full((targets.size(0), 1), c.bos_id), targets[:, :-1]], dim=1)
        logits, _, _ = model.decode(encoded, previous, target_lengths)  # (N, T, V)
        # a pointer-generator's decode gives log P already; log_softmax leaves a normalised one as it is
        logp = torch.log_softmax(logits.float(), -1).gather(2, targets.unsqueeze(2)).squeeze(2)  # (N, T)
        logp = logp * length_mask(target_lengths, targets.size(1))
        sums.extend(logp.sum(1).tolist())
        counts.extend(target_lengths.tolist())
    return sums, counts


def candidate_scores(model: Seq2Seq, rows: Sequence[tuple[list[int], list[int]]],
                     rankings: Sequence[tuple[int, list[int]]], hidden: list[int]) -> dict[str, list[float]]:
    """Each ranking's candidates scored, query-major, the true response first, per token (n = len(r) + 1):
    likelihood = log p(r | c) / n; pmi = (log p(r | c) - log p(r | ``hidden``)) / n, how much the context
    raises the response (Li et al., 2016's MMI with lambda = 1, the context-free term from the same model)."""
    candidates = [j for i, others in rankings for j in [i, *others]]
    given, counts = log_likelihoods(model, [rows[i][0] for i, _ in rankings], [rows[j][1] for j in candidates],
                                    len(candidates) // max(1, len(rankings)))
    unique = sorted(set(candidates))  # p(r | no context) once per response
    alone, _ = log_likelihoods(model, [hidden] * len(unique), [rows[j][1] for j in unique])
    prior = dict(zip(unique, alone, strict=True))
    return {"likelihood": [g / n for g, n in zip(given, counts, strict=True)],
            "pmi": [(g - prior[j]) / n for g, j, n in zip(given, candidates, counts, strict=True)]}


def banned_step(model: Seq2Seq, banned: list[int]) -> Any:
    """The decoder's one-step function with ``banned`` tokens impossible (a reply never says <unk>)."""

    def step(tokens: Tensor, encoded: Encoded) -> tuple[Tensor, Encoded]:
        logits, _, encoded = model.decode(encoded, tokens.unsqueeze(1))
        return logits[:, 0].index_fill(1, torch.tensor(banned), float("-inf")), encoded  # (N, V)

    return step


@torch.no_grad()
def beam_replies(model: Seq2Seq, sources: Sequence[list[int]], vocab: TokenVocab, config: ChatConfig,
                 beam: int | None = None, batch: int = 50) -> list[list[str]]:
    """The best beam-search reply (words) to each source: length-normalised, n-gram repeats blocked."""
    c = model.config
    out: list[list[str]] = []
    step = banned_step(model, [vocab.stoi[t] for t in NEVER_SAID])
    for i in range(0, len(sources), batch):
        inputs, lengths = pad_batch(sources[i : i + batch])
        encoded = model.encode(inputs, lengths)
        best = beam_search(step, type(encoded).select, encoded, inputs.size(0), c.bos_id, c.eos_id, beam or config.beam,
                           config.max_target, config.length_penalty, 1, None, config.no_repeat_ngram)
        out.extend(vocab.decode(t for t in hyps[0].tokens if t != c.eos_id) for hyps in best)
    return out


def sampled_words(model: Seq2Seq, sources: Sequence[list[int]], vocab: TokenVocab, max_length: int, temperature: float,
                  top_p: float | None, generator: torch.Generator | None) -> Iterator[list[str | None]]:
    """Sample replies to ``sources`` together, yielding each step's word per source as soon as it is drawn
    (None once that reply has ended)."""
    check_sampling("chat", temperature, None, top_p, max_length)
    c = model.config
    inputs, lengths = pad_batch(sources)
    encoded = model.encode(inputs, lengths)
    step = banned_step(model, [vocab.stoi[t] for t in NEVER_SAID])
    ended = [False] * len(sources)
    for tokens, _ in decode_steps(step, encoded, len(sources), c.bos_id, c.eos_id, max_length, inputs.device,
                                  False, temperature, None, top_p, generator):
        ended = [e or t == c.eos_id for e, t in zip(ended, tokens.tolist(), strict=True)]
        yield [None if e else vocab.itos[t] for e, t in zip(ended, tokens.tolist(), strict=True)]


@torch.no_grad()
def sampled_replies(model: Seq2Seq, sources: Sequence[list[int]], vocab: TokenVocab, config: ChatConfig,
                    generator: torch.Generator, batch: int = 100) -> list[list[str]]:
    """A sampled reply (words) to each source, with the config's temperature and top-p."""
    out: list[list[str]] = []
    for i in range(0, len(sources), batch):
        chunk = sources[i : i + batch]
        words: list[list[str]] = [[] for _ in chunk]
        for step in sampled_words(model, chunk, vocab, config.max_target, config.temperature, config.top_p, generator):
            for reply, w in zip(words, step, strict=True):
                if w is not None:
                    reply.append(w)
        out.extend(words)
    return out


def context_text(turns: Sequence[str]) -> str:
    """A context as one text for TF-IDF."""
    return " ".join(turns)


# ---- the recipe -------------------------------------------------------------------------------


class ChatRecipe(Recipe[ChatConfig, ChatData]):
    """A chatbot on the BYU Chit-Chat conversations: seq2seq with attention; perplexity, recall@1 of 10, distinct-n."""

    name = "chat"
    config_class = ChatConfig
    monitor = "loss"
    mode = "min"
    inputs = "the turns of a conversation, oldest first; the reply answers the last"

    def prepare_data(self, config: ChatConfig) -> ChatData:
        """Read, split by conversation, build the vocabulary from training, encode, draw the dev and test rankings."""
        if config.candidates < 2:
            raise ValueError("chat: --candidates must be >= 2 (the true response and at least one other), got "
                             f"{config.candidates}.")
        if config.data:
            conversations = cd.read_conversations(config.data)
        else:
            print(f"chat: reading the BYU Chit-Chat conversations from the {cd.PACKAGE[2]} {cd.PACKAGE[3]} wheel")
            conversations = cd.load_packaged()
        parts = cd.split_conversations(list(conversations), config.seed, config.dev_fraction, config.test_fraction)
        pairs = {split: [p for cid in ids for p in cd.conversation_pairs(conversations[cid], config.context_turns)
                         if tokenize(p[1])] for split, ids in parts.items()}
        owner = {split: [cid for cid in parts[split] for p in cd.conversation_pairs(conversations[cid],
                                                                                   config.context_turns)
                         if tokenize(p[1])] for split in ("dev", "test")}
        words = (tokenize(turn) for cid in parts["train"] for turn in conversations[cid])
        vocab = TokenVocab.build(words, max_size=config.vocab_size, specials=SPECIALS)
        ids = {split: encode_pairs(p, vocab, config) for split, p in pairs.items()}
        if min(len(set(o)) for o in owner.values()) < 2:
            raise ValueError("chat: the dev and test splits need pairs from at least two conversations each for the "
                             "rankings; give more conversations or larger --dev-fraction / --test-fraction.")
        rankings: dict[str, list[tuple[int, list[int]]]] = {}
        answered: list[int] = []
        for split, seed, count in (("test", config.seed, config.rank_pairs), ("dev", config.seed + 1,
                                                                              config.dev_rank_pairs)):
            rng = random.Random(seed)
            ranked = list(range(len(pairs[split])))
            rng.shuffle(ranked)
            rankings[split] = [(i, distractors(i, owner[split], config.candidates - 1, rng))
                               for i in ranked[: count or None]]
            answered = answered or sorted(ranked[: config.generate_pairs])  # test's
        print(f"chat: {sum(map(len, parts.values()))} conversations -> "
              f"{', '.join(f'{len(pairs[s])} {s}' for s in ('train', 'dev', 'test'))} "
              f"pairs; vocabulary {len(vocab)} words")
        return ChatData(vocab, pairs, ids, rankings, answered, torch.Generator().manual_seed(config.seed))

    def describe(self, data: ChatData) -> Meta:
        return {"vocab": data.vocab.to_dict()}

    def build_model(self, config: ChatConfig, meta: Meta) -> nn.Module:
        vocab = TokenVocab.from_dict(meta["vocab"])
        V = len(vocab)
        # no coverage: a reply is short and rarely repeats its context, and coverage makes decoding a loop over steps
        return PointerGenerator(PointerGeneratorConfig(
            vocab_size=V, input_vocab_size=V, input_size=config.embed_size, embed_size=config.embed_size,
            hidden_size=config.hidden_size, num_layers=config.num_layers, bidirectional=True, dropout=config.dropout,
            attention=config.attention, bos_id=vocab.stoi[BOS], eos_id=vocab.stoi[EOS], max_length=config.max_target,
            copy=config.copy, coverage=False, unk_id=vocab.unk_id,
        ))

    def generators(self, data: ChatData) -> list[torch.Generator]:
        return [data.generator]

    def batches(self, config: ChatConfig, data: ChatData, epoch: int) -> Iterator[dict[str, Tensor]]:
        train, eos, hidden = data.ids["train"], data.vocab.stoi[EOS], no_context(data.vocab)
        by_length = [64 * len(t) + len(s) for s, t in train]  # by response length, then context length: little padding
        for idx in bucket_batches(by_length, config.batch_size, generator=data.generator):
            drop = (torch.rand(len(idx), generator=data.generator) < config.context_dropout).tolist()
            yield make_batch([(hidden if d else train[i][0], train[i][1]) for i, d in zip(idx, drop, strict=True)], eos)

    def evaluate(self, model: nn.Module, config: ChatConfig, data: ChatData, split: str) -> dict[str, float]:
        """Loss and perplexity per response token; recall@k of the candidates by the config's score (and by both
        scores, as pmi_recall@k and likelihood_recall@k); on test also distinct-n and length of beam and sampled
        replies."""
        assert isinstance(model, Seq2Seq)
        rows = data.ids[split][: config.dev_pairs or None] if split == "dev" else data.ids[split]
        sums, counts = log_likelihoods(model, [s for s, _ in rows], [t for _, t in rows])
        out = {"loss": -sum(sums) / sum(counts), "perplexity": metrics.perplexity(sum(sums), sum(counts))}
        scores = candidate_scores(model, data.ids[split], data.rankings[split], no_context(data.vocab))
        for name, values in scores.items():
            out |= {f"{name}_{k}": v for k, v in ranking_metrics(values, config.candidates).items()}
        out |= ranking_metrics(scores[config.rank_by], config.candidates)
        if split != "test":
            return out
        test = data.ids["test"]
        sources = [test[i][0] for i in data.answered]
        beams = beam_replies(model, sources, data.vocab, config)
        samples = sampled_replies(model, sources, data.vocab, config, torch.Generator().manual_seed(config.seed))
        data.replies |= {"beam": [detokenize(r) for r in beams], "sample": [detokenize(r) for r in samples]}
        return out | reply_metrics(beams, "beam_") | reply_metrics(samples, "sample_")

    def baselines(self, config: ChatConfig, data: ChatData) -> dict[str, dict[str, float]]:
        """The add-k bigram's perplexity (k chosen on dev) and TF-IDF retrieval's recall@k and replies."""
        vocab = data.vocab

        def words(split: str) -> list[list[str]]:
            return [vocab.decode(t) for _, t in data.ids[split]]

        bigram = BigramLM(words("train"), BOS, EOS, outcomes=len(vocab) - 3)  # any word, <unk> or the end
        dev = words("dev")
        k = min((1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001), key=lambda k: -bigram.with_k(k).corpus_log_prob(dev)[0])
        logp, n = bigram.with_k(k).corpus_log_prob(words("test"))
        train, test = data.pairs["train"], data.pairs["test"]
        tfidf = TfidfRetrieval([context_text(c) for c, _ in train], [r for _, r in train], tokenize)
        queries = [context_text(test[i][0]) for i, others in data.rankings["test"] for _ in range(1 + len(others))]
        cands = [test[j][1] for i, others in data.rankings["test"] for j in [i, *others]]
        retrieved = tfidf.reply([context_text(test[i][0]) for i in data.answered])
        data.replies["tfidf"] = retrieved
        return {
            f"word bigram, add-k (k={k} chosen on dev)": {"perplexity": metrics.perplexity(logp, n), "loss": -logp / n},
            "TF-IDF retrieval": ranking_metrics(tfidf.similarity(queries, cands).tolist(), config.candidates)
            | reply_metrics([tokenize(r) for r in retrieved], ""),
        }

    def report(self, model: nn.Module, config: ChatConfig, data: ChatData, out: Path) -> list[Path]:
        """examples.md: test exchanges with the true response, the model's beam and sampled replies, TF-IDF's."""
        if "beam" not in data.replies:
            return []
        path = out / "examples.md"
        path.write_text(examples_markdown(data, config))
        return [path]

    def reply(self, model: nn.Module, config: ChatConfig, meta: Meta, turns: Sequence[str], beam: int = 0,
              temperature: float = 0.8, top_p: float | None = 0.9,
              generator: torch.Generator | None = None) -> Iterator[str]:
        """The reply to the last of ``turns``, word by word: sampled and yielded as drawn (beam = 0), or the
        best beam-search reply (beam >= 1), yielded once it is found."""
        assert isinstance(model, Seq2Seq)
        if beam < 0:
            raise ValueError(f"chat: --beam must be >= 0 (0 = sample), got {beam}.")
        vocab = TokenVocab.from_dict(meta["vocab"])
        source = source_ids([tokenize(t) for t in turns[-config.context_turns :]], vocab, config.max_source)
        if beam:
            yield from beam_replies(model, [source], vocab, config, beam)[0]
            return
        for step in sampled_words(model, [source], vocab, config.max_target, temperature, top_p, generator):
            if step[0] is None:
                return
            yield step[0]

    def predict(self, model: nn.Module, config: ChatConfig, meta: Meta, inputs: Sequence[str]) -> list[dict[str, Any]]:
        """The beam-search reply (the config's width) to the last input, the inputs before it as context."""
        if not inputs:
            raise ValueError("chat: give the turns of a conversation; the reply answers the last.")
        reply = detokenize(list(self.reply(model, config, meta, inputs, beam=config.beam)))
        return [{"context": list(inputs[-config.context_turns :]), "reply": reply}]

    def show(self, result: dict[str, Any]) -> str:
        return str(result["reply"])


def distractors(i: int, owner: Sequence[str], n: int, rng: random.Random) -> list[int]:
    """``n`` distinct pair indices whose conversation differs from pair ``i``'s, drawn with ``rng``."""
    others: list[int] = []
    while len(others) < n:
        j = rng.randrange(len(owner))
        if owner[j] != owner[i] and j not in others:
            others.append(j)
    return others


def ranking_metrics(scores: Sequence[float], candidates: int) -> dict[str, float]:
    """recall@1, @2, @5 from scores laid out query-major, the true response first of each query's ``candidates``."""
    rankings = [(scores[q], scores[q + 1 : q + candidates]) for q in range(0, len(scores), candidates)]
    return {f"recall@{k}": metrics.mean_recall_at_k(rankings, k) for k in (1, 2, 5) if k < candidates}


def reply_metrics(replies: Sequence[Sequence[str]], prefix: str) -> dict[str, float]:
    """distinct-1, distinct-2 and mean length (tokens) of replies."""
    return {f"{prefix}distinct_1": metrics.distinct_n(replies, 1),
            f"{prefix}distinct_2": metrics.distinct_n(replies, 2), f"{prefix}length": metrics.mean_length(replies)}


def examples_markdown(data: ChatData, config: ChatConfig) -> str:
    """The first ``config.examples`` answered test exchanges as Markdown."""
    lines = [f"Test conversations (never seen in training). Context: the last {config.context_turns} turns. "
             f"Beam: width {config.beam}, length penalty {config.length_penalty}, no repeated "
             f"{config.no_repeat_ngram}-gram. "
             f"Sampled: temperature {config.temperature}, top-p {config.top_p}. TF-IDF: the training response of the "
             "nearest training context.", ""]
    for n, i in enumerate(data.answered[: config.examples]):
        turns, truth = data.pairs["test"][i]
        lines += [f"### {n + 1}", ""]
        lines += [f"> **{'AB'[(len(turns) - 1 - j) % 2]}:** {t}  " for j, t in enumerate(turns)]  # A asks, B answers
        lines += ["", f"- true response: {truth}", f"- model, beam: {data.replies['beam'][n]}",
                  f"- model, sampled: {data.replies['sample'][n]}"]
        if "tfidf" in data.replies:
            lines.append(f"- TF-IDF retrieval: {data.replies['tfidf'][n]}")
        lines.append("")
    return "\n".join(lines)
