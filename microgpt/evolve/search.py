"""The genetic search over genomes: selection, crossover, mutation, immigrants, elitism.

Determinism: the GA's own random stream (`random.Random(seed)`) runs only here in the
parent, and each organism's training seed is derived from (run seed, generation, index),
so the result is the same whatever the worker count or the order organisms finish in.
"""
import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
import random

from ..data import split_docs
from ..errors import MicrogptError, require_positive
from ..trials.executor import Task, default_workers, make_executor, run_tasks, stop
from ..trials.runner import run_trial, trial_settings
from .fitness import aesthetic_measure, check_fitness_kind, cost, sampling_seeds, score_of
from . import genome as genome_module
from .genome import PRIMORDIAL, save_genome

TOURNAMENT_SIZE = 3
IMMIGRANTS = 2
ELITES = 1
CONFIRMED = 2  # aesthetic fitness: the finalists scored once more after the last generation
DEFAULT_LOG_DIR = 'experiments'
PRIMORDIAL_GENERATION = 0  # the baseline: generations of evolved organisms count from 1


def organism_seed(run_seed, generation, index):
    """A training seed that depends only on (run seed, generation, index)."""
    digest = hashlib.sha256(f"microgpt-organism:{run_seed}:{generation}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], 'big')


def check_evolution_args(fitness, population, generations, workers=None):
    """Raise MicrogptError now, before any data is read, if these cannot make a run."""
    check_fitness_kind(fitness)
    if population < 2:
        raise MicrogptError(f"population must be >= 2, got {population}")
    require_positive('generations', generations)
    require_positive('workers', workers)


@dataclass
class Organism:
    genome: object
    generation: int
    index: int
    seed: int
    origin: str  # 'random', 'immigrant', 'child', 'elite' or 'primordial'
    fitness: str
    result: dict = None
    earlier_scores: list = field(default_factory=list)  # an elite's scores from earlier generations

    @property
    def score(self):
        """The fitness; for a re-scored elite, the mean over all its scorings."""
        latest = None if self.result is None else score_of(self.fitness, self.result)
        if latest is None or not self.earlier_scores:
            return latest
        scores = self.earlier_scores + [latest]
        return sum(scores) / len(scores)

    @property
    def components(self):
        """What the score is made of: losses, or the judge's components and samples."""
        r = self.result or {}
        if self.fitness == 'loss':
            return {'train_loss': r.get('train_loss'), 'val_loss': r.get('val_loss')}
        return dict(r.get('measured') or {}, train_loss=r.get('train_loss'), val_loss=r.get('val_loss'))

    @property
    def cost(self):
        return cost(self.fitness, self.score)

    def record(self):
        r = self.result
        return {'kind': 'organism', 'generation': self.generation, 'index': self.index,
                'origin': self.origin, 'seed': self.seed, 'genes': self.genome.genes(),
                'fitness': self.fitness, 'score': self.score, 'components': self.components,
                'num_params': r['num_params'], 'error': r['error'], 'seconds': round(r['seconds'], 3),
                'arithmetic': r.get('arithmetic'),
                **({'scorings': len(self.earlier_scores) + 1} if self.earlier_scores else {})}


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
                'mean': self.mean, 'worst': self.worst, 'failed': self.failed,
                'diversity': self.diversity, 'best_genes': self.best.genome.genes()}


@dataclass
class Evolution:
    """One evolutionary run. `run()` evolves; on Ctrl-C it writes the best organism found
    so far to `out` before letting the interrupt through.

    Each generation: the best organism carried over unchanged (elitism), IMMIGRANTS random
    newcomers, and children of two tournament winners (TOURNAMENT_SIZE), crossed over
    and mutated in 1-3 genes. Generation 1 is all random.

    Callbacks: on_organism(organism, done, total) after each evaluation of a generation,
    on_generation(GenerationSummary) after each generation, on_baseline(organism).
    """
    docs: list
    fitness: str = 'loss'
    population: int = 8
    generations: int = 10
    seed: int = 42
    workers: int = None
    cluster: str = None  # a Dask scheduler address (see executor.make_executor)
    out: str = 'genome.json'
    log_dir: str = DEFAULT_LOG_DIR
    engine_name: str = 'numpy'
    space: object = None  # the gene ranges searched; None: genome.GENE_SPACE
    baseline: bool = True  # also evaluate the primordial genome, for comparison
    origin: dict = None  # provenance of the run (see provenance.py)
    data_path: str = None
    on_organism: object = None
    on_generation: object = None
    on_baseline: object = None
    on_retry: object = None  # on_retry(task, attempt): a worker process died, its organism runs again
    evaluated: list = field(default_factory=list)
    primordial: Organism = None
    log_path: Path = None
    interrupted: bool = False
    genome_written: Path = None
    contenders: list = None  # aesthetic fitness: the organisms the best is chosen from

    def __post_init__(self):
        check_evolution_args(self.fitness, self.population, self.generations, self.workers)
        self.space = self.space or genome_module.GENE_SPACE
        self.train_docs, self.val_docs = split_docs(self.docs, self.seed)
        if not self.train_docs or not self.val_docs:
            raise MicrogptError("evolution needs at least 2 documents (a training and a validation split)")
        self.rng = random.Random(self.seed)

    @property
    def best(self):
        """The best organism so far (the earliest among equals), or None. Under the loss
        fitness, the best of all evaluated; under the aesthetic fitness, the best of the last
        finished generation (or of the confirmed finalists), each with its latest score, so an
        organism that was scored once and left behind cannot win on that one draw."""
        pool = self.contenders if self.fitness == 'aesthetic' and self.contenders else self.evaluated
        latest = {}
        for o in pool:
            if o.result is not None:
                latest[(o.generation, o.index)] = o
        scored = sorted(latest.values(), key=lambda o: (o.generation, o.index))
        return min(scored, key=lambda o: o.cost) if scored else None

    def run(self):
        """Evolve; returns the best organism. However the run ends (done, Ctrl-C, an error),
        the best organism so far is written (to `out`, or beside it if the run did not
        complete) and the log is closed; worker processes are stopped, not waited for."""
        executor = make_executor(self.workers, cluster=self.cluster)
        try:
            self._open_log()
        except BaseException:
            stop(executor)
            raise
        completed = False
        try:
            population = self._first_generation()
            for generation in range(1, self.generations + 1):
                if generation > 1:
                    population = self._next_generation(population, generation)
                extra = [self._primordial()] if generation == 1 and self.baseline else []
                self._evaluate(population, extra, executor, generation)
                self._summarize(population, generation)
            if self.fitness == 'aesthetic':
                self._confirm(population, executor)
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

    def _organism(self, genome, generation, index, origin):
        return Organism(genome, generation, index, organism_seed(self.seed, generation, index),
                        origin, self.fitness)

    def _first_generation(self):
        return [self._organism(self.space.random_genome(self.rng), 1, i, 'random')
                for i in range(self.population)]

    def _primordial(self):
        self.primordial = self._organism(PRIMORDIAL, PRIMORDIAL_GENERATION, 0, 'primordial')
        return self.primordial

    def _tournament(self, population):
        contestants = self.rng.sample(population, min(TOURNAMENT_SIZE, len(population)))
        return min(contestants, key=lambda o: (o.cost, o.index))

    def _next_generation(self, population, generation):
        """The elite carried over, random immigrants, and children of tournament-selected
        parents, crossed over and mutated; no two organisms share a genome.

        Under the loss fitness the elite keeps its score (training is deterministic); under
        the aesthetic fitness it is scored again on fresh samples, and its score becomes the
        mean of all its scorings, so a lucky draw cannot hold the crown."""
        elite = min(population, key=lambda o: (o.cost, o.index))
        rescore = self.fitness == 'aesthetic'
        carried = self._carry(elite, 'elite') if rescore else Organism(
            elite.genome, elite.generation, elite.index, elite.seed, 'elite', self.fitness, elite.result)
        nxt, genomes = [carried], {elite.genome}

        def add(genome, origin):
            genomes.add(genome)
            nxt.append(self._organism(genome, generation, len(nxt), origin))

        for _ in range(min(IMMIGRANTS, self.population - ELITES)):
            add(self._distinct(lambda: self.space.random_genome(self.rng), genomes), 'immigrant')
        while len(nxt) < self.population:
            mother, father = self._tournament(population), self._tournament(population)
            child = self.space.mutate(self.space.crossover(mother.genome, father.genome, self.rng), self.rng)
            add(self._distinct(lambda: self.space.mutate(child, self.rng), genomes, first=child), 'child')
        return nxt

    def _carry(self, organism, origin):
        """The same organism, to be scored again: its scores so far are kept, and its new
        score will be the mean of them all."""
        return Organism(organism.genome, organism.generation, organism.index, organism.seed, origin,
                        self.fitness, None, organism.earlier_scores + [score_of(self.fitness, organism.result)])

    def _confirm(self, population, executor):
        """After the last generation, the CONFIRMED best organisms are scored once more on
        fresh samples, so a newcomer of the last generation cannot win on one lucky draw."""
        ranked = sorted((o for o in population if o.score is not None), key=lambda o: (o.cost, o.index))
        finalists = [self._carry(o, 'confirmation') for o in ranked[:CONFIRMED]]
        self._evaluate(finalists, [], executor, self.generations + 1)
        self.contenders = finalists
        self._log({'kind': 'confirmation', 'organisms': [
            {'generation': o.generation, 'index': o.index, 'score': o.score} for o in finalists]})

    def _distinct(self, draw, taken, first=None, attempts=50):
        """A genome not in `taken`: `first` if it is new, else new draws (a child identical
        to an existing organism is mutated again). A tiny gene space may run out: then the
        last draw stands."""
        genome = first if first is not None else draw()
        for _ in range(attempts):
            if genome not in taken:
                break
            genome = draw()
        return genome

    # --- evaluating -------------------------------------------------------------------------

    def _evaluate(self, population, extra, executor, generation):
        """Train every organism of the generation that has no score yet in parallel; the
        biggest first, so the workers finish together."""
        todo = [o for o in population if o.result is None] + extra
        todo.sort(key=lambda o: -o.genome.num_steps * _size(o.genome))
        progress = {'done': 0, 'total': len(todo) - len(extra)}
        tasks = []
        for organism in todo:
            settings = trial_settings(organism.genome.arch(), organism.genome.num_steps,
                                      organism.genome.learning_rate, organism.seed, self.engine_name)
            measure, options = None, None
            if self.fitness == 'aesthetic':
                birth = organism.generation * 1000 + organism.index
                measure, options = aesthetic_measure, {'seeds': sampling_seeds(self.seed, generation, birth)}
            tasks.append(Task(organism, run_trial, (settings, self.train_docs, self.val_docs, measure, options),
                              name=f"organism {organism.index} of generation {organism.generation}"))
        # a worker process that dies costs at most its own organism (see run_tasks); an
        # inline run is recorded as soon as it is done, before the next one starts
        for outcome in run_tasks(executor, tasks, on_retry=self.on_retry):
            self._record(outcome.key, outcome, progress)
        # completion order differs between runs; the record of evaluations does not
        self.evaluated.sort(key=lambda o: (o.generation, o.index))

    def _record(self, organism, outcome, progress):
        if outcome.failed:  # e.g. its worker process died twice
            organism.result = {'num_params': None, 'error': outcome.error, 'seconds': 0.0}
        else:
            organism.result = outcome.result
        record = organism.record()
        if outcome.attempts > 1:
            record['attempts'] = outcome.attempts
        self._log(record)
        if organism.origin == 'primordial':
            if self.on_baseline:
                self.on_baseline(organism)
            return
        self.evaluated.append(organism)
        progress['done'] += 1
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
                   'ranges': {k: [r.low, r.high] for k, r in self.space.ranges.items()},
                   'started': _now()})

    def _log(self, record):
        # one line per record, flushed at once: an interrupted run keeps what it did
        try:
            self._log_file.write(json.dumps(_finite(record)) + '\n')
            self._log_file.flush()
        except OSError as e:
            raise MicrogptError(f"cannot write the evolution log {self.log_path}: {e.strerror or e}") from None

    def _finish(self):
        """Write the best genome: to `out` when the search completed; beside it when it was
        interrupted, so an existing genome is never replaced by a partial search."""
        best = self.best
        if best is not None and math.isfinite(best.cost):
            self.genome_written = Path(self.out) if not self.interrupted else interrupted_genome_path(self.out)
            save_genome(self.genome_written, best.genome, self.provenance(best))
        self._log({'kind': 'result', 'interrupted': self.interrupted,
                   'best': None if best is None else best.record(),
                   'genome_written': None if self.genome_written is None else str(self.genome_written),
                   'finished': _now()})
        self._log_file.close()
        return best

    def provenance(self, best):
        return {
            'fitness': self.fitness, 'score': best.score,
            'components': {k: v for k, v in best.components.items() if k != 'samples'},
            'generation': best.generation, 'index': best.index, 'organism_seed': best.seed,
            'seed': self.seed, 'population': self.population, 'generations': self.generations,
            'completed': not self.interrupted, 'engine': self.engine_name,
            'data': self.data_path,
            'primordial_score': self.primordial.score if self.primordial and self.primordial.result else None,
            'log': str(self.log_path), **(self.origin or {}),
        }


def _size(genome):
    return genome.n_layer * genome.ff_mult * genome.n_embd ** 2 * genome.block_size


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


def evolve_job(console, fitness, population, generations, seed, workers, cluster, data, out, command=None):
    """`microgpt evolve`: one line per generation on stdout, the best genome written to out
    (or, if interrupted, beside it), every organism in a log under experiments/."""
    import time
    from ..console import baseline_line, best_line, generation_line, judged_line, voice_searching
    from ..data import load_dataset
    from ..fileio import check_output_dir, check_output_path
    from ..provenance import provenance
    from .fitness import describe_score
    from .judge import WEIGHTS as AESTHETIC_WEIGHTS
    check_evolution_args(fitness, population, generations, workers)
    check_output_path(out, 'genome file')
    check_output_path(interrupted_genome_path(out), 'genome file')
    check_output_dir(DEFAULT_LOG_DIR, 'log folder')
    dataset = load_dataset(data, echo=console.info)

    def on_organism(organism, done, total):
        if console.in_place_err:
            console.err_progress(f"generation {organism.generation}/{generations}: "
                                 f"{done}/{total} organisms trained")

    def on_generation(summary):
        console.out(generation_line(summary, generations))

    def on_baseline(organism):
        console.out(baseline_line(organism.genome, describe_score(fitness, organism.score)))

    evolution = Evolution(dataset.docs, fitness=fitness, population=population, generations=generations,
                          seed=seed, workers=workers, cluster=cluster, out=out,
                          origin=provenance(command, dataset.sha256, 'numpy'), data_path=str(dataset.path),
                          on_organism=on_organism, on_generation=on_generation, on_baseline=on_baseline,
                          on_retry=lambda task, attempt: console.info(
                              f"a worker process died running {task.name}: running it again on a fresh worker"))
    console.info(voice_searching(population, generations, fitness))
    console.info(f"({len(evolution.train_docs)} training, {len(evolution.val_docs)} validation documents; "
                 f"seed {seed}, " + (f"cluster {cluster})" if cluster else f"workers: {workers or default_workers()})"))
    t0 = time.perf_counter()
    try:
        best = evolution.run()
    except KeyboardInterrupt:
        best = evolution.best
        if evolution.genome_written:
            console.info(f"interrupted: the best so far ({describe_score(fitness, best.score)}) is in "
                         f"{evolution.genome_written}, {out} is untouched; adopt it with "
                         f"`mv {evolution.genome_written} {out}`; log {evolution.log_path}")
        else:
            console.info(f"interrupted before any organism finished: nothing written; log {evolution.log_path}")
        raise
    if best is None or best.score is None:
        raise MicrogptError(f"every organism failed (see {evolution.log_path}); no genome written")
    console.out(best_line(best, describe_score(fitness, best.score)))
    if fitness == 'aesthetic':
        console.out(judged_line(best.components, AESTHETIC_WEIGHTS))
    console.info(f"evolved in {time.perf_counter() - t0:.1f}s; genome written to {out}; log {evolution.log_path}")
    return best
