"""A genome: every setting `microgpt train` needs to make one model, and the genome.json file.

A genome is the model's config and the trainer's written down, flat, under their own field
names: GPTConfig's (less vocab_size, which the data decides) and TrainConfig's (less what
only watches a run: val_split, eval_every, early_stop). `microgpt train` reads genome.json (a flag beats a gene), `microgpt
evolve` writes it; both read and write it here, below either of them.

genome.json versions: 1 held the seven genes of the seed design (the architecture,
learning_rate, num_steps); 2 holds every setting. A setting a file lacks is the configs'
default, which is what microgpt trained it with when the file was written. A file a search's
final wrote may also keep that final's scorings of it (`record`, genome_record.py); files
without one load as before.
"""
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Optional

from .console import describe_genes, describe_settings
from .errors import MicrogptError
from .fileio import atomic_write_json, read_json
from .genome_record import check_record
from .training import ARCH_DEFAULTS, ARCH_FIELDS, TRAIN_DEFAULTS, TrainConfig

FORMAT = 'microgpt-genome'
VERSION = 2
READABLE_VERSIONS = (1, 2)
DEFAULT_GENOME = 'genome.json'


@dataclass(frozen=True)
class Genome:
    """GPTConfig's and TrainConfig's fields (tests/test_genome.py checks it has all those that
    make the run); the defaults are theirs (the primordial genome)."""
    n_embd: int = ARCH_DEFAULTS['n_embd']
    n_head: int = ARCH_DEFAULTS['n_head']
    n_layer: int = ARCH_DEFAULTS['n_layer']
    block_size: int = ARCH_DEFAULTS['block_size']
    ff_mult: int = ARCH_DEFAULTS['ff_mult']
    learning_rate: float = TRAIN_DEFAULTS.learning_rate
    num_steps: int = TRAIN_DEFAULTS.num_steps
    batch_size: int = TRAIN_DEFAULTS.batch_size
    grad_clip: Optional[float] = TRAIN_DEFAULTS.grad_clip
    weight_decay: float = TRAIN_DEFAULTS.weight_decay
    beta1: float = TRAIN_DEFAULTS.beta1
    beta2: float = TRAIN_DEFAULTS.beta2
    warmup: int = TRAIN_DEFAULTS.warmup
    schedule: str = TRAIN_DEFAULTS.schedule
    batch_order: str = TRAIN_DEFAULTS.batch_order
    dropout: float = TRAIN_DEFAULTS.dropout
    ema: Optional[float] = TRAIN_DEFAULTS.ema

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

    def architecture_key(self):
        return tuple(getattr(self, name) for name in ARCH_FIELDS)

    def shown(self):
        """The seven genes of the seed design always, the other settings where not the default."""
        return shown_settings(self.genes())

    def describe(self):
        return describe_genes(self.shown())

    def with_settings(self, **changes):
        return replace(self, **changes)


SETTINGS = tuple(f.name for f in fields(Genome))
TRAIN_SETTINGS = tuple(name for name in SETTINGS if name not in ARCH_FIELDS)
# The genes of version 1 files, which every genome has held.
SEED_GENES = ARCH_FIELDS + ('learning_rate', 'num_steps')
PRIMORDIAL = Genome()


def shown_settings(settings):
    """{name: value} to print: the seed design's genes, then any other setting not at its default."""
    shown = {name: settings[name] for name in SEED_GENES}
    shown.update({name: settings[name] for name in SETTINGS
                  if name not in SEED_GENES and settings[name] != getattr(PRIMORDIAL, name)})
    return shown


def check_genome(genome):
    """The first reason this genome cannot make a model and train it, as (field, message),
    or None. The configs decide; a genome may lie outside evolution's ranges."""
    for name in ARCH_FIELDS:
        value = getattr(genome, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return name, f"must be a whole number >= 1, got {value!r}"
    if genome.n_embd % genome.n_head:
        return 'n_head', f"must divide n_embd ({genome.n_embd}), got {genome.n_head}"
    try:
        genome.train_config()
    except MicrogptError as e:  # TrainConfig's messages start with the field's name
        why = str(e)
        name = next((n for n in TRAIN_SETTINGS if why.startswith(n + ' ')), None)
        return (name, why[len(name) + 1:]) if name else ('genes', why)
    return None


# --- genome.json ---------------------------------------------------------------------------

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


def fit_to_steps(genome, settings, given):
    """The settings with each step-counted one the genome gave scaled to the run's steps
    when the command line changed the steps but not that setting (kept below the steps, as
    the trainer needs). Returns (settings, a note per setting scaled)."""
    settings, notes = dict(settings), []
    steps = settings['num_steps']
    if 'num_steps' not in given or steps == genome.num_steps:
        return settings, notes
    for name in STEP_COUNTED:
        inherited = getattr(genome, name)
        if name in given or not inherited:
            continue
        scaled = min(round(inherited * steps / genome.num_steps), steps - 1)
        settings[name] = scaled
        notes.append(f"{name} scaled with the steps: {inherited:,} of the genome's {genome.num_steps:,} "
                     f"-> {scaled:,} of {steps:,}")
    return settings, notes


def resolve_train_settings(flags, genome_path=None, primordial=False, other_settings=None):
    """The settings to train with: a flag given on the command line beats the genome's,
    which beats the configs' default. `flags` maps genome fields to values (None = not given).

    The genome is `genome_path` if given, else ./genome.json if it exists; `primordial`
    ignores any genome. Returns (settings: every genome field, the GenomeFile or None, a line
    saying which genome is in use). Without a genome, the line names each setting that is not
    the original's: the flags given, and `other_settings` ({name: value} of the options beyond
    the genome that differ).
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
        settings = PRIMORDIAL.genes()
        # the seed design's genes first, then the trainer's settings in their order
        order = sorted(SEED_GENES) + [name for name in SETTINGS if name not in SEED_GENES]
        differ = {name: flags[name] for name in order if name in given and flags[name] != settings[name]}
        differ.update(other_settings or {})
        message = (f"the original's settings except {describe_settings(differ)}" if differ
                   else "the primordial settings")
        message += ": " + ("--primordial" if primordial else f"no {DEFAULT_GENOME} here")
    else:
        settings = genome_file.genome.genes()
        message = f"using {genome_file.describe()}"
        if given:
            message += f"; overridden on the command line: {', '.join(given)}"
    settings.update({name: flags[name] for name in given})
    if genome_file is not None:
        settings, notes = fit_to_steps(genome_file.genome, settings, given)
        if notes:
            message += '; ' + '; '.join(notes)
    return settings, genome_file, message
