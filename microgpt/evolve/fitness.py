"""How good an organism is: its validation loss, or an aesthetic judge of the names it makes.

`evaluate_organism` is the task evolution fans out: a top-level function that gets the
documents themselves and returns plain data, so it runs the same inline, in a worker
process or on another machine.
"""
import math
import time
import warnings

from ..errors import MicrogptError

FITNESS_KINDS = ('loss', 'aesthetic')
HIGHER_IS_BETTER = {'loss': False, 'aesthetic': True}
WORST_COST = math.inf

# The aesthetic score is the weighted sum of its components, each in [0, 1].
# Flow and creativity carry most of it: a name should be sayable and new. Symmetry is a
# bonus, lighter because most good names have none.
AESTHETIC_WEIGHTS = {'flow': 0.4, 'symmetry': 0.2, 'creativity': 0.4}
AESTHETIC_SAMPLES = 50
AESTHETIC_TEMPERATURE = 0.5
VOWELS = frozenset('aeiouy')
MAX_RUN = 2  # letters of one kind (vowel or consonant) in a row before a cluster is penalized
TRAIN_LOSS_TAIL = 100  # the logged training loss is the mean of the last steps'


def check_fitness_kind(kind):
    if kind not in FITNESS_KINDS:
        raise MicrogptError(f"unknown fitness {kind!r}; choose from {', '.join(FITNESS_KINDS)}")


def cost(kind, score):
    """The number selection minimizes: the loss itself, or minus the aesthetic score.
    A missing score (the organism failed) is the worst cost."""
    if score is None or not math.isfinite(score):
        return WORST_COST
    return -score if HIGHER_IS_BETTER[kind] else score


def describe_score(kind, score):
    """'val loss 2.3456' or 'aesthetic 0.6123'; 'failed' for an organism without a score."""
    if score is None:
        return 'failed'
    return f"{'val loss' if kind == 'loss' else 'aesthetic'} {score:.4f}"


# --- the aesthetic judge -------------------------------------------------------------------

def _letter_kind(ch):
    if ch in VOWELS:
        return 'v'
    return 'c' if ch.isalpha() else None


def flow(name):
    """Pronounceability in [0, 1]: the share of neighbouring letters that alternate between
    vowel and consonant (a doubled letter, as in "anna", reads fine too), halved for every
    letter by which a run of vowels or of consonants exceeds two ("xqzkt" scores 0).
    Names shorter than two letters score 0."""
    name = name.lower()
    if len(name) < 2:
        return 0.0
    kinds = [_letter_kind(ch) for ch in name]
    pairs = list(zip(name, name[1:], kinds, kinds[1:]))
    smooth = sum(1 for a, b, ka, kb in pairs
                 if ka is not None and kb is not None and (ka != kb or a == b))
    excess, run = 0, 1
    for _, _, ka, kb in pairs:
        run = run + 1 if ka is not None and ka == kb else 1
        excess += run > MAX_RUN
    return smooth / len(pairs) * 0.5 ** excess


def _mirror(name):
    half = len(name) // 2
    return sum(name[i] == name[-1 - i] for i in range(half)) / half


def _repeat_coverage(name):
    """Share of the name covered by its longest sub-pattern (2+ letters) that occurs at
    least twice without overlapping: "lala" -> 1, "abcab" -> 0.8."""
    best = 0.0
    for size in range(2, len(name) // 2 + 1):
        for start in range(len(name) - size + 1):
            count = name.count(name[start:start + size])  # str.count does not overlap
            if count >= 2:
                best = max(best, count * size / len(name))
    return min(1.0, best)


def symmetry(name):
    """Symmetry in [0, 1]: the larger of the mirror score (share of letters equal to their
    mirror image: palindromes score 1) and the repeated sub-pattern coverage."""
    name = name.lower()
    if len(name) < 2:
        return 0.0
    return max(_mirror(name), _repeat_coverage(name))


def creativity(names, known_names):
    """Share of the samples that are new: non-empty, not in the data (memorized names score
    0) and not a repeat of an earlier sample."""
    if not names:
        return 0.0
    known, seen, new = set(known_names), set(), 0
    for name in names:
        new += bool(name) and name not in known and name not in seen
        seen.add(name)
    return new / len(names)


def judge(names, known_names, weights=AESTHETIC_WEIGHTS):
    """The aesthetic components of a batch of sampled names, each in [0, 1], and their
    weighted sum as 'score'."""
    components = {
        'flow': sum(map(flow, names)) / len(names) if names else 0.0,
        'symmetry': sum(map(symmetry, names)) / len(names) if names else 0.0,
        'creativity': creativity(names, known_names),
    }
    components['score'] = sum(weights[k] * components[k] for k in weights)
    return components


# --- one organism --------------------------------------------------------------------------

def scorable_docs(tokenizer, docs):
    """The documents a model with this vocabulary can be scored on."""
    return [doc for doc in docs if not tokenizer.unknown_chars(doc)]


def validation_loss(engine, tokenizer, val_docs):
    from ..evaluation import mean_loss
    docs = scorable_docs(tokenizer, val_docs)
    if not docs:
        raise MicrogptError("no validation document uses only characters seen in training")
    return mean_loss(engine, tokenizer, docs)


def evaluate_organism(genes, seed, train_docs, val_docs, fitness, engine_name='numpy',
                      samples=AESTHETIC_SAMPLES):
    """Train the organism `genes` (a dict) with `seed` on train_docs and measure its fitness.

    Never raises for a failing organism: an exception or a non-finite loss comes back as
    score None with the error, so the caller gives it the worst fitness and carries on.
    Returns a plain dict: score, components, error, seconds, num_params.
    """
    t0 = time.perf_counter()
    result = {'score': None, 'components': {}, 'error': None, 'num_params': None}
    try:
        with warnings.catch_warnings():
            # a diverging organism is caught by its loss; numpy's overflow warnings would
            # only scribble over the progress display
            warnings.simplefilter('ignore', RuntimeWarning)
            _train_and_measure(genes, seed, train_docs, val_docs, fitness, engine_name, samples, result)
    except Exception as e:  # noqa: BLE001 - a failing organism is data, not a crash
        result['score'] = None
        result['error'] = f"{type(e).__name__}: {e}"
    result['seconds'] = time.perf_counter() - t0
    return result


def _train_and_measure(genes, seed, train_docs, val_docs, fitness, engine_name, samples, result):
    from ..sampling import generate
    from ..training import Run
    arch = {k: genes[k] for k in ('n_embd', 'n_head', 'n_layer', 'block_size', 'ff_mult')}
    run = Run(train_docs, seed=seed, arch=arch, engine_name=engine_name)
    result['num_params'] = run.config.num_params()
    losses = run.train(genes['num_steps'], genes['learning_rate'])
    bad_step = next((i for i, loss in enumerate(losses, 1) if not math.isfinite(loss)), None)
    if bad_step is not None:
        raise FloatingPointError(f"training loss became {losses[bad_step - 1]} at step {bad_step}")
    tail = losses[-TRAIN_LOSS_TAIL:]
    result['components']['train_loss'] = sum(tail) / len(tail)
    if fitness == 'loss':
        val = validation_loss(run.engine, run.tokenizer, val_docs)
        if not math.isfinite(val):
            raise FloatingPointError(f"validation loss is {val}")
        result['components']['val_loss'] = val
        result['score'] = val
    else:
        names = list(generate(run.engine, run.tokenizer, run.rng, samples, temperature=AESTHETIC_TEMPERATURE))
        judged = judge(names, list(train_docs) + list(val_docs))
        result['score'] = judged.pop('score')
        result['components'].update(judged, samples=names)
