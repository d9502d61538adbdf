"""Scaling sweeps: independent runs in parallel, each appended when it finishes as one JSON line to a
results file, so that an interrupted sweep keeps what it finished and `--resume FILE` runs only the rest."""
import json
import time
from datetime import datetime, timezone
from pathlib import Path

from ..data import held_out_split
from ..errors import MicrogptError
from ..files.fields import check_fields, is_count, is_number, is_whole, or_null
from ..files.fileio import append_json_line
from ..training.genome import Genome
from ..training.run import ARCH_FIELDS
from ..trials.executor import Task, make_executor, run_tasks, stop
from ..trials.runner import Trial, run_trial

# What defines a run: a results row with the same values is the same run.
RUN_FIELDS = ('sweep', 'size') + ARCH_FIELDS + ('steps', 'seed', 'lr', 'engine', 'data_sha256')
RESULT_FIELDS = ('params', 'seconds', 'train_loss', 'val_loss')
# A frontier run is defined by its budget (FLOPs); its steps, tokens and FLOPs are results. Its
# learning-rate grid, tuning budget and validation split belong to the sweep that chose its lr.
FRONTIER_RUN_FIELDS = (('sweep', 'size') + ARCH_FIELDS +
                       ('budget', 'batch_size', 'seed', 'split_seed', 'lr', 'lr_grid', 'tune_budget',
                        'engine', 'data_sha256'))
FRONTIER_RESULT_FIELDS = ('steps', 'tokens', 'flops') + RESULT_FIELDS
# The fields a sweep varies (and plots along); all other run fields are shared by its runs.
VARIED = {'steps': ('steps',), 'params': ('size', 'n_embd', 'n_head', 'n_layer'),
          'frontier': ('size', 'n_embd', 'n_head', 'n_layer', 'budget', 'seed', 'lr')}
X_FIELD = {'steps': 'steps', 'params': 'params', 'frontier': 'flops'}


def run_fields(kind):
    return FRONTIER_RUN_FIELDS if kind == 'frontier' else RUN_FIELDS


def half_range(rows):
    """Half the range of the rows' validation losses: how far apart their seeds land."""
    losses = [row['val_loss'] for row in rows]
    return (max(losses) - min(losses)) / 2


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def run_key(row):
    return tuple(_hashable(row[f]) for f in run_fields(row['sweep']))


def shared_settings(row):
    """The settings a row shares with every run of its sweep (as JSON gives them back)."""
    return {f: row[f] for f in run_fields(row['sweep']) if f not in VARIED[row['sweep']]}


def sweep_key(row):
    """shared_settings, hashable: rows with equal keys belong to one sweep."""
    return tuple((f, _hashable(value)) for f, value in shared_settings(row).items())


def describe_run(spec):
    if spec['sweep'] == 'frontier':
        return f"the {spec['size']} run of {spec['budget']:.3g} FLOPs, seed {spec['seed']}, lr {spec['lr']}"
    return f"the {spec['size']} run of {spec['steps']} steps"


def sweep_split(docs, seed):
    """(train, validation) for every run of a sweep (held_out_split)."""
    if len(docs) < 2:
        raise MicrogptError(f"a sweep needs at least 2 documents (train and validation), got {len(docs)}")
    return held_out_split(docs, seed)


def run_one(spec, train_docs, val_docs):
    """Train one run of a sweep and measure it: a plain dict row (runs in any worker). A frontier
    run that diverges (its learning rate too high) is a row too, with `diverged` and no losses."""
    frontier = spec['sweep'] == 'frontier'  # its steps are those the budget buys
    length = dict(batch_size=spec['batch_size']) if frontier else dict(num_steps=spec['steps'])
    genome = Genome.from_settings(dict({f: spec[f] for f in ARCH_FIELDS}, learning_rate=spec['lr'], **length))
    record = run_trial(Trial(genome, spec['seed'], spec['engine'], spec.get('budget')), train_docs, val_docs)
    if record['error'] and not (frontier and record.get('diverged')):
        raise MicrogptError(record['error'])
    row = dict(spec)
    if frontier:
        row.update(steps=record['num_steps'], tokens=record['tokens'], flops=record['flops'])
        if record['error']:
            row['diverged'] = record['error']
    row.update(params=record['num_params'], seconds=round(record['seconds'], 3),
               train_loss=None if record['error'] else record['train_loss'],
               val_loss=record.get('val_loss') if not record['error'] else None,
               eval_seconds=round(record.get('eval_seconds', 0.0), 3),
               train_docs=len(train_docs), val_docs=len(val_docs), arithmetic=record['arithmetic'],
               finished_at=datetime.now(timezone.utc).isoformat(timespec='seconds'))
    return row


# --- the results file: JSON lines, one finished run each ------------------------------------

def new_results_path(out_dir, sweep):
    """A fresh timestamped file under out_dir, created now so no other sweep takes it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime('%Y%m%d-%H%M%S')
    for n in range(1, 1000):
        path = out_dir / f"sweep-{sweep}-{stamp}{'' if n == 1 else f'-{n}'}.jsonl"
        try:
            path.open('x').close()
            return path
        except FileExistsError:
            continue
    raise MicrogptError(f"cannot create a new results file in {out_dir}")


def append_row(path, row):
    """Append one row as one whole line, synced to disk (fileio.append_json_line)."""
    append_json_line(path, row, 'cannot append to results file')


TEXT = (lambda v: isinstance(v, str), "must be a text")
POSITIVE = (lambda v: is_number(v) and v > 0, "must be a number > 0")
AT_LEAST_ONE = (lambda v: is_whole(v) and v >= 1, "must be a whole number >= 1")
NOT_NEGATIVE = (lambda v: is_number(v) and v >= 0, "must be a number >= 0")
# What the readers of a results row take from it (analysis, frontier), field by field.
ROW_RULES = {
    'size': TEXT, **{name: AT_LEAST_ONE for name in ARCH_FIELDS}, 'steps': AT_LEAST_ONE,
    'seed': (is_whole, "must be a whole number"), 'lr': POSITIVE, 'engine': TEXT, 'data_sha256': TEXT,
    'params': AT_LEAST_ONE, 'seconds': NOT_NEGATIVE, 'train_loss': POSITIVE, 'val_loss': POSITIVE, 'finished_at': TEXT,
}
FRONTIER_RULES = dict(
    ROW_RULES, steps=(is_count, "must be a whole number >= 0"), budget=POSITIVE, batch_size=AT_LEAST_ONE,
    split_seed=(is_whole, "must be a whole number"), tune_budget=POSITIVE, tokens=NOT_NEGATIVE, flops=NOT_NEGATIVE,
    lr_grid=(lambda v: isinstance(v, list) and bool(v) and all(POSITIVE[0](lr) for lr in v),
             "must be a list of numbers > 0"),
    diverged=TEXT)
OPTIONAL = ('finished_at', 'diverged')


def row_problem(row):
    """Why a parsed line is not a results row, or None if it is one."""
    if not isinstance(row, dict):
        return "not a JSON object"
    if not isinstance(row.get('sweep'), str) or row['sweep'] not in VARIED:
        return f"unknown sweep {row.get('sweep')!r}" if 'sweep' in row else "missing sweep"
    kind = row['sweep']
    results = FRONTIER_RESULT_FIELDS if kind == 'frontier' else RESULT_FIELDS
    missing = [f for f in run_fields(kind) + results if f not in row]
    if missing:
        return "missing " + ', '.join(missing)
    rules = FRONTIER_RULES if kind == 'frontier' else ROW_RULES
    if kind == 'frontier' and row.get('diverged'):  # a diverged run has no losses
        loss = (or_null(POSITIVE[0]), "must be null or a number > 0")
        rules = dict(rules, train_loss=loss, val_loss=loss)
    try:
        check_fields(row, rules, '', lambda field, why: MicrogptError(f"field '{field}' {why}"), known=None,
                     optional=OPTIONAL)
    except MicrogptError as problem:
        return str(problem)
    return None


HEADER_FORMAT = 'microgpt-sweep'


def read_results(path, warn):
    """(header or None, rows) of a results file; a line that is not a whole row is skipped, said on warn."""
    path = Path(path)
    if not path.is_file():
        raise MicrogptError(f"results file not found: {path}")
    try:
        lines = path.read_text(encoding='utf-8').split('\n')
    except (OSError, UnicodeDecodeError) as e:
        raise MicrogptError(f"cannot read results file {path}: {e}") from None
    header, rows = None, []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            problem = "not a complete JSON line (an interrupted write?)"
        else:
            if isinstance(row, dict) and row.get('kind') == 'header' and row.get('format') == HEADER_FORMAT:
                header = header or row
                continue
            problem = row_problem(row)
        if problem:
            warn(f"{path}:{number}: skipped: {problem}")
        else:
            rows.append(row)
    return header, rows


def read_rows(path, warn):
    return read_results(path, warn)[1]


# --- running a sweep -------------------------------------------------------------------------

def pending_runs(plan, header, done_rows, results_path):
    """The planned runs not yet in done_rows; refuses, untouched, a file that is not this sweep's."""
    if header is None:
        raise MicrogptError(f"{results_path} is not a microgpt sweep results file (it has no sweep "
                            f"header); --resume takes a file that `microgpt sweep` wrote")
    if header.get('sweep') != plan[0]['sweep']:
        raise MicrogptError(f"{results_path} holds a {header.get('sweep')} sweep, not a "
                            f"{plan[0]['sweep']} sweep")
    want = shared_settings(plan[0])
    for have in [header.get('settings') or {}] + [shared_settings(row) for row in done_rows]:
        if have != want:
            differ = ', '.join(f"{f} {have.get(f)!r} (now {want.get(f)!r})"
                               for f in want if have.get(f) != want[f])
            raise MicrogptError(f"{results_path} holds a different sweep: {differ}; "
                                f"pass the options it was run with to resume it")
    done = {run_key(row) for row in done_rows}
    return [spec for spec in plan if run_key(spec) not in done]


def run_cost(spec):
    """Rough relative cost, to start the longest runs first and balance the workers."""
    width, layers = spec['n_embd'], spec['n_layer']
    if spec['sweep'] == 'frontier':
        # time is FLOPs over throughput, and small models do fewer FLOPs a second
        return spec['budget'] / ((1 + layers) * width * width) ** 0.4
    return spec['steps'] * (1 + layers) * width * width


def run_sweep(plan, docs, data_sha256, out_dir='experiments', resume=None, workers=None, cluster=None,
              report=None, command=None, next_stage=None):
    """Run the plan's runs not yet in `resume`, appending each to it or to a new file under out_dir; returns
    its path. report(event, **facts) hears SWEEP_EVENTS; next_stage(rows) gives a second stage's runs."""
    report = report or (lambda event, **facts: None)
    plan = [dict(spec, data_sha256=data_sha256) for spec in plan]
    done_rows, executor = [], None
    if resume is not None:
        results_path = Path(resume)
        skipped = []  # told only once the file is known to be this sweep's
        header, done_rows = read_results(results_path, skipped.append)
        todo = pending_runs(plan, header, done_rows, results_path)
        for line in skipped:
            report('skipped', warning=line)
        report('resuming', path=results_path, done=len(plan) - len(todo), planned=len(plan))
    first = plan[0]
    train_docs, val_docs = sweep_split(docs, first.get('split_seed', first['seed']))
    if resume is None:
        todo = list(plan)
        executor = make_executor(workers, cluster=cluster)  # an unreachable cluster leaves no empty file
        from ..provenance import provenance
        results_path = new_results_path(out_dir, first['sweep'])
        append_row(results_path, {'kind': 'header', 'format': HEADER_FORMAT, 'sweep': first['sweep'],  # the first line
                                  'settings': shared_settings(first),
                                  'provenance': provenance(command, data_sha256, first['engine'])})
    t0, total = time.perf_counter(), 0
    for stage in (1, 2) if next_stage else (None,):
        if stage == 2:  # the runs that depend on the first stage's results
            plan = [dict(spec, data_sha256=data_sha256) for spec in next_stage(done_rows)]
            todo = pending_runs(plan, {'sweep': first['sweep'], 'settings': shared_settings(first)}, done_rows,
                                results_path) if plan else []
        if todo:
            report('stage', runs=len(todo), stage=stage, train=len(train_docs), validation=len(val_docs),
                   path=results_path)
            executor = executor or make_executor(workers, cluster=cluster)
            done_rows += _run_plan(executor, todo, train_docs, val_docs, results_path, report)
            total += len(todo)
    if executor is not None:
        executor.shutdown()
    if total:
        report('done', runs=total, seconds=time.perf_counter() - t0, path=results_path)
    else:
        report('nothing_left')
    return results_path


# What run_sweep reports, and the facts each event carries.
SWEEP_EVENTS = {
    'skipped': ('warning',),  # a line of the resumed file that is not a whole row
    'resuming': ('path', 'done', 'planned'),
    'stage': ('runs', 'stage', 'train', 'validation', 'path'),  # stage None: a sweep of one stage
    'worker_died': ('name',),
    'run_done': ('done', 'total', 'row', 'elapsed', 'left'),  # left: seconds, None while unknown
    'run_failed': ('failure', 'elapsed', 'left'),
    'interrupted': ('path',),
    'nothing_left': (),
    'done': ('runs', 'seconds', 'path'),
}


def _run_plan(executor, todo, train_docs, val_docs, results_path, report):
    """Run these runs, appending each row as it finishes; returns the rows."""
    failures, finished = [], []
    tasks = [Task(spec, run_one, (spec, train_docs, val_docs), name=describe_run(spec))
             for spec in sorted(todo, key=run_cost, reverse=True)]
    total_cost, done_cost, t0 = sum(map(run_cost, todo)), 0.0, time.perf_counter()

    def timing(spec):
        """Elapsed seconds and the seconds left: the runs left, at the pace of those done (by their cost)."""
        nonlocal done_cost
        done_cost += run_cost(spec)
        elapsed = time.perf_counter() - t0
        return dict(elapsed=elapsed, left=elapsed * (total_cost - done_cost) / done_cost if done_cost else None)

    try:
        # each run is appended as soon as it is done; one failed run must not lose the others,
        # and a worker process that dies costs at most its own run (see run_tasks)
        for outcome in run_tasks(executor, tasks, on_retry=lambda task, attempt: report('worker_died',
                                                                                        name=task.name)):
            spec = outcome.key
            if outcome.failed:
                failures.append(f"{describe_run(spec)}: {outcome.error}")
                report('run_failed', failure=failures[-1], **timing(spec))
                continue
            append_row(results_path, outcome.result)
            finished.append(outcome.result)
            report('run_done', done=len(finished) + len(failures), total=len(todo), row=outcome.result,
                   **timing(spec))
    except BaseException as e:
        stop(executor)  # the running runs are abandoned, not waited for
        if isinstance(e, KeyboardInterrupt):
            report('interrupted', path=results_path)
        raise
    if failures:
        executor.shutdown()
        raise MicrogptError(f"{len(failures)} of {len(todo)} runs failed (the others are in "
                            f"{results_path}); first: {failures[0]}")
    return finished


def check_budgets(plan, docs, split_seed):
    """Every run of the plan buys at least one step: the steps a budget buys follow from the
    mean cost of a step over the training documents, so every seed's run takes the same."""
    train_docs = sweep_split(docs, split_seed)[0]
    from ..compute.flops import lengths_of, steps_for_budget
    from ..data import Tokenizer
    from ..gpt.model import GPTConfig
    tokenizer = Tokenizer.from_docs(train_docs)
    lengths = {}
    for spec in plan:
        config = GPTConfig(vocab_size=tokenizer.vocab_size, **{f: spec[f] for f in ARCH_FIELDS})
        if config.block_size not in lengths:
            lengths[config.block_size] = lengths_of(train_docs, config, tokenizer)
        try:
            steps_for_budget(config, spec['batch_size'], spec['budget'], lengths[config.block_size])
        except MicrogptError as e:
            raise MicrogptError(f"size {spec['size']}: {e}") from None
