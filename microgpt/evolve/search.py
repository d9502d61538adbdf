"""The genetic search over genomes: selection, crossover, mutation, immigrants and elitism,
then the final and the decision; `Evolution.events()` yields what happens (evolve.events). Each
training's seed derives from (run seed, generation, index): the result is the same whatever the
workers or the order organisms finish in."""
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import genes
from ..data import Tokenizer, split_docs
from ..errors import MicrogptError
from ..training.genome import save_genome
from ..trials.executor import Task, default_workers, make_executor, run_tasks, stop
from ..trials.runner import Trial, run_trial
from .budget import Progress, StepCosts, check_evolution_args, check_memory, slowest_first, uncropped
from .decision import (BASELINE_GENERATION, FINAL_SCORINGS, FINALISTS, baselines_of, beside, decide,
                       final_scorings, final_seeds, lead_over, read_incumbent)
from .events import BaselineScored, Decision, FinalResult, GenerationSummary, PlanMade, Stagnation, WorkerRetried
from .fitness import aesthetic_measure, cost, sampling_seeds
from .genes import DEFAULT_BUDGET, DEFAULT_GENERATIONS, DEFAULT_POPULATION
from .incumbent import final_record, recorded_scorings, split_digest
from .log import EvolveLogWriter, now
from .organism import Organism, merged, organism_seed


TOURNAMENT_SIZE = 3
IMMIGRANTS = 2
ELITES = 1
# A search whose best has not improved for STAGNATION generations says so and lets in more
# immigrants (half the population) until it improves again.
STAGNATION = 3
DEFAULT_LOG_DIR = 'experiments'


@dataclass
class Evolution:
    """One evolutionary run: `events()` evolves, yielding what happens; `run()` evolves quietly
    and returns the best organism. However it ends (done, Ctrl-C, an error), the best so far is
    written (to `out`, or beside it: evolve.decision) and the log is finished."""
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
    reuse_incumbent: bool = True  # the incumbent's scorings its genome file's record holds are reused
    origin: dict = None  # provenance of the run (see provenance.py)
    data_path: str = None
    # what the run finds (read them after it)
    evaluated: list = field(default_factory=list, init=False)  # every evolved organism's scorings
    baselines: list = field(default_factory=list, init=False)  # the baselines, scored in the final
    finalists: list = field(default=None, init=False)
    incumbent: Organism = field(default=None, init=False)  # the genome at `out` before the search, scored
    decision: dict = field(default=None, init=False)  # whether the winner replaced the incumbent
    baseline_reuse: dict = field(default_factory=dict, init=False)  # {origin: [the file of each scoring reused]}
    incumbent_reuse: str = field(default=None, init=False)  # why the incumbent's scorings are reused or not
    _final_groups: dict = field(default_factory=dict, init=False)  # the final's scorings of each, by who was scored
    cpu_seconds: float = field(default=0.0, init=False)  # of every training, summed
    log_path: Path = field(default=None, init=False)
    genome_written: Path = field(default=None, init=False)
    interrupted: bool = field(default=False, init=False)

    def __post_init__(self):
        space = check_evolution_args(self.fitness, self.population, self.generations, self.workers, self.space,
                                     self.budget, self.cluster)
        self.train_docs, self.val_docs = split_docs(self.docs, self.seed)
        if not self.train_docs or not self.val_docs:
            raise MicrogptError("evolution needs at least 2 documents (a training and a validation split)")
        self.vocab_size = Tokenizer.from_docs(self.train_docs).vocab_size
        self.split_sha256 = split_digest(self.train_docs, self.val_docs)
        if space.budget_steps:
            self.budget = DEFAULT_BUDGET if self.budget is None else self.budget
        self.costs = StepCosts(self.train_docs, self.vocab_size, self.budget)
        if space.budget_steps:
            space = uncropped(space.with_budget(self.costs.budget_steps), self.docs)
            self.costs.check(space)
            if not self.cluster:  # the cluster's workers' memory is not ours to read
                check_memory(space, self.engine_name, self.vocab_size, self.workers or default_workers())
        self.space = space
        self.rng = random.Random(self.seed)
        self.immigrants, self.stale, self._best_cost = IMMIGRANTS, 0, math.inf
        self.contenders = None  # the organisms the best is chosen from: the last generation, then the finalists
        self.incumbent_file = read_incumbent(self.out)  # before anything is written
        self.incumbent_genome = self.incumbent_file.genome if self.incumbent_file else None
        self.baseline_genomes = baselines_of(self.incumbent_genome, self.baseline)  # [(origin, genome)]
        self.progress = Progress(self.costs, self.val_docs, self.engine_name, self.fitness, self.population,
                                 self.generations, None if self.cluster else (self.workers or default_workers()))

    @property
    def primordial(self):
        return next((o for o in self.baselines if o.origin == 'primordial'), None)

    def final_seeds(self):
        return final_seeds(self.seed, self.generations)

    @property
    def best(self):
        """The best organism so far (the earliest born among equals), or None: the best finalist,
        else of the last finished generation by its latest mean, else of those evaluated."""
        latest = {(o.generation, o.index): o for o in self.contenders or self.evaluated if o.result is not None}
        scored = [latest[born] for born in sorted(latest)]
        return min(scored, key=lambda o: o.cost) if scored else None

    @property
    def runner_up(self):
        pool = sorted((o for o in (self.contenders or []) if o.score is not None and o is not self.best),
                      key=lambda o: (o.cost, o.generation, o.index))
        return pool[0] if pool else None

    def run(self):
        """Evolve without telling anything; returns the best organism."""
        for _ in self.events():
            pass
        return self.best

    def events(self):
        """Evolve, yielding each event as it happens; workers are stopped, not waited for, when
        the run does not complete."""
        executor = make_executor(self.workers, cluster=self.cluster)
        try:
            self._log = EvolveLogWriter(self.log_dir, self.fitness, self.seed)
            self.log_path = self._log.path
            self._log.write(self._run_record())
        except BaseException:
            stop(executor)
            raise
        completed = False
        try:
            population = self._first_generation()
            yield PlanMade(self._plan(population))
            for generation in range(1, self.generations + 1):
                if generation > 1:
                    population = self._next_generation(population, generation)
                yield from self._evaluate(population, executor)
                yield self._summarize(population, generation)
                yield from self._watch_stagnation(generation)
            yield from self._final(population, executor)
            completed = True
        finally:
            self.interrupted = not completed
            if completed:
                executor.shutdown()
            else:
                stop(executor)
            self._finish()
        lead, clear = lead_over(self.best, self.runner_up)
        yield FinalResult(self.best, self.runner_up, lead, clear)
        if self.decision is not None:
            yield Decision(self.decision)

    def _plan(self, population):
        """The plan of the search (budget.Progress), logged, counting the incumbent's recorded
        scorings the final reuses."""
        self._recorded, self.incumbent_reuse = {}, None
        if self.reuse_incumbent and not self.cluster and 'incumbent' in dict(self.baseline_genomes):
            seeds = self.final_seeds()
            self._recorded, self.incumbent_reuse = recorded_scorings(
                self.incumbent_file, self.split_sha256, seeds, self.engine_name, self.fitness,
                {seed: sampling_seeds(self.seed, self.generations + 1, seed) for seed in seeds})
        found = [str(path) for _, path in self._recorded.values()]
        plan = self.progress.plan(population, self.baseline_genomes, {'incumbent': found} if found else {},
                                  self.budget)
        self._log.write(dict(plan, kind='plan'))
        return plan

    def _organism(self, genome, generation, index, origin, parents=(), mutated=()):
        return Organism(genome, generation, index, organism_seed(self.seed, generation, index), origin,
                        self.fitness, parents=[list(p) for p in parents], mutated=list(mutated),
                        scored_in=generation, flops=genome.num_steps * self.costs.step_flops(genome))

    def _first_generation(self):
        return [self._organism(self.space.random_genome(self.rng), 1, i, 'random')
                for i in range(self.population)]

    def _tournament(self, population):
        contestants = self.rng.sample(population, min(TOURNAMENT_SIZE, len(population)))
        return min(contestants, key=lambda o: (o.cost, o.index))

    def _next_generation(self, population, generation):
        """The elite trained again on a fresh seed (a lucky draw cannot hold the crown), immigrants,
        and children of tournament winners, crossed over and mutated; no two share a genome."""
        elite = min(population, key=lambda o: (o.cost, o.index))
        nxt = [elite.rescored('elite', organism_seed(self.seed, generation, 0), generation)]
        genomes = {elite.genome}

        def add(genome, origin, parents=(), mutated=()):
            genomes.add(genome)
            nxt.append(self._organism(genome, generation, len(nxt), origin, parents, mutated))

        for _ in range(min(self.immigrants, self.population - ELITES)):
            for _ in range(51):  # a tiny gene space may run out of new genomes: then the last draw stands
                immigrant = self.space.random_genome(self.rng)
                if immigrant not in genomes:
                    break
            add(immigrant, 'immigrant')
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

    def _watch_stagnation(self, generation):
        """Count generations without a better best; at STAGNATION, say so and raise immigration."""
        best = min(self.contenders, key=lambda o: o.cost)
        if best.cost < self._best_cost:
            self._best_cost, self.stale, self.immigrants = best.cost, 0, IMMIGRANTS
            return
        self.stale += 1
        if self.stale >= STAGNATION and generation < self.generations:
            self.immigrants = max(IMMIGRANTS, self.population // 2)
            self._log.write({'kind': 'stagnation', 'generation': generation, 'stale': self.stale,
                             'immigrants': self.immigrants})
            yield Stagnation(generation, self.stale, self.immigrants)

    def _evaluate(self, todo, executor):
        """Train the organisms in parallel, the slowest first; yields a TrainingDone after each (a
        WorkerRetried before, if its worker died)."""
        todo = slowest_first(todo)
        if todo:
            self.progress.submitted(todo, todo[0].scored_in)
        retried = []
        for outcome in run_tasks(executor, [self._task(o) for o in todo],
                                 on_retry=lambda task, attempt: retried.append(WorkerRetried(task.name, attempt))):
            yield from retried
            retried.clear()
            yield self._record(outcome)
        yield from retried
        # completion order differs between runs; the record of evaluations does not
        self.evaluated.sort(key=lambda o: (o.scored_in, o.generation, o.index, len(o.scores)))

    def _task(self, organism):
        aesthetic = self.fitness == 'aesthetic'  # fresh samples at every scoring
        options = {'seeds': sampling_seeds(self.seed, organism.scored_in, organism.seed)} if aesthetic else None
        trial = Trial(organism.genome, organism.seed, self.engine_name)
        return Task(organism, run_trial, (trial, self.train_docs, self.val_docs,
                                          aesthetic_measure if aesthetic else None, options),
                    name=f"organism {organism.index} of generation {organism.generation}")

    def _record(self, outcome):
        organism = outcome.key
        failed = {'num_params': None, 'error': outcome.error, 'seconds': 0.0}  # e.g. its worker died twice
        organism.result = failed if outcome.failed else outcome.result
        self.cpu_seconds += organism.result.get('cpu_seconds') or 0.0
        record = organism.record()
        if outcome.attempts > 1:
            record['attempts'] = outcome.attempts
        self._log.write(record)
        final = organism.scored_in == self.generations + 1
        done = self.progress.finished(organism, self.final_seeds().index(organism.seed) + 1 if final else None)
        if organism.generation != BASELINE_GENERATION:
            self.evaluated.append(organism)
        return done

    def _summarize(self, population, generation):
        self.contenders = list(population)
        best = min(population, key=lambda o: (o.cost, o.index))
        scores = [o.score for o in population if o.score is not None]
        failed = len(population) - len(scores)
        summary = GenerationSummary(generation, best, sum(scores) / len(scores) if scores else None,
                                    None if failed else max(scores, key=lambda s: cost(self.fitness, s)),
                                    failed, len({o.genome.architecture_key() for o in population}))
        self._log.write({'kind': 'generation', 'generation': generation, 'best': best.score,
                         'best_spread': best.spread, 'best_scorings': len(best.scores), 'best_born': best.born,
                         'mean': summary.mean, 'worst': summary.worst, 'failed': failed,
                         'diversity': summary.diversity, 'best_genes': best.genome.genes()})
        return summary

    def _final(self, population, executor):
        """The finalists and baselines trained on the final's seeds, scored by those alone; yields
        the trainings, then each baseline scored."""
        final, seeds = self.generations + 1, self.final_seeds()
        ranked = sorted((o for o in population if o.score is not None), key=lambda o: (o.cost, o.index))
        finalists = [final_scorings(o, 'confirmation', seeds, final) for o in ranked[:FINALISTS]]
        baselines = [final_scorings(self._organism(genome, BASELINE_GENERATION, b, origin), origin, seeds, final)
                     for b, (origin, genome) in enumerate(self.baseline_genomes)]
        for organism in (o for group in baselines for o in group):
            if organism.origin == 'incumbent' and organism.seed in self._recorded:
                organism.result, path = self._recorded[organism.seed]
                organism.reused_from = str(path)
                self._log.write(organism.record())
        todo = [o for group in finalists + baselines for o in group if o.reused_from is None]
        self.progress.total = self.progress.done + len(todo)
        yield from self._evaluate(todo, executor)
        self.finalists = [merged(group) for group in finalists]
        self._final_groups = {(g[0].generation, g[0].index, g[0].origin): g for g in finalists + baselines}
        self.contenders = self.finalists
        self._log.write({'kind': 'confirmation', 'seeds': seeds, 'organisms': [o.summary() for o in self.finalists]})
        for group in baselines:
            scored = merged(group)
            self.baseline_reuse[scored.origin] = [o.reused_from for o in group if o.reused_from]
            self.baselines.append(scored)
            self._log.write({'kind': 'baseline', **scored.summary(), 'origin': scored.origin,
                             'reused_from': self.baseline_reuse[scored.origin]})
            yield BaselineScored(scored, self.baseline_reuse[scored.origin])
        if self.incumbent_genome is not None:
            self.incumbent = next(o for o in self.baselines if o.genome == self.incumbent_genome)

    def _run_record(self):
        return {'kind': 'run', 'provenance': self.origin, 'fitness': self.fitness, 'population': self.population,
                'generations': self.generations, 'seed': self.seed,
                'workers': self.workers or (None if self.cluster else default_workers()), 'cluster': self.cluster,
                'engine': self.engine_name, 'data': self.data_path,
                'train_docs': len(self.train_docs), 'val_docs': len(self.val_docs),
                'split_sha256': self.split_sha256,
                'space': self.space.name, 'budget': self.budget, 'genes': list(self.space.genes),
                'ranges': {k: list(getattr(r, 'values', (r.low, r.high))) for k, r in self.space.ranges.items()},
                'finalists': FINALISTS, 'final_scorings': FINAL_SCORINGS, 'started': now()}

    def _finish(self):
        """Write the best genome where the decision says (beside `out` when interrupted) and log
        the result; a write that fails (a full disk) is logged, then raised."""
        best, failure = self.best, None
        if best is not None and math.isfinite(best.cost):
            if self.interrupted:
                self.genome_written = beside(self.out, 'interrupted')
            else:
                self.decision = decide(self.fitness, best, self.incumbent, self.out, self.replace,
                                       self.baseline_reuse.get('incumbent', []))
                self.genome_written = Path(self.decision['genome_written'])
            try:
                save_genome(self.genome_written, best.genome, self.provenance(best), self._record_of(best))
            except MicrogptError as error:  # a full disk: the log records that nothing was written, and why
                failure, self.genome_written = error, None
                self.decision = self.decision and dict(self.decision, genome_written=None, replaced=False,
                                                       write_error=str(error))
        try:
            if self.decision is not None:
                self._log.write(dict(self.decision, kind='decision'))
            self._log.write({'kind': 'result', 'interrupted': self.interrupted,
                             'best': None if best is None else dict(best.record(), **best.summary()),
                             'genome_written': None if self.genome_written is None else str(self.genome_written),
                             **({} if failure is None else {'write_error': str(failure)}),
                             'replaced': None if self.decision is None else self.decision['replaced'],
                             'seconds': round(time.perf_counter() - self.progress.created, 1), 'finished': now()})
        except MicrogptError as log_failure:
            if failure is None:
                raise
            raise MicrogptError(f"{failure}; no genome written, and {log_failure}") from None
        if failure is not None:
            raise MicrogptError(f"{failure}; no genome written: the best organism's genes are in the log "
                                f"{self.log_path}") from None

    def _record_of(self, organism):
        """The record a genome file keeps of the final's scorings of `organism`, or None."""
        group = self._final_groups.get((organism.generation, organism.index, organism.origin))
        if self.interrupted or not group or any(o.result is None or o.result.get('error') or o.reused_from
                                                for o in group):
            return None
        return final_record(group[0].genome, [(o.seed, o.result) for o in group], self.fitness, self.engine_name,
                            self.split_sha256, self.seed, (self.origin or {}).get('data_sha256'),
                            log=str(self.log_path))

    def provenance(self, best):
        """What genome.json records of the search that made it."""
        runner_up, primordial, incumbent = self.runner_up, self.primordial, self.incumbent
        lead, clear = lead_over(best, runner_up)
        return {
            'fitness': best.fitness, 'score': best.score, 'spread': best.spread, 'scores': best.scores,
            'seeds': best.seeds,
            'components': {k: v for k, v in best.components.items() if k != 'samples'},
            'generation': best.generation, 'index': best.index, 'organism_seed': best.seed,
            'space': self.space.name, 'budget': self.budget, 'flops': best.flops,
            'seed': self.seed, 'population': self.population, 'generations': self.generations,
            'completed': not self.interrupted, 'engine': self.engine_name, 'data': self.data_path,
            'primordial_score': primordial.score if primordial else None,
            'primordial_spread': primordial.spread if primordial else None,
            'final_seeds': self.final_seeds() if self.finalists else None,
            'incumbent_score': incumbent.score if incumbent else None,
            'incumbent_spread': incumbent.spread if incumbent else None,
            'replaced_incumbent': None if self.decision is None else self.decision['replaced'],
            'runner_up': runner_up.summary() if runner_up else None,
            'lead': lead, 'lead_exceeds_spread': clear,
            'log': str(self.log_path), **(self.origin or {}),
        }
