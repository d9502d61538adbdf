"""What a search may ask, checked before any work: its arguments, its size, and under a FLOPs
budget the steps it buys each organism (the smallest at least one, the largest no more than
allowed) and whether the largest fits in memory on every worker."""
import math

from . import genes
from ..compute.flops import lengths_of, mean_step_flops, steps_for_budget
from ..compute.limits import (
    CLUSTER_WORKERS_AT_MOST, check_horizon, check_worker_processes, describe_count, fastest_seconds, gib)
from ..errors import MicrogptError, require_positive
from ..gpt.model import GPTConfig
from ..trials.executor import default_workers
from .decision import FINAL_SCORINGS, FINALISTS
from .fitness import check_fitness_kind

# Rough bytes an organism holds while a search runs: its genome, its scorings and its record
# in the log; a population this many times over must fit in memory.
BYTES_PER_ORGANISM = 4096


def check_evolution_args(fitness, population, generations, workers=None, space=None, budget=None, cluster=None):
    """One MicrogptError now, before any data is read, if these cannot make a run."""
    check_fitness_kind(fitness)
    if population < 2:
        raise MicrogptError(f"population must be >= 2, got {population}")
    require_positive('generations', generations)
    require_positive('workers', workers)
    if isinstance(space, str) and space not in genes.SPACES:
        raise MicrogptError(f"unknown gene space {space!r}; choose from {', '.join(genes.SPACES)}")
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not (
                math.isfinite(budget) and budget > 0):
            raise MicrogptError(f"a FLOPs budget must be a finite number > 0, got {budget!r}")
        if space is not None and not space_of(space).budget_steps:
            raise MicrogptError(f"the {space_of(space).name} space has steps as a gene: it takes no --budget")
    check_search_size(population, generations, workers, space_of(genes.DEFAULT_SPACE if space is None else space),
                      budget, cluster)


def check_search_size(population, generations, workers, space, budget=None, cluster=None):
    """The population fits in memory, and its trainings (each at least a step, under a budget at
    least half of it) take less than microgpt's horizon at the fastest any engine goes (limits.py)."""
    from ..training.run import memory_short_of
    if not cluster:
        check_worker_processes(workers)
    short = memory_short_of(population * BYTES_PER_ORGANISM)
    if short is not None:
        raise MicrogptError(f"a population of {describe_count(population)} organisms needs about {gib(short[0])} GiB "
                            f"(about {BYTES_PER_ORGANISM // 1024} KiB each); this machine has {gib(short[1])} GiB "
                            f"free: choose a smaller --population")
    trainings = population * generations + (FINALISTS + 2) * FINAL_SCORINGS  # the incumbent's and the primordial's
    if space.budget_steps:  # the FLOPs exact, however large
        flops, steps = trainings * round(genes.DEFAULT_BUDGET if budget is None else budget) // 2, trainings
    else:
        flops, steps = 0, trainings * space.ranges['num_steps'].low
    slots = CLUSTER_WORKERS_AT_MOST if cluster else min(workers or default_workers(), default_workers())
    check_horizon(f"a search of {describe_count(trainings)} trainings ({describe_count(population)} organisms "
                  f"for {describe_count(generations)} generations, then the final)",
                  fastest_seconds(steps, flops, slots), "choose a smaller --population or fewer --generations"
                  + (" or a smaller --budget" if space.budget_steps else ''))


def space_of(space):
    """The GeneSpace of a name in genes.SPACES, or the GeneSpace given."""
    return genes.SPACES[space] if isinstance(space, str) else space


class StepCosts:
    """The FLOPs of a genome's training steps on a training split, and the steps a FLOPs
    `budget` buys it (None: no budget), cached by what decides them."""

    def __init__(self, train_docs, vocab_size, budget=None):
        self.train_docs, self.vocab_size, self.budget = train_docs, vocab_size, budget
        self._lengths, self._steps = {}, {}

    def config(self, genome):
        return GPTConfig(vocab_size=self.vocab_size, **genome.arch())

    def lengths(self, block_size):
        if block_size not in self._lengths:
            self._lengths[block_size] = lengths_of(self.train_docs, block_size)
        return self._lengths[block_size]

    def step_flops(self, genome):
        """The expected FLOPs of one of this genome's training steps."""
        return mean_step_flops(self.config(genome), genome.batch_size, self.lengths(genome.block_size),
                               genome.dropout).total

    def training_flops(self, genome):
        return genome.num_steps * self.step_flops(genome)

    def budget_steps(self, genome):
        """The steps the budget buys this genome (0: not even one)."""
        key = (genome.architecture_key(), genome.batch_size, bool(genome.dropout))
        if key not in self._steps:
            try:
                self._steps[key] = steps_for_budget(self.config(genome), genome.batch_size, self.budget,
                                                    self.lengths(genome.block_size), genome.dropout)
            except MicrogptError:  # less than one step
                self._steps[key] = 0
        return self._steps[key]

    def check(self, space):
        """The budget buys the smallest organism of `space` a step, the largest no more than allowed."""
        smallest, largest = space.extremes()
        small_step, large_step = self.step_flops(smallest), self.step_flops(largest)
        steps = space.ranges['num_steps']
        if self.budget < small_step * steps.low:
            raise MicrogptError(f"a budget of {self.budget:.3g} FLOPs buys no step of the smallest organism "
                                f"({_describe_size(smallest)}: {small_step:.3g} FLOPs a step): choose a "
                                f"--budget of at least {small_step * steps.low:.3g}")
        if self.budget > large_step * steps.high:
            raise MicrogptError(f"a budget of {self.budget:.3g} FLOPs buys even the largest organism "
                                f"({_describe_size(largest)}: {large_step:.3g} FLOPs a step) more than "
                                f"{steps.high:,.0f} steps, the most the {space.name} space allows: choose a "
                                f"--budget of at most {large_step * steps.high:.3g}")


def check_memory(space, engine_name, vocab_size, workers):
    """The largest organism of `space` fits in memory on each of `workers` workers at once (as
    `microgpt train` checks it)."""
    from ..training.run import memory_shortfall
    _, largest = space.extremes()
    shortfall = memory_shortfall(largest.arch(), engine_name, vocab_size, copies=workers)
    if shortfall is not None:
        params, need, have = shortfall
        raise MicrogptError(f"the largest organism of the {space.name} space ({params:,} parameters) needs "
                            f"about {need / 2**30:.2f} GiB on each of {workers} workers, "
                            f"{need * workers / 2**30:.2f} GiB; this machine has {have / 2**30:.2f} GiB "
                            f"free: use fewer --workers")


def uncropped(space, docs):
    """The space with block_size at least the longest document's positions (up to its top): a
    model that crops documents is scored on fewer tokens, its loss not comparable."""
    r = space.ranges.get('block_size')
    if r is None:
        return space
    longest = max(len(doc) + 1 for doc in docs)  # one token a character, BOS at each end
    return space.narrowed(block_size=(min(max(r.low, longest), r.high), r.high))


def _describe_size(genome):
    """The settings that decide a step's FLOPs, as `name=value` pairs (all whole numbers)."""
    return ' '.join(f"{name}={value}" for name, value in dict(genome.arch(), batch_size=genome.batch_size).items())
