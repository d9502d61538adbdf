"""What evolution searches: the gene spaces built from each setting's ranges (settings.py), and
the operators that stay inside them. The `budget` space (the default) is a wide genome whose
steps follow from a FLOPs budget; `seed` keeps the seed design's narrow ranges with steps as a
gene. A genome drawn or bred here is always valid: children are repaired, never refused."""
import math
from dataclasses import dataclass, replace

from ..errors import MicrogptError
from ..gpt.settings import in_order
from ..training.genome import Genome, check_genome

LR_SIGNIFICANT_DIGITS = 4  # keeps genome.json readable; finer steps do not matter
MUTATION_SCALE = 0.25  # a mutation's standard deviation, as a share of the gene's range (or log range)
DRAW_ATTEMPTS = 200  # draws before a space whose genomes mostly do not fit the budget is refused
# The default search, its final included, finishes within 10 minutes on 2 cores (docs, "The default search").
DEFAULT_BUDGET = 1e11
DEFAULT_POPULATION = 8
DEFAULT_GENERATIONS = 6


@dataclass(frozen=True)
class GeneRange:
    low: float
    high: float
    log: bool = False  # drawn and mutated in log space (learning rate, batch size)
    integer: bool = True

    def contains(self, value):
        return self.low <= value <= self.high

    def describe(self):
        return f"{'a whole number' if self.integer else 'a number'} in {self.low:g}..{self.high:g}"

    def round(self, value):
        value = min(self.high, max(self.low, value))
        return int(round(value)) if self.integer else float(f"{value:.{LR_SIGNIFICANT_DIGITS}g}")

    def draw(self, rng):
        if self.log:
            low, high = math.log(self.low), math.log(self.high)
            if self.integer:  # each whole number gets the log-width of its rounding interval
                low, high = math.log(self.low - 0.5 + 1e-9), math.log(self.high + 0.5 - 1e-9)
            return self.round(math.exp(rng.uniform(low, high)))
        if not self.integer:
            return self.round(rng.uniform(self.low, self.high))
        return rng.randint(int(self.low), int(self.high))

    def mutate(self, value, rng):
        """A Gaussian step (in log space for a log gene) that always moves the gene."""
        if self.low == self.high:
            return self.round(self.low)
        if self.log or not self.integer:
            into, back = (math.log, math.exp) if self.log else (float, float)
            low, high = into(self.low), into(self.high)
            for _ in range(100):
                moved = self.round(back(_reflect(into(value) + rng.gauss(0, MUTATION_SCALE * (high - low)), low, high)))
                if moved != value:
                    return moved
            if self.log:
                return self.round(value * 2 if value * 2 <= self.high else value / 2)
            return self.round(self.high if value != self.high else self.low)
        low, high = int(self.low), int(self.high)
        step = round(rng.gauss(0, MUTATION_SCALE * (high - low)))
        if step == 0:
            step = rng.choice((-1, 1))
        moved = value + step
        if not low <= moved <= high:
            moved = value - step if low <= value - step <= high else min(high, max(low, moved))
        return moved


@dataclass(frozen=True)
class GeneChoice:
    """A gene that is one of a few values (a schedule's name; a setting where None is off)."""
    values: tuple

    def contains(self, value):
        return value in self.values

    def describe(self):
        return "one of " + ', '.join('off' if v is None else f"{v:g}" if isinstance(v, float) else str(v)
                                     for v in self.values)

    def round(self, value):
        return value if value in self.values else self.values[0]

    def draw(self, rng):
        return rng.choice(self.values)

    def mutate(self, value, rng):
        return rng.choice([v for v in self.values if v != value] or list(self.values))

    @property
    def low(self):
        return self.values[0]

    @property
    def high(self):
        return self.values[-1]


def _reflect(x, low, high):
    """x mirrored back into [low, high] at whichever bound it passed."""
    if x > high:
        x = 2 * high - x
    if x < low:
        x = 2 * low - x
    return min(high, max(low, x))


def gene_of(setting, data):
    """A setting's range in a space, from its declaration's plain data (settings.py)."""
    if 'choices' in data:
        return GeneChoice(tuple(data['choices']))
    return GeneRange(data['low'], data['high'], log=data.get('log', False), integer=setting.type is int)


def space_ranges(space):
    """{gene: range} of every setting that declares one in the space ('seed' or 'budget'), in the
    order a seeded search draws them (under a budget, the steps it buys last)."""
    declared = [s for s in in_order(Genome.DECLARED, lambda s: s.drawn_after) if getattr(s, space) is not None]
    if space == 'budget':
        declared.sort(key=lambda s: s.name == 'num_steps')
    return {s.name: gene_of(s, getattr(s, space)) for s in declared}


class GeneSpace:
    """The ranges evolution searches ({genome field: range}; the rest keep their defaults) and
    the operators, each drawing from the caller's `random.Random`. With `budget_steps`, num_steps
    is no gene: `steps_of(genome)` resolves it and its range says which counts are allowed."""

    def __init__(self, name, ranges, budget_steps=False, steps_of=None):
        self.name = name
        self.ranges = dict(ranges)
        self.budget_steps = budget_steps
        self.steps_of = steps_of
        self.genes = tuple(name for name in self.ranges if not (budget_steps and name == 'num_steps'))
        if not self._valid_heads():
            raise MicrogptError("no n_head in range divides any n_embd in range")

    def narrowed(self, **bounds):
        """This space with some ranges given new (low, high) bounds."""
        ranges = dict(self.ranges)
        for name, (low, high) in bounds.items():
            ranges[name] = replace(ranges[name], low=low, high=high)
        return GeneSpace(self.name, ranges, self.budget_steps, self.steps_of)

    def with_budget(self, steps_of):
        """This space with num_steps resolved by steps_of(genome) (0: the budget buys no step)."""
        if not self.budget_steps:
            raise MicrogptError(f"the {self.name} space has steps as a gene: it takes no budget")
        return GeneSpace(self.name, self.ranges, True, steps_of)

    def _int_values(self, name):
        return range(int(self.ranges[name].low), int(self.ranges[name].high) + 1)

    def _valid_heads(self):
        return [h for h in self._int_values('n_head')
                if any(e % h == 0 for e in self._int_values('n_embd'))]

    def extremes(self):
        """(smallest, largest) genomes of the space, every gene at its low (high) end."""
        low = {name: self.ranges[name].round(self.ranges[name].low) for name in self.genes}
        high = {name: self.ranges[name].round(self.ranges[name].high) for name in self.genes}
        low['n_head'] = 1  # the fewest heads cost the fewest FLOPs, the most the most
        high['n_head'] = max(h for h in self._int_values('n_head') if high['n_embd'] % h == 0)
        return Genome.from_settings(low), Genome.from_settings(high)

    def random_genome(self, rng):
        """Every gene uniform in its range (log-uniform for a log gene), n_embd among the multiples
        of n_head so all head counts are equally likely; drawn again until it fits."""
        for _ in range(DRAW_ATTEMPTS):
            genes = {name: self.ranges[name].draw(rng) for name in self.genes}
            genes['n_head'] = rng.choice(self._valid_heads())
            genes['n_embd'] = rng.choice([e for e in self._int_values('n_embd') if e % genes['n_head'] == 0])
            genome = self.repair(genes)
            if self.fits(genome):
                return genome
        raise self._no_fit()

    def mutation(self, genome, rng):
        """(the mutant, the genes chosen): 1-3 genes moved, then repaired; it differs from its parent and fits."""
        for _ in range(DRAW_ATTEMPTS):
            chosen = rng.sample(self.genes, min(len(self.genes), rng.randint(1, 3)))
            genes = genome.genes()
            for name in chosen:
                genes[name] = self.ranges[name].mutate(genes[name], rng)
            mutant = self.repair(genes, keep=chosen)
            if mutant != genome and self.fits(mutant):
                return mutant, sorted(chosen, key=self.genes.index)
        raise self._no_fit()

    def crossover(self, mother, father, rng):
        """Each gene from either parent, then repaired (its steps may not fit: breeding mutates it next)."""
        a, b = mother.genes(), father.genes()
        return self.repair({name: a[name] if rng.random() < 0.5 else b[name] for name in self.genes})

    def repair(self, genes, keep=()):
        """The nearest valid genome: genes clamped into range, n_embd moved to the nearest multiple
        of n_head (n_head to a divisor if only n_embd was chosen), steps resolved, warmup cut to half the run."""
        genes = {name: self.ranges[name].round(genes[name]) for name in self.genes}
        e, h = genes['n_embd'], genes['n_head']
        if e % h:
            keep_embd = 'n_embd' in keep and 'n_head' not in keep
            pairs = [(e2, h2) for e2 in self._int_values('n_embd') for h2 in self._int_values('n_head')
                     if e2 % h2 == 0]
            if keep_embd:
                cost = lambda p: (p[0] != e, abs(p[1] - h), abs(p[0] - e), p)  # noqa: E731
            else:
                cost = lambda p: (p[1] != h, abs(p[0] - e), abs(p[1] - h), p)  # noqa: E731
            genes['n_embd'], genes['n_head'] = min(pairs, key=cost)
        genome = Genome.from_settings(genes)
        if self.budget_steps:
            if self.steps_of is None:
                raise MicrogptError(f"the {self.name} space needs a budget to resolve steps")
            genome = genome.with_settings(num_steps=self.steps_of(genome))
        if genome.warmup and genome.warmup > genome.num_steps // 2:
            genome = genome.with_settings(warmup=genome.num_steps // 2)
        return genome

    def fits(self, genome):
        """Its steps in range, and a run the configs accept."""
        return self.ranges['num_steps'].contains(genome.num_steps) and check_genome(genome) is None

    def _no_fit(self):
        steps = self.ranges['num_steps']
        return MicrogptError(f"in {DRAW_ATTEMPTS} draws no organism of the {self.name} space got "
                             f"{steps.low:g} to {steps.high:g} steps from this budget: choose another --budget")

    def check(self, genome):
        """The first problem with this genome as (gene, message), or None: valid and in range."""
        outside = ((name, f"must be {r.describe()}, got {getattr(genome, name)!r}")
                   for name, r in self.ranges.items() if not r.contains(getattr(genome, name)))
        return check_genome(genome) or next(outside, None)


SEED_SPACE = GeneSpace('seed', space_ranges('seed'))
BUDGET_SPACE = GeneSpace('budget', space_ranges('budget'), budget_steps=True)
SPACES = {'budget': BUDGET_SPACE, 'seed': SEED_SPACE}
DEFAULT_SPACE = 'budget'
