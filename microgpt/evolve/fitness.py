"""How good an organism is: its validation loss, or the judge's score of the names it makes;
how selection compares scores, and how an organism's names are drawn and judged."""
import functools
import hashlib
import math
import random

from ..errors import MicrogptError

FITNESS_KINDS = ('loss', 'aesthetic')
HIGHER_IS_BETTER = {'loss': False, 'aesthetic': True}
WORST_COST = math.inf

# An aesthetic score is the mean of the judge's batch score over several batches of names,
# each drawn with its own seed, so one lucky draw weighs little; their spread is logged.
AESTHETIC_SEEDS = 4
AESTHETIC_BATCH = 50          # names per batch: AESTHETIC_SEEDS * AESTHETIC_BATCH samples in all
AESTHETIC_TEMPERATURE = 0.5
LOGGED_SAMPLES = 20


def check_fitness_kind(kind):
    if kind not in FITNESS_KINDS:
        raise MicrogptError(f"unknown fitness {kind!r}; choose from {', '.join(FITNESS_KINDS)}")


def cost(kind, score):
    """The number selection minimizes: the loss, or minus the aesthetic score; the worst for a failure."""
    if score is None or not math.isfinite(score):
        return WORST_COST
    return -score if HIGHER_IS_BETTER[kind] else score


def describe_score(kind, score, spread=None):
    """'val loss 2.3456', 'val loss 2.3456 ± 0.0071', 'aesthetic 0.6123', or 'failed'."""
    if score is None:
        return 'failed'
    return (f"{'val loss' if kind == 'loss' else 'aesthetic'} {score:.4f}"
            + (f" ± {spread:.4f}" if spread is not None else ''))


def score_of(kind, record):
    """An organism's fitness from its trial record (None when the trial failed)."""
    if record.get('error'):
        return None
    return record['val_loss'] if kind == 'loss' else record['measured']['score']


def derived_seed(kind, *parts):
    """A seed that depends only on its parts, whatever the workers or the order runs finish in."""
    text = ':'.join(map(str, (f"microgpt-{kind}", *parts)))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], 'big')


def sampling_seeds(run_seed, generation, index, count=AESTHETIC_SEEDS):
    """The seeds of an organism's sample batches when scored in `generation`: fresh at each scoring."""
    return [derived_seed('sampling', run_seed, generation, index, k) for k in range(count)]


def judge_for(train_docs):
    """The judge fitted on these training documents, cached per process (fitting takes tenths of a second)."""
    return _judge(tuple(train_docs))


@functools.lru_cache(maxsize=1)
def _judge(train_docs):
    from .judge import Judge
    return Judge(train_docs)


def aesthetic_measure(run, train_docs, val_docs, seeds, batch=AESTHETIC_BATCH):
    """Judge a trained run's names, a batch per seed: the mean score, its spread, components and samples."""
    from ..gpt.sampling import generate
    from .judge import COMPONENTS
    judge = judge_for(train_docs)
    engine, reports, names = run.inference_engine(), [], []
    for seed in seeds:
        drawn = list(generate(engine, run.tokenizer, random.Random(seed), batch, temperature=AESTHETIC_TEMPERATURE))
        reports.append(judge.score_batch(drawn))
        names += drawn
    scores = [r['score'] for r in reports]
    mean = sum(scores) / len(scores)
    spread = (sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)) ** 0.5 if len(scores) > 1 else 0.0
    components = {k: sum(r['components'][k] for r in reports) / len(reports) for k in COMPONENTS}
    known = set(train_docs) | set(val_docs)
    return dict(components, score=mean, spread=spread, batch_scores=scores, seeds=list(seeds),
                samples=names[:LOGGED_SAMPLES],
                short=sum(len(n) <= 2 for n in names) / len(names), distinct=len(set(names)) / len(names),
                new=sum(n not in known for n in names) / len(names))
