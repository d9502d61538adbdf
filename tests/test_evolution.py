import json
import statistics
from dataclasses import replace

import pytest
from click.testing import CliRunner

from microgpt.cli import main
from microgpt.errors import MicrogptError
from microgpt.evolve import genes
from microgpt.evolve import search as evolution_module
from microgpt.evolve.decision import FINAL_SCORINGS
from microgpt.evolve.events import GenerationSummary, Stagnation
from microgpt.evolve.genes import BUDGET_SPACE, SEED_SPACE
from microgpt.evolve.organism import organism_seed
from microgpt.evolve.search import Evolution
from microgpt.training.genome import load_genome
from microgpt.trials.runner import run_trial

# Tiny organisms: the real ranges, narrowed so that each trains in milliseconds.
TINY_SPACE = SEED_SPACE.narrowed(n_embd=(8, 12), n_layer=(1, 2), block_size=(8, 10), ff_mult=(1, 2),
                                 num_steps=(5, 25))
TINY_BUDGET_SPACE = BUDGET_SPACE.narrowed(n_embd=(8, 16), n_head=(1, 2), n_layer=(1, 2), block_size=(8, 10),
                                          ff_mult=(1, 2), batch_size=(1, 8))
TINY_BUDGET = 2e6  # FLOPs: some 10 to 50 steps of these organisms


@pytest.fixture(scope='module')
def docs(names_docs):
    return names_docs[:200]


def evolve(docs, tmp_path, name, **kwargs):
    settings = dict(fitness='loss', population=4, generations=2, seed=3, workers=1, space=TINY_SPACE,
                    baseline=False, out=tmp_path / f'{name}.json', log_dir=tmp_path / f'{name}-logs')
    settings.update(kwargs)
    evolution = Evolution(docs, **settings)
    return evolution, evolution.run()


def evolve_telling(docs, tmp_path, name, **kwargs):
    """evolve, with the events the search yielded."""
    settings = dict(fitness='loss', population=4, generations=2, seed=3, workers=1, space=TINY_SPACE,
                    baseline=False, out=tmp_path / f'{name}.json', log_dir=tmp_path / f'{name}-logs')
    settings.update(kwargs)
    evolution = Evolution(docs, **settings)
    events = list(evolution.events())
    return evolution, evolution.best, events


def read_log(evolution):
    return [json.loads(line) for line in evolution.log_path.read_text().splitlines()]


def without_timing(record):
    """The record less what may differ between equal runs: timings, worker count, paths."""
    if isinstance(record, list):
        return [without_timing(r) for r in record]
    if isinstance(record, dict):
        return {k: without_timing(v) for k, v in record.items()
                if k not in ('seconds', 'cpu_seconds', 'eval_seconds', 'workers', 'started', 'finished',
                             'genome_written', 'out', 'organism_seconds', 'baseline_seconds', 'step_seconds',
                             'estimated_cpu_seconds', 'estimated_seconds')}
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
    key = lambda r: (r['kind'], r.get('scored_in', -1), r.get('generation', -1), r.get('index', -2),  # noqa: E731
                     r.get('seed', -1))
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
    assert kinds[:2] == ['run', 'plan'] and kinds[-3:] == ['confirmation', 'decision', 'result']
    organisms = [r for r in records if r['kind'] == 'organism']
    # every generation scores 4: generation 1 all random, later ones the elite again and 3 new
    for generation in (1, 2, 3):
        assert len([r for r in organisms if r['scored_in'] == generation]) == 4
    assert kinds.count('generation') == 3
    for r in organisms:
        assert set(r) >= {'generation', 'genes', 'score', 'components', 'seconds', 'seed', 'origin', 'parents',
                          'mutated', 'flops', 'num_steps', 'tokens'}
        assert r['seed'] == organism_seed(3, r['scored_in'], r['index'] if r['origin'] != 'elite' else 0) \
            or r['origin'] == 'confirmation'
        assert r['tokens'] > 0 and r['flops'] > 0
    later = [r for r in organisms if r['scored_in'] == 2]
    assert sorted(r['origin'] for r in later) == ['child', 'elite', 'immigrant', 'immigrant']
    generations = [r for r in records if r['kind'] == 'generation']
    for g in generations:  # each generation's best is the best mean of the organisms it scored
        scored = [r for r in organisms if r['scored_in'] == g['generation']]
        assert g['best'] == min(r['score'] for r in scored)
        assert 1 <= g['diversity'] <= 4
    finalists = records[-3]['organisms']
    # the final: every finalist trained again on the same seeds, its score the mean of those
    assert len(finalists) == 3 and all(f['seeds'] == evolution.final_seeds() for f in finalists)
    assert best.score == min(f['score'] for f in finalists) == records[-1]['best']['score']


def test_failing_organisms_get_the_worst_fitness_and_the_run_goes_on(docs, tmp_path, monkeypatch):
    calls = []

    def flaky(trial, *args, **kwargs):
        calls.append(trial.seed)
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        if len(calls) == 3:
            return run_trial(replace(trial, genome=trial.genome.with_settings(learning_rate=1e6)), *args, **kwargs)
        return run_trial(trial, *args, **kwargs)

    monkeypatch.setattr(evolution_module, 'run_trial', flaky)
    evolution, best, events = evolve_telling(docs, tmp_path, 'flaky')
    summaries = [e for e in events if isinstance(e, GenerationSummary)]
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
    # the best of the last generation were scored on the same fresh seeds FINAL_SCORINGS times,
    # and the crown goes to the better mean of those finalists: no single lucky draw wins
    confirmed = [r for r in organisms if r['origin'] == 'confirmation']
    assert len(confirmed) == 3 * FINAL_SCORINGS and {r['seed'] for r in confirmed} == set(evolution.final_seeds())
    finalists = read_log(evolution)[-3]['organisms']
    assert all(len(f['scores']) == FINAL_SCORINGS for f in finalists)
    assert best.score == max(f['score'] for f in finalists)
    assert [best.generation, best.index] in [[f['generation'], f['index']] for f in finalists]
    assert read_log(evolution)[-3]['kind'] == 'confirmation'


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
    narrow = SEED_SPACE.narrowed(n_embd=(8, 9), n_head=(1, 2), n_layer=(1, 2), block_size=(8, 9), ff_mult=(1, 2),
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
    from microgpt.gpt.sampling import generate
    from microgpt.training.run import Run
    evolution = Evolution(names_docs, fitness='aesthetic', population=6, generations=3, seed=7, workers=2,
                          baseline=False, out=tmp_path / 'art.json', log_dir=tmp_path, space='seed')
    best = evolution.run()
    genome = best.genome
    run = Run(evolution.train_docs, seed=best.seed, arch=genome.arch())
    run.train(genome.train_config())
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
    monkeypatch.setitem(genes.SPACES, 'budget', TINY_BUDGET_SPACE)
    data = tmp_path / 'names.txt'
    data.write_text('\n'.join(docs) + '\n')
    runner = CliRunner()
    result = runner.invoke(main, ['evolve', '--fitness', 'loss', '--population', '3', '--generations', '2',
                                  '--workers', '1', '--seed', '9', '--data', str(data), '--budget', '2e6'])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith('gen  1/2 | best ') and 'diversity' in lines[0]
    assert lines[1].startswith('gen  2/2 | best ')
    assert lines[2].startswith('primordial (n_embd=16 n_head=4') and 'val loss' in lines[2] and '±' in lines[2]
    assert lines[3].startswith('best: val loss ') and '±' in lines[3]
    assert lines[4].startswith('lead over the runner-up') and 'the spread of their scorings' in lines[4]
    assert lines[5] == 'wrote genome.json: there was no genome there to beat'
    assert 'genome written to genome.json' in result.stderr and '2e+06 FLOPs each' in result.stderr
    logs = list((tmp_path / 'experiments').glob('evolve-loss-*-seed9.jsonl'))
    assert len(logs) == 1
    evolved = load_genome('genome.json')
    p = evolved.provenance
    assert p['command'][:3] == ['evolve', '--fitness', 'loss']
    assert set(p) >= {'microgpt', 'python', 'numpy', 'data_sha256', 'engine', 'created', 'spread', 'scores',
                      'runner_up', 'lead', 'lead_exceeds_spread', 'budget', 'flops'}
    assert p['data_sha256'] and p['log'] == f'experiments/{logs[0].name}' and p['space'] == 'budget'
    assert len(p['scores']) == FINAL_SCORINGS and p['score'] == pytest.approx(sum(p['scores']) / FINAL_SCORINGS)
    assert p['flops'] <= 2e6 and p['budget'] == 2e6

    trained = runner.invoke(main, ['train', '--data', str(data), '--samples', '0', '--engine', 'numpy'])
    assert trained.exit_code == 0, trained.output
    assert 'using genome genome.json (loss fitness' in trained.stderr
    assert trained.stdout.splitlines()[-1].startswith(f"step {evolved.genome.num_steps:4d}")
    from microgpt.files import checkpoint as ckpt
    training = ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT).training
    from microgpt.training.genome import TRAIN_SETTINGS
    # the winner exactly: steps, batch size, weight decay, warmup, schedule and all
    assert {k: training[k] for k in TRAIN_SETTINGS} == evolved.genome.train()

    refused = runner.invoke(main, ['evolve', '--fitness', 'loss', '--population', '1', '--data', str(data)])
    assert refused.exit_code == 2 and "Invalid value for '--population'" in refused.stderr


# --- the budget -----------------------------------------------------------------------------

def budget_evolve(docs, tmp_path, name, **kwargs):
    return evolve(docs, tmp_path, name, space=TINY_BUDGET_SPACE, budget=TINY_BUDGET, **kwargs)


@pytest.mark.parametrize('fitness', ['loss', 'aesthetic'])
def test_every_organism_gets_the_same_flops(docs, tmp_path, fitness):
    from microgpt.compute.flops import lengths_of, mean_step_flops
    from microgpt.gpt.model import GPTConfig
    evolution, best = budget_evolve(docs, tmp_path, 'fair', fitness=fitness)
    organisms = [r for r in read_log(evolution) if r['kind'] == 'organism']
    assert len({(r['genes']['n_embd'], r['genes']['n_layer'], r['genes']['batch_size']) for r in organisms}) > 3
    for r in organisms:
        genes = r['genes']
        arch = {k: genes[k] for k in ('n_embd', 'n_head', 'n_layer', 'block_size', 'ff_mult')}
        lengths = lengths_of(evolution.train_docs, genes['block_size'])
        step = mean_step_flops(GPTConfig(vocab_size=evolution.vocab_size, **arch), genes['batch_size'], lengths,
                               genes['dropout']).total  # dropout's mul nodes cost FLOPs too
        # the steps the budget buys: all it can, and no more
        assert r['num_steps'] == genes['num_steps'] and r['flops'] == pytest.approx(step * r['num_steps'])
        assert TINY_BUDGET - step < r['flops'] <= TINY_BUDGET
        assert r['tokens'] > 0 and r['seconds'] > 0 and r['cpu_seconds'] >= 0
    run = read_log(evolution)[0]
    assert run['budget'] == TINY_BUDGET and run['space'] == 'budget' and 'num_steps' not in run['genes']


def test_budget_results_do_not_depend_on_the_worker_count(docs, tmp_path):
    one, best_one = budget_evolve(docs, tmp_path, 'b1', workers=1)
    two, best_two = budget_evolve(docs, tmp_path, 'b2', workers=2)
    assert best_one.genome == best_two.genome and best_one.score == best_two.score
    key = lambda r: (r['kind'], r.get('scored_in', -1), r.get('generation', -1), r.get('index', -2),  # noqa: E731
                     r.get('seed', -1))
    assert sorted(without_timing(read_log(one)), key=key) == sorted(without_timing(read_log(two)), key=key)


@pytest.mark.parametrize('kwargs, message', [
    (dict(budget=1e3), "buys no step of the smallest organism"),
    (dict(budget=1e15), "more than 20,000 steps"),
    (dict(space='seed', budget=1e9), "the seed space has steps as a gene: it takes no --budget"),
    (dict(space='colour'), "unknown gene space"),
])
def test_a_budget_that_cannot_work_is_one_line_before_any_work(docs, tmp_path, kwargs, message):
    with pytest.raises(MicrogptError, match=message) as err:
        Evolution(docs, log_dir=tmp_path / 'logs', **kwargs)
    assert '\n' not in str(err.value) and not (tmp_path / 'logs').exists()


def test_a_space_too_big_for_memory_is_refused(docs, tmp_path, monkeypatch):
    from microgpt.training import run as training
    monkeypatch.setattr(training, 'available_memory', lambda: 50 * 2**20)
    with pytest.raises(MicrogptError, match=r"the largest organism of the budget space \([\d,]+ parameters\) "
                                            r"needs about .* GiB on each of 2 workers"):
        Evolution(docs, workers=2, log_dir=tmp_path)


def test_cli_budget_errors_are_one_line(docs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / 'names.txt'
    data.write_text('\n'.join(docs) + '\n')
    for extra, message in ((['--budget', '10'], 'buys no step'), (['--budget', 'nan'], "Invalid value for '--budget'"),
                           (['--space', 'seed', '--budget', '1e9'], 'takes no --budget')):
        result = CliRunner().invoke(main, ['evolve', '--fitness', 'loss', '--data', str(data), *extra])
        assert result.exit_code in (1, 2) and message in result.stderr and 'Traceback' not in result.output
        assert not (tmp_path / 'experiments').exists() or not list((tmp_path / 'experiments').iterdir())


# --- noise-aware selection and lineage ---------------------------------------------------------

def test_the_loss_elite_is_trained_again_on_a_fresh_seed_and_keeps_the_mean(docs, tmp_path):
    evolution, best = evolve(docs, tmp_path, 'noise', generations=3)
    organisms = [r for r in read_log(evolution) if r['kind'] == 'organism']
    elites = [r for r in organisms if r['origin'] == 'elite']
    assert len(elites) == 2
    for elite in elites:
        born = (elite['generation'], elite['index'])
        scorings = [r for r in organisms[:organisms.index(elite) + 1] if (r['generation'], r['index']) == born]
        seeds = [r['seed'] for r in scorings]
        assert len(set(seeds)) == len(seeds) == elite['scorings']  # a fresh training seed every time
        own = [r['components']['val_loss'] for r in scorings]
        assert elite['score'] == pytest.approx(sum(own) / len(own)) and elite['scores'] == own
    p = load_genome(tmp_path / 'noise.json', TINY_SPACE).provenance
    assert len(p['scores']) >= FINAL_SCORINGS and len(set(p['seeds'])) == len(p['seeds'])
    assert p['spread'] == pytest.approx(statistics.stdev(p['scores']))
    assert p['runner_up']['score'] >= p['score'] and p['lead'] == pytest.approx(p['runner_up']['score'] - p['score'])
    assert p['lead_exceeds_spread'] == (p['lead'] > max(p['spread'], p['runner_up']['spread']))


def test_every_organism_records_its_birth(docs, tmp_path):
    evolution, best = budget_evolve(docs, tmp_path, 'lineage', generations=3)
    organisms = [r for r in read_log(evolution) if r['kind'] == 'organism']
    born = {(r['generation'], r['index']): r for r in organisms if r['origin'] in ('random', 'immigrant', 'child')}
    children = [r for r in born.values() if r['origin'] == 'child']
    assert children
    for r in born.values():
        if r['origin'] != 'child':
            assert r['parents'] == [] and r['mutated'] == []
            continue
        assert 1 <= len(r['parents']) <= 2 and r['mutated'] and set(r['mutated']) <= set(TINY_BUDGET_SPACE.genes)
        for parent in r['parents']:
            assert tuple(parent) in born and parent[0] < r['generation']


def test_a_stagnant_search_says_so_and_lets_in_more_immigrants(docs, tmp_path, monkeypatch):
    monkeypatch.setattr(evolution_module, 'STAGNATION', 1)

    def constant(trial, *args, **kwargs):  # every organism scores the same: nothing ever improves
        record = run_trial(replace(trial, genome=trial.genome.with_settings(num_steps=1)), *args, **kwargs)
        return dict(record, val_loss=2.5)

    monkeypatch.setattr(evolution_module, 'run_trial', constant)
    evolution, best, events = evolve_telling(docs, tmp_path, 'stale', population=6, generations=3)
    told = [(e.generation, e.stale, e.immigrants) for e in events if isinstance(e, Stagnation)]
    records = read_log(evolution)
    stagnation = [r for r in records if r['kind'] == 'stagnation']
    assert [r['generation'] for r in stagnation] == [2] and told == [(2, 1, 3)]
    origins = lambda g: [r['origin'] for r in records if r['kind'] == 'organism' and r['scored_in'] == g]  # noqa: E731
    assert origins(2).count('immigrant') == 2 and origins(3).count('immigrant') == 3


def test_analyze_prints_the_winners_ancestry_and_plots_the_births(docs, tmp_path, monkeypatch):
    evolution, best = budget_evolve(docs, tmp_path, 'tree', generations=4, population=5, baseline=True)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ['analyze', str(evolution.log_path)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert 'budget space, 2e+06 FLOPs each' in text and 'primordial' in text and 'finalist' in text
    assert f"wrote {evolution.out}: there was no genome there to beat" in text  # the final's decision
    tree = text.split("the winner's ancestry (generation.index, birth, mean score):\n", 1)[1].splitlines()
    assert tree[0].startswith(f"  {best.generation}.{best.index}  ") and f"{best.score:.4f}" in tree[0]
    births = {(r['generation'], r['index']): r for r in read_log(evolution)
              if r['kind'] == 'organism' and r['origin'] in ('random', 'immigrant', 'child')}
    shown = {tuple(map(int, line.split()[0].split('.'))) for line in tree}
    ancestors, todo = set(), [(best.generation, best.index)]
    while todo:  # the winner and all its ancestors, by the parents the log records
        key = todo.pop()
        if key not in ancestors:
            ancestors.add(key)
            todo += [tuple(p) for p in births[key]['parents']]
    assert shown == ancestors
    pytest.importorskip('matplotlib')
    assert CliRunner().invoke(main, ['analyze', str(evolution.log_path), '--plot', 'tree.png']).exit_code == 0
    assert (tmp_path / 'tree.png').stat().st_size > 0


def test_the_trainers_genes_reach_the_training(docs, tmp_path, monkeypatch):
    """weight_decay, warmup and schedule are genes of the budget space, and each organism
    trains with its own: its trial gets them all."""
    seen = []

    def spy(trial, *args, **kwargs):
        seen.append(trial)
        return run_trial(trial, *args, **kwargs)

    monkeypatch.setattr(evolution_module, 'run_trial', spy)
    evolution, best = budget_evolve(docs, tmp_path, 'trainer', population=6)
    assert {'weight_decay', 'warmup', 'schedule'} <= set(TINY_BUDGET_SPACE.genes)
    organisms = [r for r in read_log(evolution) if r['kind'] == 'organism']
    for trial, record in zip(sorted(seen, key=lambda t: t.seed), sorted(organisms, key=lambda r: r['seed'])):
        assert {k: getattr(trial.genome, k) for k in ('weight_decay', 'warmup', 'schedule', 'batch_size', 'num_steps')} == \
            {k: record['genes'][k] for k in ('weight_decay', 'warmup', 'schedule', 'batch_size', 'num_steps')}
        assert record['genes']['warmup'] <= record['genes']['num_steps'] // 2
    assert len({r['genes']['schedule'] for r in organisms}) > 1 and any(r['genes']['weight_decay'] for r in organisms)


def test_no_budget_organism_crops_a_document(docs, tmp_path):
    """A block_size shorter than a document would train and score it on fewer tokens: under a
    budget, block_size starts at the longest document's positions (or the range's top)."""
    wide = TINY_BUDGET_SPACE.narrowed(block_size=(4, 24))
    evolution, best = evolve(docs, tmp_path, 'crop', space=wide, budget=TINY_BUDGET)
    longest = max(len(doc) + 1 for doc in docs)
    assert 4 < longest <= 24 and evolution.space.ranges['block_size'].low == longest
    organisms = [r for r in read_log(evolution) if r['kind'] == 'organism']
    assert all(r['genes']['block_size'] >= longest for r in organisms)
    seed = Evolution(docs, space=TINY_SPACE.narrowed(block_size=(4, 24)), log_dir=tmp_path)
    assert seed.space.ranges['block_size'].low == 4  # the seed design's search stays as it was


def test_on_the_names_the_budget_space_starts_block_size_at_16(names_docs, tmp_path):
    assert Evolution(names_docs, log_dir=tmp_path).space.ranges['block_size'].low == 16  # as the evolution page says


# --- the story a search tells, and its log ------------------------------------------------------

def test_a_search_yields_its_story_in_order(docs, tmp_path):
    from microgpt.evolve import events as told
    evolution, best, events = evolve_telling(docs, tmp_path, 'story', baseline=True)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == 'PlanMade' and kinds[-2:] == ['FinalResult', 'Decision']
    assert kinds.count('GenerationSummary') == 2 and kinds.count('BaselineScored') == 1
    trainings = [e for e in events if isinstance(e, told.TrainingDone)]
    assert [e.done for e in trainings] == list(range(1, len(trainings) + 1))
    assert trainings[-1].done == trainings[-1].total == 4 * 2 + 3 * FINAL_SCORINGS + FINAL_SCORINGS
    finals = [e for e in trainings if e.stage == 'final']
    assert sorted({e.final_seed for e in finals}) == list(range(1, FINAL_SCORINGS + 1))
    result = next(e for e in events if isinstance(e, told.FinalResult))
    assert result.best is best and result.runner_up is evolution.runner_up
    assert events[-1].decision == evolution.decision and evolution.decision['genome_written'] == str(evolution.out)


def test_the_log_is_written_a_whole_line_at_a_time(tmp_path):
    from microgpt.evolve.log import EvolveLogWriter, numbered_records
    log = EvolveLogWriter(tmp_path, 'loss', 3)
    log.write({'kind': 'run', 'score': float('inf')})
    with open(log.path, 'a') as f:
        f.write('{"kind": "organ')  # a line torn by a crash
    log.write({'kind': 'result'})
    assert [record for _, record in numbered_records(log.path)] == [{'kind': 'run', 'score': None}, {'kind': 'result'}]
    assert log.path.name.startswith('evolve-loss-') and log.path.name.endswith('-seed3.jsonl')
