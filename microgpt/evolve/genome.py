"""A model's "DNA": the hyperparameters that evolution searches, and the genome.json file.

A genome is always valid (n_head divides n_embd, every gene inside its range): random
genomes are drawn valid, and mutation and crossover repair their children instead of
ever handing back an invalid one.
"""
import math
from dataclasses import dataclass, asdict, fields
from pathlib import Path

from ..console import describe_genes, describe_settings
from ..errors import MicrogptError
from ..fileio import atomic_write_json, read_json
from ..training import ARCH_DEFAULTS, ARCH_FIELDS, TRAIN_DEFAULTS

FORMAT = 'microgpt-genome'
VERSION = 1
DEFAULT_GENOME = 'genome.json'

# Genes carry the names of the fields they set: GPTConfig's and TrainConfig's.
ARCH_GENES = ARCH_FIELDS
LR_SIGNIFICANT_DIGITS = 4  # keeps genome.json readable; finer steps do not matter


@dataclass(frozen=True)
class Genome:
    n_embd: int
    n_head: int
    n_layer: int
    block_size: int
    ff_mult: int
    learning_rate: float
    num_steps: int

    def genes(self):
        return asdict(self)

    def arch(self):
        return {name: getattr(self, name) for name in ARCH_GENES}

    def architecture_key(self):
        return tuple(getattr(self, name) for name in ARCH_GENES)

    def describe(self):
        return describe_genes(self.genes())


GENE_NAMES = tuple(f.name for f in fields(Genome))

# The original microgpt.py's settings, as a genome: the configs' own defaults.
PRIMORDIAL = Genome(learning_rate=TRAIN_DEFAULTS.learning_rate, num_steps=TRAIN_DEFAULTS.num_steps,
                    **ARCH_DEFAULTS)


@dataclass(frozen=True)
class GeneRange:
    low: float
    high: float
    log: bool = False  # drawn uniformly in log space (learning rate)

    @property
    def is_int(self):
        return not self.log

    def contains(self, value):
        return self.low <= value <= self.high

    def describe(self):
        kind = 'a number' if self.log else 'a whole number'
        return f"{kind} in {self.low:g}..{self.high:g}"


GENE_RANGES = {
    'n_embd': GeneRange(8, 32),
    'n_head': GeneRange(1, 4),
    'n_layer': GeneRange(1, 4),
    'block_size': GeneRange(8, 24),
    'ff_mult': GeneRange(1, 4),
    'learning_rate': GeneRange(0.001, 0.05, log=True),
    'num_steps': GeneRange(100, 2000),
}

MUTATION_SCALE = 0.25  # a mutation's standard deviation, as a share of the gene's range


def round_lr(lr):
    return float(f"{lr:.{LR_SIGNIFICANT_DIGITS}g}")


class GeneSpace:
    """The ranges evolution searches, and the operators that stay inside them.

    Every operator takes the caller's `random.Random`, so a seeded run is reproducible.
    """

    def __init__(self, ranges=None, **overrides):
        self.ranges = dict(GENE_RANGES if ranges is None else ranges)
        for name, bounds in overrides.items():
            self.ranges[name] = bounds if isinstance(bounds, GeneRange) else GeneRange(*bounds)
        if set(self.ranges) != set(GENE_NAMES):
            raise MicrogptError(f"a gene space needs exactly the genes {', '.join(GENE_NAMES)}")
        if not self._valid_heads():
            raise MicrogptError("no n_head in range divides any n_embd in range")

    def _int_values(self, name):
        r = self.ranges[name]
        return range(int(r.low), int(r.high) + 1)

    def _valid_heads(self):
        return [h for h in self._int_values('n_head')
                if any(e % h == 0 for e in self._int_values('n_embd'))]

    def random_genome(self, rng):
        """Every gene uniform in its range (the learning rate log-uniform); n_head first,
        then n_embd among its multiples, so all head counts are equally likely."""
        genes = {name: self._random_gene(name, rng) for name in GENE_NAMES}
        genes['n_head'] = rng.choice(self._valid_heads())
        genes['n_embd'] = rng.choice([e for e in self._int_values('n_embd') if e % genes['n_head'] == 0])
        return Genome(**genes)

    def _random_gene(self, name, rng):
        r = self.ranges[name]
        if r.log:
            return round_lr(math.exp(rng.uniform(math.log(r.low), math.log(r.high))))
        return rng.randint(int(r.low), int(r.high))

    def mutate(self, genome, rng, min_genes=1, max_genes=3):
        """Change 1-3 genes by a Gaussian step (log-scale for the learning rate), then repair."""
        chosen = rng.sample(GENE_NAMES, rng.randint(min_genes, max_genes))
        genes = genome.genes()
        for name in chosen:
            genes[name] = self._mutate_gene(name, genes[name], rng)
        return self.repair(genes, keep=chosen)

    def _mutate_gene(self, name, value, rng):
        r = self.ranges[name]
        if r.log:
            low, high = math.log(r.low), math.log(r.high)
            for _ in range(100):  # a mutation always moves the gene
                moved = _reflect(math.log(value) + rng.gauss(0, MUTATION_SCALE * (high - low)), low, high)
                moved = round_lr(min(r.high, max(r.low, math.exp(moved))))
                if moved != value:
                    break
            return moved
        low, high = int(r.low), int(r.high)
        if low == high:
            return low
        step = round(rng.gauss(0, MUTATION_SCALE * (high - low)))
        if step == 0:  # a mutation always moves the gene
            step = rng.choice((-1, 1))
        moved = value + step
        if not low <= moved <= high:
            moved = value - step if low <= value - step <= high else min(high, max(low, moved))
        return moved

    def crossover(self, mother, father, rng):
        """Each gene from either parent with equal chance, then repair."""
        a, b = mother.genes(), father.genes()
        return self.repair({name: a[name] if rng.random() < 0.5 else b[name] for name in GENE_NAMES})

    def repair(self, genes, keep=()):
        """The nearest valid genome: genes clamped into range, then n_embd moved to the
        nearest multiple of n_head (or, if only n_embd was just chosen, n_head to the
        nearest divisor of n_embd). Deterministic: it draws no random numbers."""
        genes = dict(genes)
        for name in GENE_NAMES:
            r = self.ranges[name]
            value = min(r.high, max(r.low, genes[name]))
            genes[name] = round_lr(value) if r.log else int(round(value))
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
        return Genome(**genes)

    def check(self, genome):
        """The first problem with this genome as (gene, message), or None if it is a valid
        genome inside these ranges."""
        problem = check_genes(genome)
        if problem:
            return problem
        for name in GENE_NAMES:
            value, r = getattr(genome, name), self.ranges[name]
            if not r.contains(value):
                return name, f"must be {r.describe()}, got {value!r}"
        return None


def _reflect(x, low, high):
    """x mirrored back into [low, high] at whichever bound it passed."""
    if x > high:
        x = 2 * high - x
    if x < low:
        x = 2 * low - x
    return min(high, max(low, x))


GENE_SPACE = GeneSpace()


# --- genome.json ---------------------------------------------------------------------------

@dataclass
class GenomeFile:
    genome: Genome
    provenance: dict
    path: Path

    def describe(self):
        p = self.provenance
        origin = []
        if 'fitness' in p and p.get('score') is not None:
            origin.append(f"{p['fitness']} fitness {p['score']:.4f}")
        if 'generation' in p:
            origin.append(f"generation {p['generation']}")
        where = f" ({', '.join(origin)})" if origin else ''
        return f"genome {self.path}{where}: {self.genome.describe()}"


def save_genome(path, genome, provenance):
    atomic_write_json(path, {'format': FORMAT, 'version': VERSION, 'genes': genome.genes(),
                             'provenance': provenance}, indent=2)


def check_genes(genome):
    """The first reason this genome cannot make a model, as (gene, message), or None.
    A loaded genome may lie outside the search ranges (it is a set of train settings), but
    every gene must have the right type and the architecture must be buildable."""
    for name in GENE_NAMES:
        value = getattr(genome, name)
        if name == 'learning_rate':
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and value > 0):
                return name, f"must be a positive number, got {value!r}"
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return name, f"must be a whole number >= 1, got {value!r}"
    if genome.n_embd % genome.n_head:
        return 'n_head', f"must divide n_embd ({genome.n_embd}), got {genome.n_head}"
    return None


def load_genome(path, space=None):
    """Read and validate genome.json (inside `space`'s gene ranges, by default the searched
    ones); a one-line MicrogptError naming the file and field."""
    path = Path(path)

    def bad(field, why):
        return MicrogptError(f"genome file {path}: field '{field}' {why}")

    obj = read_json(path, 'genome file')
    if not isinstance(obj, dict):
        raise MicrogptError(f"genome file {path} must hold a JSON object")
    if obj.get('format') != FORMAT:
        raise bad('format', f"must be {FORMAT!r}, got {obj.get('format')!r}")
    if obj.get('version') != VERSION:
        raise bad('version', f"must be {VERSION}, got {obj.get('version')!r}")
    genes = obj.get('genes')
    if not isinstance(genes, dict):
        raise bad('genes', "must be an object of genes")
    for name in genes:
        if name not in GENE_NAMES:
            raise bad(f'genes.{name}', f"is not a gene (genes: {', '.join(GENE_NAMES)})")
    for name in GENE_NAMES:
        if name not in genes:
            raise bad(f'genes.{name}', "is missing")
    provenance = obj.get('provenance', {})
    if not isinstance(provenance, dict):
        raise bad('provenance', "must be an object")
    genome = Genome(**genes)
    problem = (space or GENE_SPACE).check(genome)  # the right types, a buildable model, in range
    if problem:
        raise bad(f'genes.{problem[0]}', problem[1])
    return GenomeFile(genome, provenance, path)


def resolve_train_settings(flags, genome_path=None, primordial=False, other_settings=None):
    """The genes to train with: a flag given on the command line beats the genome's gene,
    which beats the primordial default. `flags` maps gene names to values (None = not given).

    The genome is `genome_path` if given, else ./genome.json if it exists; `primordial`
    ignores any genome. Returns (genes, the GenomeFile or None, a line saying which genome
    is in use). Without a genome, the line names each setting that is not the original's:
    the genes given, and `other_settings` ({name: value} of the training options that differ).
    """
    if primordial and genome_path is not None:
        raise MicrogptError("--primordial and --genome exclude each other")
    genome_file = None
    if genome_path is not None:
        genome_file = load_genome(genome_path)
    elif not primordial and Path(DEFAULT_GENOME).exists():
        genome_file = load_genome(DEFAULT_GENOME)
    given = sorted(name for name, value in flags.items() if value is not None)
    if genome_file is None:
        genes = PRIMORDIAL.genes()
        differ = {name: flags[name] for name in given if flags[name] != genes[name]}
        differ.update(other_settings or {})
        message = (f"the original's settings except {describe_settings(differ)}" if differ
                   else "the primordial settings")
        message += ": " + ("--primordial" if primordial else f"no {DEFAULT_GENOME} here")
    else:
        genes = genome_file.genome.genes()
        message = f"using {genome_file.describe()}"
        if given:
            message += f"; overridden on the command line: {', '.join(given)}"
    genes.update({name: flags[name] for name in given})
    return genes, genome_file, message
