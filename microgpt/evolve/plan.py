"""What a search will cost and how far it is: the plan (its trainings, their seconds estimated
from step times measured here before it starts) and, after each training, the time and an ETA."""
import math
import random
import time

from .events import TrainingDone

# Rough cost of a numpy step beyond its FLOPs (Python and numpy overhead), in FLOPs at the
# engine's batched speed: only orders the work so that the slowest organisms start first.
STEP_OVERHEAD_FLOPS = 2e6


def slowest_first(organisms):
    """The organisms in the order to start them, so that the workers finish together."""
    return sorted(organisms, key=lambda o: -o.genome.num_steps * (STEP_OVERHEAD_FLOPS + o.flops / o.genome.num_steps))


class Progress:
    """The cost model and the clock of one search: `plan` before the first training, then
    `submitted` for each batch of trainings and `finished` after each, which tells the ETA.
    `slots`: the worker slots (None on a cluster); `step_flops(genome)`: a step's FLOPs."""

    TIMED_STEPS = 3  # steps timed per genome (after one untimed)

    def __init__(self, train_docs, val_docs, engine_name, fitness, population, generations, finalists,
                 final_scorings, slots, step_flops):
        self.train_docs, self.val_docs, self.engine_name, self.fitness = train_docs, val_docs, engine_name, fitness
        self.population, self.generations, self.slots = population, generations, slots
        self.finalists, self.final_scorings = finalists, final_scorings
        self.step_flops = step_flops
        self.created = self.started = time.perf_counter()
        self.done, self.stage, self.total = 0, 0, None
        self.estimated_done, self.estimated_total = 0.0, None
        self.taken = 0.0  # seconds the trainings done took, each in its own process
        self._queued = {}
        self._per_step = {}  # (architecture, batch size) -> measured seconds a step
        self.cost_model = None  # (seconds a step, seconds a FLOP), fitted on the measured steps
        self.eval_seconds = 0.0

    def elapsed(self):
        return time.perf_counter() - self.started

    def plan(self, population, baselines, reused, budget):
        """The plan as the log records it: a few steps of every organism of generation 1 and of
        each baseline ([(origin, genome)]) timed, and the evaluation of one, every training of
        the search estimated from them. `reused`: {origin: [the file of each final scoring reused]}."""
        genomes = [o.genome for o in population] + [genome for _, genome in baselines]
        for genome in genomes:
            self._measure(genome)
        self.eval_seconds = self._time_evaluation(population[0].genome)
        self.cost_model = _fit_step_cost([(self.step_flops(g), self._per_step[_step_key(g)]) for g in genomes])
        organism_seconds = [self.estimate(o.genome) for o in population]
        baseline_seconds = {origin: self.estimate(genome) for origin, genome in baselines}
        trained = {origin: self.final_scorings - len(reused.get(origin, ())) for origin in baseline_seconds}
        self.mean_organism = math.fsum(organism_seconds) / len(organism_seconds)
        self.total = self.population * self.generations + self.finalists * self.final_scorings + sum(trained.values())
        self.final_estimate = (self.final_scorings * self.finalists * self.mean_organism
                               + math.fsum(trained[o] * seconds for o, seconds in baseline_seconds.items()))
        self.estimated_total = self.mean_organism * self.population * self.generations + self.final_estimate
        record = {
            'trainings': self.total, 'organisms': self.population, 'generations': self.generations,
            'budget': budget, 'finalists': self.finalists, 'final_scorings': self.final_scorings,
            'organism_seconds': organism_seconds, 'baseline_seconds': baseline_seconds,
            'baseline_steps': {origin: g.num_steps for origin, g in baselines},
            'baseline_reused': reused,
            'estimated_cpu_seconds': self.estimated_total, 'workers': self.slots,
            'estimated_seconds': None if self.slots is None else self.estimated_total / self.slots,
            'step_seconds': [min(self._per_step.values()), max(self._per_step.values())]}
        self.started = time.perf_counter()  # the search's clock starts with its first training
        return record

    def _measure(self, genome):
        key = _step_key(genome)
        if key not in self._per_step:
            from ..training.run import Run
            run = Run(self.train_docs, seed=0, arch=genome.arch(), engine_name=self.engine_name)
            self._per_step[key] = run.seconds_per_step(genome.train_config(), steps=self.TIMED_STEPS)

    def _time_evaluation(self, genome):
        """Seconds of measuring one trained organism: its held-out loss and, aesthetic, its
        samples (an untrained model's run longer: an upper bound)."""
        from ..training.run import Run
        from ..trials.runner import validation_loss
        run = Run(self.train_docs, seed=0, arch=genome.arch(), engine_name=self.engine_name)
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
            per_step = overhead + per_flop * self.step_flops(genome)
        return genome.num_steps * per_step + self.eval_seconds

    def submitted(self, todo, stage):
        """These trainings (of generation `stage`, or the final's) are under way."""
        self.stage = stage
        self._queued = {id(o): self.estimate(o.genome) for o in todo}

    def eta(self):
        """Seconds still to go: the estimate of what is left, scaled by how the trainings done so
        far compared with their estimates, shared by the workers (on a cluster, by the wall time)."""
        if self.estimated_done <= 0:
            return None
        if self.slots is None:
            return self.remaining() * self.elapsed() / self.estimated_done
        return self.remaining() * (self.taken / self.estimated_done) / self.slots

    def remaining(self):
        """Estimated seconds (on one core) of the trainings not yet done."""
        later = max(0, self.generations - self.stage) * self.population * self.mean_organism
        final = self.final_estimate if self.stage <= self.generations else 0.0
        return math.fsum(self._queued.values()) + later + final

    def finished(self, organism, final_seed=None):
        """One training is done: the TrainingDone its progress line tells."""
        self.done += 1
        elapsed, eta = self.elapsed(), None
        if self.estimated_total is not None:
            estimate = self._queued.pop(id(organism), 0.0)
            r = organism.result or {}
            if not r.get('error') and r.get('seconds'):
                self.estimated_done += estimate
                self.taken += r['seconds'] + (r.get('eval_seconds') or 0.0)
            eta = self.eta()
        final = organism.scored_in == self.generations + 1
        return TrainingDone(organism, 'final' if final else 'generation', organism.scored_in, self.generations,
                            self.done, self.total or self.done, elapsed, eta, final_seed)


def _step_key(genome):
    return genome.architecture_key(), genome.batch_size


def _fit_step_cost(points):
    """(seconds a step, seconds a FLOP) by least squares through (FLOPs a step, seconds a
    step); both >= 0 (else the seconds are taken as proportional to the FLOPs)."""
    flops, seconds = zip(*points)
    mean_x, mean_y = math.fsum(flops) / len(flops), math.fsum(seconds) / len(seconds)
    var = math.fsum((x - mean_x) ** 2 for x in flops)
    if var > 0:
        slope = math.fsum((x - mean_x) * (y - mean_y) for x, y in points) / var
        intercept = mean_y - slope * mean_x
        if slope >= 0 and intercept >= 0:
            return intercept, slope
    return 0.0, math.fsum(seconds) / max(math.fsum(flops), 1e-300)
