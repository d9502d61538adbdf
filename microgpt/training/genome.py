"""A genome: the model's settings and the trainer's composed (settings.py declares them), and
its file, genome.json, which `microgpt evolve` writes and `microgpt train` reads (a flag beats a
gene). Version 1 files hold the seven genes of the seed design; version 2 every setting, a
setting a file lacks being the default it was trained with; a search's final may add the
record of its scorings (genome_record.py).
"""
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from ..console import describe_genes, describe_settings
from ..errors import MicrogptError
from ..files.fields import check_fields, is_number, is_whole, or_null
from ..files.fileio import atomic_write_json, read_json
from ..gpt.model import GPTConfig
from ..gpt.settings import GENOME_SETTINGS, SettingError, configured
from .genome_record import check_record
from .run import ARCH_FIELDS, TrainConfig

FORMAT = 'microgpt-genome'
VERSION = 2
READABLE_VERSIONS = (1, 2)
DEFAULT_GENOME = 'genome.json'


@configured(GENOME_SETTINGS, checked=False)
class Genome:
    """The model's settings and the training's composed (settings.GENOME_SETTINGS: every
    declared setting that makes the run); the defaults are theirs (the primordial genome).
    A genome may be invalid: check_genome asks the configs."""

    @classmethod
    def from_settings(cls, settings):
        """A genome from {field: value}; fields not given are the defaults, others are ignored."""
        return cls(**{name: settings[name] for name in SETTINGS if name in settings})

    def genes(self):
        return asdict(self)

    def arch(self):
        return {name: getattr(self, name) for name in ARCH_FIELDS}

    def train(self):
        """The TrainConfig fields this genome sets."""
        return {name: getattr(self, name) for name in TRAIN_SETTINGS}

    def train_config(self, **watching):
        """The TrainConfig that trains this genome (`watching`: the fields a genome leaves out)."""
        return TrainConfig(**self.train(), **watching)

    def model_config(self, vocab_size=1):
        """The GPTConfig of this genome's model (over a vocabulary of that size)."""
        return GPTConfig(vocab_size=vocab_size, **self.arch())

    def architecture_key(self):
        return tuple(getattr(self, name) for name in ARCH_FIELDS)

    def shown(self):
        """The seven genes of the seed design always, the other settings where not the default."""
        return {name: getattr(self, name) for name in SETTINGS
                if name in SEED_GENES or getattr(self, name) != getattr(PRIMORDIAL, name)}

    def describe(self):
        return describe_genes(self.shown())

    def with_settings(self, **changes):
        return replace(self, **changes)


SETTINGS = tuple(f.name for f in fields(Genome))
TRAIN_SETTINGS = tuple(name for name in SETTINGS if name not in ARCH_FIELDS)
# The genes of version 1 files, which every genome has held: those of the seed design's space.
SEED_GENES = tuple(s.name for s in Genome.DECLARED if s.seed is not None)
PRIMORDIAL = Genome()


def check_genome(genome):
    """The first reason this genome cannot make a model and train it, as (field, message),
    or None. The configs decide; a genome may lie outside evolution's ranges."""
    try:
        genome.model_config()
        genome.train_config()
    except SettingError as e:
        return e.setting, e.reason
    return None


# --- genome.json ---------------------------------------------------------------------------

# What microgpt reads of a genome file's provenance (GenomeFile.label, train's voice); the
# search writes more (evolve/search.Evolution.provenance), which is kept as it is.
PROVENANCE_FIELDS = {
    'fitness': (lambda v: isinstance(v, str) and bool(v), "must name a fitness"),
    'score': (or_null(is_number), "must be null or a number"),
    'spread': (or_null(lambda v: is_number(v) and v >= 0), "must be null or a number >= 0"),
    'generation': (or_null(lambda v: is_whole(v) and v >= 0), "must be null or a whole number >= 0"),
}


@dataclass
class GenomeFile:
    genome: Genome
    provenance: dict
    path: Path
    record: dict = None  # the scorings its final made (genome_record.py), if the file keeps them

    def label(self):
        """'genome genome.json (loss fitness 1.9311 ± 0.0024, generation 7)'."""
        p = self.provenance
        origin = []
        if 'fitness' in p and p.get('score') is not None:
            spread = p.get('spread')
            score = f"{p['score']:.4f}" + (f" \u00b1 {spread:.4f}" if spread is not None else '')
            origin.append(f"{p['fitness']} fitness {score}")
        if 'generation' in p:
            origin.append(f"generation {p['generation']}")
        where = f" ({', '.join(origin)})" if origin else ''
        return f"genome {self.path}{where}"

    def describe(self):
        return f"{self.label()}: {self.genome.describe()}"


def save_genome(path, genome, provenance, record=None):
    """Write genome.json; `record` (genome_record.py) is kept when given."""
    obj = {'format': FORMAT, 'version': VERSION, 'genes': genome.genes(), 'provenance': provenance}
    if record is not None:
        obj['record'] = record
    atomic_write_json(path, obj, indent=2)


def load_genome(path, space=None):
    """Read and validate genome.json (version 1 or 2, and its record if it keeps one); with `space` (an object whose
    check(genome) gives (field, message) or None, e.g. an evolve.genes.GeneSpace), also
    inside its ranges. A one-line MicrogptError naming the file and field."""
    path = Path(path)

    def bad(field, why):
        return MicrogptError(f"genome file {path}: field '{field}' {why}")

    obj = read_json(path, 'genome file')
    if not isinstance(obj, dict):
        raise MicrogptError(f"genome file {path} must hold a JSON object")
    if obj.get('format') != FORMAT:
        raise bad('format', f"must be {FORMAT!r}, got {obj.get('format')!r}")
    version = obj.get('version')
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise bad('version', f"must be one of {', '.join(map(str, READABLE_VERSIONS))}, got {version!r}")
    genes = obj.get('genes')
    if not isinstance(genes, dict):
        raise bad('genes', "must be an object of genes")
    known = SEED_GENES if version == 1 else SETTINGS
    for name in genes:
        if name not in known:
            raise bad(f'genes.{name}', f"is not a gene (genes: {', '.join(known)})")
    for name in SEED_GENES:
        if name not in genes:
            raise bad(f'genes.{name}', "is missing")
    provenance = obj.get('provenance', {})
    if not isinstance(provenance, dict):
        raise bad('provenance', "must be an object")
    check_fields(provenance, PROVENANCE_FIELDS, 'provenance', bad, known=None, optional=PROVENANCE_FIELDS)
    genome = Genome.from_settings(genes)
    problem = check_genome(genome) or (space.check(genome) if space is not None else None)
    if problem:
        raise bad(f'genes.{problem[0]}', problem[1])
    record = obj.get('record')
    if record is not None:
        check_record(record, bad, SETTINGS)
    return GenomeFile(genome, provenance, path, record)


# Settings counted in steps: inherited from a genome, they scale with an overridden num_steps.
STEP_COUNTED = ('warmup',)


def genome_in_use(genome_path=None, primordial=False):
    """The GenomeFile a run takes its settings from: `genome_path` if given, else
    ./genome.json if it exists; None with `primordial` or no genome."""
    if primordial and genome_path is not None:
        raise MicrogptError("--primordial and --genome exclude each other")
    if genome_path is not None:
        return load_genome(genome_path)
    if not primordial and Path(DEFAULT_GENOME).exists():
        return load_genome(DEFAULT_GENOME)
    return None


def settle_train_settings(flags, genome_file, primordial=False, other_settings=None):
    """(settings: every genome field, a line saying which genome is in use) of the flags over
    genome_file (or the primordial settings when None). Without a genome, the line names each
    setting that is not the original's: the flags given, and `other_settings` ({name: value}
    of the options beyond the genome that differ). A genome's step-counted settings not given
    scale with steps given (kept below them, as the trainer needs)."""
    given = sorted(name for name, value in flags.items() if value is not None)
    if genome_file is None:
        settings = PRIMORDIAL.genes()
        # the seed design's genes first, then the trainer's settings in their order
        order = sorted(SEED_GENES) + [name for name in SETTINGS if name not in SEED_GENES]
        differ = {name: flags[name] for name in order if name in given and flags[name] != settings[name]}
        differ.update(other_settings or {})
        message = (f"the original's settings except {describe_settings(differ)}" if differ
                   else "the primordial settings")
        message += ": " + ("--primordial" if primordial else f"no {DEFAULT_GENOME} here")
        return dict(settings, **{name: flags[name] for name in given}), message
    genome = genome_file.genome
    settings = dict(genome.genes(), **{name: flags[name] for name in given})
    notes = [f"using {genome_file.describe()}"]
    if given:
        notes.append(f"overridden on the command line: {', '.join(given)}")
    steps = settings['num_steps']
    for name in STEP_COUNTED:
        inherited = getattr(genome, name)
        if steps != genome.num_steps and name not in given and inherited:
            settings[name] = scaled = min(round(inherited * steps / genome.num_steps), steps - 1)
            notes.append(f"{name} scaled with the steps: {inherited:,} of the genome's {genome.num_steps:,} "
                         f"-> {scaled:,} of {steps:,}")
    return settings, '; '.join(notes)
