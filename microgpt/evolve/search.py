"""The genetic search over genomes: selection, crossover, mutation, immigrants, elitism,
under a FLOPs budget, with every score the mean of scorings on fresh seeds.

Determinism: the GA's own random stream (`random.Random(seed)`) runs only here in the
parent, and each scoring's training seed is derived from (run seed, generation, index),
so the result is the same whatever the worker count or the order organisms finish in.
"""
import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
import random
import time

from ..data import Tokenizer, split_docs
from ..errors import MicrogptError, require_positive
from ..flops import lengths_of, mean_step_flops, steps_for_budget
from ..genome import PRIMORDIAL, load_genome, save_genome
from ..model import GPTConfig
from ..trials.executor import Task, default_workers, make_executor, run_tasks, stop
from ..trials.runner import Trial, run_trial
from .fitness import HIGHER_IS_BETTER, aesthetic_measure, check_fitness_kind, cost, sampling_seeds, score_of
from .recorded import RecordedScorings, split_digest
from . import genes
from .genes import DEFAULT_BUDGET, DEFAULT_GENERATIONS, DEFAULT_POPULATION

TOURNAMENT_SIZE = 3
IMMIGRANTS = 2
ELITES = 1
# After the last generation, the final: the FINALISTS best organisms, the incumbent (the genome
# at `out` before the search) and the primordial genome are each trained on the same
# FINAL_SCORINGS fresh seeds; the best finalist's mean wins, and replaces the incumbent only
# when it beats it by more than the noise (the larger of their spreads over those seeds).
FINALISTS = 3
FINAL_SCORINGS = 3
# A search whose best has not improved for STAGNATION generations says so and lets in more
# immigrants (half the population) until it improves again.
STAGNATION = 3
# Of the final's baselines only the incumbent's scorings are looked up in earlier logs
# (evolve.recorded): its cost is not the search's own (the shipped genome trains 14,600 steps).
# The primordial genome costs about a second: it is trained in every final, on this machine.
DEFAULT_LOG_DIR = 'experiments'
BASELINE_GENERATION = 0  # the baselines' birth: generations of evolved organisms count from 1
# Rough cost of a numpy step beyond its FLOPs (Python and numpy overhead), in FLOPs at the
# engine's batched speed: only orders the work so that the slowest organisms start first.
STEP_OVERHEAD_FLOPS = 2e6


def organism_seed(run_seed, generation, index):
    """A training seed that depends only on (run seed, generation, index)."""
    digest = hashlib.sha256(f"microgpt-organism:{run_seed}:{generation}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], 'big')


def stagnant_immigrants(population):
    return max(IMMIGRANTS, population // 2)


def check_evolution_args(fitness, population, generations, workers=None, space=None, budget=None):
    """Raise MicrogptError now, before any data is read, if these cannot make a run."""
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
        if space is not None and not _space_of(space).budget_steps:
            raise MicrogptError(f"the {_space_of(space).name} space has steps as a gene: it takes no --budget")


def _space_of(space):
    return genes.SPACES[space] if isinstance(space, str) else space


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
    reused_from: str = None  # the log whose scoring this is, when it was reused, not trained (evolve.recorded)

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


@dataclass
class TrainingDone:
    """One finished training of a search, as its progress line tells it: the stage
    ('generation' k of G, or 'final'), trainings done of the total, and the time."""
    organism: Organism
    stage: str
    generation: int
    generations: int
    done: int
    total: int
    elapsed: float
    eta: float  # seconds still to go, estimated (None before anything is known)


class Progress:
    """What a search will cost and how far it is: the plan (trainings, and their seconds
    estimated from step times measured here before the search starts) and, after each
    training, the elapsed time and an ETA: the estimated seconds still to go, scaled by how
    the estimate compared with the seconds taken so far."""

    TIMED_STEPS = 3  # steps timed per genome (after one untimed), on a copy of nothing that runs

    def __init__(self, evolution):
        self.evolution = evolution
        self.created = self.started = time.perf_counter()
        self.done = 0
        self.estimated_done = 0.0
        self.taken = 0.0  # seconds the trainings done took, each in its own process
        self.stage = 0
        self._queued = {}
        self.total = None
        self.estimated_total = None
        self._per_step = {}  # (architecture, batch size) -> measured seconds a step
        self.cost_model = None  # (seconds a step, seconds a FLOP), fitted on the measured steps
        self.eval_seconds = 0.0

    def elapsed(self):
        return time.perf_counter() - self.started

    # --- the plan ---------------------------------------------------------------------------

    def plan(self, population):
        """Time a few steps of every organism of generation 1 and of each baseline, and the
        evaluation of one; estimate every training of the search from them."""
        e = self.evolution
        genomes = [o.genome for o in population] + [genome for _, genome in e._baselines()]
        for genome in genomes:
            self._measure(genome)
        self.eval_seconds = self._time_evaluation(population[0].genome)
        self.cost_model = _fit_step_cost([(e.step_flops(g), self._per_step[_step_key(g)]) for g in genomes])
        self.organism_seconds = [self.estimate(o.genome) for o in population]
        self.baseline_seconds = {origin: self.estimate(genome) for origin, genome in e._baselines()}
        self.reused = e.reused_scorings()
        trained = {origin: FINAL_SCORINGS - len(self.reused.get(origin, ())) for origin in self.baseline_seconds}
        self.mean_organism = math.fsum(self.organism_seconds) / len(self.organism_seconds)
        finalists = min(FINALISTS, e.population)
        self.total = e.population * e.generations + finalists * FINAL_SCORINGS + sum(trained.values())
        self.final_estimate = (FINAL_SCORINGS * finalists * self.mean_organism
                               + math.fsum(trained[o] * seconds for o, seconds in self.baseline_seconds.items()))
        self.estimated_total = self.mean_organism * e.population * e.generations + self.final_estimate
        self.started = time.perf_counter()  # the search's clock starts with its first training

    def submitted(self, todo, stage):
        """These trainings (of generation `stage`, or the final's) are under way."""
        self.stage = stage
        self._queued = {id(o): self.estimate(o.genome) for o in todo}

    def eta(self):
        """Seconds still to go: the estimate of what is left, scaled by how the trainings done
        so far compared with their estimates, shared by the workers (on a cluster, whose
        workers are not counted here, scaled by the wall time so far instead)."""
        if self.estimated_done <= 0:
            return None
        slots = self.slots()
        if slots is None:
            return self.remaining() * self.elapsed() / self.estimated_done
        return self.remaining() * (self.taken / self.estimated_done) / slots

    def remaining(self):
        """Estimated seconds (on one core) of the trainings not yet done."""
        e = self.evolution
        later = max(0, e.generations - self.stage) * e.population * self.mean_organism
        final = self.final_estimate if self.stage <= e.generations else 0.0
        return math.fsum(self._queued.values()) + later + final

    def _measure(self, genome):
        key = _step_key(genome)
        if key not in self._per_step:
            from ..training import Run
            run = Run(self.evolution.train_docs, seed=0, arch=genome.arch(), engine_name=self.evolution.engine_name)
            self._per_step[key] = run.seconds_per_step(genome.train_config(), steps=self.TIMED_STEPS)
        return self._per_step[key]

    def _time_evaluation(self, genome):
        """Seconds of measuring one trained organism: its held-out loss, and for the
        aesthetic fitness its samples (an untrained model's run longer: an upper bound)."""
        from ..training import Run
        from ..trials.runner import validation_loss
        e = self.evolution
        run = Run(e.train_docs, seed=0, arch=genome.arch(), engine_name=e.engine_name)
        t0 = time.perf_counter()
        validation_loss(run.engine, run.tokenizer, e.val_docs)
        seconds = time.perf_counter() - t0
        if e.fitness == 'aesthetic':
            from .fitness import AESTHETIC_BATCH, AESTHETIC_SEEDS
            from ..sampling import generate
            t0 = time.perf_counter()
            list(generate(run.engine, run.tokenizer, random.Random(0), 5))
            seconds += (time.perf_counter() - t0) / 5 * AESTHETIC_BATCH * AESTHETIC_SEEDS
        return seconds

    def estimate(self, genome):
        """Estimated seconds of training and measuring this genome once, on one core."""
        per_step = self._per_step.get(_step_key(genome))
        if per_step is None:
            overhead, per_flop = self.cost_model
            per_step = overhead + per_flop * self.evolution.step_flops(genome)
        return genome.num_steps * per_step + self.eval_seconds

    def slots(self):
        e = self.evolution
        return None if e.cluster else (e.workers or default_workers())

    def plan_record(self):
        e = self.evolution
        slots = self.slots()
        return {'trainings': self.total, 'organisms': e.population, 'generations': e.generations,
                'budget': e.budget, 'finalists': min(FINALISTS, e.population), 'final_scorings': FINAL_SCORINGS,
                'organism_seconds': self.organism_seconds, 'baseline_seconds': self.baseline_seconds,
                'baseline_steps': {origin: g.num_steps for origin, g in e._baselines()},
                'baseline_reused': self.reused,
                'estimated_cpu_seconds': self.estimated_total, 'workers': slots,
                'estimated_seconds': None if slots is None else self.estimated_total / slots,
                'step_seconds': [min(self._per_step.values()), max(self._per_step.values())]}

    # --- as it goes ---------------------------------------------------------------------------

    def finished(self, organism):
        e = self.evolution
        self.done += 1
        elapsed = self.elapsed()
        eta = None
        if self.estimated_total is not None:
            estimate = self._queued.pop(id(organism), 0.0)
            r = organism.result or {}
            if not r.get('error') and r.get('seconds'):
                self.estimated_done += estimate
                self.taken += r['seconds'] + (r.get('eval_seconds') or 0.0)
            eta = self.eta()
        final = organism.scored_in == e.generations + 1
        return TrainingDone(organism, 'final' if final else 'generation', organism.scored_in, e.generations,
                            self.done, self.total or self.done, elapsed, eta)


def _step_key(genome):
    return genome.architecture_key(), genome.batch_size


def _fit_step_cost(points):
    """(seconds a step, seconds a FLOP) by least squares through (FLOPs a step, seconds a
    step); both >= 0 (else the seconds are taken as proportional to the FLOPs)."""
    n = len(points)
    mean_x = math.fsum(x for x, _ in points) / n
    mean_y = math.fsum(y for _, y in points) / n
    var = math.fsum((x - mean_x) ** 2 for x, _ in points)
    if var > 0:
        slope = math.fsum((x - mean_x) * (y - mean_y) for x, y in points) / var
        intercept = mean_y - slope * mean_x
        if slope >= 0 and intercept >= 0:
            return intercept, slope
    return 0.0, math.fsum(y for _, y in points) / max(math.fsum(x for x, _ in points), 1e-300)


@dataclass
class Evolution:
    """One evolutionary run. `run()` evolves; on Ctrl-C it writes the best organism found
    so far beside `out` before letting the interrupt through.

    Each generation: the best organism carried over and trained again on a fresh seed
    (its score the mean of its scorings), IMMIGRANTS random newcomers (more when the search
    stagnates), and children of two tournament winners (TOURNAMENT_SIZE), crossed over and
    mutated in 1-3 genes. Generation 1 is all random. After the last, the final: the FINALISTS
    best, the incumbent (the genome at `out` before the search, trained by its own settings)
    and the primordial genome each trained on the same FINAL_SCORINGS fresh seeds; the best
    finalist wins, and is written to `out` only if it beats the incumbent by more than the
    noise (or `replace`), else beside it (candidate_genome_path). An incumbent's scoring that an
    earlier log in `log_dir` already holds, made on this split, seed and arithmetic, is reused
    rather than trained again (evolve.recorded; `reuse_incumbent=False` trains it).

    Under the budget space every organism trains for the steps `budget` FLOPs buy it
    (flops.steps_for_budget); the seed space has steps as a gene and no budget.

    Callbacks: on_plan(plan) before the first training; on_training(TrainingDone) after every
    training; on_organism(organism, done, total) after each evaluation of an evolved organism,
    on_generation(GenerationSummary) after each generation, on_baseline(organism) when a
    baseline's final scorings are done, on_stagnation(generation, stale, immigrants).
    """
    docs: list
    fitness: str = 'loss'
    population: int = DEFAULT_POPULATION
    generations: int = DEFAULT_GENERATIONS
    seed: int = 42
    workers: int = None
    cluster: str = None  # a Dask scheduler address (see executor.make_executor)
    out: str = 'genome.json'
    log_dir: str = DEFAULT_LOG_DIR
    engine_name: str = 'numpy'
    space: object = genes.DEFAULT_SPACE  # a name in genes.SPACES, or a GeneSpace
    budget: float = None  # FLOPs per organism (budget space; default DEFAULT_BUDGET)
    baseline: bool = True  # also score the primordial genome in the final, for comparison
    replace: bool = False  # write the winner to `out` even when it does not beat the incumbent there
    reuse_incumbent: bool = True  # an incumbent's scoring an earlier log of log_dir holds is reused (evolve.recorded)
    origin: dict = None  # provenance of the run (see provenance.py)
    data_path: str = None
    on_organism: object = None
    on_plan: object = None  # on_plan(Progress.plan_record()) before the first training
    on_training: object = None  # on_training(TrainingDone) after every training, baselines and final included
    on_generation: object = None
    on_baseline: object = None
    on_stagnation: object = None
    on_retry: object = None  # on_retry(task, attempt): a worker process died, its organism runs again
    evaluated: list = field(default_factory=list)
    baselines: list = field(default_factory=list)
    log_path: Path = None
    interrupted: bool = False
    genome_written: Path = None
    contenders: list = None  # the organisms the best is chosen from: the last generation, then the finalists
    finalists: list = None
    incumbent: object = None  # the Organism of the genome at `out` before the search, once scored
    decision: dict = None  # whether the winner replaced the incumbent (see decide)
    baseline_reuse: dict = field(default_factory=dict)  # {origin: [the log of each scoring reused]}
    cpu_seconds: float = 0.0  # of every training, summed: what the search costs without other load

    def __post_init__(self):
        check_evolution_args(self.fitness, self.population, self.generations, self.workers, self.space,
                             self.budget)
        space = _space_of(self.space)
        self.train_docs, self.val_docs = split_docs(self.docs, self.seed)
        if not self.train_docs or not self.val_docs:
            raise MicrogptError("evolution needs at least 2 documents (a training and a validation split)")
        self.vocab_size = Tokenizer.from_docs(self.train_docs).vocab_size
        self.split_sha256 = split_digest(self.train_docs, self.val_docs)
        self._lengths, self._steps = {}, {}
        if space.budget_steps:
            self.budget = DEFAULT_BUDGET if self.budget is None else self.budget
            space = space.with_budget(self._budget_steps)
            space = _uncropped(space, self.docs)
            self._check_budget(space)
        self.space = space
        self.rng = random.Random(self.seed)
        self.immigrants = IMMIGRANTS
        self.stale = 0
        self._best_cost = math.inf
        self.incumbent_genome = read_incumbent(self.out)  # before anything is written
        self._recorded_incumbent = None  # see recorded_incumbent
        self.progress = Progress(self)

    @property
    def primordial(self):
        return next((o for o in self.baselines if o.origin == 'primordial'), None)

    # --- the budget ---------------------------------------------------------------------------

    def _config(self, genome):
        return GPTConfig(vocab_size=self.vocab_size, **genome.arch())

    def lengths(self, block_size):
        if block_size not in self._lengths:
            self._lengths[block_size] = lengths_of(self.train_docs, block_size)
        return self._lengths[block_size]

    def step_flops(self, genome):
        """The expected FLOPs of one of this genome's training steps on the training split."""
        return mean_step_flops(self._config(genome), genome.batch_size, self.lengths(genome.block_size),
                               genome.dropout).total

    def _budget_steps(self, genome):
        """The steps the budget buys this genome (0: not even one); cached by what decides it."""
        key = (genome.architecture_key(), genome.batch_size, bool(genome.dropout))
        if key not in self._steps:
            try:
                self._steps[key] = steps_for_budget(self._config(genome), genome.batch_size, self.budget,
                                                    self.lengths(genome.block_size), genome.dropout)
            except MicrogptError:  # less than one step
                self._steps[key] = 0
        return self._steps[key]

    def _check_budget(self, space):
        """Before any work: the budget buys the smallest organism a step, and the largest no
        more steps than allowed; the largest fits in memory on every worker."""
        from ..training import available_memory, memory_needed
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
        if self.cluster:
            return  # the cluster's workers' memory is not ours to read
        params, need = memory_needed(largest.arch(), self.engine_name, self.vocab_size)
        workers = self.workers or default_workers()
        have = available_memory()
        if have is not None and need * workers > have:
            raise MicrogptError(f"the largest organism of the {space.name} space ({params:,} parameters) needs "
                                f"about {need / 2**30:.2f} GiB on each of {workers} workers, "
                                f"{need * workers / 2**30:.2f} GiB; this machine has {have / 2**30:.2f} GiB "
                                f"free: use fewer --workers")

    # --- the best ---------------------------------------------------------------------------

    @property
    def best(self):
        """The best organism so far (the earliest born among equals), or None: the best
        finalist once they are scored; before, the best of the last finished generation, each
        with its latest mean, so an organism scored once and left behind cannot win on that one
        draw; before the first generation ends, the best evaluated."""
        pool = self.contenders if self.contenders else self.evaluated
        latest = {}
        for o in pool:
            if o.result is not None:
                latest[(o.generation, o.index)] = o
        scored = sorted(latest.values(), key=lambda o: (o.generation, o.index))
        return min(scored, key=lambda o: o.cost) if scored else None

    @property
    def runner_up(self):
        pool = sorted((o for o in (self.contenders or []) if o.score is not None and o is not self.best),
                      key=lambda o: (o.cost, o.generation, o.index))
        return pool[0] if pool else None

    def run(self):
        """Evolve; returns the best organism. However the run ends (done, Ctrl-C, an error),
        the best organism so far is written (to `out`, beside it as the candidate when it does
        not beat the incumbent, or beside it as the interrupted one) and the log is closed;
        worker processes are stopped, not waited for."""
        executor = make_executor(self.workers, cluster=self.cluster)
        try:
            self._open_log()
        except BaseException:
            stop(executor)
            raise
        completed = False
        try:
            population = self._first_generation()
            self.progress.plan(population)
            self._log(dict(self.progress.plan_record(), kind='plan'))
            if self.on_plan:
                self.on_plan(self.progress.plan_record())
            for generation in range(1, self.generations + 1):
                if generation > 1:
                    population = self._next_generation(population, generation)
                self._evaluate(population, executor)
                self._summarize(population, generation)
                self._watch_stagnation(generation)
            self._final(population, executor)
            completed = True
        finally:
            self.interrupted = not completed
            if completed:
                executor.shutdown()
            else:
                stop(executor)
            best = self._finish()
        return best

    # --- building generations ---------------------------------------------------------------

    def _organism(self, genome, generation, index, origin, parents=(), mutated=()):
        return Organism(genome, generation, index, organism_seed(self.seed, generation, index), origin,
                        self.fitness, parents=[list(p) for p in parents], mutated=list(mutated),
                        scored_in=generation, flops=self._flops(genome))

    def _flops(self, genome):
        return genome.num_steps * self.step_flops(genome)

    def _first_generation(self):
        return [self._organism(self.space.random_genome(self.rng), 1, i, 'random')
                for i in range(self.population)]

    def _baselines(self):
        """[(origin, genome)] of the final's baselines: the primordial genome (the original's
        settings, its own 1000 steps) and the incumbent, each trained as `microgpt train`
        trains it; an incumbent that is the primordial genome is scored once."""
        baselines = [('primordial', PRIMORDIAL)] if self.baseline else []
        if self.incumbent_genome is not None and not (self.baseline and self.incumbent_genome == PRIMORDIAL):
            baselines.append(('incumbent', self.incumbent_genome))
        return baselines

    def _tournament(self, population):
        contestants = self.rng.sample(population, min(TOURNAMENT_SIZE, len(population)))
        return min(contestants, key=lambda o: (o.cost, o.index))

    def _next_generation(self, population, generation):
        """The elite carried over and trained again on a fresh seed (so a lucky draw cannot hold
        the crown), immigrants, and children of tournament-selected parents, crossed over and
        mutated; no two organisms share a genome."""
        elite = min(population, key=lambda o: (o.cost, o.index))
        nxt = [elite.rescored('elite', organism_seed(self.seed, generation, 0), generation)]
        genomes = {elite.genome}

        def add(genome, origin, parents=(), mutated=()):
            genomes.add(genome)
            nxt.append(self._organism(genome, generation, len(nxt), origin, parents, mutated))

        for _ in range(min(self.immigrants, self.population - ELITES)):
            add(self._distinct(lambda: self.space.random_genome(self.rng), genomes), 'immigrant')
        while len(nxt) < self.population:
            mother, father = self._tournament(population), self._tournament(population)
            child, mutated = self.space.mutation(self.space.crossover(mother.genome, father.genome, self.rng),
                                                 self.rng)
            for _ in range(50):  # a child identical to another organism is mutated again
                if child not in genomes:
                    break
                child, more = self.space.mutation(child, self.rng)
                mutated = sorted(set(mutated) | set(more), key=self.space.genes.index)
            parents = [mother.born] if mother is father else [mother.born, father.born]
            add(child, 'child', parents, mutated)
        return nxt

    def _distinct(self, draw, taken, attempts=50):
        """A new draw not in `taken` (a tiny gene space may run out: then the last draw stands)."""
        genome = draw()
        for _ in range(attempts):
            if genome not in taken:
                break
            genome = draw()
        return genome

    def _watch_stagnation(self, generation):
        """Count generations without a better best; at STAGNATION, say so and raise immigration."""
        best = min(self.contenders, key=lambda o: o.cost)
        if best.cost < self._best_cost:
            self._best_cost, self.stale, self.immigrants = best.cost, 0, IMMIGRANTS
            return
        self.stale += 1
        if self.stale >= STAGNATION and generation < self.generations:
            self.immigrants = stagnant_immigrants(self.population)
            self._log({'kind': 'stagnation', 'generation': generation, 'stale': self.stale,
                       'immigrants': self.immigrants})
            if self.on_stagnation:
                self.on_stagnation(generation, self.stale, self.immigrants)

    def final_seeds(self):
        """The seeds of the final, the same for every finalist and baseline."""
        return [organism_seed(self.seed, self.generations + 1, k) for k in range(FINAL_SCORINGS)]

    def finalists_of(self, population):
        ranked = sorted((o for o in population if o.score is not None), key=lambda o: (o.cost, o.index))
        return ranked[:FINALISTS]

    def _final(self, population, executor):
        """After the last generation, the FINALISTS best, the incumbent and the primordial
        genome are trained on the same FINAL_SCORINGS fresh seeds, their scores the mean of
        those alone: no newcomer wins on one lucky draw, no elite on the selection that kept
        it, and the winner meets the incumbent on equal terms."""
        final, seeds = self.generations + 1, self.final_seeds()

        def scorings(organism, origin):
            return [Organism(organism.genome, organism.generation, organism.index, seed, origin, self.fitness,
                             parents=organism.parents, mutated=organism.mutated, scored_in=final,
                             flops=organism.flops) for seed in seeds]

        finalists = [scorings(o, 'confirmation') for o in self.finalists_of(population)]
        baselines = [scorings(self._organism(genome, BASELINE_GENERATION, b, origin), origin)
                     for b, (origin, genome) in enumerate(self._baselines())]
        for organism in (o for group in baselines for o in group):
            self._reuse(organism)
        todo = [o for group in finalists + baselines for o in group if o.reused_from is None]
        self.progress.total = self.progress.done + len(todo)
        self._evaluate(todo, executor)
        self.finalists = [_merged(group) for group in finalists]
        self.contenders = self.finalists
        self._log({'kind': 'confirmation', 'seeds': seeds, 'organisms': [o.summary() for o in self.finalists]})
        for group in baselines:
            merged = _merged(group)
            self.baseline_reuse[merged.origin] = [o.reused_from for o in group if o.reused_from]
            self.baselines.append(merged)
            self._log({'kind': 'baseline', **merged.summary(), 'origin': merged.origin,
                       'reused_from': self.baseline_reuse[merged.origin]})
            if self.on_baseline:
                self.on_baseline(merged)
        if self.incumbent_genome is not None:
            self.incumbent = next(o for o in self.baselines if o.genome == self.incumbent_genome)

    def recorded_incumbent(self):
        """{final seed: (result, log path)} of the incumbent's final scorings that earlier logs
        in log_dir hold (evolve.recorded), looked up once: the plan counts what the final reuses.
        Empty when there is no incumbent baseline, when asked to retrain it, and on a cluster,
        whose workers' arithmetic is not known here."""
        if self._recorded_incumbent is None:
            self._recorded_incumbent = {}
            if self.reuse_incumbent and not self.cluster and 'incumbent' in dict(self._baselines()):
                recorded = RecordedScorings(self.log_dir, self.split_sha256, self.engine_name)
                final = self.generations + 1
                for seed in self.final_seeds():
                    hit = recorded.find(self.incumbent_genome, seed, self.fitness,
                                        sampling_seeds(self.seed, final, seed))
                    if hit is not None:
                        self._recorded_incumbent[seed] = hit
        return self._recorded_incumbent

    def reused_scorings(self):
        """{origin: [log path of each of the final's seeds it reuses]} of the baselines."""
        found = [str(path) for _, path in self.recorded_incumbent().values()]
        return {'incumbent': found} if found else {}

    def _reuse(self, organism):
        hit = self.recorded_incumbent().get(organism.seed) if organism.origin == 'incumbent' else None
        if hit is None:
            return
        organism.result, path = hit
        organism.reused_from = str(path)
        self._log(organism.record())

    def decide(self, best):
        """Whether the winner replaces the incumbent: when there is none, when the winner
        beats it by more than the noise (the larger of their spreads over the final's seeds),
        or when asked to (`replace`). Returns the decision as the log records it."""
        incumbent = self.incumbent
        decision = {'fitness': self.fitness, 'higher_is_better': HIGHER_IS_BETTER[self.fitness],
                    'winner': best.summary(), 'incumbent': None, 'lead': None, 'noise': None,
                    'forced': False, 'out': str(self.out)}
        if incumbent is None:
            return dict(decision, replaced=True, why='no incumbent')
        decision['incumbent'] = dict(incumbent.summary(), origin=incumbent.origin,
                                     reused_from=self.baseline_reuse.get('incumbent', []))
        if incumbent.score is None:
            return dict(decision, replaced=True, why='the incumbent failed to train')
        lead = incumbent.cost - best.cost  # > 0: the winner is better
        spreads = [s for s in (best.spread, incumbent.spread) if s is not None]
        noise = max(spreads) if spreads else 0.0
        beats = lead > noise
        why = ('the winner beats the incumbent by more than the noise' if beats else
               'the winner is within the noise of the incumbent' if lead > -noise else
               'the incumbent beats the winner')
        return dict(decision, lead=lead, noise=noise, replaced=beats or self.replace,
                    forced=self.replace and not beats, why=why)

    # --- evaluating -------------------------------------------------------------------------

    def _evaluate(self, todo, executor):
        """Train every organism given in parallel; the slowest first, so the workers finish together."""
        todo = sorted(todo, key=lambda o: -o.genome.num_steps * (STEP_OVERHEAD_FLOPS + o.flops / o.genome.num_steps))
        progress = {'done': 0, 'total': len(todo)}
        if todo:
            self.progress.submitted(todo, todo[0].scored_in)
        tasks = []
        for organism in todo:
            trial = Trial(organism.genome, organism.seed, self.engine_name)
            measure, options = None, None
            if self.fitness == 'aesthetic':  # fresh samples at every scoring
                measure, options = aesthetic_measure, {
                    'seeds': sampling_seeds(self.seed, organism.scored_in, organism.seed)}
            tasks.append(Task(organism, run_trial, (trial, self.train_docs, self.val_docs, measure, options),
                              name=f"organism {organism.index} of generation {organism.generation}"))
        # a worker process that dies costs at most its own organism (see run_tasks); an
        # inline run is recorded as soon as it is done, before the next one starts
        for outcome in run_tasks(executor, tasks, on_retry=self.on_retry):
            self._record(outcome.key, outcome, progress)
        # completion order differs between runs; the record of evaluations does not
        self.evaluated.sort(key=lambda o: (o.scored_in, o.generation, o.index, len(o.scores)))

    def _record(self, organism, outcome, progress):
        if outcome.failed:  # e.g. its worker process died twice
            organism.result = {'num_params': None, 'error': outcome.error, 'seconds': 0.0}
        else:
            organism.result = outcome.result
        self.cpu_seconds += organism.result.get('cpu_seconds') or 0.0
        record = organism.record()
        if outcome.attempts > 1:
            record['attempts'] = outcome.attempts
        self._log(record)
        progress['done'] += 1
        done = self.progress.finished(organism)
        if self.on_training:
            self.on_training(done)
        if organism.generation == BASELINE_GENERATION:
            return
        self.evaluated.append(organism)
        if self.on_organism:
            self.on_organism(organism, progress['done'], progress['total'])

    def _summarize(self, population, generation):
        self.contenders = list(population)
        best = min(population, key=lambda o: (o.cost, o.index))
        summary = GenerationSummary(
            generation, self.generations, best, [o.score for o in population],
            failed=sum(o.score is None for o in population),
            diversity=len({o.genome.architecture_key() for o in population}))
        self._log(summary.record())
        if self.on_generation:
            self.on_generation(summary)

    # --- the log and the result -------------------------------------------------------------

    def _open_log(self):
        stamp = datetime.now().strftime('%Y%m%d-%H%M%S')
        log_dir = Path(self.log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(100):
            suffix = f'-{attempt}' if attempt else ''
            path = log_dir / f'evolve-{self.fitness}-{stamp}-seed{self.seed}{suffix}.jsonl'
            try:
                self._log_file = open(path, 'x', encoding='utf-8')
                break
            except FileExistsError:
                continue
        else:
            raise MicrogptError(f"cannot create a new log file in {log_dir}")
        self.log_path = path
        self._log({'kind': 'run', 'provenance': self.origin, 'fitness': self.fitness, 'population': self.population,
                   'generations': self.generations, 'seed': self.seed,
                   'workers': self.workers or (None if self.cluster else default_workers()), 'cluster': self.cluster,
                   'engine': self.engine_name, 'data': self.data_path,
                   'train_docs': len(self.train_docs), 'val_docs': len(self.val_docs),
                   'split_sha256': self.split_sha256,
                   'space': self.space.name, 'budget': self.budget, 'genes': list(self.space.genes),
                   'ranges': {k: list(getattr(r, 'values', (r.low, r.high))) for k, r in self.space.ranges.items()},
                   'finalists': FINALISTS, 'final_scorings': FINAL_SCORINGS,
                   'started': _now()})

    def _log(self, record):
        # one line per record, flushed at once: an interrupted run keeps what it did
        try:
            self._log_file.write(json.dumps(_finite(record)) + '\n')
            self._log_file.flush()
        except OSError as e:
            raise MicrogptError(f"cannot write the evolution log {self.log_path}: {e.strerror or e}") from None

    def _finish(self):
        """Write the best genome: to `out` when the search completed and the winner replaces
        the incumbent (see decide); beside it as the candidate when it does not; beside it
        when the search was interrupted, so an existing genome is never replaced by a partial
        search."""
        best = self.best
        if best is not None and math.isfinite(best.cost):
            if self.interrupted:
                self.genome_written = interrupted_genome_path(self.out)
            else:
                self.decision = self.decide(best)
                self.genome_written = Path(self.out) if self.decision['replaced'] else candidate_genome_path(self.out)
                self.decision['genome_written'] = str(self.genome_written)
                self._log(dict(self.decision, kind='decision'))
            save_genome(self.genome_written, best.genome, self.provenance(best))
        self._log({'kind': 'result', 'interrupted': self.interrupted,
                   'best': None if best is None else dict(best.record(), **best.summary()),
                   'genome_written': None if self.genome_written is None else str(self.genome_written),
                   'replaced': None if self.decision is None else self.decision['replaced'],
                   'seconds': round(time.perf_counter() - self.progress.created, 1), 'finished': _now()})
        self._log_file.close()
        return best

    def lead(self, best=None):
        """(the best's lead over the runner-up, whether it exceeds the larger of their spreads),
        or (None, None) without a runner-up."""
        best, runner = best or self.best, self.runner_up
        if runner is None or best is None or runner.score is None:
            return None, None
        lead = abs(runner.score - best.score)
        spreads = [s for s in (best.spread, runner.spread) if s is not None]
        return lead, (lead > max(spreads)) if spreads else None

    def provenance(self, best):
        primordial, runner = self.primordial, self.runner_up
        lead, clear = self.lead(best)
        return {
            'fitness': self.fitness, 'score': best.score, 'spread': best.spread, 'scores': best.scores,
            'seeds': best.seeds,
            'components': {k: v for k, v in best.components.items() if k != 'samples'},
            'generation': best.generation, 'index': best.index, 'organism_seed': best.seed,
            'space': self.space.name, 'budget': self.budget, 'flops': best.flops,
            'seed': self.seed, 'population': self.population, 'generations': self.generations,
            'completed': not self.interrupted, 'engine': self.engine_name,
            'data': self.data_path,
            'primordial_score': primordial.score if primordial else None,
            'primordial_spread': primordial.spread if primordial else None,
            'final_seeds': self.final_seeds() if self.finalists else None,
            'incumbent_score': self.incumbent.score if self.incumbent else None,
            'incumbent_spread': self.incumbent.spread if self.incumbent else None,
            'replaced_incumbent': None if self.decision is None else self.decision['replaced'],
            'runner_up': runner.summary() if runner else None,
            'lead': lead, 'lead_exceeds_spread': clear,
            'log': str(self.log_path), **(self.origin or {}),
        }


def _uncropped(space, docs):
    """The space with block_size at least the positions of the longest document (up to its
    top): a model that crops documents would be trained and scored on fewer tokens than the
    others, its held-out loss not comparable with theirs."""
    r = space.ranges.get('block_size')
    if r is None:
        return space
    longest = max(len(doc) + 1 for doc in docs)  # one token a character, BOS at each end
    return space.narrowed(block_size=(min(max(r.low, longest), r.high), r.high))


def _merged(scorings):
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


def _describe_size(genome):
    from ..console import describe_genes
    return describe_genes(dict(genome.arch(), batch_size=genome.batch_size))


def _now():
    return datetime.now(timezone.utc).isoformat(timespec='seconds')


def _finite(obj):
    """JSON has no inf/nan: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


# --- the `microgpt evolve` job ------------------------------------------------------------------

def interrupted_genome_path(out):
    """Where an interrupted search writes its best so far: beside out, never over it."""
    out = Path(out)
    return out.with_name(f"{out.stem}.interrupted{out.suffix or '.json'}")


def candidate_genome_path(out):
    """Where a finished search writes a winner that does not beat the incumbent at out."""
    out = Path(out)
    return out.with_name(f"{out.stem}.candidate{out.suffix or '.json'}")


def read_incumbent(out):
    """The genome at `out` before the search, or None if there is no file; a file there that
    is not a genome that can make a run is one line now, before any work."""
    if not Path(out).is_file():
        return None
    try:
        return load_genome(out).genome
    except MicrogptError as e:
        raise MicrogptError(f"{e}; the search would compare its winner with the genome at --out {out}: "
                            f"fix or move that file, or choose another --out") from None


def evolve_job(console, fitness, population, generations, seed, workers, cluster, data, out, command=None,
               space=genes.DEFAULT_SPACE, budget=None, replace=False, retrain_incumbent=False):
    """`microgpt evolve`: a plan line, a progress line per training (stderr), one line per
    generation and the final's verdicts on stdout; the best genome written to out when it
    beats the genome there (else beside it; if interrupted, beside it too), every organism in
    a log under experiments/."""
    from ..console import (baseline_line, best_line, decision_line, format_duration, generation_line, judged_line,
                           lead_line, plan_line, stagnation_line, training_line, voice_searching)
    from ..data import load_dataset
    from ..fileio import check_output_dir, check_output_path
    from ..provenance import provenance
    from .fitness import describe_score
    from .judge import WEIGHTS as AESTHETIC_WEIGHTS
    check_evolution_args(fitness, population, generations, workers, space, budget)
    for path in (out, interrupted_genome_path(out), candidate_genome_path(out)):
        check_output_path(path, 'genome file')
    check_output_dir(DEFAULT_LOG_DIR, 'log folder')
    read_incumbent(out)  # a file at --out that is no genome: one line now, before the data is read
    dataset = load_dataset(data, echo=console.info)

    def name_of(organism):
        if organism.origin == 'incumbent':
            return f"incumbent {out}"
        if organism.origin == 'primordial':
            return "baseline primordial"
        return f"organism {organism.generation}.{organism.index}"

    def on_training(done):
        organism = done.organism
        what = name_of(organism) + (f", seed {evolution.final_seeds().index(organism.seed) + 1} of {FINAL_SCORINGS}"
                                    if done.stage == 'final' else '')
        console.status(training_line(done, what, describe_score(fitness, organism.own_score)))

    def on_generation(summary):
        console.out(generation_line(summary, generations))

    def on_baseline(organism):
        label = f"incumbent {out}" if organism.origin == 'incumbent' else organism.origin
        reused = evolution.baseline_reuse.get(organism.origin)
        if reused:
            console.info(f"{label}: {len(reused)} of {FINAL_SCORINGS} scorings reused from "
                         f"{', '.join(sorted(set(reused)))} (the same split, settings, seeds and arithmetic; "
                         f"--retrain-incumbent trains them)")
        console.out(baseline_line(organism, describe_score(fitness, organism.score, organism.spread), label))

    def on_stagnation(generation, stale, immigrants):
        console.out(stagnation_line(stale, immigrants))

    evolution = Evolution(dataset.docs, fitness=fitness, population=population, generations=generations,
                          seed=seed, workers=workers, cluster=cluster, out=out, space=space, budget=budget,
                          replace=replace, reuse_incumbent=not retrain_incumbent,
                          origin=provenance(command, dataset.sha256, 'numpy'),
                          data_path=str(dataset.path), on_training=on_training, on_generation=on_generation,
                          on_baseline=on_baseline, on_stagnation=on_stagnation,
                          on_retry=lambda task, attempt: console.info(
                              f"a worker process died running {task.name}: running it again on a fresh worker"))
    console.info(voice_searching(population, generations, fitness, evolution.space.name, evolution.budget))
    console.info(f"({len(evolution.train_docs)} training, {len(evolution.val_docs)} validation documents; "
                 f"seed {seed}, " + (f"cluster {cluster})" if cluster else f"workers: {workers or default_workers()})"))
    evolution.on_plan = lambda plan: console.info(plan_line(plan, evolution.space.name,
                                                            {'incumbent': f"incumbent {out}"}))
    t0 = time.perf_counter()
    try:
        best = evolution.run()
    except KeyboardInterrupt:
        best = evolution.best
        if evolution.genome_written:
            console.info(f"interrupted: the best so far ({describe_score(fitness, best.score, best.spread)}) is in "
                         f"{evolution.genome_written}, {out} is untouched; adopt it with "
                         f"`mv {evolution.genome_written} {out}`; log {evolution.log_path}")
        else:
            console.info(f"interrupted before any organism finished: nothing written; log {evolution.log_path}")
        raise
    if best is None or best.score is None:
        raise MicrogptError(f"every organism failed (see {evolution.log_path}); no genome written")
    console.out(best_line(best, describe_score(fitness, best.score, best.spread)))
    lead, clear = evolution.lead(best)
    if lead is not None:
        console.out(lead_line(lead, clear, evolution.runner_up))
    if fitness == 'aesthetic':
        console.out(judged_line(best.components, AESTHETIC_WEIGHTS))
    console.out(decision_line(evolution.decision, lambda score, spread: describe_score(fitness, score, spread)))
    seconds = time.perf_counter() - t0
    console.info(f"evolved in {format_duration(seconds)} of wall time ({seconds:.0f} s; "
                 f"{evolution.cpu_seconds:.0f} CPU seconds of training); genome written to "
                 f"{evolution.genome_written}; log {evolution.log_path}")
    return best
