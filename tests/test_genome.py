import json
import math
import random

import pytest

from microgpt.cli import main
from microgpt.errors import MicrogptError
from microgpt.evolve.genes import BUDGET_SPACE, SEED_SPACE
from microgpt.files import checkpoint as ckpt
from microgpt.training.genome import (PRIMORDIAL, SEED_GENES, SETTINGS, TRAIN_SETTINGS, Genome, genome_in_use,
                             load_genome, save_genome, settle_train_settings)

# the seed design's space: its tests below are the seed design's own
GENE_SPACE = SEED_SPACE
GENE_NAMES = SEED_SPACE.genes

SMALL_GENOME = Genome(n_embd=12, n_head=3, n_layer=2, block_size=10, ff_mult=2,
                      learning_rate=0.02, num_steps=100)


def in_ranges(genome):
    return GENE_SPACE.check(genome) is None


def test_random_genomes_are_valid_and_cover_the_ranges():
    rng = random.Random(0)
    genomes = [GENE_SPACE.random_genome(rng) for _ in range(2000)]
    assert all(in_ranges(g) for g in genomes)
    assert all(g.n_embd % g.n_head == 0 for g in genomes)
    assert {g.n_head for g in genomes} == {1, 2, 3, 4}
    assert {g.n_layer for g in genomes} == {1, 2, 3, 4}
    steps = [g.num_steps for g in genomes]
    assert min(steps) < 200 and max(steps) > 1900
    # log-uniform: half the draws fall below the geometric middle of the range
    middle = math.sqrt(0.001 * 0.05)
    below = sum(g.learning_rate < middle for g in genomes) / len(genomes)
    assert 0.45 < below < 0.55


def test_mutation_and_crossover_never_give_an_invalid_genome():
    rng = random.Random(1)
    population = [GENE_SPACE.random_genome(rng) for _ in range(20)]
    for _ in range(5000):
        a, b = rng.sample(population, 2)
        child = GENE_SPACE.crossover(a, b, rng)
        assert in_ranges(child)
        mutant = GENE_SPACE.mutation(child, rng)[0]
        assert in_ranges(mutant), mutant
        assert mutant != child  # a mutation always changes something
        population[rng.randrange(len(population))] = mutant


def test_mutation_changes_one_to_three_genes_before_repair():
    rng = random.Random(2)
    changed = set()
    for _ in range(500):
        parent = GENE_SPACE.random_genome(rng)
        child = GENE_SPACE.mutation(parent, rng)[0]
        # n_embd and n_head may move together in a repair; the other genes only when chosen
        others = [n for n in GENE_NAMES if n not in ('n_embd', 'n_head')
                  and getattr(parent, n) != getattr(child, n)]
        assert len(others) <= 3
        changed.add(len(others))
    assert {1, 2, 3} <= changed


def test_crossover_takes_every_gene_from_a_parent():
    rng = random.Random(3)
    for _ in range(300):
        a, b = GENE_SPACE.random_genome(rng), GENE_SPACE.random_genome(rng)
        child = GENE_SPACE.crossover(a, b, rng)
        for name in GENE_NAMES:
            if name not in ('n_embd', 'n_head'):
                assert getattr(child, name) in (getattr(a, name), getattr(b, name))


def test_repair_moves_to_the_nearest_valid_genome():
    genes = dict(PRIMORDIAL.genes(), n_embd=17, n_head=4)
    assert GENE_SPACE.repair(genes).n_embd == 16  # n_head kept, n_embd to its nearest multiple
    assert GENE_SPACE.repair(genes, keep=('n_embd',)).n_head == 1  # n_embd kept: 17 is prime
    clamped = GENE_SPACE.repair(dict(PRIMORDIAL.genes(), n_layer=9, learning_rate=1.0, num_steps=5))
    assert (clamped.n_layer, clamped.learning_rate, clamped.num_steps) == (4, 0.05, 100)


def test_a_gene_space_with_no_valid_architecture_is_refused():
    with pytest.raises(MicrogptError):
        SEED_SPACE.narrowed(n_embd=(9, 9), n_head=(2, 2))


def test_primordial_is_the_original_settings_and_inside_the_ranges():
    assert PRIMORDIAL.arch() == dict(n_embd=16, n_head=4, n_layer=1, block_size=16, ff_mult=4)
    assert (PRIMORDIAL.learning_rate, PRIMORDIAL.num_steps) == (0.01, 1000)
    assert in_ranges(PRIMORDIAL)
    assert set(SEED_SPACE.ranges) == set(GENE_NAMES) == set(SEED_GENES)


def test_save_and_load_round_trip(tmp_path):
    path = tmp_path / 'genome.json'
    save_genome(path, SMALL_GENOME, {'fitness': 'loss', 'score': 2.25, 'generation': 3})
    loaded = load_genome(path)
    assert loaded.genome == SMALL_GENOME
    assert loaded.provenance['score'] == 2.25
    assert 'loss fitness 2.2500' in loaded.describe() and 'n_embd=12' in loaded.describe()
    assert not list(tmp_path.glob('.*.tmp'))  # the atomic write left no temp file


def write_genome(path, **changes):
    """A version 1 genome.json, as microgpt wrote them before genomes held every setting."""
    genes = {name: getattr(SMALL_GENOME, name) for name in SEED_GENES}
    obj = {'format': 'microgpt-genome', 'version': 1, 'genes': genes, 'provenance': {}}
    for key, value in changes.items():
        if key in GENE_NAMES:
            obj['genes'][key] = value
        else:
            obj[key] = value
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.parametrize('changes, field', [
    (dict(n_head=5), 'genes.n_head'),  # 5 does not divide 12
    (dict(n_layer=0), 'genes.n_layer'),
    (dict(n_embd=10), 'genes.n_head'),  # 3 does not divide 10
    (dict(n_embd='16'), 'genes.n_embd'),
    (dict(n_layer=2.0), 'genes.n_layer'),
    (dict(block_size=True), 'genes.block_size'),
    (dict(learning_rate=-0.5), 'genes.learning_rate'),
    (dict(learning_rate='fast'), 'genes.learning_rate'),
    (dict(num_steps=None), 'genes.num_steps'),
    (dict(genes=dict({k: getattr(SMALL_GENOME, k) for k in SEED_GENES}, colour=3)), 'genes.colour'),
    (dict(genes=dict({k: getattr(SMALL_GENOME, k) for k in SEED_GENES}, batch_size=4)), 'genes.batch_size'),
    (dict(genes=[1, 2]), 'genes'),
    (dict(format='microgpt-checkpoint'), 'format'),
    (dict(version=7), 'version'),
    (dict(provenance='today'), 'provenance'),
])
def test_malformed_genome_errors_name_file_and_field(tmp_path, changes, field):
    path = write_genome(tmp_path / 'bad.json', **changes)
    with pytest.raises(MicrogptError) as err:
        load_genome(path)
    message = str(err.value)
    assert str(path) in message and f"'{field}'" in message and '\n' not in message


@pytest.mark.parametrize('changes, field', [
    (dict(n_embd=64, n_head=8), 'n_embd'), (dict(n_layer=6), 'n_layer'), (dict(num_steps=50000), 'num_steps'),
    (dict(learning_rate=5.0), 'learning_rate'), (dict(learning_rate=1e-6), 'learning_rate'),
])
def test_a_genome_outside_the_gene_ranges_loads_but_not_into_the_space(tmp_path, changes, field):
    """A genome is a set of train settings: any the configs accept loads; a search's space
    refuses one outside its ranges."""
    path = write_genome(tmp_path / 'big.json', **changes)
    assert load_genome(path).genome == Genome.from_settings(dict(SMALL_GENOME.genes(), **changes))
    with pytest.raises(MicrogptError, match=f"genome file {path}: field 'genes.{field}' must be"):
        load_genome(path, SEED_SPACE)


def test_missing_gene_and_broken_json_are_named(tmp_path):
    path = tmp_path / 'g.json'
    obj = {'format': 'microgpt-genome', 'version': 2, 'genes': SMALL_GENOME.genes()}
    del obj['genes']['ff_mult']
    path.write_text(json.dumps(obj))
    with pytest.raises(MicrogptError, match="'genes.ff_mult' is missing"):
        load_genome(path)
    path.write_text('{"format": ')
    with pytest.raises(MicrogptError, match=f"genome file {path} is not readable JSON"):
        load_genome(path)


def resolve_train_settings(flags, genome_path=None, primordial=False):
    """(settings, the genome file, the line) as `microgpt train` settles them."""
    genome_file = genome_in_use(genome_path, primordial)
    settings, line = settle_train_settings(flags, genome_file, primordial)
    return settings, genome_file, line


def test_flag_beats_genome_beats_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    none = dict.fromkeys(SETTINGS)
    genes, genome_file, message = resolve_train_settings(none)
    assert genes == PRIMORDIAL.genes() and genome_file is None and 'primordial' in message

    save_genome('genome.json', SMALL_GENOME, {})
    genes, genome_file, message = resolve_train_settings(dict(none, n_layer=3))
    assert (genes['n_embd'], genes['num_steps'], genes['learning_rate']) == (12, 100, 0.02)
    assert genes['n_layer'] == 3
    assert 'genome genome.json' in message and 'overridden on the command line: n_layer' in message

    genes, _, message = resolve_train_settings(none, primordial=True)
    assert genes == PRIMORDIAL.genes() and '--primordial' in message
    with pytest.raises(MicrogptError, match='exclude each other'):
        resolve_train_settings(none, genome_path='genome.json', primordial=True)
    with pytest.raises(MicrogptError, match='genome file not found: elsewhere.json'):
        resolve_train_settings(none, genome_path='elsewhere.json')


def test_primordial_genome_is_the_configs_defaults():
    from microgpt.gpt.model import GPTConfig
    from microgpt.training.run import TrainConfig
    config, train = GPTConfig(vocab_size=27), TrainConfig()
    assert PRIMORDIAL.arch() == {k: getattr(config, k) for k in PRIMORDIAL.arch()}
    assert PRIMORDIAL.train() == {k: getattr(train, k) for k in TRAIN_SETTINGS}
    assert PRIMORDIAL.train_config() == train
    assert set(SETTINGS) == set(PRIMORDIAL.arch()) | set(TRAIN_SETTINGS) and 'batch_size' in TRAIN_SETTINGS
    # every TrainConfig field that changes the run is a genome's; only those that watch it are not
    from dataclasses import fields
    watching = ('val_split', 'eval_every', 'early_stop')
    assert set(TRAIN_SETTINGS) == {f.name for f in fields(TrainConfig) if f.name not in watching}


def test_a_version_1_genome_loads_with_the_settings_it_was_trained_with(tmp_path):
    loaded = load_genome(write_genome(tmp_path / 'old.json')).genome
    assert loaded == SMALL_GENOME and (loaded.batch_size, loaded.grad_clip) == (1, None)


def test_a_genome_stores_every_setting_and_round_trips(tmp_path):
    genome = Genome(n_embd=48, n_head=6, n_layer=3, block_size=12, ff_mult=2, learning_rate=0.003,
                    num_steps=4321, batch_size=24, grad_clip=1.5)
    save_genome(tmp_path / 'g.json', genome, {})
    assert json.loads((tmp_path / 'g.json').read_text())['genes'] == genome.genes()
    assert load_genome(tmp_path / 'g.json').genome == genome
    assert genome.train_config().batch_size == 24 and genome.train_config().grad_clip == 1.5
    assert 'batch_size=24 grad_clip=1.5' in genome.describe() and 'batch_size' not in PRIMORDIAL.describe()


@pytest.mark.parametrize('field, value', [('batch_size', 0), ('batch_size', 2.5), ('grad_clip', -1.0),
                                          ('grad_clip', 'big')])
def test_a_bad_train_setting_names_its_field(tmp_path, field, value):
    obj = {'format': 'microgpt-genome', 'version': 2, 'genes': dict(SMALL_GENOME.genes(), **{field: value})}
    (tmp_path / 'g.json').write_text(json.dumps(obj))
    with pytest.raises(MicrogptError, match=f"genome file .*g.json: field 'genes.{field}' must be"):
        load_genome(tmp_path / 'g.json')


def test_budget_space_genomes_are_valid_and_wide():
    rng = random.Random(4)
    space = BUDGET_SPACE.with_budget(lambda genome: 1000)  # every genome buys 1000 steps
    genomes = [space.random_genome(rng) for _ in range(1500)]
    assert all(space.check(g) is None and g.num_steps == 1000 for g in genomes)
    assert max(g.n_embd for g in genomes) >= 90 and {g.n_layer for g in genomes} == set(range(1, 7))
    batches = [g.batch_size for g in genomes]
    assert {1, 64} <= set(batches) and 0.4 < sum(b <= 8 for b in batches) / len(batches) < 0.6  # log-uniform
    assert 'num_steps' not in space.genes and 'batch_size' in space.genes
    for _ in range(500):
        a, b = rng.sample(genomes, 2)
        mutant, changed = space.mutation(space.crossover(a, b, rng), rng)
        assert space.check(mutant) is None and 1 <= len(changed) <= 3 and set(changed) <= set(space.genes)


def test_budget_space_searches_regularization_clip_and_batch_order():
    """dropout, the weight average's decay, the gradient clip and the batch order are genes of
    the budget space: drawn over their whole ranges, and bred into children."""
    rng = random.Random(8)
    space = BUDGET_SPACE.with_budget(lambda genome: 1000)
    genomes = [space.random_genome(rng) for _ in range(600)]
    assert {'dropout', 'ema', 'grad_clip', 'batch_order'} <= set(space.genes)
    assert {g.ema for g in genomes} == {None, 0.99, 0.995, 0.999}
    assert {g.grad_clip for g in genomes} == {None, 0.5, 1.0, 2.0}
    assert {g.batch_order for g in genomes} == {'walk', 'epoch', 'replacement'}
    dropouts = [g.dropout for g in genomes]
    assert 0 <= min(dropouts) < 0.02 and 0.28 < max(dropouts) <= 0.3
    assert all(g.train_config().dropout == g.dropout and g.train_config().ema == g.ema for g in genomes)


@pytest.mark.parametrize('path, space', [('experiments/genome-budget.json', BUDGET_SPACE), ('genome.json', BUDGET_SPACE),
                                         ('experiments/genome-seed-space.json', SEED_SPACE)])
def test_shipped_genomes_still_load_in_their_spaces(path, space):
    """A genome written before dropout and the weight average were genes loads with both off,
    inside its own space."""
    import json
    from conftest import REPO
    genes = json.loads((REPO / path).read_text())['genes']
    loaded = load_genome(REPO / path, space=space if space is SEED_SPACE else BUDGET_SPACE.with_budget(lambda g: g.num_steps))
    for name, value in genes.items():
        assert getattr(loaded.genome, name) == value
    if 'dropout' not in genes:  # written before these genes existed
        assert loaded.genome.dropout == 0.0 and loaded.genome.ema is None and path != 'genome.json'


def test_budget_space_draws_only_genomes_whose_steps_are_in_range():
    rng = random.Random(5)
    # steps as a budget would give them: fewer for bigger steps; n_embd > 48 buys too few
    space = BUDGET_SPACE.narrowed(num_steps=(100, 20_000)).with_budget(
        lambda g: 200_000 // (g.n_embd * g.batch_size))
    genomes = [space.random_genome(rng) for _ in range(300)]
    assert all(100 <= g.num_steps <= 20_000 and g.num_steps == 200_000 // (g.n_embd * g.batch_size)
               for g in genomes)
    assert all(g.warmup <= g.num_steps // 2 for g in genomes)  # a warmup is cut to half the run
    assert any(g.warmup == g.num_steps // 2 for g in genomes) and any(0 < g.warmup < g.num_steps // 2 for g in genomes)
    with pytest.raises(MicrogptError, match='needs a budget'):
        BUDGET_SPACE.random_genome(rng)
    with pytest.raises(MicrogptError, match='takes no budget'):
        SEED_SPACE.with_budget(lambda g: 1)


# --- `microgpt train` with a genome ---------------------------------------------------------

def train(runner, data, *extra):
    return runner.invoke(main, ['train', '--data', str(data), '--samples', '0', '--engine', 'numpy', *extra])


def test_train_loads_genome_json_from_the_working_directory(runner, small_data):
    save_genome('genome.json', SMALL_GENOME, {'fitness': 'loss', 'score': 2.5, 'generation': 4})
    result = train(runner, small_data)
    assert result.exit_code == 0, result.output
    assert 'using genome genome.json (loss fitness 2.5000, generation 4)' in result.stderr
    assert 'genome' not in result.stdout  # stdout keeps the original's lines
    lines = result.stdout.splitlines()
    assert lines[-1].startswith('step  100 /  100 | loss ')
    config = ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT).config
    assert (config.n_embd, config.n_head, config.n_layer, config.block_size, config.ff_mult) == (12, 3, 2, 10, 2)
    assert ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT).training['genome'] == 'genome.json'


def test_train_flags_override_genes_and_primordial_ignores_the_genome(runner, small_data):
    save_genome('genome.json', SMALL_GENOME, {})
    result = train(runner, small_data, '--steps', '7', '--n-layer', '1')
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith('step    7 /    7')
    assert 'overridden on the command line: n_layer, num_steps' in result.stderr
    config = ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT).config
    assert (config.n_embd, config.n_layer) == (12, 1)

    result = train(runner, small_data, '--primordial', '--steps', '5')
    assert result.exit_code == 0, result.output
    assert "I am unformed (the original's settings except num_steps=5: --primordial)" in result.stderr
    config = ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT).config
    assert (config.n_embd, config.n_head, config.n_layer) == (16, 4, 1)


def test_train_with_explicit_genome_path_and_malformed_genome(runner, small_data, tmp_path):
    save_genome(tmp_path / 'other.json', SMALL_GENOME, {})
    result = train(runner, small_data, '--genome', str(tmp_path / 'other.json'))
    assert result.exit_code == 0, result.output
    assert f'using genome {tmp_path / "other.json"}' in result.stderr

    write_genome(tmp_path / 'genome.json', n_head=5)
    result = train(runner, small_data)
    assert result.exit_code == 1 and 'Traceback' not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith('Error:')]
    assert len(errors) == 1 and "genome file genome.json: field 'genes.n_head'" in errors[0]


def test_train_help_still_shows_the_built_in_defaults(runner):
    result = runner.invoke(main, ['train', '--help'])
    assert result.exit_code == 0
    text = ' '.join(result.output.split()).split('Model:', 1)[1]
    for option, default in [('--steps', '1000'), ('--n-embd', '16'), ('--n-head', '4'), ('--lr', '0.01')]:
        after = text.split(option, 1)[1].split('--', 1)[0]
        assert f'default: ({default})' in after or f'default: {default}' in after, after
    assert '--primordial' in text and '--genome' in text


def test_train_trains_every_setting_of_the_genome(runner, small_data):
    """batch_size and grad_clip come from genome.json too (a flag still beats them)."""
    save_genome('genome.json', Genome(n_embd=8, n_head=2, n_layer=1, block_size=8, ff_mult=1, learning_rate=0.02,
                                      num_steps=6, batch_size=3, grad_clip=0.5), {})
    result = train(runner, small_data)
    assert result.exit_code == 0, result.output
    training = ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT).training
    assert (training['batch_size'], training['grad_clip'], training['num_steps']) == (3, 0.5, 6)
    assert 'batch_size=3 grad_clip=0.5' in result.stderr
    result = train(runner, small_data, '--batch-size', '2')
    assert result.exit_code == 0, result.output
    assert ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT).training['batch_size'] == 2
    assert 'overridden on the command line: batch_size' in result.stderr


def gene_table():
    """The evolution page's table of genes: a row per genome field either space searches."""
    from microgpt.evolve.genes import BUDGET_SPACE, PRIMORDIAL, SEED_SPACE
    names = list(BUDGET_SPACE.ranges) + [n for n in SEED_SPACE.ranges if n not in BUDGET_SPACE.ranges]

    def cell(space, name):
        if name not in space.ranges:
            value = getattr(PRIMORDIAL, name)
            return f"{'off' if value is None else value} (fixed)"
        text = space.ranges[name].table()
        if name == 'num_steps' and space.budget_steps:
            return f"what the budget buys, {text}"
        return text

    return '\n'.join(f"| {name} | {cell(BUDGET_SPACE, name)} | {cell(SEED_SPACE, name)} |" for name in names)


def test_readme_shows_the_gene_ranges_searched():
    from conftest import docs_text
    readme = docs_text('evolution')
    for row in gene_table().splitlines():
        assert row in readme, row
    assert '| batch_size | 1–64, log-uniform | 1 (fixed) |' in readme  # the table says what it means


def test_a_choice_gene_draws_mutates_and_crosses_over_among_its_values():
    from microgpt.evolve.genes import GeneChoice
    choice = GeneChoice(('linear', 'cosine', 'constant'))
    rng = random.Random(6)
    assert {choice.draw(rng) for _ in range(100)} == {'linear', 'cosine', 'constant'}
    for value in choice.values:
        moved = {choice.mutate(value, rng) for _ in range(50)}
        assert value not in moved and moved <= set(choice.values)
    assert choice.round('sideways') == 'linear' and choice.contains('cosine') and not choice.contains('x')
