"""The aesthetic judge of sampled names, grounded in the training data: flow, symmetry and
creativity (docs/pages/evolution.md tells them). Flow is a logistic in the name's mean
log-likelihood per symbol under a character trigram model, calibrated on held-out training names."""
import math
from collections import Counter

from ..errors import MicrogptError

WEIGHTS = {'flow': 0.4, 'symmetry': 0.2, 'creativity': 0.4}
COMPONENTS = tuple(WEIGHTS)

DISCOUNT = 0.75      # the absolute discount of Kneser-Ney smoothing, at every order
BOUNDARY = '\n'      # start and end marker: never inside a stripped one-line name
PAD = BOUNDARY * 2   # a trigram model predicts each character from the two before it
# The flow curve: scored by a model fitted on the rest, the FLOW_HALF_QUANTILE of every
# CALIBRATION_EVERY-th training name maps to flow 0.5 and their median to FLOW_AT_MEDIAN.
CALIBRATION_EVERY = 10
FLOW_HALF_QUANTILE = 0.05
FLOW_AT_MEDIAN = 0.9
MIN_CALIBRATION_NAMES = 20   # fewer held-out names than this: calibrate in-sample instead

MIN_CREATIVE_LEN = 3         # 1-2 letter names are not creative
LONG_QUANTILE = 0.99         # lengths up to this quantile of the data count in full ...
NEAR_COPY = 0.5              # ... and a name one edit from a training name counts half
WILDCARD = '\0'              # stands for any one letter in the substitution index


def read_names(path):
    """The names in a text file, one a line (data.load_docs), refused if none has a letter."""
    from ..data import load_docs
    names = load_docs(path, 'names file')
    if not any(ch.isalpha() for name in names for ch in name):
        raise MicrogptError(f"names file {path} has no letters; expected one name per line")
    return names


def is_degenerate(name):
    """One unit repeated at least twice, maybe partly at the end: "xx", "lalala", "anana"."""
    return any(name[p:] == name[:-p] for p in range(1, len(name) // 2 + 1))


def _repeat_coverage(name):
    """Share of the name its best pattern of 2+ letters, twice or more, covers: "marimar" -> 6/7."""
    n = len(name)
    counts = [(name.count(name[start:start + size]), size)  # str.count does not overlap
              for size in range(2, n // 2 + 1) for start in range(n - 2 * size + 1)]
    return min(1.0, max([count * size for count, size in counts if count >= 2], default=0) / n)


def pattern_symmetry(name):
    """Symmetry before the flow factor: the larger of the mirror share and the repeated-pattern
    coverage, squared so a chance match (the a...a of many names) counts little."""
    if len(name) < 3 or is_degenerate(name):
        return 0.0
    half = len(name) // 2
    mirror = sum(name[i] == name[-1 - i] for i in range(half)) / half
    return max(mirror, _repeat_coverage(name)) ** 2


class _TrigramModel:
    """Interpolated Kneser-Ney character trigrams, stored in backoff form (its size follows the
    data, not the alphabet cubed); `loglik(name)`: the mean log probability per predicted symbol."""

    def __init__(self, docs):
        d = DISCOUNT
        trigrams = Counter()
        for doc in docs:
            text = PAD + doc + BOUNDARY
            trigrams.update([text[i:i + 3] for i in range(len(text) - 2)])
        self.symbols = symbols = sorted({ch for gram in trigrams for ch in gram})
        ctx_total, ctx_types = _by_context(trigrams)  # raw counts per context "uv"
        bigrams = Counter(gram[1:] for gram in trigrams)  # continuations: how many u precede "vw"
        bi_total, bi_types = _by_context(bigrams)
        # unigrams: how many different v precede w, blended with uniform
        unigrams = Counter(gram[1] for gram in bigrams)
        total1 = sum(unigrams.values())
        floor = d * len(unigrams) / len(symbols) / total1
        self._p1 = {w: max(unigrams[w] - d, 0) / total1 + floor for w in symbols}
        # a character the training names never use: the add-one estimate of a symbol
        # seen 0 times among all the symbols predicted in training
        self._oov = -math.log(sum(trigrams.values()) + 1)
        self._gamma2 = {v: d * bi_types[v] / bi_total[v] for v in bi_total}
        self._p2 = {gram: (count - d) / bi_total[gram[0]] + self._gamma2[gram[0]] * self._p1[gram[1]]
                    for gram, count in bigrams.items()}
        self._gamma3 = {uv: d * ctx_types[uv] / ctx_total[uv] for uv in ctx_total}
        self._tri = {gram: math.log((count - d) / ctx_total[gram[:2]]
                                    + self._gamma3[gram[:2]] * self._bigram(gram[1:]))
                     for gram, count in trigrams.items()}

    def _bigram(self, vw):
        p = self._p2.get(vw)
        if p is None:
            p = self._p1[vw[1]] * self._gamma2.get(vw[0], 1.0)
        return p

    def logprob(self, gram):
        """log P(gram[2] | gram[:2])."""
        lp = self._tri.get(gram)
        if lp is not None:
            return lp
        if gram[2] not in self._p1:
            return self._oov
        return math.log(self._gamma3.get(gram[:2], 1.0) * self._bigram(gram[1:]))

    def loglik(self, name):
        text = PAD + name + BOUNDARY
        return sum(self.logprob(text[i:i + 3]) for i in range(len(text) - 2)) / (len(name) + 1)


def _by_context(grams):
    """{context: total count} and {context: distinct continuations} of n-gram counts."""
    total, types = Counter(), Counter()
    for gram, count in grams.items():
        total[gram[:-1]] += count
        types[gram[:-1]] += 1
    return total, types


def _quantile(values, q):
    """The q-quantile, interpolated linearly as numpy's default does."""
    ordered = sorted(float(v) for v in values)
    position = q * (len(ordered) - 1)
    low = int(math.floor(position))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class Judge:
    """The aesthetic judge fitted on the training names (see the module docstring)."""

    def __init__(self, train_docs):
        docs = [doc.strip() for doc in train_docs if doc and doc.strip()]
        if not docs:
            raise MicrogptError("the judge needs at least one training name")
        self.known = frozenset(docs)
        self.model = _TrigramModel(docs)
        self._calibrate(docs)
        # each training name with one letter deleted, and with one replaced by a wildcard, so
        # a name one edit from the data is found with a few set lookups
        self._deletions = {doc[:i] + doc[i + 1:] for doc in self.known for i in range(len(doc))}
        self._wildcards = {doc[:i] + WILDCARD + doc[i + 1:] for doc in self.known for i in range(len(doc))}
        self.long_len = max(MIN_CREATIVE_LEN, int(math.ceil(_quantile([len(doc) for doc in docs], LONG_QUANTILE))))

    def _calibrate(self, docs):
        rest = [doc for i, doc in enumerate(docs) if i % CALIBRATION_EVERY != CALIBRATION_EVERY - 1]
        rest_set = set(rest)
        held = [doc for doc in docs[CALIBRATION_EVERY - 1::CALIBRATION_EVERY] if doc not in rest_set]
        if len(held) >= MIN_CALIBRATION_NAMES and rest:
            model = _TrigramModel(rest)
            scores = [model.loglik(doc) for doc in held]
        else:  # too little data to hold any out: the in-sample distribution will do
            scores = [self.model.loglik(doc) for doc in docs]
        self.flow_half = _quantile(scores, FLOW_HALF_QUANTILE)
        spread = _quantile(scores, 0.5) - self.flow_half
        self.flow_scale = max(spread, 1e-3) / math.log(FLOW_AT_MEDIAN / (1 - FLOW_AT_MEDIAN))

    def flow(self, name):
        """How sayable the name is, in [0, 1]."""
        if not name:
            return 0.0
        z = (self.model.loglik(name) - self.flow_half) / self.flow_scale
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def near_copy(self, name):
        """One deletion, insertion, substitution or swap of neighbours away from a training name."""
        known = self.known
        if name in known:
            return False
        return (name in self._deletions  # a training name with a letter deleted
                or any(name[:i] + name[i + 1:] in known  # ... with one inserted, or replaced
                       or name[:i] + WILDCARD + name[i + 1:] in self._wildcards for i in range(len(name)))
                or any(name[i] != name[i + 1] and name[:i] + name[i + 1] + name[i] + name[i + 2:] in known
                       for i in range(len(name) - 1)))

    def length_factor(self, name):
        """1 from MIN_CREATIVE_LEN up to the data's long length, fading to 0 at twice that."""
        if len(name) < MIN_CREATIVE_LEN:
            return 0.0
        return min(1.0, max(0.0, 1.0 - (len(name) - self.long_len) / self.long_len))

    def novelty(self, name):
        """Creativity before the flow factor and batch repeats: the length factor times 1 (new),
        NEAR_COPY (one edit from the data) or 0."""
        factor = self.length_factor(name)
        if factor == 0.0 or name in self.known or is_degenerate(name):
            return 0.0
        return factor * (NEAR_COPY if self.near_copy(name) else 1.0)

    def score_name(self, name):
        """{name, score, flow, symmetry, creativity} of one name on its own."""
        flow = self.flow(name)
        return _entry(name, flow, pattern_symmetry(name) * flow, self.novelty(name) * flow)

    def score_batch(self, names):
        """{score, components: the per-name means, names}; a repeat keeps no creativity."""
        first, entries = {}, []
        for name in names:
            if name in first:  # a repeat: no creativity
                entry = first[name]
                entries.append(_entry(name, entry['flow'], entry['symmetry'], 0.0))
            else:
                first[name] = self.score_name(name)
                entries.append(first[name])
        if not entries:
            return {'score': 0.0, 'components': {k: 0.0 for k in COMPONENTS}, 'names': []}
        n = len(entries)
        components = {k: sum(e[k] for e in entries) / n for k in COMPONENTS}
        mean_score = sum(e['score'] for e in entries) / n
        return {'score': mean_score * len(first) / n, 'components': components, 'names': entries}


def _entry(name, flow, symmetry, creativity):
    parts = {'flow': float(flow), 'symmetry': float(symmetry), 'creativity': float(creativity)}
    score = sum(WEIGHTS[k] * parts[k] for k in COMPONENTS)
    return {'name': name, 'score': float(score), **parts}


def format_report(report):
    """A score_batch report as aligned text: a header, a line per name, then the batch line."""
    entries = report['names']
    distinct = len({e['name'] for e in entries})
    batch_label = f"batch ({len(entries)} names, {distinct} distinct)"
    labels = [e['name'] if e['name'] else '(empty)' for e in entries]
    width = max([len('name'), len(batch_label)] + [len(label) for label in labels])
    columns = ('score',) + COMPONENTS
    widths = [max(len(c), 6) for c in columns]

    def row(label, values):
        cells = [f"{v:>{w}}" if isinstance(v, str) else f"{v:>{w}.3f}" for v, w in zip(values, widths)]
        return f"{label:<{width}}  " + '  '.join(cells)

    lines = [row('name', columns)]
    lines += [row(label, [e[c] for c in columns]) for label, e in zip(labels, entries)]
    lines.append(row(batch_label, [report['score']] + [report['components'][c] for c in COMPONENTS]))
    return '\n'.join(lines)
