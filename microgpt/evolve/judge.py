"""The aesthetic judge of sampled names, grounded in the training data.

A name's score is the weighted sum of three components, each in [0, 1]:

- flow (weight 0.4): how sayable the name is in the language of the training data, its
  per-character log-likelihood under a character trigram model fitted on the training
  names, mapped to [0, 1] so a typical unseen real name scores about 0.9 and a string of
  improbable transitions near 0.
- symmetry (weight 0.2): a bonus for palindromes and mirrored or repeated letter
  patterns, multiplied by flow so a junk palindrome gains nothing, and 0 for names under
  3 letters and for degenerate strings that are one letter or syllable over and over.
- creativity (weight 0.4): how new the name is, multiplied by flow: 1 for a new name,
  0.5 for a near copy one edit from a training name, 0 for a training name, a degenerate
  string, a name under 3 letters or a repeat within the batch, fading for names longer
  than the data makes plausible.

The batch score is the mean per-name score times the batch's share of distinct names.

Details. The trigram model uses interpolated Kneser-Ney smoothing with start and end
markers. The flow curve is a logistic in the mean log-likelihood per predicted symbol,
calibrated on the training data itself: every 10th training name is held out, a model
fitted on the others scores those held-out names that it has not seen, and the 5th
percentile of their log-likelihoods maps to flow 0.5 and the median to 0.9 (the judge then
fits its model on all the training names). Symmetry before the flow factor is the square
of the larger of the share of mirrored letters (palindromes: 1) and the share of the name
covered by a repeated pattern of 2+ letters, squared so a chance match (the a...a of many
names) counts little. A near copy is one deletion, insertion, substitution or swap of
neighbours away from a training name; in a batch a repeated name keeps its creativity at
its first occurrence and gets 0 at later ones; the length factor is 1 up to the 99th
percentile of the training names' lengths and fades linearly to 0 at twice that. Since
symmetry and creativity both carry the flow factor, a name's score is
flow * (0.4 + 0.2 * its symmetry pattern + 0.4 * its novelty).

Everything returned is plain data (str, float, dict, list), ready for JSON.
"""
import math
from collections import Counter

from ..errors import MicrogptError

WEIGHTS = {'flow': 0.4, 'symmetry': 0.2, 'creativity': 0.4}
COMPONENTS = tuple(WEIGHTS)

# --- the n-gram model behind flow ----------------------------------------------------------
DISCOUNT = 0.75      # the absolute discount of Kneser-Ney smoothing, at every order
BOUNDARY = '\n'      # start and end marker: never inside a stripped one-line name
PAD = BOUNDARY * 2   # a trigram model predicts each character from the two before it
# Calibration of the flow curve: every CALIBRATION_EVERY-th training name is held out, a
# model fitted on the rest scores it, and among these held-out names (those not also in
# the rest) the FLOW_HALF_QUANTILE quantile of per-character log-likelihood maps to flow
# 0.5 and the median maps to FLOW_AT_MEDIAN. The final model is then fitted on all names.
CALIBRATION_EVERY = 10
FLOW_HALF_QUANTILE = 0.05
FLOW_AT_MEDIAN = 0.9
MIN_CALIBRATION_NAMES = 20   # fewer held-out names than this: calibrate in-sample instead

# --- creativity ----------------------------------------------------------------------------
MIN_CREATIVE_LEN = 3         # 1-2 letter names are not creative
LONG_QUANTILE = 0.99         # lengths up to this quantile of the data count in full ...
NEAR_COPY = 0.5              # ... and a name one edit from a training name counts half
WILDCARD = '\0'              # stands for any one letter in the substitution index


# --- reading names -------------------------------------------------------------------------

def read_names(path):
    """The names in a text file, one a line, stripped, blank lines dropped.

    A clear MicrogptError, naming the file, if it is missing, binary, not UTF-8, empty or
    has no letters at all."""
    from ..data import load_docs
    names = load_docs(path, 'names file')
    if not any(ch.isalpha() for name in names for ch in name):
        raise MicrogptError(f"names file {path} has no letters; expected one name per line")
    return names


# --- pattern helpers -----------------------------------------------------------------------

def is_degenerate(name):
    """True for a string that is one unit repeated at least twice, possibly with a partial
    repeat at the end: "xx", "aaaa", "lalala", "anana", "nikonikoniko"."""
    n = len(name)
    return any(name[p:] == name[:-p] for p in range(1, n // 2 + 1))


def _mirror(name):
    """Share of letters in the first half equal to their mirror image: palindromes score 1."""
    half = len(name) // 2
    return sum(name[i] == name[-1 - i] for i in range(half)) / half


def _repeat_coverage(name):
    """Share of the name covered by its best sub-pattern (2+ letters) occurring at least
    twice without overlap: "marimar" -> 6/7, "abcab" -> 0.8."""
    best = 0
    n = len(name)
    for size in range(2, n // 2 + 1):
        for start in range(n - 2 * size + 1):
            count = name.count(name[start:start + size])  # str.count does not overlap
            if count >= 2:
                best = max(best, count * size)
    return min(1.0, best / n)


def pattern_symmetry(name):
    """Symmetry in [0, 1] before the flow factor: the square of the larger of the mirror
    share and the repeated-pattern coverage (squared so a chance match, like the a...a of
    many names, counts little); 0 for names under 3 letters and degenerate strings."""
    if len(name) < 3 or is_degenerate(name):
        return 0.0
    return max(_mirror(name), _repeat_coverage(name)) ** 2


# --- the n-gram model ----------------------------------------------------------------------

class _TrigramModel:
    """Interpolated Kneser-Ney character trigram model over the training characters and
    BOUNDARY; `loglik(name)` is the mean natural-log probability per predicted symbol
    (every character, then the end marker).

    Stored sparsely, in backoff form: the log-probability of every trigram seen in
    training, and for the others the interpolation weight of the context times the
    lower-order probability, so the size follows the data, not the alphabet cubed."""

    def __init__(self, docs):
        d = DISCOUNT
        trigrams = Counter()
        for doc in docs:
            text = PAD + doc + BOUNDARY
            trigrams.update([text[i:i + 3] for i in range(len(text) - 2)])
        symbols = sorted({ch for gram in trigrams for ch in gram})
        self.symbols = symbols
        # trigram level: raw counts per context "uv"
        ctx_total, ctx_types = Counter(), Counter()
        for gram, count in trigrams.items():
            ctx_total[gram[:2]] += count
            ctx_types[gram[:2]] += 1
        # bigram level: continuation counts (how many different u precede "vw")
        bigrams = Counter(gram[1:] for gram in trigrams)
        bi_total, bi_types = Counter(), Counter()
        for gram, count in bigrams.items():
            bi_total[gram[0]] += count
            bi_types[gram[0]] += 1
        # unigram level: how many different v precede w, blended with uniform
        unigrams = Counter(gram[1] for gram in bigrams)
        total1 = sum(unigrams.values())
        floor = d * len(unigrams) / len(symbols) / total1
        self._p1 = {w: max(unigrams[w] - d, 0) / total1 + floor for w in symbols}
        # a character the training names never use: the add-one estimate of a symbol
        # seen 0 times among all the symbols predicted in training
        self._oov = -math.log(sum(trigrams.values()) + 1)
        self._gamma2 = {v: d * bi_types[v] / bi_total[v] for v in bi_total}
        self._p2 = {}
        for gram, count in bigrams.items():
            self._p2[gram] = (count - d) / bi_total[gram[0]] + self._gamma2[gram[0]] * self._p1[gram[1]]
        self._gamma3 = {uv: d * ctx_types[uv] / ctx_total[uv] for uv in ctx_total}
        self._tri = {gram: math.log((count - d) / ctx_total[gram[:2]]
                                    + self._gamma3[gram[:2]] * self._bigram(gram[1:]))
                     for gram, count in trigrams.items()}

    def _bigram(self, vw):
        p = self._p2.get(vw)
        if p is None:
            p = self._p1[vw[1]] * self._gamma2.get(vw[0], 1.0)
        return p

    def _unseen(self, gram):
        """Log-probability of a trigram never seen in training."""
        if gram[2] not in self._p1:
            return self._oov
        return math.log(self._gamma3.get(gram[:2], 1.0) * self._bigram(gram[1:]))

    def logprob(self, gram):
        """log P(gram[2] | gram[:2])."""
        lp = self._tri.get(gram)
        return self._unseen(gram) if lp is None else lp

    def loglik(self, name):
        text = PAD + name + BOUNDARY
        return sum(self.logprob(text[i:i + 3]) for i in range(len(text) - 2)) / (len(name) + 1)


def _quantile(values, q):
    """The q-quantile with linear interpolation between order statistics (numpy's default)."""
    ordered = sorted(float(v) for v in values)
    position = q * (len(ordered) - 1)
    low = int(math.floor(position))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- the judge -----------------------------------------------------------------------------

class Judge:
    """The aesthetic judge fitted on the training names (see the module docstring)."""

    def __init__(self, train_docs):
        docs = [doc.strip() for doc in train_docs if doc and doc.strip()]
        if not docs:
            raise MicrogptError("the judge needs at least one training name")
        self.known = frozenset(docs)
        self.model = _TrigramModel(docs)
        self._calibrate(docs)
        self._index_neighbours()
        lengths = [len(doc) for doc in docs]
        self.long_len = max(MIN_CREATIVE_LEN, int(math.ceil(_quantile(lengths, LONG_QUANTILE))))

    def _calibrate(self, docs):
        rest = [doc for i, doc in enumerate(docs) if i % CALIBRATION_EVERY != CALIBRATION_EVERY - 1]
        held = [doc for i, doc in enumerate(docs) if i % CALIBRATION_EVERY == CALIBRATION_EVERY - 1]
        rest_set = set(rest)
        held = [doc for doc in held if doc not in rest_set]
        if len(held) >= MIN_CALIBRATION_NAMES and rest:
            model = _TrigramModel(rest)
            scores = [model.loglik(doc) for doc in held]
        else:  # too little data to hold any out: the in-sample distribution will do
            scores = [self.model.loglik(doc) for doc in docs]
        self.flow_half = _quantile(scores, FLOW_HALF_QUANTILE)
        self.flow_median = _quantile(scores, 0.5)
        spread = self.flow_median - self.flow_half
        odds = math.log(FLOW_AT_MEDIAN / (1 - FLOW_AT_MEDIAN))
        self.flow_scale = max(spread, 1e-3) / odds

    def _index_neighbours(self):
        """Every training name with one letter deleted, and with one letter replaced by a
        wildcard: a name one edit from the data is then found with a few set lookups."""
        deletions, wildcards = set(), set()
        for doc in self.known:
            for i in range(len(doc)):
                deletions.add(doc[:i] + doc[i + 1:])
                wildcards.add(doc[:i] + WILDCARD + doc[i + 1:])
        self._deletions = deletions
        self._wildcards = wildcards

    # --- components ---

    def flow(self, name):
        """How sayable the name is in [0, 1] (see the module docstring)."""
        if not name:
            return 0.0
        z = (self.model.loglik(name) - self.flow_half) / self.flow_scale
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def near_copy(self, name):
        """True if one deletion, insertion, substitution or swap of neighbours turns the
        name into a training name (which it is not itself)."""
        known = self.known
        if name in known:
            return False
        if name in self._deletions:  # a training name with a letter deleted
            return True
        for i in range(len(name)):
            if name[:i] + name[i + 1:] in known:  # ... with a letter inserted
                return True
            if name[:i] + WILDCARD + name[i + 1:] in self._wildcards:  # ... with one replaced
                return True
        for i in range(len(name) - 1):
            if name[i] != name[i + 1] and name[:i] + name[i + 1] + name[i] + name[i + 2:] in known:
                return True
        return False

    def length_factor(self, name):
        """1 for lengths from MIN_CREATIVE_LEN up to the data's long length, fading
        linearly to 0 at twice that; 0 below MIN_CREATIVE_LEN."""
        n = len(name)
        if n < MIN_CREATIVE_LEN:
            return 0.0
        if n <= self.long_len:
            return 1.0
        return max(0.0, 1.0 - (n - self.long_len) / self.long_len)

    def novelty(self, name):
        """Creativity before the flow factor, without the batch-repeat part: the length
        factor times 1 (new), NEAR_COPY (one edit from the data) or 0 (in the data,
        degenerate)."""
        factor = self.length_factor(name)
        if factor == 0.0 or name in self.known or is_degenerate(name):
            return 0.0
        return factor * (NEAR_COPY if self.near_copy(name) else 1.0)

    def score_name(self, name):
        """{name, score, flow, symmetry, creativity} for one name on its own (creativity
        without the batch-repeat part)."""
        flow = self.flow(name)
        return _entry(name, flow, pattern_symmetry(name) * flow, self.novelty(name) * flow)

    def score_batch(self, names):
        """{score, components: {flow, symmetry, creativity}, names: [per-name dicts]}.

        A name repeated in the batch keeps its creativity at its first occurrence and gets 0
        at the later ones; the batch score is the mean per-name score times the share of
        distinct names, and the components are the per-name means."""
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


# --- the plain-text report -----------------------------------------------------------------

def format_report(report):
    """A score_batch report as aligned plain text: a header, one line per name (score and
    components), then the batch line."""
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
