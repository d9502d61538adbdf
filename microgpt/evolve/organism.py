"""An organism of the search (one scoring of a genome) and a generation's summary, as the
evolve log records them; the seed each scoring trains on, and the spread of several scorings."""
import hashlib
import math
from dataclasses import dataclass, field

from .fitness import cost, score_of


def organism_seed(run_seed, generation, index):
    """A training seed that depends only on (run seed, generation, index)."""
    digest = hashlib.sha256(f"microgpt-organism:{run_seed}:{generation}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], 'big')


def spread_of(scores):
    """The sample standard deviation of the scores (None for fewer than two)."""
    if len(scores) < 2:
        return None
    mean = math.fsum(scores) / len(scores)
    return math.sqrt(math.fsum((s - mean) ** 2 for s in scores) / (len(scores) - 1))


@dataclass
class Organism:
    """One scoring of a genome: born in (generation, index), trained with `seed`, scored in
    `scored_in`. A genome scored again (elite, finalist) keeps its earlier scores and seeds;
    its score is the mean of all of them."""
    genome: object
    generation: int
    index: int
    seed: int
    origin: str  # 'random', 'immigrant', 'child', 'elite', 'confirmation', 'primordial', 'incumbent'
    fitness: str
    result: dict = None
    earlier_scores: list = field(default_factory=list)
    earlier_seeds: list = field(default_factory=list)
    parents: list = field(default_factory=list)  # [[generation, index], ...] of a child
    mutated: list = field(default_factory=list)  # the genes a child's mutation changed
    scored_in: int = None
    flops: float = None  # the expected FLOPs of its training (flops.training_flops)
    reused_from: str = None  # the genome file whose record holds this scoring, when it was reused, not trained

    @property
    def own_score(self):
        """This scoring's own fitness (None when it failed or has not run)."""
        return None if self.result is None else score_of(self.fitness, self.result)

    @property
    def scores(self):
        latest = self.own_score
        return self.earlier_scores + ([] if latest is None else [latest])

    @property
    def seeds(self):
        return self.earlier_seeds + [self.seed]

    @property
    def score(self):
        """The fitness: the mean of all its scorings (None if the latest failed)."""
        if self.own_score is None:
            return None
        return math.fsum(self.scores) / len(self.scores)

    @property
    def spread(self):
        return spread_of(self.scores) if self.own_score is not None else None

    @property
    def components(self):
        """What this scoring's score is made of: losses, or the judge's components and samples."""
        r = self.result or {}
        if self.fitness == 'loss':
            return {'train_loss': r.get('train_loss'), 'val_loss': r.get('val_loss')}
        return dict(r.get('measured') or {}, train_loss=r.get('train_loss'), val_loss=r.get('val_loss'))

    @property
    def cost(self):
        return cost(self.fitness, self.score)

    @property
    def born(self):
        return [self.generation, self.index]

    def rescored(self, origin, seed, scored_in):
        """The same organism, to be trained and scored again on `seed`."""
        return Organism(self.genome, self.generation, self.index, seed, origin, self.fitness, None,
                        self.scores, self.seeds, self.parents, self.mutated, scored_in, self.flops)

    def record(self):
        r = self.result
        record = {'kind': 'organism', 'generation': self.generation, 'index': self.index,
                  'scored_in': self.scored_in, 'origin': self.origin, 'parents': self.parents,
                  'mutated': self.mutated, 'seed': self.seed, 'genes': self.genome.genes(),
                  'fitness': self.fitness, 'score': self.score, 'components': self.components,
                  'num_params': r['num_params'], 'error': r['error'], 'flops': self.flops,
                  'num_steps': self.genome.num_steps, 'tokens': r.get('tokens'),
                  'seconds': round(r['seconds'], 3), 'cpu_seconds': _rounded(r.get('cpu_seconds')),
                  'eval_seconds': _rounded(r.get('eval_seconds')),
                  'arithmetic': r.get('arithmetic')}
        if self.earlier_scores:
            record.update(scorings=len(self.scores), scores=self.scores, spread=self.spread)
        if self.reused_from:
            record['reused_from'] = self.reused_from
        return record

    def summary(self):
        """Who it is and how it scored, for the confirmation record and genome.json."""
        return {'generation': self.generation, 'index': self.index, 'genes': self.genome.genes(),
                'score': self.score, 'spread': self.spread, 'scores': self.scores, 'seeds': self.seeds}


def _rounded(seconds):
    return None if seconds is None else round(seconds, 3)


@dataclass
class GenerationSummary:
    generation: int  # counts from 1
    generations: int
    best: Organism
    scores: list
    failed: int
    diversity: int

    @property
    def mean(self):
        finite = [s for s in self.scores if s is not None]
        return sum(finite) / len(finite) if finite else None

    @property
    def worst(self):
        return None if self.failed else max(self.scores, key=lambda s: cost(self.best.fitness, s))

    def record(self):
        return {'kind': 'generation', 'generation': self.generation, 'best': self.best.score,
                'best_spread': self.best.spread, 'best_scorings': len(self.best.scores),
                'best_born': self.best.born, 'mean': self.mean, 'worst': self.worst,
                'failed': self.failed, 'diversity': self.diversity, 'best_genes': self.best.genome.genes()}


def merged(scorings):
    """One organism of several scorings of the same genome (the first may carry earlier ones):
    its score is the mean of them all."""
    first, last = scorings[0], scorings[-1]
    scores = list(first.earlier_scores)
    seeds = list(first.earlier_seeds)
    for o in scorings[:-1]:
        if o.own_score is None:
            return o  # a failed scoring: the organism failed
        scores.append(o.own_score)
        seeds.append(o.seed)
    return Organism(last.genome, last.generation, last.index, last.seed, last.origin, last.fitness, last.result,
                    scores, seeds, first.parents, first.mutated, last.scored_in, last.flops)
