"""`microgpt sweep frontier` and `microgpt analyze --fit`."""
import json

import numpy as np
import pytest

from microgpt.cli import main
from microgpt.commands import analyze
from microgpt.compute import flops
from microgpt.errors import MicrogptError
from microgpt.gpt.model import GPTConfig
from microgpt.scaling import analysis, fit, frontier, plans, sweep
from microgpt.training.run import Run

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
LAW = fit.Law(E=1.9, A=25.0, B=80.0, alpha=0.5, beta=0.38)
BUDGETS = (1e10, 3e10, 1e11, 3e11, 1e12)
COMMON = dict(batch_size=32, tune_budget=1e11, engine='numpy')
GRID = [0.005, 0.01, 0.02]
BEST_LR = 0.01


def params_of(size):
    return GPTConfig(vocab_size=27, **plans.size_arch(size, plans.FRONTIER_SIZES)).num_params()


# One pass over the synthetic data: more tokens than any run trains on, unless a test says otherwise.
UNIQUE_TOKENS = 1e9
TOKENS_PER_STEP = 200


def synthetic_rows(budgets=BUDGETS, sizes=tuple(plans.FRONTIER_SIZES), seeds=2, noise=0.002, law=LAW,
                   unique_tokens=UNIQUE_TOKENS):
    """Rows as `sweep frontier` writes them, with losses drawn from `law` (C = 6 N D), and a
    learning-rate search at the tuning budget whose best rate is BEST_LR. Each step trains
    TOKENS_PER_STEP tokens of 32 documents, of a data set of unique_tokens tokens."""
    rng = np.random.default_rng(0)
    search = plans.lr_search_plan(sizes, 42, GRID, **COMMON)
    runs = plans.frontier_plan(sizes, budgets, 42, seeds, GRID, {s: BEST_LR for s in sizes}, **COMMON)
    rows, seen = [], set()
    for spec in search + runs:
        key = (spec['size'], spec['budget'], spec['seed'], spec['lr'])
        if key in seen:  # the search already ran it, as a sweep does
            continue
        seen.add(key)
        n = params_of(spec['size'])
        d = spec['budget'] / (6 * n)
        loss = float(law.loss(n, d)) * float(np.exp(rng.normal(0, noise)))
        if spec['lr'] != BEST_LR:
            loss += 0.05  # the other rates of the search are worse
        rows.append(dict(spec, data_sha256='d', params=n, steps=int(d / TOKENS_PER_STEP), tokens=int(d),
                         flops=int(6 * n * int(d)), seconds=1.0, train_loss=loss, val_loss=loss,
                         train_docs=round(unique_tokens * 32 / TOKENS_PER_STEP)))
    return rows


def write_rows(path, rows):
    for row in rows:
        sweep.append_row(path, row)
    return path


def test_plans_search_each_size_then_run_every_point_at_its_rate():
    search = plans.lr_search_plan(['e8l1', 'e32l2'], 7, GRID, **COMMON)
    assert [(s['size'], s['lr'], s['budget'], s['seed'], s['role']) for s in search] == [
        (size, lr, 1e11, 7, 'lr-search') for size in ('e8l1', 'e32l2') for lr in GRID]
    runs = plans.frontier_plan(['e8l1'], [1e10, 1e11], 7, 3, GRID, {'e8l1': 0.02}, **COMMON)
    assert [(s['budget'], s['seed'], s['lr'], s['split_seed']) for s in runs] == [
        (b, seed, 0.02, 7) for b in (1e10, 1e11) for seed in (7, 8, 9)]
    assert plans.parse_budgets(' 3e10, 1e10,3e10 ') == [1e10, 3e10]


@pytest.mark.parametrize('call, fragment', [
    (lambda: plans.parse_budgets('1e10,lots'), "'lots' is not a number"),
    (lambda: plans.parse_budgets('0'), 'finite number of FLOPs >= 1'),
    (lambda: plans.parse_budgets(' , '), 'at least one'),
    (lambda: plans.parse_lr_grid('0.01,-1'), "'-1' must be a finite number > 0"),
    (lambda: plans.parse_sizes('e8l1,huge', plans.FRONTIER_SIZES), "unknown size 'huge'; choose from e8l1"),
    (lambda: plans.frontier_plan(['e8l1'], [1e10], 1, 0, GRID, {'e8l1': 0.01}, **COMMON), 'seeds must be >= 1'),
    (lambda: plans.tuned_lrs([], ['e8l1']), 'every learning rate of the grid diverged for e8l1: give lower'),
])
def test_bad_frontier_options_say_why(call, fragment):
    with pytest.raises(MicrogptError, match=fragment.replace('(', r'\(')):
        call()


def test_tuned_rate_is_the_search_best_and_ignores_diverged_and_other_runs():
    rows = synthetic_rows(budgets=(1e10, 1e11), sizes=('e8l1',))
    assert plans.tuned_lrs(rows) == {'e8l1': BEST_LR}
    search_best = next(r for r in rows if r['role'] == 'lr-search' and r['lr'] == BEST_LR)
    search_best['diverged'], search_best['val_loss'] = 'Diverged: ...', None
    others = [r for r in rows if r['role'] == 'lr-search' and r['lr'] != BEST_LR]
    runner_up = min(others, key=lambda r: r['val_loss'])['lr']
    assert plans.tuned_lrs(rows) == {'e8l1': runner_up}
    # a run at another budget or seed is not part of the search, however good
    rows.append(dict(rows[-1], budget=1e10, lr=0.02, val_loss=0.1))
    rows.append(dict(rows[-1], budget=1e11, seed=43, lr=0.02, val_loss=0.1))
    assert plans.tuned_lrs(rows) == {'e8l1': runner_up}


def test_a_frontier_run_trains_exactly_the_steps_its_budget_pays_for(names_docs):
    train, val = sweep.sweep_split(names_docs[:400], 3)
    spec = dict(plans.frontier_spec('e16l1', 2e8, 3, 0.01, 'frontier', split_seed=3, lr_grid=[0.01], **COMMON),
                data_sha256='x')
    row = sweep.run_one(spec, train, val)
    run = Run(train, seed=3, arch=plans.size_arch('e16l1', plans.FRONTIER_SIZES))
    lengths = flops.lengths_of(run.docs, run.config, run.tokenizer)
    steps = flops.steps_for_budget(run.config, 32, 2e8, lengths)
    assert row['steps'] == steps > 1
    batches = [[len(doc) - 1 for doc in run.batch(s, 32)] for s in range(steps)]
    assert row['tokens'] == sum(map(sum, batches)) and row['params'] == run.config.num_params()
    # the FLOPs of the very batches trained on, within a step of the budget
    assert row['flops'] == sum(flops.step_flops(run.config, b).total for b in batches)
    assert abs(row['flops'] - 2e8) < flops.step_flops(run.config, batches[0]).total
    assert not sweep.row_problem(row) and row['val_loss'] > 0


def test_a_diverging_rate_is_a_row_not_a_failure(names_docs):
    train, val = sweep.sweep_split(names_docs[:300], 3)
    spec = dict(plans.frontier_spec('e8l1', 3e7, 3, 1e6, 'lr-search', split_seed=3, lr_grid=[1e6], **COMMON),
                data_sha256='x')
    row = sweep.run_one(spec, train, val)
    assert row['diverged'].startswith('Diverged') and row['val_loss'] is None
    assert not sweep.row_problem(row)
    assert 'diverged' in __import__('microgpt.commands.sweep', fromlist=['x']).run_line(1, 1, row)


def test_cli_frontier_searches_then_runs_then_resumes_nothing(runner, tmp_path, names_docs):
    data = tmp_path / 'tiny.txt'
    data.write_text('\n'.join(names_docs[:300]) + '\n')
    args = ['sweep', 'frontier', '--data', str(data), '--sizes', 'e8l1,e16l1', '--budgets', '1e7,3e7',
            '--seeds', '2', '--seed', '5', '--lrs', '0.01,0.03', '--tune-budget', '1e7', '--workers', '1']
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    [path] = (tmp_path / 'experiments').glob('sweep-frontier-*.jsonl')
    header, rows = sweep.read_results(path, print)
    assert header['sweep'] == 'frontier' and header['settings']['lr_grid'] == [0.01, 0.03]
    search = [r for r in rows if r['role'] == 'lr-search']
    assert sorted((r['size'], r['lr']) for r in search) == [('e16l1', 0.01), ('e16l1', 0.03),
                                                           ('e8l1', 0.01), ('e8l1', 0.03)]
    tuned = {size: min((r for r in search if r['size'] == size), key=lambda r: r['val_loss'])['lr']
             for size in ('e8l1', 'e16l1')}
    main_runs = [r for r in rows if r['role'] == 'frontier']
    # 2 sizes x 2 budgets x 2 seeds, less the two already run by the search (1e7, seed 5, tuned rate)
    assert len(main_runs) == 6 and all(r['lr'] == tuned[r['size']] for r in main_runs)
    assert len(rows) == 10 and all(r['flops'] <= r['budget'] for r in rows)
    for size, lr in tuned.items():
        assert f"{size}: learning rate {lr}" in result.stderr

    again = runner.invoke(main, args + ['--resume', str(path)])
    assert again.exit_code == 0 and again.stderr.strip().endswith('nothing left to run'), again.output
    assert len(sweep.read_rows(path, print)) == 10
    other = runner.invoke(main, args[:-2] + ['--batch-size', '8', '--resume', str(path)])
    assert other.exit_code == 1 and 'batch_size 32 (now 8)' in other.stderr


def test_fit_of_a_frontier_drawn_from_a_known_law(tmp_path):
    rows = synthetic_rows()
    found = frontier.load_frontier(rows, 'rows')
    assert found.lr == {size: BEST_LR for size in plans.FRONTIER_SIZES}
    assert len(found.rows) == 60 and len(found.points) == 30
    result = frontier.fit_frontier(found, resamples=40)
    assert result.laws['fresh'].alpha == pytest.approx(LAW.alpha, abs=0.04)
    assert result.laws['fresh'].beta == pytest.approx(LAW.beta, abs=0.04)
    assert result.laws['fresh'].E == pytest.approx(LAW.E, rel=0.01)
    low, high = result.intervals['fresh']['a']
    assert low <= LAW.a <= high and low < result.laws['fresh'].a < high
    h = result.holdout
    assert h['budget'] == 1e12 and abs(h['laws']['fresh']['rel_error']) < 0.01
    best_at_top = min((p for p in found.points if p.budget == 1e12), key=lambda p: p.loss)
    assert h['measured'] == pytest.approx(best_at_top.loss)
    # the law's optimum matches the closed form for C = 6 N D
    g = (LAW.alpha * LAW.A / (LAW.beta * LAW.B)) ** (1 / (LAW.alpha + LAW.beta))
    for opt in result.optimal['fresh']:
        assert opt['N'] == pytest.approx(g * (opt['budget'] / 6) ** LAW.a, rel=0.25)
    low, high = result.iso_interval
    assert low < result.iso_law.exponent < high and high - low < 0.3
    # the IsoFLOP vertices lie near the true optimum, where it is inside the ladder
    for curve in result.curves:
        if curve.optimum:
            assert curve.optimum[0] == pytest.approx(g * (curve.budget / 6) ** LAW.a, rel=0.5)


def test_predictions_use_the_ladder_or_the_given_size():
    result = frontier.fit_frontier(frontier.load_frontier(synthetic_rows(), 'rows'), resamples=5)
    best = frontier.predict(result, frontier.parse_prediction('C=3e12'))
    losses = {size: float(result.laws['fresh'].loss(n, 3e12 / (6 * n))) for n, size in result.frontier.sizes}
    assert best['size'] == min(losses, key=losses.get) and best['loss'] == pytest.approx(min(losses.values()))
    n = params_of('e32l2')
    named = frontier.predict(result, frontier.parse_prediction(f'N={n},C=3e12'))
    assert named['size'] == 'e32l2' and named['D'] == pytest.approx(3e12 / (6 * n), rel=1e-3)
    other = frontier.predict(result, frontier.parse_prediction('n=20000, c=3e12'))
    assert other['size'] is None and other['loss'] == pytest.approx(float(result.laws['fresh'].loss(2e4, other['D'])))
    for bad in ('N=1e4', 'C=-1', 'C=1e12,C=2e12', 'X=3'):
        with pytest.raises(MicrogptError, match='--predict'):
            frontier.parse_prediction(bad)


def test_cli_fit_json_text_prediction_and_plot(runner, tmp_path):
    pytest.importorskip('matplotlib')
    write_rows(tmp_path / 'f.jsonl', synthetic_rows())
    result = runner.invoke(main, ['analyze', 'f.jsonl', '--fit', '--json', '--resamples', '20'])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {'E', 'A', 'B', 'alpha', 'beta', 'a', 'ci', 'holdout'} <= set(out)
    assert set(out['ci']) == {'E', 'A', 'B', 'alpha', 'beta', 'a'}
    assert {'budget', 'measured', 'laws', 'better'} <= set(out['holdout'])
    assert set(out['holdout']['laws']) == {'fresh', 'constrained'}
    assert {'predicted', 'rel_error'} <= set(out['holdout']['laws']['fresh'])
    assert out['a'] == pytest.approx(out['beta'] / (out['alpha'] + out['beta'])) and out['resamples'] == 20

    text = runner.invoke(main, ['analyze', 'f.jsonl', '--fit', '--markdown', '--plot', 'law.png', '--resamples', '20'])
    assert text.exit_code == 0, text.output
    assert f"alpha = {out['alpha']:.4f}" in text.stdout and f"a     = {out['a']:.4f}" in text.stdout
    fresh = out['holdout']['laws']['fresh']
    assert f"the fresh-data law {fresh['predicted']:.4f} (" in text.stdout and f"{fresh['rel_error']:+.2%})" in text.stdout
    assert '| e8l1 | 1,328 | 0.01 |' in text.stdout
    png = (tmp_path / 'law.png').read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 50000

    predicted = runner.invoke(main, ['analyze', 'f.jsonl', '--fit', '--predict', 'C=3e12', '--json',
                                     '--resamples', '1'])
    assert predicted.exit_code == 0, predicted.output
    assert {'size', 'N', 'D', 'loss', 'passes', 'range', 'law', 'warnings'} <= set(json.loads(predicted.stdout))


def steps_sweep_rows():
    plan = plans.steps_plan(10, 30, 10, 'small', seed=1, lr=0.01, engine='numpy')
    return [dict(spec, data_sha256='d', params=1328, seconds=1.0, train_loss=3.0, val_loss=2.9) for spec in plan]


@pytest.mark.parametrize('rows, args, fragment', [
    (lambda: synthetic_rows(budgets=(1e11,)), [], 'one budget only (1e+11 FLOPs)'),
    (lambda: synthetic_rows(budgets=(1e10, 1e11), sizes=('e8l1',), seeds=3), [], 'one size only'),
    (lambda: synthetic_rows(budgets=(1e10, 1e11), sizes=('e8l1', 'e16l1'), seeds=1), [],
     '4 runs cannot fit the law'),
    (steps_sweep_rows, [], '--fit needs the results of `microgpt sweep frontier`; r.jsonl holds none'),
    (synthetic_rows, ['--predict', 'N=3'], '--predict needs a budget'),
    (synthetic_rows, ['--json', '--no-fit'], '--json and --predict go with --fit'),
])
def test_fit_bad_input_is_one_line(runner, tmp_path, rows, args, fragment):
    write_rows(tmp_path / 'r.jsonl', rows())
    fit_flag = [] if '--no-fit' in args else ['--fit']
    result = runner.invoke(main, ['analyze', 'r.jsonl', *fit_flag, *[a for a in args if a != '--no-fit']])
    assert result.exit_code == 1 and 'Traceback' not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith('Error:')]
    assert len(errors) == 1 and fragment in errors[0], result.stderr


def test_fit_refuses_an_evolve_log(runner, tmp_path):
    (tmp_path / 'evolve.jsonl').write_text('{"kind": "run", "fitness": "loss"}\n')
    result = runner.invoke(main, ['analyze', 'evolve.jsonl', '--fit'])
    assert result.exit_code == 1 and 'evolve.jsonl is an evolve log' in result.stderr


@pytest.mark.parametrize('args, fragment', [
    (['--budgets', '1e4'], 'size e8l1: a budget of 1e+04 FLOPs is less than one step'),
    (['--tune-budget', '1e4'], 'size e8l1: a budget of 1e+04 FLOPs is less than one step'),
    (['--budgets', '1e10,x'], "budgets: 'x' is not a number"),
    (['--sizes', 'medium'], "unknown size 'medium'; choose from e8l1"),
    (['--seeds', '0'], "Invalid value for '--seeds'"),
    (['--lrs', '0'], "learning rates: '0' must be a finite number > 0"),
])
def test_cli_frontier_bad_input_is_one_line_before_any_run(runner, tmp_path, small_data, args, fragment):
    result = runner.invoke(main, ['sweep', 'frontier', '--data', str(small_data), '--sizes', 'e8l1', *args])
    assert result.exit_code in (1, 2) and 'Traceback' not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith('Error:')]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert not (tmp_path / 'experiments').exists() or not any((tmp_path / 'experiments').iterdir())


def test_the_table_warns_of_a_rate_at_the_grid_edge_and_of_diverged_runs():
    rows = [dict(r, lr_grid=[0.005, 0.01]) for r in synthetic_rows(budgets=(1e10, 1e11)) if r['lr'] != 0.02]
    broken = next(r for r in rows if r['role'] == 'frontier' and r['size'] == 'e64l3')
    broken.update(diverged='Diverged: training diverged at step 9', val_loss=None, train_loss=None)
    found = frontier.load_frontier(rows, 'rows')
    assert broken not in found.rows and found.diverged == 1
    text = analysis.loss_table(found)
    assert ("learning rate at the edge of the searched grid for e8l1, e16l1, e24l2, e32l2, e48l2, e64l3: "
            "a wider grid may find a better one") in text
    assert "1 run diverged at their size's tuned learning rate and is left out" in text
    inside = analysis.loss_table(frontier.load_frontier(synthetic_rows(budgets=(1e10, 1e11)), 'rows'))
    assert 'edge' not in inside and 'diverged' not in inside


# --- runs that pass over their data many times -------------------------------------------------

CONSTRAINED_LAW = fit.DataConstrainedLaw(E=1.9, A=25.0, B=80.0, alpha=0.5, beta=0.38, R_star=6.0, unique_tokens=2e5)
LONG = (1e10, 3e10, 1e11, 3e11, 1e12, 3e12)


@pytest.fixture(scope='module')
def repeated():
    """A frontier drawn from a data-constrained law over 2e5 unique tokens (up to ~2,000 passes)."""
    rows = synthetic_rows(budgets=LONG, law=CONSTRAINED_LAW, unique_tokens=2e5)
    return frontier.fit_frontier(frontier.load_frontier(rows, 'rows'), resamples=30)


def test_the_passes_over_the_data_come_from_the_runs(repeated):
    assert repeated.unique_tokens == pytest.approx(2e5, rel=1e-3)


def test_repeated_data_is_fitted_by_the_constrained_law_which_wins_the_held_out_budget(repeated):
    assert repeated.laws['constrained'].R_star == pytest.approx(CONSTRAINED_LAW.R_star, rel=0.15)
    h = repeated.holdout
    assert h['budget'] == 3e12 and h['better'] == 'constrained' and h['told_apart']
    assert abs(h['laws']['constrained']['rel_error']) < 0.002 < abs(h['laws']['fresh']['rel_error'])
    errors = {kind: c['mean_abs_error'] for kind, c in h['laws'].items()}
    assert errors['constrained'] < errors['fresh'] / 2 and set(h['laws']['fresh']['sizes']) == set(plans.FRONTIER_SIZES)
    assert errors['fresh'] == pytest.approx(np.mean(np.abs(list(h['laws']['fresh']['sizes'].values()))))
    text = analyze.fit_lines(repeated)
    assert f"R_D*  = {repeated.laws['constrained'].R_star:.2f}" in text
    assert "the better on the held-out budget: the data-constrained law" in text
    worth = float(repeated.laws['constrained'].effective_tokens(4 * repeated.unique_tokens)) / repeated.unique_tokens
    assert f"4 passes are worth {worth:.2f}" in text
    assert analyze.fit_json(repeated)['better'] == 'constrained'


def test_a_prediction_states_its_passes_range_and_where_it_leaves_the_runs(repeated):
    inside = frontier.predict(repeated, frontier.parse_prediction(f"N={params_of('e32l2')},C=1e11"))
    assert inside['law'] == 'constrained' and inside['warnings'] == []
    assert inside['passes'] == pytest.approx(inside['D'] / repeated.unique_tokens)
    low, high = inside['range']
    assert low < inside['loss'] < high
    spread = repeated.frontier.typical_spread()
    assert low == pytest.approx(inside['fit_range'][0] - spread) and high == pytest.approx(inside['fit_range'][1] + spread)
    far = frontier.predict(repeated, frontier.parse_prediction('N=1e6,C=1e14'))
    assert any('budget 1e+14 FLOPs is outside' in w for w in far['warnings'])
    assert any("N 1,000,000 is outside the ladder's 1,328 to 151,936" in w for w in far['warnings'])
    many = frontier.predict(repeated, frontier.parse_prediction(f"N={params_of('e64l3')},C=1e13"))
    assert any('passes over the names are more than runs of this size made' in w for w in many['warnings'])
    lines = analyze.prediction_lines({'C': 1e13}, many).splitlines()
    assert 'by the data-constrained law' in lines[0] and lines[1].startswith('warning: ')


def test_a_prediction_that_rests_on_an_undetermined_parameter_says_so(repeated):
    import dataclasses
    shaky = dataclasses.replace(repeated, undetermined={'fresh': ['A'], 'constrained': ['R_star']})
    one_pass = frontier.predict(shaky, frontier.parse_prediction(f"N={params_of('e64l3')},C=1e10"))
    assert one_pass['passes'] < 1 and not any('do not determine' in w for w in one_pass['warnings'])
    repeated_passes = frontier.predict(shaky, frontier.parse_prediction(f"N={params_of('e8l1')},C=1e11"))
    assert "it depends on R_star, which these runs do not determine" in repeated_passes['warnings']
    fresh = frontier.predict(shaky, frontier.parse_prediction('C=1e11'), kind='fresh')
    assert "it depends on A, which these runs do not determine" in fresh['warnings']
    text = analyze.fit_lines(shaky)
    assert "not determined by these runs (the fresh-data law): A" in text
    assert any(line.startswith('  A     = ') and line.endswith('not determined by these runs')
               for line in text.splitlines())


def test_where_more_compute_stops_paying_at_each_size():
    rows = synthetic_rows(budgets=(1e10, 1e11, 1e12), sizes=('e8l1', 'e32l2'), noise=0.0)
    for row in rows:  # e8l1 gains nothing beyond 1e11; e32l2 keeps gaining
        if row['size'] == 'e8l1' and row['budget'] == 1e12:
            row['val_loss'] = next(r['val_loss'] for r in rows if r['size'] == 'e8l1' and r['budget'] == 1e11) - 0.0001
        row['val_loss'] += 0.001 * (row['seed'] - 42)  # a seed spread of 0.0005
    found = frontier.load_frontier(rows, 'rows')
    assert found.typical_spread() == pytest.approx(0.0005)
    by_size = {r['size']: r for r in frontier.returns_of_compute(found)}
    assert by_size['e8l1']['last_paid'].budget == 1e11 and [s['budget'] for s in by_size['e8l1']['beyond']] == [1e12]
    assert by_size['e32l2']['last_paid'].budget == 1e12 and by_size['e32l2']['beyond'] == []
    one_seed = frontier.load_frontier([r for r in rows if r['seed'] == 42], 'rows')
    assert one_seed.typical_spread() is None
    assert all(not s['pays'] for r in frontier.returns_of_compute(one_seed) for s in r['steps'])


def test_a_frontier_too_small_for_any_resample_says_nothing_is_determined():
    rows = synthetic_rows(budgets=(1e10, 1e11, 1e12), sizes=('e8l1', 'e16l1'), seeds=1)
    result = frontier.fit_frontier(frontier.load_frontier(rows, 'rows'), resamples=10)
    assert 'R_star' in result.undetermined['constrained']
    prediction = frontier.predict(result, frontier.parse_prediction('C=1e11'))
    assert any('which these runs do not determine' in w for w in prediction['warnings'])
    assert any(w.startswith('one seed only') for w in prediction['warnings'])
    text = analyze.prediction_lines({'C': 1e11}, prediction)
    assert 'nan' not in text and ('no range' in text or 'range [' in text)
