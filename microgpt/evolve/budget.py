"""What a search costs: before any work, its arguments, size, the steps a FLOPs budget buys and
memory; then the plan (seconds estimated from step times measured here) and an ETA per training."""
import math
import random
import time

from . import genes
from ..compute.flops import check_budget, lengths_of, mean_step_flops, steps_for_budget
from ..compute.limits import (
    CLUSTER_WORKERS_AT_MOST, check_horizon, check_worker_processes, describe_count, fastest_seconds, gib)
from ..errors import MicrogptError, require_positive
from ..gpt.model import GPTConfig
from ..trials.executor import default_workers
from .decision import FINAL_SCORINGS, FINALISTS
from .events import TrainingDone
from .fitness import check_fitness_kind

# Rough bytes an organism holds while a search runs: its genome, its scorings and its record
# in the log; a population this many times over must fit in memory.
BYTES_PER_ORGANISM = 4096
# Rough cost of a numpy step beyond its FLOPs (Python and numpy overhead), in FLOPs at the
# engine's batched speed: only orders the work so that the slowest organisms start first.
STEP_OVERHEAD_FLOPS = 2e6


def check_evolution_args(fitness, population, generations, workers, space, budget, cluster):
    """One MicrogptError now, before any data is read, if these cannot make a run; else the
    GeneSpace that `space` (one or its name) stands for."""
    check_fitness_kind(fitness)
    if population < 2:
        raise MicrogptError(f"population must be >= 2, got {population}")
    require_positive('generations', generations)
    require_positive('workers', workers)
    if isinstance(space, str) and space not in genes.SPACES:
        raise MicrogptError(f"unknown gene space {space!r}; choose from {', '.join(genes.SPACES)}")
    space = genes.SPACES.get(space, space)
    if budget is not None:
        check_budget(budget)
        if not space.budget_steps:
            raise MicrogptError(f"the {space.name} space has steps as a gene: it takes no --budget")
    check_search_size(population, generations, workers, space, budget, cluster)
    return space


def check_search_size(population, generations, workers, space, budget=None, cluster=None):
    """The population fits in memory, and its trainings (each a step, or half the budget) take
    less than microgpt's horizon at the fastest any engine goes."""
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


class StepCosts:
    """The FLOPs of a genome's training step, and the steps a FLOPs `budget` buys it, cached."""

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
    """The largest organism of `space` fits in memory on each of `workers` workers at once."""
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


def slowest_first(organisms):
    """The organisms in the order to start them, so that the workers finish together."""
    return sorted(organisms, key=lambda o: -o.genome.num_steps * (STEP_OVERHEAD_FLOPS + o.flops / o.genome.num_steps))


class Progress:
    """The cost model and clock of one search: `plan` before the first training, `submitted` for
    each batch of trainings and `finished` after each. `slots`: worker slots (None on a cluster)."""

    TIMED_STEPS = 3  # steps timed per genome (after one untimed)

    def __init__(self, costs, val_docs, engine_name, fitness, population, generations, slots):
        self.costs, self.val_docs, self.engine_name, self.fitness = costs, val_docs, engine_name, fitness
        self.population, self.generations, self.slots = population, generations, slots
        self.finalists = min(FINALISTS, population)
        self.created = self.started = time.perf_counter()
        self.done, self.stage, self.total = 0, 0, None
        self.estimated_done = 0.0  # the estimates of the trainings done
        self.taken = 0.0  # seconds the trainings done took, each in its own process
        self._queued = {}
        self._per_step = {}  # (architecture, batch size) -> measured seconds a step
        self.cost_model = None  # (seconds a step, seconds a FLOP), fitted on the measured steps
        self.eval_seconds = 0.0

    def elapsed(self):
        return time.perf_counter() - self.started

    def plan(self, population, baselines, reused, budget):
        """The plan as the log records it: every training estimated from a few steps of each genome
        of generation 1 and each baseline, and one evaluation, timed. `reused`: {origin: [files]}."""
        from ..training.run import Run
        genomes = [o.genome for o in population] + [genome for _, genome in baselines]
        for genome in genomes:
            if _step_key(genome) not in self._per_step:
                run = Run(self.costs.train_docs, seed=0, arch=genome.arch(), engine_name=self.engine_name)
                self._per_step[_step_key(genome)] = run.seconds_per_step(genome.train_config(), steps=self.TIMED_STEPS)
        self.eval_seconds = self._time_evaluation(population[0].genome)
        self.cost_model = _fit_step_cost([(self.costs.step_flops(g), self._per_step[_step_key(g)]) for g in genomes])
        organism_seconds = [self.estimate(o.genome) for o in population]
        baseline_seconds = {origin: self.estimate(genome) for origin, genome in baselines}
        trained = {origin: FINAL_SCORINGS - len(reused.get(origin, ())) for origin in baseline_seconds}
        self.mean_organism = math.fsum(organism_seconds) / len(organism_seconds)
        self.total = self.population * self.generations + self.finalists * FINAL_SCORINGS + sum(trained.values())
        self.final_estimate = (FINAL_SCORINGS * self.finalists * self.mean_organism
                               + math.fsum(trained[o] * seconds for o, seconds in baseline_seconds.items()))
        estimated_total = self.mean_organism * self.population * self.generations + self.final_estimate
        record = {
            'trainings': self.total, 'organisms': self.population, 'generations': self.generations,
            'budget': budget, 'finalists': self.finalists, 'final_scorings': FINAL_SCORINGS,
            'organism_seconds': organism_seconds, 'baseline_seconds': baseline_seconds,
            'baseline_steps': {origin: g.num_steps for origin, g in baselines},
            'baseline_reused': reused,
            'estimated_cpu_seconds': estimated_total, 'workers': self.slots,
            'estimated_seconds': None if self.slots is None else estimated_total / self.slots,
            'step_seconds': [min(self._per_step.values()), max(self._per_step.values())]}
        self.started = time.perf_counter()  # the search's clock starts with its first training
        return record

    def _time_evaluation(self, genome):
        """Seconds of measuring one organism (an untrained model's samples run longer: an upper bound)."""
        from ..training.run import Run
        from ..trials.runner import validation_loss
        run = Run(self.costs.train_docs, seed=0, arch=genome.arch(), engine_name=self.engine_name)
        t0 = time.perf_counter()
        validation_loss(run.engine, run.tokenizer, self.val_docs)
        seconds = time.perf_counter() - t0
        if self.fitness == 'aesthetic':
            from ..gpt.sampling import generate
            from .fitness import AESTHETIC_BATCH, AESTHETIC_SEEDS
            t0 = time.perf_counter()
            list(generate(run.engine, run.tokenizer, random.Random(0), 5))
            seconds += (time.perf_counter() - t0) / 5 * AESTHETIC_BATCH * AESTHETIC_SEEDS
        return seconds

    def estimate(self, genome):
        """Estimated seconds of training and measuring this genome once, on one core."""
        per_step = self._per_step.get(_step_key(genome))
        if per_step is None:
            overhead, per_flop = self.cost_model
            per_step = overhead + per_flop * self.costs.step_flops(genome)
        return genome.num_steps * per_step + self.eval_seconds

    def submitted(self, todo, stage):
        """These trainings (of generation `stage`, or the final's) are under way."""
        self.stage = stage
        self._queued = {id(o): self.estimate(o.genome) for o in todo}

    def eta(self):
        """Seconds to go: the trainings not yet done as estimated, scaled by how those done compared
        with theirs, shared by the workers (on a cluster, by the wall time)."""
        if self.estimated_done <= 0:
            return None
        later = max(0, self.generations - self.stage) * self.population * self.mean_organism
        final = self.final_estimate if self.stage <= self.generations else 0.0
        remaining = math.fsum(self._queued.values()) + later + final
        if self.slots is None:
            return remaining * self.elapsed() / self.estimated_done
        return remaining * (self.taken / self.estimated_done) / self.slots

    def finished(self, organism, final_seed=None):
        """One training is done: the TrainingDone its progress line tells."""
        self.done += 1
        elapsed = self.elapsed()
        estimate = self._queued.pop(id(organism), 0.0)
        r = organism.result or {}
        if not r.get('error') and r.get('seconds'):
            self.estimated_done += estimate
            self.taken += r['seconds'] + (r.get('eval_seconds') or 0.0)
        final = organism.scored_in == self.generations + 1
        return TrainingDone(organism, 'final' if final else 'generation', organism.scored_in, self.generations,
                            self.done, self.total or self.done, elapsed, self.eta(), final_seed)


def _step_key(genome):
    return genome.architecture_key(), genome.batch_size


def _fit_step_cost(points):
    """(seconds a step, seconds a FLOP) by least squares, both >= 0 (else proportional to FLOPs)."""
    flops, seconds = zip(*points)
    mean_x, mean_y = math.fsum(flops) / len(flops), math.fsum(seconds) / len(seconds)
    var = math.fsum((x - mean_x) ** 2 for x in flops)
    if var > 0:
        slope = math.fsum((x - mean_x) * (y - mean_y) for x, y in points) / var
        intercept = mean_y - slope * mean_x
        if slope >= 0 and intercept >= 0:
            return intercept, slope
    return 0.0, math.fsum(seconds) / max(math.fsum(flops), 1e-300)
