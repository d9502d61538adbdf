"""An organism of the search (one scoring of a genome) as the evolve log records it."""
import math
from dataclasses import dataclass, field, replace

from .fitness import cost, derived_seed, score_of


def organism_seed(run_seed, generation, index):
    """A training seed that depends only on (run seed, generation, index)."""
    return derived_seed('organism', run_seed, generation, index)


def components_of(result, fitness):
    """What a scoring's score is made of: the losses, and for the aesthetic fitness the judge's measure."""
    losses = {'train_loss': result.get('train_loss'), 'val_loss': result.get('val_loss')}
    return losses if fitness == 'loss' else dict(result.get('measured') or {}, **losses)


def spread_of(scores):
    """The sample standard deviation of the scores (None for fewer than two)."""
    if len(scores) < 2:
        return None
    mean = math.fsum(scores) / len(scores)
    return math.sqrt(math.fsum((s - mean) ** 2 for s in scores) / (len(scores) - 1))


@dataclass
class Organism:
    """One scoring of a genome: born in (generation, index), trained with `seed`, scored in
    `scored_in`; scored again (elite, finalist), its score is the mean of all its scorings."""
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
    def own_score(self):  # None when it failed or has not run
        return None if self.result is None else score_of(self.fitness, self.result)

    @property
    def scores(self):
        latest = self.own_score
        return self.earlier_scores + ([] if latest is None else [latest])

    @property
    def seeds(self):
        return self.earlier_seeds + [self.seed]

    @property
    def score(self):  # None if the latest scoring failed
        return None if self.own_score is None else math.fsum(self.scores) / len(self.scores)

    @property
    def spread(self):
        return spread_of(self.scores) if self.own_score is not None else None

    @property
    def components(self):
        return components_of(self.result or {}, self.fitness)

    @property
    def cost(self):
        return cost(self.fitness, self.score)

    @property
    def born(self):
        return [self.generation, self.index]

    def rescored(self, origin, seed, scored_in):
        """The same organism, to be trained and scored again on `seed`."""
        return replace(self, seed=seed, origin=origin, result=None, earlier_scores=self.scores,
                       earlier_seeds=self.seeds, scored_in=scored_in, reused_from=None)

    def record(self):
        r = self.result
        record = {'kind': 'organism', 'generation': self.generation, 'index': self.index,
                  'scored_in': self.scored_in, 'origin': self.origin, 'parents': self.parents,
                  'mutated': self.mutated, 'seed': self.seed, 'genes': self.genome.genes(),
                  'fitness': self.fitness, 'score': self.score, 'components': self.components,
                  'num_params': r['num_params'], 'error': r['error'], 'flops': self.flops,
                  'num_steps': self.genome.num_steps, 'tokens': r.get('tokens'),
                  'seconds': round(r['seconds'], 3),
                  **{k: None if r.get(k) is None else round(r[k], 3) for k in ('cpu_seconds', 'eval_seconds')},
                  'arithmetic': r.get('arithmetic')}
        if self.earlier_scores:
            record.update(scorings=len(self.scores), scores=self.scores, spread=self.spread)
        if self.reused_from:
            record['reused_from'] = self.reused_from
        return record

    def summary(self):
        """Who it is and how it scored (the confirmation record, genome.json)."""
        return {'generation': self.generation, 'index': self.index, 'genes': self.genome.genes(),
                'score': self.score, 'spread': self.spread, 'scores': self.scores, 'seeds': self.seeds}


def merged(scorings):
    """One organism of several scorings of a genome (the first may carry earlier ones); a failed one fails it."""
    first, last = scorings[0], scorings[-1]
    failed = next((o for o in scorings[:-1] if o.own_score is None), None)
    if failed is not None:
        return failed
    return replace(last, earlier_scores=first.earlier_scores + [o.own_score for o in scorings[:-1]],
                   earlier_seeds=first.earlier_seeds + [o.seed for o in scorings[:-1]], parents=first.parents,
                   mutated=first.mutated, reused_from=None)
