"""The lifecycle a person runs: a search that never leaves the creature worse and says how
far it is, a genome that fits the run asked of it, new names on request, and the time the
long commands take."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import DOCS_PAGES, REPO
from microgpt import console as console_module
from microgpt.cli import main
from microgpt.console import Console, Ticker
from microgpt.evolve import genes
from microgpt.evolve.decision import FINAL_SCORINGS, FINALISTS, decide
from microgpt.evolve.organism import Organism
from microgpt.files import checkpoint as ckpt
from microgpt.gpt.sampling import NewNames
from microgpt.training.genome import Genome, load_genome, save_genome

TINY_BUDGET_SPACE = genes.BUDGET_SPACE.narrowed(n_embd=(8, 16), n_head=(1, 2), n_layer=(1, 2), block_size=(8, 10),
                                                ff_mult=(1, 2), batch_size=(1, 8))
# A genome no 2e6-FLOP organism can match on these names: far more steps than the budget buys.
STRONG = Genome(n_embd=16, n_head=2, n_layer=1, block_size=16, ff_mult=2, learning_rate=0.01, num_steps=600,
                batch_size=8, warmup=30)
WEAK = Genome(n_embd=8, n_head=1, n_layer=1, block_size=16, ff_mult=1, learning_rate=0.001, num_steps=2)


@pytest.fixture
def folder(tmp_path, monkeypatch, names_docs):
    """An empty folder with 400 names as names.txt, the tiny budget space as the budget space."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(genes.SPACES, 'budget', TINY_BUDGET_SPACE)
    (tmp_path / 'names.txt').write_text('\n'.join(names_docs[:400]) + '\n')
    return tmp_path


def evolve_cli(*extra, population=3, generations=2):
    return CliRunner().invoke(main, ['evolve', '--fitness', 'loss', '--population', str(population),
                                     '--generations', str(generations), '--workers', '1', '--seed', '5',
                                     '--data', 'names.txt', '--budget', '2e6', *extra])


def log_of(folder):
    [path] = (folder / 'experiments').glob('evolve-*.jsonl')
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- never a worse genome -------------------------------------------------------------------

def test_a_search_keeps_a_better_genome_and_says_so(folder):
    save_genome('genome.json', STRONG, {'fitness': 'loss', 'score': 2.0})
    before = (folder / 'genome.json').read_bytes()
    result = evolve_cli()
    assert result.exit_code == 0, result.output
    assert (folder / 'genome.json').read_bytes() == before  # kept, byte for byte
    decision_line = result.stdout.splitlines()[-1]
    assert decision_line.startswith('kept genome.json: the incumbent (val loss ')
    assert 'beats the winner (val loss ' in decision_line
    assert 'the winner is in genome.candidate.json (--replace adopts it)' in decision_line
    candidate = load_genome('genome.candidate.json')
    log = log_of(folder)
    [decision] = [r for r in log if r['kind'] == 'decision']
    assert decision['replaced'] is False and decision['lead'] < 0 and decision['higher_is_better'] is False
    assert Genome.from_settings(decision['winner']['genes']) == candidate.genome
    assert f"by {-decision['lead']:.4f}" in decision_line
    # the incumbent trained as `microgpt train` trains it, on the finalists' seeds and split
    incumbent = [r for r in log if r['kind'] == 'organism' and r['origin'] == 'incumbent']
    finals = [r for r in log if r['kind'] == 'organism' and r['origin'] == 'confirmation']
    assert len(incumbent) == FINAL_SCORINGS and all(r['num_steps'] == STRONG.num_steps for r in incumbent)
    assert Genome.from_settings(incumbent[0]['genes']) == STRONG
    assert {r['seed'] for r in incumbent} == {r['seed'] for r in finals} and len(finals) == FINALISTS * FINAL_SCORINGS
    assert 'incumbent genome.json (' in result.stdout and log[-1]['replaced'] is False


def test_replace_forces_the_winner_in(folder):
    save_genome('genome.json', STRONG, {'fitness': 'loss', 'score': 2.0})
    result = evolve_cli('--replace')
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith('replaced genome.json as --replace asks, though the incumbent')
    assert load_genome('genome.json').genome != STRONG and not (folder / 'genome.candidate.json').exists()
    [decision] = [r for r in log_of(folder) if r['kind'] == 'decision']
    assert decision['replaced'] is True and decision['forced'] is True


def test_a_winner_that_beats_the_incumbent_by_more_than_the_noise_replaces_it(folder):
    save_genome('genome.json', WEAK, {})
    result = evolve_cli()
    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[-1]
    assert line.startswith('replaced genome.json: the winner (val loss ') and 'more than the noise' in line
    assert load_genome('genome.json').genome != WEAK


def organism(score, spread_scores, fitness='loss'):
    """A scored organism with these scores (its mean is `score` only if they say so)."""
    o = Organism(WEAK, 1, 0, 1, 'random', fitness)
    key = 'val_loss' if fitness == 'loss' else None
    last = spread_scores[-1]
    o.result = {'val_loss': last} if key else {'measured': {'score': last}}
    o.earlier_scores = list(spread_scores[:-1])
    return o


@pytest.mark.parametrize('fitness, winner, incumbent, replaced, why', [
    ('loss', [2.00, 2.02, 2.01], [2.10, 2.11, 2.09], True, 'the winner beats the incumbent by more than the noise'),
    ('loss', [2.00, 2.04, 2.02], [2.03, 2.05, 2.01], False, 'the winner is within the noise of the incumbent'),
    ('loss', [2.20, 2.21, 2.22], [2.00, 2.01, 2.02], False, 'the incumbent beats the winner'),
    # the aesthetic fitness: higher is better
    ('aesthetic', [0.70, 0.71, 0.72], [0.60, 0.61, 0.60], True, 'the winner beats the incumbent by more than the noise'),
    ('aesthetic', [0.60, 0.61, 0.60], [0.70, 0.71, 0.72], False, 'the incumbent beats the winner'),
])
def test_the_decision_weighs_the_lead_against_the_larger_spread(tmp_path, fitness, winner, incumbent, replaced,
                                                                 why):
    out = tmp_path / 'g.json'
    defender = organism(None, incumbent, fitness)
    best = organism(None, winner, fitness)
    decision = decide(fitness, best, defender, out)
    assert decision['replaced'] is replaced and decision['why'] == why
    noise = max(best.spread, defender.spread)
    assert decision['noise'] == pytest.approx(noise)
    assert decision['lead'] == pytest.approx(defender.cost - best.cost)
    assert decision['genome_written'] == str(out if replaced else tmp_path / 'g.candidate.json')
    forced = decide(fitness, best, defender, out, replace=True)
    assert forced['replaced'] is True and forced['forced'] is (not replaced)


def test_an_interrupted_search_leaves_the_genome_alone(folder, monkeypatch):
    from microgpt.evolve import search
    save_genome('genome.json', WEAK, {})
    before = (folder / 'genome.json').read_bytes()
    calls = []
    real = search.run_trial

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(search, 'run_trial', interrupted)
    result = evolve_cli()
    assert result.exit_code == 130
    assert (folder / 'genome.json').read_bytes() == before and (folder / 'genome.interrupted.json').exists()
    assert not (folder / 'genome.candidate.json').exists()


# --- a baseline already scored is not trained again -------------------------------------------

def final_of(log):
    """{origin: [val loss of each final scoring]} of the baselines, and the decision."""
    [decision] = [r for r in log if r['kind'] == 'decision']
    baselines = {r['origin']: r['scores'] for r in log if r['kind'] == 'baseline'}
    return baselines, {k: decision[k] for k in ('replaced', 'lead', 'noise', 'why')}


def test_a_second_search_reuses_the_baselines_scorings_and_decides_as_training_them_would(folder):
    """The genome a first search writes keeps its final's scorings of it as its record; the
    same search again meets it by that record (the same split, settings, seeds and arithmetic):
    it does not train it, says so in the plan and the final, and prints and decides exactly
    what training it again decides (--retrain-incumbent). The primordial genome (a second's
    work) is trained."""
    first = evolve_cli()
    assert first.exit_code == 0, first.output
    kept = load_genome('genome.json')
    [first_log] = (folder / 'experiments').glob('evolve-*.jsonl')
    first_records = [json.loads(line) for line in first_log.read_text().splitlines()]
    [final] = [r for r in first_records if r['kind'] == 'confirmation']
    [winner] = [o for o in final['organisms'] if Genome.from_settings(o['genes']) == kept.genome]
    assert [s['seed'] for s in kept.record['scorings']] == final['seeds'] == winner['seeds']
    assert [s['components']['val_loss'] for s in kept.record['scorings']] == winner['scores']
    runs = {}
    for name, extra in (('reused', ()), ('trained', ('--retrain-incumbent',))):
        before = set((folder / 'experiments').glob('evolve-*.jsonl'))
        result = evolve_cli(*extra)
        assert result.exit_code == 0, result.output
        [path] = set((folder / 'experiments').glob('evolve-*.jsonl')) - before
        runs[name] = result, [json.loads(line) for line in path.read_text().splitlines()]
    result, log = runs['reused']
    err = result.stderr.splitlines()
    [plan] = [line for line in err if line.startswith('plan: ')]
    total = 3 * 2 + (FINALISTS + 1) * FINAL_SCORINGS  # the incumbent's 3 trainings are not among them
    assert f"{total} trainings" in plan
    assert f"incumbent genome.json {kept.genome.num_steps:,} steps (" in plan and "; 3 of 3 scorings reused from genome.json)" in plan
    trainings = [line for line in err if ' | training ' in line]
    assert len(trainings) == total and not any('incumbent' in line for line in trainings)
    assert sum('baseline primordial, seed ' in line for line in trainings) == FINAL_SCORINGS
    assert "incumbent genome.json: 3 of 3 scorings reused from genome.json (the same split" in result.stderr
    reused = [r for r in log if r['kind'] == 'organism' and r.get('reused_from')]
    assert [r['origin'] for r in reused] == ['incumbent'] * FINAL_SCORINGS
    assert all(r['reused_from'] == 'genome.json' for r in reused)
    assert log[0]['split_sha256'] == kept.record['split_sha256']
    trained_result, trained_log = runs['trained']
    assert not any(r.get('reused_from') for r in trained_log if r['kind'] == 'organism')
    assert sum('incumbent genome.json, seed ' in line for line in trained_result.stderr.splitlines()) == FINAL_SCORINGS
    # reused or trained again, the same scores to the last bit, the same verdict and lines
    assert final_of(log) == final_of(trained_log)
    assert result.stdout == trained_result.stdout


# --- progress ---------------------------------------------------------------------------------

def test_a_piped_search_prints_its_plan_then_a_line_per_training(folder):
    save_genome('genome.json', STRONG, {'fitness': 'loss', 'score': 2.0})
    result = evolve_cli(population=3, generations=2)
    assert result.exit_code == 0, result.output
    err = result.stderr.splitlines()
    [plan] = [i for i, line in enumerate(err) if line.startswith('plan: 3 organisms x 2 generations')]
    trainings = [line for line in err if ' | training ' in line]
    total = 3 * 2 + (FINALISTS + 2) * FINAL_SCORINGS  # the final: finalists, primordial, incumbent
    assert f"{total} trainings" in err[plan] and 'on 1 worker ' in err[plan] and 'ms)' in err[plan]
    assert 'incumbent genome.json 600 steps' in err[plan] and 'primordial 1,000 steps' in err[plan]
    assert err.index(trainings[0]) > plan
    assert [line.split(' | ')[1] for line in trainings] == [f"training {k} of {total}" for k in range(1, total + 1)]
    assert sum(line.startswith('generation 1 of 2 | ') for line in trainings) == 3
    assert sum(line.startswith('generation 2 of 2 | ') for line in trainings) == 3
    finals = [line for line in trainings if line.startswith('final | ')]
    assert len(finals) == total - 6
    assert sum('baseline primordial, seed ' in line for line in finals) == FINAL_SCORINGS
    assert sum('incumbent genome.json, seed ' in line for line in finals) == FINAL_SCORINGS
    assert all(' elapsed, ETA ' in line for line in trainings) and trainings[-1].endswith('ETA 0.0s')
    assert 'generation 3/2' not in result.output
    assert any(line.startswith('evolved in ') and 'of wall time' in line for line in err)


def test_in_a_terminal_the_progress_line_updates_in_place():
    class Tty:
        def __init__(self):
            self.text = ''

        def write(self, text):
            self.text += text

        def flush(self):
            pass

        def isatty(self):
            return True
    out, err = Tty(), Tty()
    shown = Console(out, err)
    shown.status('training 1 of 2')
    shown.status('training 2 of 2')
    assert err.text == '\rtraining 1 of 2\033[K\rtraining 2 of 2\033[K'


def test_the_ticker_says_nothing_of_short_work_then_a_line_at_most_every_tick():
    class Lines:
        def __init__(self):
            self.lines = []

        def info(self, line):
            self.lines.append(line)
    now = [0.0]
    lines = Lines()
    ticker = Ticker(lines, 'training', 100, unit='steps', clock=lambda: now[0])
    for step in range(1, 100):
        now[0] = step * 0.5  # a step every half second: 50 s in all
        ticker.update(step)
    first, every = console_module.FIRST_TICK_SECONDS, console_module.TICK_SECONDS
    assert len(lines.lines) == 1 + int((49.5 - first) // every)
    assert lines.lines[0] == "training: 10 of 100 steps (10%), 5.0s elapsed, ETA 45.0s"
    doc = ' '.join((DOCS_PAGES / 'lifecycle.md').read_text().split())
    assert f"longer than {first:g} seconds, a line at most every {every:g} seconds, such as `{lines.lines[0]}`" in doc


def test_train_and_eval_tick_on_stderr_and_leave_stdout_alone(runner, small_data, monkeypatch):
    args = ['train', '--data', str(small_data), '--n-embd', '8', '--n-head', '2', '--steps', '30', '--samples', '3',
            '--primordial']
    quiet = runner.invoke(main, args)
    monkeypatch.setattr(console_module, 'FIRST_TICK_SECONDS', 0.0)
    monkeypatch.setattr(console_module, 'TICK_SECONDS', 0.0)
    ticking = runner.invoke(main, args)
    assert quiet.exit_code == ticking.exit_code == 0
    assert ticking.stdout == quiet.stdout  # the original's lines, untouched
    ticks = [line for line in ticking.stderr.splitlines() if line.startswith('training: ')]
    assert len(ticks) == 29 and ticks[0].startswith('training: 1 of 30 steps (3%), ') and 'ETA' in ticks[0]
    assert not any(line.startswith('training: ') for line in quiet.stderr.splitlines())
    evaluated = runner.invoke(main, ['eval', '--data', str(small_data)])
    assert evaluated.exit_code == 0
    assert any(line.startswith('evaluating: 256 of 300 documents') for line in evaluated.stderr.splitlines())


def test_sweep_lines_carry_elapsed_time_and_an_eta(runner, small_data):
    result = runner.invoke(main, ['sweep', 'steps', '--from', '2', '--to', '6', '--every', '2', '--size', 'small',
                                  '--data', str(small_data), '--workers', '1', '--out-dir', 'out'])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith('[')]
    assert len(lines) == 3 and all(' elapsed, ETA ' in line for line in lines) and lines[-1].endswith('ETA 0.0s')


# --- bad input, before any work -------------------------------------------------------------------

@pytest.mark.parametrize('setup, message', [
    (lambda f: (f / 'genome.json').mkdir(), 'genome file genome.json is a folder'),
    (lambda f: (f / 'genome.json').write_text('{"format": "microgpt-genome", "version": 2, "genes": {}}'),
     "genome file genome.json: field 'genes.n_embd' is missing; the search would compare its winner"),
    (lambda f: save_genome(f / 'genome.json', Genome(n_embd=8, n_head=1, num_steps=5).with_settings(warmup=9), {}),
     "genome file genome.json: field 'genes.warmup' must be a whole number of steps"),
])
def test_an_out_that_cannot_be_a_genome_is_one_line_before_any_work(folder, setup, message):
    setup(folder)
    result = evolve_cli()
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {message}"), result.stderr
    assert len(result.stderr.splitlines()) == 1 and not (folder / 'experiments').exists()


def test_an_out_in_a_missing_or_unwritable_folder_is_refused(folder):
    result = evolve_cli('--out', 'nowhere/genome.json')
    assert result.exit_code == 1 and result.stderr == "Error: genome file nowhere/genome.json: folder nowhere does not exist\n"
    if os.path.isdir('/proc'):  # a folder even root cannot write into
        result = evolve_cli('--out', '/proc/genome.json')
        assert result.exit_code == 1 and result.stderr.startswith(
            "Error: genome file /proc/genome.json: folder /proc is not writable")
    assert not (folder / 'experiments').exists()


def test_new_samples_with_no_samples_is_a_contradiction(runner, small_data):
    result = runner.invoke(main, ['train', '--data', str(small_data), '--samples', '0', '--new-samples'])
    assert result.exit_code == 1 and result.stderr.startswith('Error: --new-samples picks which samples')
    assert not os.path.exists(ckpt.DEFAULT_CHECKPOINT)


# --- a genome that fits the run ---------------------------------------------------------------------

def test_an_inherited_warmup_scales_with_the_steps(runner, small_data):
    save_genome('genome.json', STRONG, {'fitness': 'loss', 'score': 2.0})
    result = runner.invoke(main, ['train', '--data', str(small_data), '--steps', '5', '--samples', '0'])
    assert result.exit_code == 0, result.output
    scaled = round(STRONG.warmup * 5 / STRONG.num_steps)
    assert ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT).training['warmup'] == scaled
    assert f"warmup scaled with the steps: {STRONG.warmup} of the genome's {STRONG.num_steps} -> {scaled} of 5" \
        in result.stderr
    assert 'I have become (loss fitness 2.0000)' in result.stderr  # the genome's architecture is in force
    given = runner.invoke(main, ['train', '--data', str(small_data), '--steps', '5', '--warmup', '3', '--samples', '0'])
    assert given.exit_code == 0 and ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT).training['warmup'] == 3
    too_long = runner.invoke(main, ['train', '--data', str(small_data), '--steps', '5', '--warmup', '9'])
    assert too_long.exit_code == 1 and too_long.stderr.rstrip().endswith('(warmup is given: set it with --warmup)')


def test_a_reshaped_genome_does_not_say_it_has_become(runner, small_data):
    save_genome('genome.json', STRONG, {'fitness': 'loss', 'score': 2.0})
    result = runner.invoke(main, ['train', '--data', str(small_data), '--steps', '5', '--n-embd', '8', '--samples', '0'])
    assert result.exit_code == 0, result.output
    assert 'I have become' not in result.stderr
    assert 'I am genome genome.json (loss fitness 2.0000), reshaped on the command line (n_embd=8)' in result.stderr
    bad = runner.invoke(main, ['train', '--data', str(small_data), '--steps', '5', '--n-embd', '9'])
    assert bad.exit_code == 1
    assert bad.stderr == ("Error: n_embd (9) must be divisible by n_head (2) "
                          "(n_head is genome genome.json's: set it with --n-head)\n")


def test_train_steps_5_works_in_the_project_root(tmp_path):
    """The shipped genome, whatever its warmup, trains for 5 steps where it is shipped."""
    shipped = load_genome(REPO / 'genome.json').genome
    result = subprocess.run([sys.executable, '-m', 'microgpt', 'train', '--steps', '5', '--samples', '2',
                             '--out', str(tmp_path / 'five.ckpt.json')], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith('sample  2: ')
    training = ckpt.load_checkpoint(tmp_path / 'five.ckpt.json').training
    assert training['num_steps'] == 5 and training['warmup'] == min(round(shipped.warmup * 5 / shipped.num_steps), 4)


# --- new names ------------------------------------------------------------------------------------

def test_new_names_rejects_known_and_repeated_names_and_gives_up():
    chosen = NewNames(iter(['ann', 'bo', 'ann', 'cy', 'bo', 'di', 'ed']), {'bo'}, 3, max_draws=5)
    assert list(chosen) == ['ann', 'cy']  # 'di' was the sixth draw: past the limit
    assert chosen.counts == dict(accepted=2, drawn=5, known=2, repeated=1, max_draws=5, asked=3)
    enough = NewNames(iter(['ann', 'bo', 'cy', 'di']), {'bo'}, 2)
    assert list(enough) == ['ann', 'cy'] and enough.counts['drawn'] == 3


def test_sample_new_prints_no_training_name(runner, small_data):
    names = set(small_data.read_text().split())
    assert runner.invoke(main, ['train', '--data', str(small_data), '--primordial', '--steps', '300',
                                '--samples', '0']).exit_code == 0
    plain = runner.invoke(main, ['sample', '--num', '40', '--data', str(small_data)])
    drawn = [line.split(': ', 1)[1] for line in plain.stdout.splitlines()]
    assert any(name in names for name in drawn)  # the test means something: known names do come up
    new = runner.invoke(main, ['sample', '--num', '40', '--new', '--data', str(small_data)])
    assert new.exit_code == 0, new.output
    lines = new.stdout.splitlines()
    sampled = [line.split(': ', 1)[1] for line in lines]
    assert lines == [f"sample {i:2d}: {name}" for i, name in enumerate(sampled, start=1)]
    assert len(sampled) == 40 and not names & set(sampled) and len(set(sampled)) == 40
    [said] = [line for line in new.stderr.splitlines() if line.startswith('new names: ')]
    rejected = int(said.split('rejected ')[1].split()[0])
    assert said.startswith(f"new names: 40 new names in {40 + rejected} draws; rejected {rejected} (")
    assert rejected >= sum(name in names for name in drawn[:1])


def test_train_new_samples_are_new(runner, small_data):
    names = set(small_data.read_text().split())
    result = runner.invoke(main, ['train', '--data', str(small_data), '--primordial', '--steps', '300',
                                  '--samples', '15', '--new-samples'])
    assert result.exit_code == 0, result.output
    sampled = [line.split(': ', 1)[1] for line in result.stdout.splitlines() if line.startswith('sample')]
    assert len(sampled) == 15 and not names & set(sampled) and len(set(sampled)) == 15
    assert 'novelty: 15 of 15 samples new' in result.stderr


def test_the_docs_example_of_sample_new(tmp_path, names_path):
    """After `microgpt train --primordial`, `sample --new` as the docs quote it."""
    shutil.copy(names_path, tmp_path / 'input.txt')
    run = lambda *args: subprocess.run([sys.executable, '-m', 'microgpt', *args], cwd=tmp_path,  # noqa: E731
                                       capture_output=True, text=True, check=True)
    run('train', '--primordial', '--samples', '0')
    novelty = run('sample', '--novelty').stderr.splitlines()[-1]
    new = run('sample', '--new').stderr.splitlines()[-1]
    doc = ' '.join((DOCS_PAGES / 'lifecycle.md').read_text().split())
    fresh, known = int(novelty.split()[1]), int(novelty.split(', ')[1].split()[0])
    assert known > 0  # the plain samples do hold names of the data
    assert (f"plain `microgpt sample` prints {known} names of the data among its 20 "
            f"(`novelty: {fresh} of 20 samples new`") in doc
    assert f"`microgpt sample --new` says `{new}`" in doc


def test_the_docs_runs_in_the_project_root(tmp_path):
    """The block of commands the docs show for a genome that fits the run: each command, run in
    the project root, prints the lines shown under it (stderr; '...' elides a line's start)."""
    text = (DOCS_PAGES / 'lifecycle.md').read_text()
    block = text.split('test_the_docs_runs_in_the_project_root, in the project root -->\n```text\n', 1)[1]
    block = block.split('\n```', 1)[0]
    commands = [chunk.splitlines() for chunk in block.split('$ microgpt ')[1:]]
    assert len(commands) == 4
    for command, *shown in commands:
        done = subprocess.run([sys.executable, '-m', 'microgpt', *command.split(),
                               '--out', str(tmp_path / 'run.ckpt.json')], cwd=REPO, capture_output=True, text=True)
        printed = done.stderr.splitlines()
        assert (done.returncode == 1) == shown[-1].startswith('Error: '), (command, done.stderr)
        for line in shown:
            if line.startswith('... '):
                assert any(p.endswith(line[4:]) for p in printed), (command, line)
            else:
                assert line in printed, (command, line)


def test_the_docs_describe_the_final_by_its_constants():
    doc = ' '.join((DOCS_PAGES / 'lifecycle.md').read_text().split())
    assert (f"the {FINALISTS} best organisms, the **incumbent**" in doc
            and f"are each trained on the same {FINAL_SCORINGS} fresh seeds" in doc)
