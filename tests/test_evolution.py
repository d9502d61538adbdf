import json

import pytest
from click.testing import CliRunner

from microgpt.evolve import search as evolution_module
from microgpt.evolve import genome as genome_module
from microgpt.cli import main
from microgpt.errors import MicrogptError
from microgpt.evolve.search import Evolution, organism_seed
from microgpt.trials.runner import run_trial
from microgpt.evolve.genome import GeneSpace, load_genome

# Tiny organisms: the real ranges, narrowed so that each trains in milliseconds.
TINY_SPACE = GeneSpace(n_embd=(8, 12), n_layer=(1, 2), block_size=(8, 10), ff_mult=(1, 2),
                       num_steps=(5, 25))


@pytest.fixture(scope='module')
def docs(names_docs):
    return names_docs[:200]


def evolve(docs, tmp_path, name, **kwargs):
    settings = dict(fitness='loss', population=4, generations=2, seed=3, workers=1, space=TINY_SPACE,
                    baseline=False, out=tmp_path / f'{name}.json', log_dir=tmp_path / f'{name}-logs')
    settings.update(kwargs)
    evolution = Evolution(docs, **settings)
    return evolution, evolution.run()


def read_log(evolution):
    return [json.loads(line) for line in evolution.log_path.read_text().splitlines()]


def without_timing(record):
    """The record less what may differ between equal runs: timings, worker count, paths."""
    if isinstance(record, list):
        return [without_timing(r) for r in record]
    if isinstance(record, dict):
        return {k: without_timing(v) for k, v in record.items()
                if k not in ('seconds', 'workers', 'started', 'finished', 'genome_written')}
    return record


def test_organism_seeds_depend_only_on_run_generation_and_index():
    assert organism_seed(42, 3, 5) == organism_seed(42, 3, 5)
    seeds = {organism_seed(42, g, i) for g in range(11) for i in range(8)}
    assert len(seeds) == 88
    assert organism_seed(43, 3, 5) != organism_seed(42, 3, 5)


def test_same_result_with_one_worker_or_two(docs, tmp_path):
    one, best_one = evolve(docs, tmp_path, 'one', workers=1, baseline=True)
    two, best_two = evolve(docs, tmp_path, 'two', workers=2, baseline=True)
    assert best_one.genome == best_two.genome and best_one.score == best_two.score
    records_one, records_two = read_log(one), read_log(two)
    # the log lists organisms in completion order; the set of evaluations is the same
    key = lambda r: (r['kind'], r.get('generation', -1), r.get('index', -2))  # noqa: E731
    assert sorted(without_timing(records_one), key=key) == sorted(without_timing(records_two), key=key)

    genome_file = load_genome(tmp_path / 'one.json', TINY_SPACE)
    assert genome_file.genome == best_one.genome
    provenance = genome_file.provenance
    assert provenance['fitness'] == 'loss' and provenance['score'] == best_one.score
    assert provenance['seed'] == 3 and provenance['completed'] is True
    assert provenance['primordial_score'] == one.primordial.score and one.primordial.score > 0
    assert set(provenance) >= {'generation', 'log'}
    assert json.loads((tmp_path / 'one.json').read_text())['genes'] == json.loads(
        (tmp_path / 'two.json').read_text())['genes']


def test_log_has_every_organism_and_each_generation(docs, tmp_path):
    evolution, best = evolve(docs, tmp_path, 'log', population=4, generations=3)
    records = read_log(evolution)
    kinds = [r['kind'] for r in records]
    assert kinds[0] == 'run' and kinds[-1] == 'result'
    organisms = [r for r in records if r['kind'] == 'organism']
    # generation 1 evaluates all 4; later ones all but the carried-over elite
    assert len(organisms) == 4 + 3 + 3
    assert kinds.count('generation') == 3
    for r in organisms:
        assert set(r) >= {'generation', 'genes', 'score', 'components', 'seconds', 'seed', 'origin'}
        assert r['components']['val_loss'] == r['score']
        assert r['seed'] == organism_seed(3, r['generation'], r['index'])
    later = [r for r in organisms if r['generation'] > 1]
    assert sorted(r['origin'] for r in later if r['generation'] == 2) == ['child', 'immigrant', 'immigrant']
    generations = [r for r in records if r['kind'] == 'generation']
    bests = [g['best'] for g in generations]
    assert bests == sorted(bests, reverse=True)  # elitism: the best never gets worse
    assert best.score == bests[-1] == min(r['score'] for r in organisms)
    assert all(1 <= g['diversity'] <= 4 for g in generations)


def test_failing_organisms_get_the_worst_fitness_and_the_run_goes_on(docs, tmp_path, monkeypatch):
    calls = []

    def flaky(settings, *args, **kwargs):
        calls.append(settings['seed'])
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        if len(calls) == 3:
            return run_trial(dict(settings, learning_rate=1e6), *args, **kwargs)
        return run_trial(settings, *args, **kwargs)

    monkeypatch.setattr(evolution_module, 'run_trial', flaky)
    summaries = []
    evolution, best = evolve(docs, tmp_path, 'flaky', on_generation=summaries.append)
    organisms = [r for r in read_log(evolution) if r['kind'] == 'organism']
    failed = [r for r in organisms if r['score'] is None]
    assert len(failed) == 2
    assert {r['error'] for r in failed} == {'RuntimeError: worker lost',
                                            next(r['error'] for r in failed if 'diverged' in r['error'])}
    assert summaries[0].failed == 2 and summaries[0].worst is None
    assert best.score is not None and load_genome(tmp_path / 'flaky.json', TINY_SPACE).genome == best.genome


def test_ctrl_c_writes_the_best_so_far(docs, tmp_path, monkeypatch):
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return run_trial(*args, **kwargs)

    monkeypatch.setattr(evolution_module, 'run_trial', interrupted)
    evolution = Evolution(docs, fitness='loss', population=4, generations=3, seed=3, workers=1,
                          space=TINY_SPACE, baseline=False, out=tmp_path / 'g.json', log_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        evolution.run()
    assert evolution.interrupted and len(evolution.evaluated) == 5
    assert not (tmp_path / 'g.json').exists()  # an interrupted search writes beside the genome
    saved = load_genome(tmp_path / 'g.interrupted.json', TINY_SPACE)
    assert saved.genome == evolution.best.genome and saved.provenance['completed'] is False
    last = read_log(evolution)[-1]
    assert last['kind'] == 'result' and last['interrupted'] is True


def test_aesthetic_evolution_scores_in_unit_range(docs, tmp_path):
    evolution, best = evolve(docs, tmp_path, 'art', fitness='aesthetic', population=3)
    organisms = [r for r in read_log(evolution) if r['kind'] == 'organism']
    for r in organisms:
        assert 0 <= r['score'] <= 1 and {'flow', 'symmetry', 'creativity', 'samples'} <= set(r['components'])
    # the two best of the last generation were scored once more, and the crown goes to the
    # better mean of those finalists: no single lucky draw wins
    confirmed = [r for r in organisms if r['origin'] == 'confirmation']
    assert len(confirmed) == 2 and all(r['scorings'] >= 2 for r in confirmed)
    assert best.score == max(r['score'] for r in confirmed)
    assert (best.generation, best.index) in {(r['generation'], r['index']) for r in confirmed}
    assert read_log(evolution)[-2]['kind'] == 'confirmation'


def test_the_aesthetic_elite_is_scored_again_on_fresh_samples(docs, tmp_path):
    evolution, best = evolve(docs, tmp_path, 'elite', fitness='aesthetic', population=3, generations=3)
    organisms = [r for r in read_log(evolution) if r['kind'] == 'organism']
    elites = [r for r in organisms if r['origin'] == 'elite']
    assert len(elites) == 2  # one carried into each later generation, and scored again there
    for elite in elites:
        born = (elite['generation'], elite['index'])
        scorings = [r for r in organisms[:organisms.index(elite) + 1] if (r['generation'], r['index']) == born]
        assert elite['scorings'] == len(scorings) >= 2
        seeds = [tuple(r['components']['seeds']) for r in scorings]
        assert len(set(seeds)) == len(seeds)  # fresh samples every time
        assert len(elite['components']['batch_scores']) == 4  # several seeds per scoring
        each = [r['components']['score'] for r in scorings]  # what each scoring measured
        assert elite['score'] == pytest.approx(sum(each) / len(each))  # the crown is their mean


def test_no_two_organisms_of_a_generation_share_a_genome(docs):
    """In a gene space so narrow that children often repeat their parents, every generation
    still holds distinct genomes (a repeated child is mutated again)."""
    narrow = GeneSpace(n_embd=(8, 9), n_head=(1, 2), n_layer=(1, 2), block_size=(8, 9), ff_mult=(1, 2),
                       num_steps=(5, 8), learning_rate=(0.01, 0.02))
    evolution = Evolution(docs, population=8, seed=1, workers=1, space=narrow, baseline=False)
    population = evolution._first_generation()
    for i, organism in enumerate(population):
        organism.result = {'val_loss': 2.0 + i / 100, 'error': None, 'num_params': 1, 'seconds': 0.0}
    for generation in range(2, 12):
        population = evolution._next_generation(population, generation)
        genomes = [o.genome for o in population]
        assert len(set(genomes)) == len(genomes), generation
        for i, organism in enumerate(population):
            organism.result = organism.result or {'val_loss': 2.5 - i / 100, 'error': None, 'num_params': 1,
                                                  'seconds': 0.0}


@pytest.mark.slow
def test_a_small_aesthetic_evolution_breeds_a_model_whose_samples_are_names(names_docs, tmp_path):
    """6 organisms x 3 generations on the names data: the evolved genome's 50 samples hold
    few 1-2 letter strings and few repeats."""
    import random
    from microgpt.sampling import generate
    from microgpt.training import Run, TrainConfig
    evolution = Evolution(names_docs, fitness='aesthetic', population=6, generations=3, seed=7, workers=2,
                          baseline=False, out=tmp_path / 'art.json', log_dir=tmp_path)
    best = evolution.run()
    genome = best.genome
    run = Run(evolution.train_docs, seed=best.seed, arch=genome.arch())
    run.train(TrainConfig(num_steps=genome.num_steps, learning_rate=genome.learning_rate))
    names = list(generate(run.engine, run.tokenizer, random.Random(1), 50, temperature=0.5))
    assert sum(len(n) <= 2 for n in names) <= 3, names
    assert len(set(names)) >= 45, names


def test_bad_arguments_are_refused(docs):
    with pytest.raises(MicrogptError, match='population must be >= 2'):
        Evolution(docs, population=1)
    with pytest.raises(MicrogptError, match='unknown fitness'):
        Evolution(docs, fitness='beauty')
    with pytest.raises(MicrogptError, match='at least 2 documents'):
        Evolution(docs[:1])


def test_cli_evolve_then_train_uses_the_evolved_genome(docs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(genome_module, 'GENE_SPACE', TINY_SPACE)
    data = tmp_path / 'names.txt'
    data.write_text('\n'.join(docs) + '\n')
    runner = CliRunner()
    result = runner.invoke(main, ['evolve', '--fitness', 'loss', '--population', '3', '--generations', '2',
                                  '--workers', '1', '--seed', '9', '--data', str(data)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith('primordial (n_embd=16 n_head=4') and 'val loss' in lines[0]
    assert lines[1].startswith('gen  1/2 | best ') and 'diversity' in lines[1]
    assert lines[2].startswith('gen  2/2 | best ')
    assert lines[3].startswith('best: val loss ')
    assert 'genome written to genome.json' in result.stderr
    logs = list((tmp_path / 'experiments').glob('evolve-loss-*-seed9.jsonl'))
    assert len(logs) == 1
    evolved = load_genome('genome.json')
    assert evolved.provenance['command'][:3] == ['evolve', '--fitness', 'loss']
    assert set(evolved.provenance) >= {'microgpt', 'python', 'numpy', 'data_sha256', 'engine', 'created'}
    assert evolved.provenance['data_sha256'] and evolved.provenance['log'] == f'experiments/{logs[0].name}'

    trained = runner.invoke(main, ['train', '--data', str(data), '--samples', '0', '--engine', 'numpy'])
    assert trained.exit_code == 0, trained.output
    assert 'using genome genome.json (loss fitness' in trained.stderr
    assert trained.stdout.splitlines()[-1].startswith(f"step {evolved.genome.num_steps:4d}")

    refused = runner.invoke(main, ['evolve', '--fitness', 'loss', '--population', '1', '--data', str(data)])
    assert refused.exit_code == 2 and "Invalid value for '--population'" in refused.stderr
