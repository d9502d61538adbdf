"""Every shipped result is one the code as committed reproduces: a cheap slice of each results
file under experiments/ is replayed by the settings and seeds it records, and the docs (docs/pages)
quote the files' own figures.

A replay must equal the record bit for bit where it runs on the arithmetic that made it
(the same numpy, SIMD targets, BLAS, kernel and threads: reproducibility.same_arithmetic), and
agree within the stated cross-machine tolerance for its run length elsewhere. Which case
applied is printed at the end of the test session."""
import json
import subprocess
import sys

import pytest

from conftest import DOCS_PAGES, REPLAY_CASES, REPO, docs_text
from printed import find_printed_line, same_print
from replays import final_standings, recorded_score, replay_organism
from microgpt.commands import analyze
from microgpt.data import load_docs, sha256_of, split_docs
from microgpt.reproducibility import (CROSS_MACHINE_TOLERANCE, cross_machine_tolerance, describe_arithmetic, machine,
                                      same_arithmetic)
from microgpt.scaling import analysis, frontier, sweep
from microgpt.training.genome import Genome, load_genome

EXPERIMENTS = REPO / 'experiments'
DATA = REPO / 'input.txt'


def replay_tolerance(steps, recorded, current, dtype='float64', batch_size=1):
    """(tolerance, case) for replaying here (`current`) a run recorded on `recorded`: 0.0 ('bit for
    bit') when the arithmetic is the same, else the cross-machine bound."""
    if same_arithmetic(recorded, current):
        return 0.0, 'bit for bit: same arithmetic'
    return cross_machine_tolerance(steps, dtype, batch_size), (
        f"within the cross-machine tolerance: recorded on {describe_arithmetic(recorded)}, "
        f"replayed on {describe_arithmetic(current)}")


def assert_replays(what, steps, recorded_on, replayed, recorded, batch_size=1):
    """Bit for bit on the recording arithmetic, else within the cross-machine tolerance."""
    tolerance, case = replay_tolerance(steps, recorded_on, machine(), batch_size=batch_size)
    difference = abs(replayed - recorded)
    REPLAY_CASES.append(f"{what}: {case}: difference {difference:.3g} (allowed {tolerance})")
    assert tolerance is not None, f"{what}: {steps} steps is beyond the runs whose drift was measured"
    if tolerance == 0.0:
        assert replayed == recorded, f"{what}: {case}, yet the replay differs by {difference:.3g}"
    else:
        assert difference <= tolerance, f"{what}: {case}; differs by {difference:.3g}"

SWEEPS = sorted(EXPERIMENTS.glob('sweep-*.jsonl'))
# A frontier run beyond the shipped frontier's budgets, kept out of its fit to test its predictions.
FRONTIER_CHECKS = sorted((EXPERIMENTS / 'frontier-check').glob('sweep-frontier-*.jsonl'))


def documented():
    """The scaling page and the README: where the scaling study's figures are quoted."""
    return docs_text('scaling', 'README')


# the shipped searches, and the timed runs of the default search (experiments/default-search)
EVOLVE_LOGS = sorted(EXPERIMENTS.glob('evolve-*.jsonl')) + sorted((EXPERIMENTS / 'default-search').glob('evolve-*.jsonl'))
REPLAYED_PER_LOG = 2
SLOW_REPLAY_SECONDS = 10  # a log whose cheapest organisms took longer than this is replayed in the slow suite


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope='module')
def docs():
    return load_docs(DATA)


def test_there_are_shipped_results():
    assert SWEEPS and EVOLVE_LOGS and (REPO / 'genome.json').exists()


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize('path', SWEEPS + FRONTIER_CHECKS, ids=lambda p: p.name)
def test_sweep_results_replay(path, docs):
    header, rows = sweep.read_results(path, warn=pytest.fail)
    assert header and header['provenance']['data_sha256'] == sha256_of(DATA)
    assert header['provenance']['command'][0] == 'sweep'
    train, val = sweep.sweep_split(docs, rows[0].get('split_seed', rows[0]['seed']))
    cheapest = sorted((row for row in rows if not row.get('diverged')), key=sweep.run_cost)[:2]
    for row in cheapest:
        spec = {f: row[f] for f in sweep.run_fields(row['sweep'])}
        replayed = sweep.run_one(spec, train, val)
        if row['sweep'] == 'frontier':  # the budget buys the same steps, tokens and FLOPs
            assert [replayed[f] for f in ('steps', 'tokens', 'flops')] == [row[f] for f in ('steps', 'tokens', 'flops')]
        recorded_on = row.get('arithmetic') or header['provenance'].get('machine')
        what = f"{path.name} {row['size']} {row['steps']} steps"
        assert_replays(what + ' val loss', row['steps'], recorded_on, replayed['val_loss'], row['val_loss'])
        assert_replays(what + ' train loss', row['steps'], recorded_on, replayed['train_loss'], row['train_loss'])


def replay_cost(record):
    """What replaying an organism costs, near enough to pick the cheapest: its recorded CPU
    (older logs: wall) seconds."""
    return record.get('cpu_seconds') or record['seconds']


def cheapest_organisms(path):
    """The log's run record, and the cheapest scoring of a baseline (generation 0) and of the
    search's own organisms (the two cheapest of these when there is no baseline). A scoring
    reused from another log is that log's to replay."""
    records = read_jsonl(path)
    organisms = sorted((r for r in records if r['kind'] == 'organism' and r['error'] is None
                        and not r.get('reused_from')), key=replay_cost)
    baselines = [r for r in organisms if r['generation'] == 0][:1]
    searched = [r for r in organisms if r['generation'] > 0][:REPLAYED_PER_LOG - len(baselines)]
    return records[0], baselines + searched


def evolve_log_param(path):
    slow = sum(replay_cost(r) for r in cheapest_organisms(path)[1]) > SLOW_REPLAY_SECONDS
    return pytest.param(path, id=path.name, marks=[pytest.mark.slow] if slow else [])


# Replays done in this session, by all that decides one (the default searches share organisms:
# the same training and scoring runs once; each log still checks its own record against it).
REPLAYED = {}


def replayed_score(run, record, train, val):
    """replay_organism's score of this scoring (train and val: the split of run['seed'])."""
    key = json.dumps([record['genes'], record['seed'], record['components'].get('seeds'), run['engine'],
                      run['fitness'], run['seed']], sort_keys=True)
    if key not in REPLAYED:
        REPLAYED[key] = replay_organism(run, record, train, val)
    return REPLAYED[key]


@pytest.mark.kernel
@pytest.mark.parametrize('path', [evolve_log_param(p) for p in EVOLVE_LOGS])
def test_evolve_log_replays(path, docs):
    """The cheapest organisms of each log, trained again by the settings and seed recorded,
    score what the log says this scoring scored (an elite's 'score' is the mean of several)."""
    run, cheapest = cheapest_organisms(path)
    assert run['kind'] == 'run' and run['provenance']['data_sha256'] == sha256_of(DATA)
    train, val = split_docs(docs, run['seed'])
    for record in cheapest:
        replayed = replayed_score(run, record, train, val)
        recorded_on = record.get('arithmetic') or run['provenance'].get('machine')
        assert_replays(f"{path.name} organism {record['generation']}.{record['index']}", record['genes']['num_steps'],
                       recorded_on, replayed, recorded_score(run, record), record['genes'].get('batch_size', 1))


# The genome the budgeted search evolved, shipped as genome.json until the search at a user's
# compute (experiments/quality-search) replaced it.
BUDGET_GENOME = 'experiments/genome-budget.json'


@pytest.mark.parametrize('genome_path', [BUDGET_GENOME, 'experiments/genome-seed-space.json',
                                         'experiments/genome-aesthetic.json',
                                         'experiments/genome-aesthetic-seed-space.json'])
def test_evolved_genomes_are_the_best_of_their_logs(genome_path):
    shipped = load_genome(REPO / genome_path)
    p = shipped.provenance
    log = read_jsonl(REPO / p['log'])
    result = log[-1]
    assert result['kind'] == 'result' and result['interrupted'] is False
    assert Genome.from_settings(result['best']['genes']) == shipped.genome and result['best']['score'] == p['score']
    assert p['command'][0] == 'evolve' and p['data_sha256'] == sha256_of(DATA)


def test_readme_quotes_the_shipped_figures():
    tables = subprocess.run([sys.executable, '-m', 'microgpt', 'analyze', *map(str, SWEEPS), '--markdown'],
                            capture_output=True, text=True, cwd=REPO, check=True).stdout
    # as the README makes it: analyze experiments/sweep-steps-*.jsonl experiments/sweep-params-*.jsonl --markdown
    curves = [path for kind in ('steps', 'params') for path in SWEEPS if path.name.startswith(f'sweep-{kind}-')]
    steps_and_params = subprocess.run([sys.executable, '-m', 'microgpt', 'analyze', *map(str, curves), '--markdown'],
                                      capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert same_print((EXPERIMENTS / 'scaling-tables.md').read_text(), steps_and_params)
    shown = documented()
    for line in tables.splitlines():
        if line.startswith('|'):
            assert line in shown, f"the scaling page lacks the analyze line: {line}"
    readme = docs_text('evolution')  # the shipped genome's scores
    shipped = load_genome(REPO / BUDGET_GENOME).provenance
    assert f"{shipped['score']:.4f}" in readme and f"{shipped['primordial_score']:.4f}" in readme
    if shipped.get('spread') is not None:  # a search that scored on several seeds: every stage as mean ± spread
        from microgpt.evolve.log import load_evolve_log
        assert f"{shipped['score']:.4f} ± {shipped['spread']:.4f}" in readme
        for baseline in load_evolve_log(REPO / shipped['log']).baselines:
            assert f"{baseline['score']:.4f} ± {baseline['spread']:.4f}" in readme, baseline['origin']


FRONTIERS = [path for path in SWEEPS if path.name.startswith('sweep-frontier-')]


def close(a, b):
    """Equal JSON, numbers to 1e-6 relative or 1e-8 absolute (the fit's last bits may differ
    between machines; a difference of two close numbers, such as rel_error, keeps fewer)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(close, a, b))
    if isinstance(a, float) or isinstance(b, float):
        return b == pytest.approx(a, rel=1e-6, abs=1e-8)
    return a == b


@pytest.fixture(scope='module')
def shipped_fit():
    """The shipped frontier and what `analyze --fit` fits to it, fitted once."""
    [path] = FRONTIERS
    found = frontier.load_frontier(sweep.read_rows(path, warn=pytest.fail), str(path))
    return found, frontier.fit_frontier(found)


@pytest.mark.slow
def test_the_shipped_frontier_fit_is_analyze_fits_output(shipped_fit):
    found, result = shipped_fit
    as_json = json.loads(json.dumps(analyze.fit_json(result)))
    assert close(json.loads((EXPERIMENTS / 'frontier-fit.json').read_text()), as_json)
    # As printed numbers within the fit's tolerance: another machine may round a last digit the
    # other way (D_opt 935,762 against 935,763), which that tolerance does not fix.
    shown = analysis.loss_table(found, markdown=True) + '\n\n' + analyze.fit_lines(result)
    assert same_print((EXPERIMENTS / 'frontier-fit.md').read_text(), shown + '\n')
    shown = documented()
    fit_lines = analyze.fit_lines(result).splitlines()
    assert len(fit_lines) > 10 and any('held-out check' in line for line in fit_lines)
    for line in fit_lines:  # the held-out check's predicted and measured losses among them
        assert find_printed_line(line, shown), f"the scaling page lacks the fit line: {line}"
    holdout = as_json['holdout']
    assert abs(holdout['laws'][holdout['better']]['rel_error']) <= 0.02  # the goal for the held-out check


@pytest.mark.slow
def test_a_run_beyond_the_frontier_lands_where_predict_says(shipped_fit, docs):
    """The check run (not fitted) at a budget beyond the frontier's: within 2% of the better
    law's prediction and inside its stated range, or flagged by --predict as outside the runs."""
    found, result = shipped_fit
    [path] = FRONTIER_CHECKS
    [check] = [r for r in sweep.read_rows(path, warn=pytest.fail) if r['role'] == 'frontier']
    assert check['budget'] > max(found.budgets) and check['split_seed'] == found.rows[0]['split_seed']
    assert check['lr'] == found.lr[check['size']]
    prediction = frontier.predict(result, {'N': check['params'], 'C': check['budget']})
    assert prediction['law'] == result.better and prediction['size'] == check['size']
    low, high = prediction['range']
    landed = abs(check['val_loss'] / prediction['loss'] - 1) <= 0.02 and low <= check['val_loss'] <= high
    assert landed or prediction['warnings']
    assert landed, (check['val_loss'], prediction)  # and here it does land, warnings or not
    line = analyze.prediction_lines({'N': check['params'], 'C': check['budget']}, prediction).splitlines()[0]
    assert find_printed_line(line, documented()), f"the scaling page lacks the check's prediction: {line}"
    assert f"{check['val_loss']:.4f}" in documented()


def test_one_pass_over_the_names_is_counted_from_the_runs(docs):
    [path] = FRONTIERS
    rows = sweep.read_rows(path, warn=pytest.fail)
    train, _ = sweep.sweep_split(docs, rows[0]['split_seed'])
    from microgpt.compute.flops import lengths_of
    assert abs(frontier.one_pass_tokens(rows) - sum(lengths_of(train, rows[0]['block_size']))) < 1


@pytest.mark.kernel
@pytest.mark.slow
def test_the_frontier_runs_past_the_first_study_replay(docs):
    """A slice of the runs that carried the frontier past 3e11 FLOPs (many passes over the
    names): the cheapest of them, trained again by its recorded settings."""
    [path] = FRONTIERS
    header, rows = sweep.read_results(path, warn=pytest.fail)
    beyond = [row for row in rows if row['budget'] > 3e11]
    assert beyond
    row = min(beyond, key=lambda r: (r['seconds'], r['seed']))
    spec = {f: row[f] for f in sweep.run_fields('frontier')}
    replayed = sweep.run_one(spec, *sweep.sweep_split(docs, row['split_seed']))
    assert [replayed[f] for f in ('steps', 'tokens', 'flops')] == [row[f] for f in ('steps', 'tokens', 'flops')]
    what = f"{path.name} {row['size']} {row['budget']:.3g} FLOPs, {row['steps']} steps"
    assert_replays(what + ' val loss', row['steps'], row['arithmetic'], replayed['val_loss'], row['val_loss'],
                   batch_size=row['batch_size'])


def test_readme_quotes_the_frontier_files_figures(docs):
    [path] = FRONTIERS
    readme = ' '.join(docs_text('scaling').split())  # one line, as the prose wraps
    rows = sweep.read_rows(path, warn=pytest.fail)
    per_token = {}
    for row in rows:
        per_token.setdefault(row['size'], set()).add(f"{row['flops'] / row['tokens'] / row['params']:.1f}")
    assert [per_token[s] for s in ('e8l1', 'e16l1')] == [{'5.7'}] * 2
    assert all(per_token[s] == {'6.1'} for s in ('e24l2', 'e32l2', 'e48l2', 'e64l3'))
    assert "a token costs 5.7 N FLOPs for the two smallest sizes and 6.1 N for the others" in readme
    train, _ = sweep.sweep_split(docs, rows[0]['split_seed'])
    one_pass = sum(min(len(doc) + 1, rows[0]['block_size']) for doc in train)
    assert f"one pass over the training names is {one_pass:,} tokens" in readme
    at_top = {r['size']: r for r in rows if r['budget'] == 3e11 and r['seed'] == 42}
    assert f"there {round(at_top['e8l1']['tokens'] / one_pass)})" in readme
    assert f"At 3e11 FLOPs ({at_top['e32l2']['steps']:,} steps of 32 names" in readme
    search = [r for r in rows if r['role'] == 'lr-search']
    assert {r['size'] for r in search if r.get('diverged')} == {'e48l2', 'e64l3'}
    assert {r['lr'] for r in search if r.get('diverged')} == {0.08}


def test_readme_states_the_drift_the_sweep_tables_use():
    readme = ' '.join(docs_text('scaling').split())
    drift = [f"{t:g}".replace('e-0', 'e-') for _, t in CROSS_MACHINE_TOLERANCE]
    longest = CROSS_MACHINE_TOLERANCE[-1][0]
    assert (f"{drift[0]} up to {CROSS_MACHINE_TOLERANCE[0][0]:,} steps, then {', '.join(drift[1:-1])} and "
            f"{drift[-1]} at {longest:,}") in readme


def test_readme_shows_the_judge_as_microgpt_judge_scores_its_examples():
    readme = docs_text('evolution')
    shown = subprocess.run([sys.executable, '-m', 'microgpt', 'judge', 'experiments/judge-examples.txt'],
                           capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert shown.strip() and shown.strip() in readme
    assert (EXPERIMENTS / 'judge-examples.out.txt').read_text() == shown


def test_cross_machine_tolerance_covers_the_measured_drift():
    """The stated tolerance is at least twice the largest drift benchmarks/drift.py measured for
    the shipped runs of each length, and the reproducibility page shows that report's table."""
    from drift import format_report
    report = json.loads((EXPERIMENTS / 'drift.json').read_text())
    assert report['provenance']['command'][0] == 'drift' and len(report['runs']) >= 10
    for row in report['by_length']:
        tolerance = cross_machine_tolerance(row['steps'])
        assert tolerance is not None and tolerance >= 2 * row['largest_spread'], row
    assert all(len(run['arithmetics']) >= 4 for run in report['runs'])
    assert format_report(report) in docs_text('reproducibility')


def batched_drift():
    """{run: (steps, batch_size, [recorded, replayed under each arithmetic...])} of
    experiments/batched-drift/batched-drift.jsonl, and the arithmetics it replayed under."""
    rows = read_jsonl(EXPERIMENTS / 'batched-drift' / 'batched-drift.jsonl')
    runs = {}
    for row in rows:
        runs.setdefault(row['run'], (row['steps'], row['batch_size'], [row['recorded']]))[2].append(row['replayed'])
    return runs, [row['arithmetic'] for row in rows]


def test_batched_tolerance_covers_the_measured_drift():
    """The stated tolerance for mini-batch float64 runs is at least twice the spread
    measured for each replayed run (its record and its replays under four arithmetics: the
    CPU's kernels of each SIMD width CI forces, with 1 and 2 threads), and the reproducibility
    page gives each spread."""
    from microgpt.reproducibility import CROSS_MACHINE_TOLERANCE_BATCHED
    runs, arithmetics = batched_drift()
    assert len(runs) == 5 and {(a['blas_kernel'], a['blas_threads']) for a in arithmetics} == {
        ('Haswell', 1), ('Nehalem', 1), ('Nehalem', 2), ('SkylakeX', 2)}
    readme = ' '.join(docs_text('reproducibility').split())
    for name, (steps, batch_size, losses) in runs.items():
        assert batch_size > 1 and len(losses) == 5
        spread = max(losses) - min(losses)
        assert cross_machine_tolerance(steps, batch_size=batch_size) >= 2 * spread, name
        assert f"{steps:,} steps of {batch_size} | {spread:.2g} |" in readme, name
    assert [longest for longest, _ in CROSS_MACHINE_TOLERANCE_BATCHED] == sorted({s for s, _, _ in runs.values()})


@pytest.mark.kernel
def test_drift_report_replays(docs):
    """The drift report's shortest run, replayed here, gives the loss the report recorded for
    this machine's arithmetic (when the report saw it), else one within the tolerance."""
    report = json.loads((EXPERIMENTS / 'drift.json').read_text())
    run = min(report['runs'], key=lambda r: r['steps'])
    spec = dict(zip(sweep.RUN_FIELDS, run['run']))
    replayed = sweep.run_one(spec, *sweep.sweep_split(docs, spec['seed']))['val_loss']
    here = machine()
    kernel = f"{here['blas_kernel']}/{here['blas_threads']}"
    recorded_on = report['provenance']['machine']
    if kernel in run['arithmetics']:
        recorded_on = dict(recorded_on, blas_kernel=here['blas_kernel'], blas_threads=here['blas_threads'])
        recorded = run['val_losses'][run['arithmetics'].index(kernel)]
    else:
        recorded = run['val_losses'][0]
    assert_replays(f"drift.json {spec['size']} {spec['steps']} steps", spec['steps'], recorded_on, replayed, recorded)


RECIPE = EXPERIMENTS / 'recipe'
GENOME_CHECK = EXPERIMENTS / 'genome-check'


def stripped_runs(folder):
    """The checkpoints without weights that a make.sh keeps in `folder`, by file stem."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob('*.json'))}


def recipe_runs():
    return stripped_runs(RECIPE)


def replay_first_evaluation(shipped, docs):
    """A stripped checkpoint's run trained again from scratch to its first evaluation: the
    recorded evaluation, and the held-out loss replayed."""
    from microgpt.training.run import first_evaluation
    step, replayed = first_evaluation(shipped, docs)
    first = shipped['training']['curve'][0]
    assert step == first['step']
    return first, replayed


@pytest.mark.kernel
@pytest.mark.slow
def test_recipe_replays_its_first_evaluation(docs):
    """The good-model recipe (docs/pages/training.md, "From the original run to a good model"), seed 42,
    replayed to its first evaluation (step 500 of 6,500): the held-out loss it recorded, bit
    for bit on its arithmetic, within the float32 tolerance elsewhere; the training page prints it."""
    shipped = recipe_runs()['seed42']
    first, replayed = replay_first_evaluation(shipped, docs)
    assert first['step'] == 500
    tolerance, case = replay_tolerance(first['step'], shipped['provenance']['machine'], machine(),
                                       shipped['training']['dtype'])
    REPLAY_CASES.append(f"recipe seed 42 at step 500: {case}")
    assert abs(replayed - first['val_loss']) <= tolerance
    line = f"eval step  500 / 6500 | train loss {first['train_loss']:.4f} | held-out loss {first['val_loss']:.4f}"
    assert line in docs_text('training')


def assert_readme_quotes_seeds(runs, names, page):
    """The docs page gives the final held-out losses of these runs, and their mean ± half the
    range; returns the page as one line."""
    losses = [runs[name]['training']['curve'][-1]['val_loss'] for name in names]
    readme = ' '.join(docs_text(page).split())
    mean, half_range = sum(losses) / len(losses), (max(losses) - min(losses)) / 2
    assert f"{mean:.3f} ± {half_range:.3f}" in readme
    assert ', '.join(f"{x:.4f}" for x in losses) in readme
    return readme


def test_readme_quotes_the_recipes_seeds_and_kernels():
    """Mean ± half the range of the four seeds' final held-out losses, and the three kernels'
    losses of seed 42, as the training and reproducibility pages give them."""
    runs = recipe_runs()
    assert_readme_quotes_seeds(runs, [f'seed{s}' for s in (42, 1, 2, 3)], 'training')
    kernels = [runs[name]['training']['curve'] for name in ('seed42', 'kernel-Haswell', 'kernel-Nehalem')]
    assert [runs[name]['provenance']['machine']['blas_kernel'] for name in ('kernel-Haswell', 'kernel-Nehalem')] == \
        ['Haswell', 'Nehalem']
    spread = max(max(c[i]['val_loss'] for c in kernels) - min(c[i]['val_loss'] for c in kernels)
                 for i in range(len(kernels[0])))
    assert cross_machine_tolerance(6500, 'float32') >= 2 * spread
    assert f"{spread:.4f}" in docs_text('reproducibility')


def genome_check_runs():
    return stripped_runs(GENOME_CHECK)


def test_genome_check_trained_the_shipped_genome():
    """experiments/genome-check/make.sh trained the budgeted genome's own settings (then
    genome.json), all its steps, on the shipped data, each run holding out a split the search
    did not score on."""
    shipped = load_genome(REPO / BUDGET_GENOME)
    runs = genome_check_runs()
    assert sorted(runs) == ['seed1', 'seed2', 'seed3', 'seed4']
    for run in runs.values():
        t = run['training']
        assert Genome.from_settings({**run['config'], **t}) == shipped.genome
        assert t['seed'] != shipped.provenance['seed'] and t['val_split'] > 0
        assert t['steps_done'] == t['num_steps'] and t['curve'][-1]['step'] == t['num_steps']
        assert t['data_sha256'] == sha256_of(DATA) and t['dtype'] == 'float64'


def test_readme_quotes_the_genome_check():
    """The evolved creature's held-out loss as the evolution page gives it: mean ± half the range of
    the four splits' final losses, each of them, and the slowest run's seconds."""
    runs = genome_check_runs()
    readme = assert_readme_quotes_seeds(runs, [f'seed{s}' for s in (1, 2, 3, 4)], 'evolution')
    assert f"{max(r['seconds'] for r in runs.values()):.0f} s" in readme


@pytest.mark.kernel
@pytest.mark.slow
def test_genome_check_replays_its_first_evaluation(docs):
    """Seed 1 of the genome check, trained again to its first evaluation: the held-out loss
    it recorded, bit for bit on its arithmetic, within the cross-machine tolerance elsewhere."""
    shipped = genome_check_runs()['seed1']
    first, replayed = replay_first_evaluation(shipped, docs)
    assert_replays(f"genome-check seed 1 at step {first['step']}", first['step'],
                   shipped['provenance']['machine'], replayed, first['val_loss'], shipped['training']['batch_size'])


def test_readme_quotes_the_shipped_race():
    """The race's figures on the training page are those of benchmarks/race.json (a timed run is not
    replayed; its file is what the docs may quote)."""
    report = json.loads((REPO / 'benchmarks' / 'race.json').read_text())
    readme = docs_text('training')
    assert report['race']['verdict'] in readme
    mine, twin = report['race']['contestants']['microgpt'], report['race']['contestants']['makemore_twin']
    assert f"| {mine['held_out_loss']:.4f}" in readme.replace('**', '') and f"{twin['held_out_loss']:.4f}" in readme
    assert mine['held_out_loss'] < twin['held_out_loss'] and report['goals']['race_heldout_loss_vs_torch']['met']


def test_readmes_show_the_shipped_bench_reports():
    """The engines page (docs/pages/engines.md) and benchmarks/README.md hold the tables that
    benchmarks/tables.py makes from benchmarks/report.json and race.json, and every goal
    of those runs passed."""
    import runpy
    tables = runpy.run_path(str(REPO / 'benchmarks' / 'tables.py'))['tables']
    report, race = (json.loads((REPO / 'benchmarks' / name).read_text()) for name in ('report.json', 'race.json'))
    lines = [line for line in tables(report, race).splitlines() if line.strip()]
    for name, text in (('engines', docs_text('engines')), ('benchmarks/README.md', (REPO / 'benchmarks' / 'README.md').read_text())):
        for line in lines:
            assert line in text, f"{name} lacks the bench line: {line}"
    assert all(g['met'] for g in {**report['goals'], **race['goals']}.values())
    assert 'val_process_vs_original' in report['goals'] and report['comparisons']['val_prints_what_the_original_prints']


# --- the default searches, timed, and the aesthetic search at the budget ---------------------------

LIFECYCLE_DOC = DOCS_PAGES / 'lifecycle.md'
TEN_MINUTES = 600


def default_search_logs():
    """The shipped logs of `microgpt evolve --fitness F` as a newcomer types it, since searches
    print their plan (older logs of that command searched the defaults of their day)."""
    found = []
    for path in EVOLVE_LOGS:
        records = read_jsonl(path)
        command = records[0]['provenance']['command']
        if command[:2] == ['evolve', '--fitness'] and len(command) == 3 and any(r['kind'] == 'plan' for r in records):
            found.append(path)
    return found


def timed_default_searches():
    """The four timed runs of `experiments/default-search/make.sh timed`: from a copy of the
    project root as a clone has it, and from an empty folder."""
    return [path for path in default_search_logs() if path.parent.name == 'default-search']


def organisms_of(records, **where):
    return [r for r in records if r['kind'] == 'organism' and all(r.get(k) == v for k, v in where.items())]


def test_the_default_searches_finish_within_ten_minutes_as_the_docs_say():
    from microgpt.console import format_duration
    from microgpt.evolve.genes import DEFAULT_BUDGET, DEFAULT_GENERATIONS, DEFAULT_POPULATION
    doc = LIFECYCLE_DOC.read_text()
    timed = timed_default_searches()
    assert sorted(read_jsonl(path)[0]['fitness'] for path in timed) == ['aesthetic', 'aesthetic', 'loss', 'loss']
    for path in default_search_logs():  # the timed ones, and the first search from the project root
        records = read_jsonl(path)
        run, result = records[0], records[-1]
        assert (run['population'], run['generations'], run['budget']) == (
            DEFAULT_POPULATION, DEFAULT_GENERATIONS, DEFAULT_BUDGET), path.name  # the defaults as they are now
        assert result['kind'] == 'result' and not result['interrupted']
        assert result['seconds'] <= TEN_MINUTES or path not in timed
        row = next(line for line in doc.splitlines() if path.name in line)
        assert f"{format_duration(result['seconds'])} ({result['seconds']:.0f} s)" in row, row
        assert f"`microgpt evolve --fitness {run['fitness']}`" in row
        organisms = organisms_of(records)
        assert f"| {sum(r.get('cpu_seconds') or 0 for r in organisms):,.0f} |" in row
        trained = [r for r in organisms if not r.get('reused_from')]
        plan = next(r for r in records if r['kind'] == 'plan')
        assert plan['trainings'] == len(trained) and f"| {len(trained)} |" in row  # the plan counted every training


def test_from_the_project_root_the_incumbents_scorings_are_reused_from_its_record():
    """The timed searches from the project root trained no incumbent: its 3 scorings are the
    ones genome.json's record holds, which are those the first search from the project root
    trained and logged. (How a search meets a record: tests/test_incumbent.py.)"""
    shipped = load_genome(REPO / 'genome.json')
    recorded = {s['seed']: s for s in shipped.record['scorings']}
    [first] = [path for path in default_search_logs() if path.parent == EXPERIMENTS]
    first_records = read_jsonl(first)
    made = organisms_of(first_records, origin='incumbent')
    assert len(made) == 3 and not any(r.get('reused_from') for r in made)
    assert all(Genome.from_settings(r['genes']) == shipped.genome for r in made)
    assert {r['seed']: r['components'] for r in made} == {seed: s['components'] for seed, s in recorded.items()}
    assert shipped.record['log'] == str(first.relative_to(REPO))
    roots = [path for path in timed_default_searches() if organisms_of(read_jsonl(path), origin='incumbent')]
    assert sorted(read_jsonl(path)[0]['fitness'] for path in roots) == ['aesthetic', 'loss']
    for path in roots:
        records = read_jsonl(path)
        assert records[0]['split_sha256'] == shipped.record['split_sha256']
        reused = organisms_of(records, origin='incumbent')
        assert [r['reused_from'] for r in reused] == ['genome.json'] * 3
        for r in reused:
            source = recorded[r['seed']]['components']
            assert r['genes'] == shipped.genome.genes() and r['cpu_seconds'] == 0
            assert r['components']['val_loss'] == source['val_loss']
            if r['fitness'] == 'aesthetic':
                assert r['components'] == source
    doc = ' '.join(LIFECYCLE_DOC.read_text().split())
    cpu = sum(r['cpu_seconds'] for r in made)
    assert f"its 3 trainings of the incumbent took {cpu:,.0f} CPU seconds" in doc
    assert f"({shipped.genome.num_steps:,} steps of {shipped.genome.batch_size} names each)" in doc


def test_the_incumbents_scorings_are_shipped_for_the_kernel_openblas_picks_too():
    """`make.sh first-skylakex`: the same genome on the same seeds and split, on the SkylakeX
    kernel, by a search with the default seed and generations; the docs quote how far its
    held-out losses are from the Haswell kernel's."""
    from microgpt.evolve.genes import DEFAULT_GENERATIONS
    [first] = [path for path in default_search_logs() if path.parent == EXPERIMENTS]
    log = EXPERIMENTS / 'evolve-aesthetic-20261203-060904-seed42.jsonl'
    records, first_records = read_jsonl(log), read_jsonl(first)
    run = records[0]
    assert run['provenance']['command'][:3] == ['evolve', '--fitness', 'aesthetic']
    assert (run['seed'], run['generations']) == (42, DEFAULT_GENERATIONS)
    assert run['split_sha256'] == first_records[0]['split_sha256']
    made = {r['seed']: r for r in organisms_of(first_records, origin='incumbent')}
    skylakex = {r['seed']: r for r in organisms_of(records, origin='incumbent')}
    assert sorted(skylakex) == sorted(made)
    differences = []
    for seed, r in skylakex.items():
        assert r['genes'] == made[seed]['genes'] and r['arithmetic']['blas_kernel'] == 'SkylakeX'
        assert dict(r['arithmetic'], blas_kernel='Haswell') == made[seed]['arithmetic']
        assert r['components']['score'] == made[seed]['components']['score']
        differences.append(abs(r['components']['val_loss'] - made[seed]['components']['val_loss']))
    doc = ' '.join(LIFECYCLE_DOC.read_text().split())
    assert f"differ from the Haswell kernel's by at most {max(differences):.1e} and its judge scores not at all" in doc
    assert f"[`{log.name}`]" in doc


def test_the_readme_quotes_the_default_searches_from_the_project_root():
    from microgpt.console import format_duration
    readme = ' '.join((REPO / 'README.md').read_text().split())
    for path in timed_default_searches():
        records = read_jsonl(path)
        if not organisms_of(records, origin='incumbent'):
            continue  # an empty folder's
        [decision] = [r for r in records if r['kind'] == 'decision']
        verdict = 'replaced it' if decision['replaced'] else 'kept `genome.json`'
        assert (f"`microgpt evolve --fitness {records[0]['fitness']}` took {format_duration(records[-1]['seconds'])}"
                in readme)
        sentence = readme.split(f"--fitness {records[0]['fitness']}` took", 1)[1].split(';')[0]
        assert verdict in sentence, sentence


def test_the_aesthetic_genome_is_the_budgeted_search_and_the_docs_quote_its_final():
    from microgpt.evolve.log import load_evolve_log
    shipped = load_genome(REPO / 'experiments' / 'genome-aesthetic.json')
    p = shipped.provenance
    assert p['fitness'] == 'aesthetic' and p['space'] == 'budget' and p['budget'] and p['completed']
    log = load_evolve_log(REPO / p['log'])
    standings = {s.name: s for s in final_standings(log)}
    assert {'winner', 'primordial', 'incumbent'} <= set(standings)
    winner = standings['winner']
    assert Genome.from_settings(winner.genes) == shipped.genome and winner.score == pytest.approx(p['score'])
    doc = ' '.join(LIFECYCLE_DOC.read_text().split())
    for name in ('winner', 'primordial', 'incumbent'):
        s = standings[name]
        assert f"| {s.score:.4f} ± {s.spread:.4f} | {s.new:.1%} |" in doc, name
        assert f"{name}: *{', '.join(s.samples[:10])}*" in doc, name
    assert f"log is [`{p['log']}`]" in doc
    readme = ' '.join((REPO / 'README.md').read_text().split())
    for name, path in (('incumbent', '`genome.json`'), ('winner', '`experiments/genome-aesthetic.json`')):
        s = standings[name]
        assert f"{path}'s *{', '.join(s.samples[:10])}* ({s.new:.1%} of its 600 names new" in readme or \
            f"{path}'s *{', '.join(s.samples[:10])}* ({s.new:.1%} new)" in readme, name
    w, primordial, loss_genome = standings['winner'], standings['primordial'], standings['incumbent']
    noise = max(w.spread, primordial.spread)
    lead = w.score - primordial.score
    if abs(lead) <= noise:
        assert f"lead, {lead:.4f}, is **within** the noise (the larger spread, {noise:.4f})" in doc
    else:
        assert lead > 0 and (f"lead, {lead:.4f}, is {lead / noise:.1f} times the noise (the larger spread, "
                             f"{noise:.4f})") in doc
    below = primordial.score - loss_genome.score
    larger = max(primordial.spread, loss_genome.spread)
    assert f"{below:.4f} below the primordial's, {below / larger:.1f} times the larger spread ({larger:.4f})" in doc
    assert f"only {loss_genome.new:.1%} of its names are new (the primordial's {primordial.new:.1%}, the winner's {w.new:.1%})" in doc


def test_the_docs_quote_what_the_timed_loss_search_printed():
    """The plan, progress and final lines the docs show are the timed search's own, and its
    decision line says what its log's decision record holds."""
    printed = {name: (EXPERIMENTS / 'default-search' / f'root-loss.{name}.txt').read_text().splitlines()
               for name in ('stdout', 'stderr')}
    doc = LIFECYCLE_DOC.read_text().splitlines()
    starts = ('plan: ', 'generation ', 'final | ', 'primordial (', 'incumbent genome.json (', 'incumbent genome.json: ',
              'best: ', 'lead ', 'kept ')
    quoted = [line for line in doc if line.startswith(starts)]
    assert len(quoted) >= 12
    for line in quoted:
        assert line in printed['stdout'] + printed['stderr'], line
    log = EXPERIMENTS / 'default-search' / printed['stderr'][-1].rsplit('/', 1)[1]  # its last line names its log
    [decision] = [r for r in read_jsonl(log) if r['kind'] == 'decision']
    kept = printed['stdout'][-1]
    assert not decision['replaced'] and kept.startswith('kept genome.json: the incumbent (val loss ')
    assert f"by {-decision['lead']:.4f}" in kept and kept in doc


# Figures the scaling page cites from elsewhere: Muennighoff et al.'s fitted R_D* and the arXiv
# numbers of the papers.
CITED_FIGURES = {'15.4', '2305.16264', '2203.15556', '2404.10102'}


def stated_constants(rows):
    """The figures the scaling page quotes of the code and the results files rather than of
    analyze's output, each checked against its source by a test above or in test_analysis:
    the cross-machine drift by run length, the typical seed spread of one-seed sweeps, the
    learning-rate grid, and the FLOPs per token per parameter of each size."""
    from microgpt.scaling.analysis import TYPICAL_SEED_SPREAD
    drift = [f"{t:g}" for _, t in CROSS_MACHINE_TOLERANCE]
    spreads = [f"{spread:.4f}" for _, _, spread in TYPICAL_SEED_SPREAD]
    grid = [f"{lr:g}" for lr in rows[0]['lr_grid']]
    per_token = [f"{r['flops'] / r['tokens'] / r['params']:.1f}" for r in rows]
    return set(drift + spreads + grid + per_token)


@pytest.mark.slow
def test_every_figure_in_the_scaling_page_prose_is_one_analyze_prints(shipped_fit):
    """Each decimal figure of the scaling page's prose (outside its code blocks and tables,
    which the tests above check line by line) is one that `analyze` prints for the shipped
    sweeps, the fit, or the check run's prediction, a constant the page quotes of the code or
    the results files (stated_constants), or a figure it cites (CITED_FIGURES)."""
    from printed import NUMBER
    found, result = shipped_fit
    [path] = FRONTIER_CHECKS
    [check] = [r for r in sweep.read_rows(path, warn=pytest.fail) if r['role'] == 'frontier']
    values = {'N': check['params'], 'C': check['budget']}
    tables = subprocess.run([sys.executable, '-m', 'microgpt', 'analyze', *map(str, SWEEPS), '--markdown'],
                            capture_output=True, text=True, cwd=REPO, check=True).stdout
    printed = '\n'.join([tables, analyze.fit_lines(result), f"{check['val_loss']:.4f}",
                         analyze.prediction_lines(values, frontier.predict(result, values))])
    prediction = frontier.predict(result, values)
    landed = f"{abs(check['val_loss'] / prediction['loss'] - 1):.2%}"  # how far the check run landed
    known = set(NUMBER.findall(printed + ' ' + landed)) | stated_constants(found.rows) | CITED_FIGURES
    prose, fenced = [], False
    for line in docs_text('scaling').splitlines():
        if line.startswith('```'):
            fenced = not fenced
        elif not fenced and not line.startswith('|'):
            prose.append(line)
    figures = [n for n in NUMBER.findall('\n'.join(prose)) if '.' in n]
    assert len(figures) > 10
    assert [n for n in figures if n not in known] == [], "figures no analyze output prints"


def test_from_an_empty_folder_the_default_search_is_the_same_search_less_the_incumbent():
    by_fitness = {}
    for path in default_search_logs():
        records = read_jsonl(path)
        incumbent = any(r.get('origin') == 'incumbent' for r in records if r['kind'] == 'organism')
        by_fitness.setdefault(records[0]['fitness'], {})['root' if incumbent else 'empty'] = records
    assert set(by_fitness) == {'loss', 'aesthetic'}
    for fitness, runs in by_fitness.items():
        root, empty = runs['root'], runs['empty']
        assert root[0]['provenance']['data_sha256'] == empty[0]['provenance']['data_sha256']
        assert root[-1]['best']['genes'] == empty[-1]['best']['genes'] and root[-1]['best']['score'] == empty[-1]['best']['score']
    doc = ' '.join(LIFECYCLE_DOC.read_text().split())
    assert "the two searches of each fitness found the same winner with the same scores" in doc


# --- the search at a user's compute, and its check ---------------------------------------------

QUALITY_SEARCH = EXPERIMENTS / 'quality-search'
QUALITY_CHECK = EXPERIMENTS / 'quality-check'
QUALITY_DOC = DOCS_PAGES / 'quality.md'
USER_SECONDS = 600  # the compute a user spends: plain `microgpt train` within 10 minutes


def quality_doc():
    return ' '.join(QUALITY_DOC.read_text().split())


def test_genome_json_is_the_best_of_its_search():
    """genome.json is the candidate of the lowest held-out loss in the search's log, counting
    each run with its weight average (the loss it reported) and without (its raw weights)."""
    shipped = load_genome(REPO / 'genome.json')
    p = shipped.provenance
    assert p['log'] == 'experiments/quality-search/search.jsonl' and p['data_sha256'] == sha256_of(DATA)
    records = read_jsonl(REPO / p['log'])
    options = sorted([(r['val_loss'], r['name'], r['genes']) for r in records]
                     + [(r['raw_val_loss'], r['name'] + ' (no ema)', dict(r['genes'], ema=None)) for r in records])
    score, name, genes = options[0]
    assert (p['score'], p['candidate']) == (score, name) and shipped.genome == Genome.from_settings(genes)
    assert p['runner_up'] == dict(candidate=options[1][1], score=options[1][0])
    for r in records:  # each run trained what the log says, on seed 42's split, in the time a user spends
        run = json.loads((QUALITY_SEARCH / 'runs' / f"{r['name']}.json").read_text())
        t = run['training']
        assert Genome.from_settings({**run['config'], **t}) == Genome.from_settings(r['genes'])
        assert (t['seed'], t['val_split'], t['steps_done']) == (42, 0.1, r['genes']['num_steps'])
        assert t['curve'][-1]['val_loss'] == r['val_loss'] and r['seconds'] <= USER_SECONDS


def test_the_readme_shows_the_command_that_made_genome_json_and_its_time():
    """The quality search ran its candidates two at a time (one core each): its wall time is
    the longer run of each pair, summed."""
    from microgpt.console import format_duration
    records = read_jsonl(QUALITY_SEARCH / 'search.jsonl')
    wall = sum(max(r['wall_seconds'] for r in records[i:i + 2]) for i in range(0, len(records), 2))
    readme = ' '.join((REPO / 'README.md').read_text().split())
    assert (f"`genome.json` came from `bash experiments/quality-search/make.sh` ({len(records)} candidate runs, "
            f"two at a time: {format_duration(wall)} of wall time on 2 cores)") in readme


def quality_check_runs():
    return stripped_runs(QUALITY_CHECK)


def test_quality_check_trained_genome_json_within_a_users_ten_minutes():
    shipped = load_genome(REPO / 'genome.json')
    runs = quality_check_runs()
    assert sorted(runs) == ['seed1', 'seed2', 'seed3', 'seed4']
    for run in runs.values():
        t = run['training']
        assert Genome.from_settings({**run['config'], **t}) == shipped.genome
        assert t['seed'] != shipped.provenance['seed'] and t['val_split'] == 0.1
        assert t['steps_done'] == t['num_steps'] and t['curve'][-1]['step'] == t['num_steps']
        assert t['data_sha256'] == sha256_of(DATA) and t['dtype'] == 'float64'
        assert run['seconds'] <= USER_SECONDS and run['novelty'].startswith('novelty: ')


def mean_half_range(losses):
    return sum(losses) / len(losses), (max(losses) - min(losses)) / 2


def final_losses(runs, names):
    return [runs[name]['training']['curve'][-1]['val_loss'] for name in names]


def test_docs_quote_the_quality_check_and_the_story():
    """Each stage on the same four held-out splits (seeds 1-4, 10% each), trained from
    scratch by `microgpt train`, as mean ± half the range; the check's losses, its slowest
    seconds and its samples' novelty, as the docs give them."""
    doc = quality_doc()
    seeds = [f'seed{s}' for s in (1, 2, 3, 4)]
    story = stripped_runs(EXPERIMENTS / 'story')
    stages = {
        'primordial': final_losses(story, [f'primordial-{s}' for s in seeds]),
        'seed-space winner': final_losses(story, [f'seed-space-{s}' for s in seeds]),
        'budgeted winner': final_losses(genome_check_runs(), seeds),
        'this genome': final_losses(quality_check_runs(), seeds),
    }
    for stage, losses in stages.items():
        mean, half = mean_half_range(losses)
        assert f"| {stage} |" in doc and f"{mean:.3f} ± {half:.3f}" in doc, stage
    assert ', '.join(f"{x:.4f}" for x in stages['this genome']) in doc
    assert f"{max(r['seconds'] for r in quality_check_runs().values()):.0f} s" in doc
    for run in quality_check_runs().values():
        assert run['novelty'] in doc


def test_docs_quote_the_search():
    doc = quality_doc()
    for r in read_jsonl(QUALITY_SEARCH / 'search.jsonl'):
        assert f"| {r['name']} |" in doc and f"{r['val_loss']:.4f}" in doc and f"{r['raw_val_loss']:.4f}" in doc


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize('which', ['check', 'search'])
def test_quality_runs_replay_their_first_evaluation(docs, which):
    """Seed 1 of the check and the search's winner, trained again to their first evaluation
    (dropout's masks and the weight average too): the held-out loss each recorded, bit for bit
    on its arithmetic, within the cross-machine tolerance elsewhere."""
    if which == 'check':
        shipped = quality_check_runs()['seed1']
    else:
        name = load_genome(REPO / 'genome.json').provenance['candidate'].split(' ')[0]
        shipped = json.loads((QUALITY_SEARCH / 'runs' / f'{name}.json').read_text())
    first, replayed = replay_first_evaluation(shipped, docs)
    assert_replays(f"quality {which} at step {first['step']}", first['step'], shipped['provenance']['machine'],
                   replayed, first['val_loss'], shipped['training']['batch_size'])


def test_docs_quote_the_threads_report_and_train_keeps_the_faster():
    """experiments/threads/report.json (`python benchmarks/bench.py --threads genome.json`) measured the
    shipped genome; the docs give its medians and ranges, and train's default thread count
    (one, unless the environment says otherwise) is the faster of the two."""
    report = json.loads((EXPERIMENTS / 'threads' / 'report.json').read_text())['threads']
    assert report['genome'] == load_genome(REPO / 'genome.json').genome.genes()
    doc = quality_doc()
    for n in ('1', '2'):
        step = report['results'][n]['step_seconds']
        for key in ('median', 'min', 'max'):
            assert f"{step[key] * 1000:.2f}" in doc
    assert f"{report['two_vs_one_step_time']:.2f} times" in doc
    assert report['faster'] == 1  # microgpt/__init__.py's default of one thread is the faster


def test_the_thousand_name_check_holds_out_makemores_share():
    """The goal's yardstick: 1,000 held-out names, the share makemore holds out (min(1000,
    10%)), chosen by microgpt's own seeded split (not makemore's permutation), on seeds the
    search never scored on; the docs give each loss and their mean ± half the range."""
    from microgpt.data import held_out_split
    runs = stripped_runs(EXPERIMENTS / 'quality-check-1000')
    shipped = load_genome(REPO / 'genome.json')
    docs = load_docs(DATA)
    losses = []
    for run in runs.values():
        t = run['training']
        assert Genome.from_settings({**run['config'], **t}) == shipped.genome and t['seed'] != 42
        assert len(held_out_split(docs, t['seed'], t['val_split'])[1]) == 1000
        assert run['seconds'] <= USER_SECONDS
        losses.append(t['curve'][-1]['val_loss'])
    mean, half = mean_half_range(losses)
    doc = quality_doc()
    assert f"{mean:.3f} ± {half:.3f}" in doc and ', '.join(f"{x:.4f}" for x in losses) in doc
