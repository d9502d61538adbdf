"""The benchmark suite (`python benchmarks/bench.py`): how fast each engine trains and samples,
and how much memory it holds, beside the PyTorch twin, with goals to pass.

Every measurement runs in a child process of its own, so its peak RSS is its own and its CPU
time can be read (wait4):
  - train worker (worker.py): the default training loop (one document a step) and 20
    samples, timed in-process, with the losses and samples it got;
  - train process: the whole `microgpt train --samples 0` process (start-up and data
    included), timed from outside, with its CPU seconds per wall second;
  - batch worker: mini-batch training throughput (tokens/second) of a wider model, numpy
    beside the PyTorch twin (torch_twin.py: float64, one thread, eager); and at
    makemore's default size, numpy in float64 and float32 beside the twin as makemore runs
    (float32, two threads);
  - start-up floor: a bare interpreter, `import numpy`, `microgpt --help`.
Measurements are interleaved: each round runs every measurement once, engine after engine,
and figures are medians over the rounds, so a ratio does not depend on when each engine ran
(a measurement whose first run takes over SLOW_SECONDS runs once). The atom's
micro-benchmarks (building and back-propagating Val graphs) run in this process.

`--race SECONDS` runs the race instead (run_race): microgpt's recipe on the numpy engine
against the twin set up as makemore's defaults, each trained for the same wall time on the
same 90/10 split, then scored on the held-out documents.
"""
import os
import re
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from microgpt import THREAD_VARIABLES_DEFAULTED, speed
from microgpt.errors import MicrogptError, require_positive
from microgpt.speed import SAMPLES, SLOW_SECONDS, summary
from atom import atom_graph, measure_atom  # noqa: F401  (atom_graph: part of the suite's API)
from measure import CLI_WITH_PEAK_RSS, PEAK_RSS_REPORTER, UNSET_IN_CHILDREN, run_measured

ENGINES = ('val', 'numpy', 'torch')
TORCH_INSTALL = "pip install -e '.[bench]'"
ATOM_SIZES = (1_000, 100_000)
BATCH_SIZE = 32
BATCH_ARCH = dict(n_embd=64, n_head=4, n_layer=2)  # block_size and ff_mult: the defaults
# makemore's default transformer size and trainer: n_embd 64, 4 heads, 4 layers, batch 32,
# AdamW (lr 5e-4, weight decay 0.01, betas 0.9 / 0.99) at a constant rate, batches drawn at
# random, float32 PyTorch on the CPU; 2 threads (this machine's cores). The gradient clip
# of 1.0 is the race's, for both.
MAKEMORE_ARCH = dict(n_embd=64, n_head=4, n_layer=4)
MAKEMORE_THREADS = 2
MAKEMORE_TRAIN = dict(batch_size=BATCH_SIZE, learning_rate=5e-4, weight_decay=0.01, beta1=0.9, beta2=0.99,
                      grad_clip=1.0, schedule='constant', batch_order='replacement')
# microgpt's recipe for a name model at that size (docs/pages/training.md: From the original run to a good model)
MICROGPT_RECIPE = dict(num_steps=6500, batch_size=BATCH_SIZE, learning_rate=0.002, grad_clip=1.0, batch_order='epoch')
MICROGPT_RACE_DTYPE = 'float32'
RACE_VAL_SPLIT = 0.1
RACE_CALIBRATION_SECONDS = 3.0
BATCH_STEPS = 50
BATCH_WARMUP = 3
# The original microgpt.py takes about this long for the default 1000 steps on this machine class.
ORIGINAL_SECONDS_PER_1000_STEPS = 405.0
# `bench --original FILE` runs the user's own copy of the original with its `num_steps = ...`
# line set to this (the whole run would take minutes), beside the Val engine's whole process.
ORIGINAL_PROCESS_STEPS = 30
NUM_STEPS_LINE = re.compile(r'^num_steps\s*=\s*\d+', re.MULTILINE)
# name: (how the value compares, limit, what is measured)
GOALS = dict(
    numpy_batch_throughput_vs_torch=(
        '>=', 1.0, f"numpy's training tokens/second / PyTorch's, batch {BATCH_SIZE}, model {BATCH_ARCH}"),
    numpy_float32_throughput_vs_torch_makemore_size=(
        '>=', 1.0, f"numpy float32 training tokens/second / the PyTorch twin's as makemore runs it (float32, "
                   f"{MAKEMORE_THREADS} threads), batch {BATCH_SIZE}, model {MAKEMORE_ARCH}"),
    numpy_process_cpu_per_wall=(
        '<=', 1.1, "CPU seconds per wall second of the default numpy `train` process"),
    numpy_peak_rss_mb=('<', 64.0, "peak RSS of the default numpy `train` process, MB"),
    val_speedup_vs_original=(
        '>=', 10.0, f"original's {ORIGINAL_SECONDS_PER_1000_STEPS:.0f} s per 1000 steps / the Val engine's"),
    val_peak_rss_mb=('<=', 56.0, "peak RSS of the default Val `train` process, MB"),
    val_process_vs_original=(
        '<=', 0.1, f"`bench --original FILE`: the whole `microgpt train --engine val --primordial` process / "
                   f"the original microgpt.py's whole process, {ORIGINAL_PROCESS_STEPS} steps and 20 samples "
                   f"each, side by side"),
    race_heldout_loss_vs_torch=(
        '<', 1.0, "`bench --race`: microgpt's held-out loss / the makemore twin's after the same wall time "
                  "(120 s is the race the training page reports)"),
)
COMPARE = {'>=': lambda a, b: a >= b, '<=': lambda a, b: a <= b, '<': lambda a, b: a < b}
HERE = str(Path(__file__).resolve().parent)
# A worker: this folder's worker.py, with the report of its peak RSS.
WORKER = PEAK_RSS_REPORTER + f'_sys.path.insert(0, {HERE!r})\nfrom worker import main\nmain()'
STARTUP_PROBES = dict(python=['-c', 'pass'], python_import_numpy=['-c', 'import numpy'],
                      microgpt_help=['-m', 'microgpt', '--help'])
REPORTED_ENV = ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE', *UNSET_IN_CHILDREN[2:])


def torch_available():
    try:
        metadata.version('torch')
    except metadata.PackageNotFoundError:
        return False
    return True


def parse_engines(text):
    """'val,numpy' -> ['val', 'numpy']; None -> val, numpy, and torch if it is installed."""
    if text is None:
        return ['val', 'numpy'] + (['torch'] if torch_available() else [])
    names = [name.strip() for name in text.split(',') if name.strip()]
    unknown = [name for name in names if name not in ENGINES]
    if unknown or not names:
        raise MicrogptError(f"unknown engine(s) {', '.join(unknown) or text!r}; choose from {', '.join(ENGINES)}")
    if 'torch' in names and not torch_available():
        raise MicrogptError(f"torch is not installed: {TORCH_INSTALL}")
    return list(dict.fromkeys(names))


def machine_info():
    """speed.machine_info's, with the twin's version and the children's thread settings."""
    return dict(speed.machine_info(), torch=metadata.version('torch') if torch_available() else None,
                env={name: None if name in THREAD_VARIABLES_DEFAULTED else os.environ.get(name)
                     for name in REPORTED_ENV},
                unset_in_children=list(UNSET_IN_CHILDREN),
                blas_threads_in_children="microgpt's default: 1 (PyTorch: torch.set_num_threads(1))")


# --- the measurements ----------------------------------------------------------------------------

class Job:
    """One measurement, run once per round: label, the command, and its runs so far."""

    def __init__(self, kind, name, command, cwd=None, once_if_slow=True):
        self.kind, self.name, self.command, self.runs = kind, name, command, []
        self.cwd = cwd  # None: the round's folder
        self.once_if_slow = once_if_slow  # False: every round, however long (a side-by-side ratio)

    def wanted(self, repeat):
        return 1 if self.once_if_slow and self.runs and self.runs[0].seconds > SLOW_SECONDS else repeat


def worker_job(kind, engine, spec):
    import json
    return Job(kind, engine, [sys.executable, '-c', WORKER, json.dumps(dict(spec, kind=kind, engine=engine))])


def train_process_args(engine, steps, data):
    return ['train', '--engine', engine, '--steps', str(steps), '--samples', '0', '--data', str(data)]


def original_jobs(original, data, cwd):
    """The original microgpt.py (the user's own copy) and the Val engine's `train` process,
    each the whole process of ORIGINAL_PROCESS_STEPS steps and 20 samples, in a folder of
    their own with the data as input.txt (where the original reads it)."""
    folder = Path(cwd) / 'original'
    folder.mkdir()
    shutil.copyfile(data, folder / 'input.txt')
    script = folder / 'original.py'
    script.write_text(NUM_STEPS_LINE.sub(f'num_steps = {ORIGINAL_PROCESS_STEPS}', original, count=1))
    val = ['train', '--engine', 'val', '--primordial', '--steps', str(ORIGINAL_PROCESS_STEPS),
           '--data', 'input.txt', '--out', str(Path(cwd) / 'side-by-side.ckpt.json')]
    return [Job('side_by_side', 'original', [sys.executable, str(script)], cwd=folder, once_if_slow=False),
            Job('side_by_side', 'val', [sys.executable, '-m', 'microgpt', *val], cwd=folder, once_if_slow=False)]


def read_original(path):
    """The text of the user's copy of the original, with a `num_steps = N` line to set."""
    try:
        text = Path(path).read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as e:
        raise MicrogptError(f"cannot read the original microgpt.py at {path}: {e}") from None
    if not NUM_STEPS_LINE.search(text):
        raise MicrogptError(f"{path} has no `num_steps = N` line: is it the original microgpt.py?")
    return text


def plan(engines, steps, data, seed, lr, samples, batch_steps, cwd, original=None):
    """The jobs of one round, in order: engines alternate within each kind."""
    common = dict(data=str(data), seed=seed, lr=lr)
    jobs = [Job('startup', name, [sys.executable, *args]) for name, args in STARTUP_PROBES.items()]
    if original is not None:
        jobs += original_jobs(original, data, cwd)
    jobs += [worker_job('train', engine, dict(common, steps=steps, samples=samples)) for engine in engines]
    jobs += [Job('process', engine, [sys.executable, '-c', CLI_WITH_PEAK_RSS, *train_process_args(engine, steps, data),
                                     '--out', str(Path(cwd) / f'{engine}.ckpt.json')])
             for engine in engines if engine != 'torch']
    batch = dict(common, batch_size=BATCH_SIZE, steps=batch_steps, warmup=BATCH_WARMUP)
    jobs += [worker_job('batch', engine, dict(batch, arch=BATCH_ARCH)) for engine in engines if engine != 'val']
    jobs += [Job('makemore_size', name, worker_job('batch', engine, dict(batch, arch=MAKEMORE_ARCH, **extra)).command)
             for name, engine, extra in MAKEMORE_SIZE_RUNS if engine in engines]
    return jobs


# The throughput runs at makemore's size: (name, engine, dtype and threads)
MAKEMORE_SIZE_RUNS = (
    ('numpy_float64', 'numpy', {}),
    ('numpy_float32', 'numpy', dict(dtype='float32')),
    ('torch_float32_2_threads', 'torch', dict(dtype='float32', threads=MAKEMORE_THREADS)),
)


def run_rounds(jobs, repeat, cwd, say):
    """Round after round, every job that wants more runs runs once."""
    for round_number in range(1, repeat + 1):
        todo = [job for job in jobs if len(job.runs) < job.wanted(repeat)]
        if not todo:
            break
        say(f"round {round_number}/{repeat}: " + ', '.join(f"{job.kind} {job.name}" for job in todo))
        for job in todo:
            job.runs.append(run_measured(job.command, job.cwd or cwd))


def median(values):
    return summary(values)['median']


def collect(jobs, steps, data):
    """The report's figures from the jobs' runs."""
    import json
    startup, engines, batch, makemore_size = {}, {}, {}, {}
    for job in jobs:
        if not job.runs:
            continue
        if job.kind == 'startup':
            startup[job.name] = summary([run.seconds for run in job.runs])
        elif job.kind == 'side_by_side':
            engines.setdefault(job.name, {})['side_by_side_process'] = dict(
                steps=ORIGINAL_PROCESS_STEPS, seconds=summary([run.seconds for run in job.runs]),
                peak_rss_mb=max(run.peak_rss_mb for run in job.runs), stdout=job.runs[0].stdout)
        elif job.kind == 'train':
            results = [json.loads(run.stdout) for run in job.runs]
            first = results[0]
            engines.setdefault(job.name, {}).update(
                runs=len(results),
                train_loop_seconds=summary([r['train_loop_seconds'] for r in results]),
                train_step_seconds=median([r['train_step_seconds'] for r in results]),
                sample_seconds=median([r['sample_seconds'] for r in results]),
                import_seconds=median([r['import_seconds'] for r in results]),
                setup_seconds=median([r['setup_seconds'] for r in results]),
                process_seconds=median([run.seconds for run in job.runs]),
                peak_rss_mb=max(run.peak_rss_mb for run in job.runs),
                final_loss_line=first['final_loss_line'], loss_lines_sha256=first['loss_lines_sha256'],
                samples=first['samples'],
                same_output_every_run=all(r['loss_lines_sha256'] == first['loss_lines_sha256']
                                          and r['samples'] == first['samples'] for r in results))
        elif job.kind == 'process':
            engines.setdefault(job.name, {})['train_process'] = dict(
                command=' '.join(['microgpt', *train_process_args(job.name, steps, data), '--out', 'FILE']),
                seconds=summary([run.seconds for run in job.runs]),
                cpu_seconds=summary([run.cpu_seconds for run in job.runs]),
                cpu_per_wall=summary([run.cpu_per_wall for run in job.runs]),
                peak_rss_mb=max(run.peak_rss_mb for run in job.runs))
        elif job.kind in ('batch', 'makemore_size'):
            results = [json.loads(run.stdout) for run in job.runs]
            (batch if job.kind == 'batch' else makemore_size)[job.name] = dict(
                runs=len(results),
                tokens_per_second=summary([r['tokens_per_second'] for r in results]),
                step_seconds=median([r['step_seconds'] for r in results]),
                timed_tokens=results[0]['timed_tokens'], params=results[0]['params'],
                final_loss=results[0]['final_loss'], peak_rss_mb=max(run.peak_rss_mb for run in job.runs))
    return startup, engines, batch, makemore_size


def goal(name, value):
    op, limit, what = GOALS[name]
    return dict(value=value, goal=f"{op} {limit}", met=COMPARE[op](value, limit), what=what)


def comparisons(engines, batch, steps, makemore_size=None):
    """Each goal that the measured engines allow, with its value, its limit and whether it is
    met (ratios of medians); and whether the engines printed the same numbers."""
    goals, out = {}, {}
    numpy, val, torch = engines.get('numpy', {}), engines.get('val', {}), engines.get('torch', {})
    if 'numpy' in batch and 'torch' in batch:
        goals['numpy_batch_throughput_vs_torch'] = goal(
            'numpy_batch_throughput_vs_torch',
            batch['numpy']['tokens_per_second']['median'] / batch['torch']['tokens_per_second']['median'])
        out['batch_final_losses_agree'] = (f"{batch['numpy']['final_loss']:.6f}"
                                           == f"{batch['torch']['final_loss']:.6f}")
    rate = {name: result['tokens_per_second']['median'] for name, result in (makemore_size or {}).items()}
    if 'numpy_float32' in rate and 'torch_float32_2_threads' in rate:
        goals['numpy_float32_throughput_vs_torch_makemore_size'] = goal(
            'numpy_float32_throughput_vs_torch_makemore_size',
            rate['numpy_float32'] / rate['torch_float32_2_threads'])
    if 'numpy_float32' in rate and 'numpy_float64' in rate:
        out['numpy_float32_speedup_makemore_size'] = rate['numpy_float32'] / rate['numpy_float64']
    if 'train_loop_seconds' in numpy and 'train_loop_seconds' in torch:
        out['numpy_loop_vs_torch_loop'] = (numpy['train_loop_seconds']['median']
                                           / torch['train_loop_seconds']['median'])
    if 'train_process' in numpy:
        goals['numpy_process_cpu_per_wall'] = goal('numpy_process_cpu_per_wall',
                                                   numpy['train_process']['cpu_per_wall']['median'])
        goals['numpy_peak_rss_mb'] = goal('numpy_peak_rss_mb', numpy['train_process']['peak_rss_mb'])
    if 'train_step_seconds' in val:
        goals['val_speedup_vs_original'] = goal(
            'val_speedup_vs_original', ORIGINAL_SECONDS_PER_1000_STEPS / (val['train_step_seconds'] * 1000))
    if 'train_process' in val:
        goals['val_peak_rss_mb'] = goal('val_peak_rss_mb', val['train_process']['peak_rss_mb'])
    original = engines.get('original', {}).get('side_by_side_process')
    if original and 'side_by_side_process' in val:
        mine = val['side_by_side_process']
        goals['val_process_vs_original'] = goal(
            'val_process_vs_original', mine['seconds']['median'] / original['seconds']['median'])
        out['val_prints_what_the_original_prints'] = mine['stdout'] == original['stdout']
    if 'loss_lines_sha256' in numpy:
        out['same_losses_and_samples_as_numpy'] = {
            name: (result['loss_lines_sha256'] == numpy['loss_lines_sha256']
                   and result['samples'] == numpy['samples'])
            for name, result in engines.items() if name != 'numpy' and 'loss_lines_sha256' in result}
    return goals, out


def run_bench(engines, steps, data, repeat=5, seed=42, lr=0.01, samples=SAMPLES, batch_steps=BATCH_STEPS,
              progress=None, original=None):
    """The whole benchmark; returns the report (a dict). progress(message) hears each stage."""
    require_positive('steps', steps)
    require_positive('repeat', repeat)
    require_positive('batch_steps', batch_steps)
    say = progress or (lambda message: None)
    data = Path(data).resolve()
    report = dict(machine=machine_info(),
                  settings=dict(steps=steps, seed=seed, lr=lr, samples=samples, data=str(data), repeat=repeat,
                                batch=dict(batch_size=BATCH_SIZE, arch=BATCH_ARCH, steps=batch_steps,
                                           warmup=BATCH_WARMUP),
                                makemore_size=dict(arch=MAKEMORE_ARCH, runs={
                                    name: dict(engine=engine, **extra) for name, engine, extra in MAKEMORE_SIZE_RUNS}),
                                slow_seconds=SLOW_SECONDS))
    jobs = []
    try:
        with tempfile.TemporaryDirectory(prefix='microgpt-bench-') as cwd:  # no genome.json, no input.txt
            jobs = plan(engines, steps, data, seed, lr, samples, batch_steps, cwd, original)
            run_rounds(jobs, repeat, cwd, say)
        say("atom: building and back-propagating Val graphs")
        report['atom'] = {f'{n // 1000}k_nodes': measure_atom(n) for n in ATOM_SIZES}
    except KeyboardInterrupt:
        report['interrupted'] = True  # what was measured so far is still reported
    startup, report['engines'], report['batch_training'], report['makemore_size_training'] = collect(
        jobs, steps, data)
    report['startup_seconds'] = startup
    report['goals'], report['comparisons'] = comparisons(report['engines'], report['batch_training'], steps,
                                                         report['makemore_size_training'])
    return report


# --- BLAS threads at a genome's size ------------------------------------------------------------

THREAD_COUNTS = (1, 2)
THREAD_STEPS, THREAD_WARMUP = 300, 20


def run_threads(data, genome, repeat=3, steps=THREAD_STEPS, seed=42, progress=None):
    """The numpy engine training this genome (its size, batch, dropout, average) with 1 and
    with 2 BLAS threads, each in a process of its own, alternating round by round; the step
    times side by side and which count is faster (the figure behind train's thread default)."""
    import json
    say = progress or (lambda message: None)
    train = {name: value for name, value in genome.train().items() if name != 'num_steps'}
    common = dict(data=str(Path(data).resolve()), seed=seed, arch=genome.arch(), train=train, steps=steps,
                  warmup=THREAD_WARMUP)
    jobs = [Job('threads', str(n), worker_job('genome', 'numpy', dict(common, threads=n)).command, once_if_slow=False)
            for n in THREAD_COUNTS]
    with tempfile.TemporaryDirectory(prefix='microgpt-threads-') as cwd:
        run_rounds(jobs, repeat, cwd, say)
    results = {}
    for job in jobs:
        measured = [json.loads(run.stdout) for run in job.runs]
        results[job.name] = dict(step_seconds=summary([m['step_seconds'] for m in measured]),
                                 tokens_per_second=summary([m['tokens_per_second'] for m in measured]),
                                 cpu_per_wall=summary([run.cpu_per_wall for run in job.runs]),
                                 final_loss=measured[0]['final_loss'], params=measured[0]['params'])
    step = {n: results[str(n)]['step_seconds']['median'] for n in THREAD_COUNTS}
    faster = min(THREAD_COUNTS, key=lambda n: (step[n], n))
    verdict = (f"threads at the genome's size ({results['1']['params']:,} parameters, batch {genome.batch_size}): "
               + ', '.join(f"{n} BLAS thread{'s' if n > 1 else ''} {step[n] * 1000:.2f} ms a step" for n in THREAD_COUNTS)
               + f"; 2 threads take {step[2] / step[1]:.2f}x the time of 1: {faster} is faster")
    return dict(machine=machine_info(), threads=dict(genome=genome.genes(), steps=steps, warmup=THREAD_WARMUP,
                                                     repeat=repeat, seed=seed, results=results,
                                                     two_vs_one_step_time=step[2] / step[1], faster=faster,
                                                     verdict=verdict))


# --- the race ------------------------------------------------------------------------------------

def race_contestants(data, seconds, seed):
    """The two workers' specs: microgpt's recipe on numpy, the twin as makemore's defaults."""
    common = dict(data=str(data), seed=seed, arch=MAKEMORE_ARCH, seconds=seconds, val_split=RACE_VAL_SPLIT,
                  calibration_seconds=RACE_CALIBRATION_SECONDS)
    return {
        'microgpt': dict(common, engine='numpy', dtype=MICROGPT_RACE_DTYPE,
                         train=MICROGPT_RECIPE),  # its steps, or as many as fit
        'makemore_twin': dict(common, engine='torch', dtype='float32', threads=MAKEMORE_THREADS,
                              train=dict(MAKEMORE_TRAIN, num_steps=10 ** 9)),  # until the time is up
    }


def run_race(data, seconds, seed=42, progress=None):
    """Each contestant in a process of its own, one after the other (so neither takes the
    other's cores): steps, tokens per second, held-out loss; the verdict and the goal."""
    import json
    say = progress or (lambda message: None)
    data = Path(data).resolve()
    contestants = race_contestants(data, seconds, seed)
    results = {}
    with tempfile.TemporaryDirectory(prefix='microgpt-race-') as cwd:
        for name, spec in contestants.items():
            say(f"race: {name}, {seconds:g} s")
            measured = run_measured(worker_job('race', spec['engine'], spec).command, cwd)
            results[name] = dict(json.loads(measured.stdout), peak_rss_mb=measured.peak_rss_mb,
                                 cpu_per_wall=measured.cpu_per_wall,
                                 settings={k: spec[k] for k in ('engine', 'dtype', 'train') if k in spec}
                                 | {'threads': spec.get('threads', 'microgpt default (1 BLAS thread)')})
    ours, twin = results['microgpt']['held_out_loss'], results['makemore_twin']['held_out_loss']
    winner = 'microgpt' if ours < twin else 'the makemore twin'
    verdict = (f"race, {seconds:g} s each: microgpt held-out loss {ours:.4f} "
               f"({results['microgpt']['steps']:,} steps, {results['microgpt']['tokens_per_second']:,.0f} tokens/s) "
               f"vs the makemore twin {twin:.4f} ({results['makemore_twin']['steps']:,} steps, "
               f"{results['makemore_twin']['tokens_per_second']:,.0f} tokens/s): {winner} wins")
    return dict(machine=machine_info(), race=dict(seconds=seconds, seed=seed, val_split=RACE_VAL_SPLIT,
                                                  data=str(data), arch=MAKEMORE_ARCH, contestants=results,
                                                  verdict=verdict),
                goals={'race_heldout_loss_vs_torch': goal('race_heldout_loss_vs_torch', ours / twin)})


def goal_lines(report):
    """One line per goal: its name, measured value, limit, and PASS or FAIL."""
    return [f"{'PASS' if g['met'] else 'FAIL'}  {name}: {g['value']:.3g} (goal {g['goal']})"
            for name, g in report.get('goals', {}).items()]
