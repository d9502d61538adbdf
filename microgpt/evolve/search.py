"""The genetic search over genomes: selection, crossover, mutation, immigrants, elitism.

Determinism: the GA's own random stream (`random.Random(seed)`) runs only here in the
parent, and each organism's training seed is derived from (run seed, generation, index),
so the result is the same whatever the worker count or the order organisms finish in.
"""
import hashlib
import json
import math
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
import random

from ..data import split_docs
from ..errors import MicrogptError, require_positive
from ..trials.executor import default_workers, make_executor
from .fitness import check_fitness_kind, cost, evaluate_organism
from . import genome as genome_module
from .genome import PRIMORDIAL, save_genome

TOURNAMENT_SIZE = 3
IMMIGRANTS = 2
ELITES = 1
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

    @property
    def score(self):
        return None if self.result is None else self.result['score']

    @property
    def cost(self):
        return cost(self.fitness, self.score)

    def record(self):
        r = self.result
        return {'kind': 'organism', 'generation': self.generation, 'index': self.index,
                'origin': self.origin, 'seed': self.seed, 'genes': self.genome.genes(),
                'fitness': self.fitness, 'score': r['score'], 'components': r['components'],
                'num_params': r['num_params'], 'error': r['error'], 'seconds': round(r['seconds'], 3)}


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
    data_sha256: str = None
    data_path: str = None
    on_organism: object = None
    on_generation: object = None
    on_baseline: object = None
    evaluated: list = field(default_factory=list)
    primordial: Organism = None
    log_path: Path = None
    interrupted: bool = False

    def __post_init__(self):
        check_evolution_args(self.fitness, self.population, self.generations, self.workers)
        self.space = self.space or genome_module.GENE_SPACE
        self.train_docs, self.val_docs = split_docs(self.docs, self.seed)
        if not self.train_docs or not self.val_docs:
            raise MicrogptError("evolution needs at least 2 documents (a training and a validation split)")
        self.rng = random.Random(self.seed)

    @property
    def best(self):
        """The best organism evaluated so far (the earliest among equals), or None."""
        scored = [o for o in self.evaluated if o.result is not None]
        return min(scored, key=lambda o: o.cost) if scored else None

    def run(self):
        """Evolve; returns the best organism. However the run ends (done, Ctrl-C, an error),
        the best organism so far is written to `out` and the log is closed."""
        executor = make_executor(self.workers, cluster=self.cluster)
        self._open_log()
        completed = False
        try:
            population = self._first_generation()
            for generation in range(1, self.generations + 1):
                if generation > 1:
                    population = self._next_generation(population, generation)
                extra = [self._primordial()] if generation == 1 and self.baseline else []
                self._evaluate(population, extra, executor)
                self._summarize(population, generation)
            completed = True
        finally:
            self.interrupted = not completed
            executor.shutdown(wait=completed, cancel_futures=not completed)
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
        """The elite carried over unchanged (its fitness too), random immigrants, and
        children of tournament-selected parents, crossed over and mutated."""
        elite = min(population, key=lambda o: (o.cost, o.index))
        carried = Organism(elite.genome, elite.generation, elite.index, elite.seed, 'elite',
                           self.fitness, elite.result)
        nxt = [carried]
        immigrants = min(IMMIGRANTS, self.population - ELITES)
        for _ in range(immigrants):
            nxt.append(self._organism(self.space.random_genome(self.rng), generation, len(nxt), 'immigrant'))
        while len(nxt) < self.population:
            mother, father = self._tournament(population), self._tournament(population)
            child = self.space.mutate(self.space.crossover(mother.genome, father.genome, self.rng), self.rng)
            nxt.append(self._organism(child, generation, len(nxt), 'child'))
        return nxt

    # --- evaluating -------------------------------------------------------------------------

    def _evaluate(self, population, extra, executor):
        """Train every new organism of the generation in parallel; the biggest first, so the
        workers finish together."""
        todo = [o for o in population if o.result is None] + extra
        todo.sort(key=lambda o: -o.genome.num_steps * _size(o.genome))
        pending = {}
        progress = {'done': 0, 'total': len(todo) - len(extra)}
        for organism in todo:
            future = executor.submit(evaluate_organism, organism.genome.genes(), organism.seed,
                                     self.train_docs, self.val_docs, self.fitness, self.engine_name)
            if future.done():  # run inline: record it now, before the next one starts
                self._record(organism, future, progress)
            else:
                pending[future] = organism
        for future in as_completed(pending):
            self._record(pending[future], future, progress)
        # completion order differs between runs; the record of evaluations does not
        self.evaluated.sort(key=lambda o: (o.generation, o.index))

    def _record(self, organism, future, progress):
        try:
            organism.result = future.result()
        except Exception as e:  # noqa: BLE001 - e.g. a worker process died
            organism.result = {'score': None, 'components': {}, 'num_params': None,
                               'error': f"{type(e).__name__}: {e}", 'seconds': 0.0}
        self._log(organism.record())
        if organism.origin == 'primordial':
            if self.on_baseline:
                self.on_baseline(organism)
            return
        self.evaluated.append(organism)
        progress['done'] += 1
        if self.on_organism:
            self.on_organism(organism, progress['done'], progress['total'])

    def _summarize(self, population, generation):
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
        self._log({'kind': 'run', 'fitness': self.fitness, 'population': self.population,
                   'generations': self.generations, 'seed': self.seed,
                   'workers': self.workers or (None if self.cluster else default_workers()), 'cluster': self.cluster,
                   'engine': self.engine_name, 'data': self.data_path, 'data_sha256': self.data_sha256,
                   'train_docs': len(self.train_docs), 'val_docs': len(self.val_docs),
                   'ranges': {k: [r.low, r.high] for k, r in self.space.ranges.items()},
                   'started': _now()})

    def _log(self, record):
        # one line per record, flushed at once: an interrupted run keeps what it did
        self._log_file.write(json.dumps(_finite(record)) + '\n')
        self._log_file.flush()

    def _finish(self):
        best = self.best
        if best is not None and math.isfinite(best.cost):
            save_genome(self.out, best.genome, self.provenance(best))
        self._log({'kind': 'result', 'interrupted': self.interrupted,
                   'best': None if best is None else best.record(),
                   'genome_written': str(self.out) if best is not None and math.isfinite(best.cost) else None,
                   'finished': _now()})
        self._log_file.close()
        return best

    def provenance(self, best):
        return {
            'fitness': self.fitness, 'score': best.score,
            'components': {k: v for k, v in best.result['components'].items() if k != 'samples'},
            'generation': best.generation, 'index': best.index, 'organism_seed': best.seed,
            'seed': self.seed, 'population': self.population, 'generations': self.generations,
            'completed': not self.interrupted, 'engine': self.engine_name,
            'data': self.data_path, 'data_sha256': self.data_sha256,
            'primordial_score': self.primordial.score if self.primordial and self.primordial.result else None,
            'log': str(self.log_path), 'created': _now(),
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
