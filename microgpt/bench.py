"""`microgpt bench`: how fast each engine trains and samples, and how much memory it holds.

Every measurement of an engine runs in a subprocess of its own, so its peak RSS (read with
wait4) is its own and the engines stand side by side in one report:
  - a worker process (`python -m microgpt.bench SPEC`) times the training loop and 20
    samples in-process, and says which losses and samples it got;
  - the whole `microgpt train --samples 0` process (start-up and data included) is timed
    from outside, several times when it is quick.
PyTorch joins when installed (the twin in bench_torch.py). Children run with one BLAS/OpenMP
thread. The atom's micro-benchmarks (building and back-propagating Val graphs) run here.
"""
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from .errors import MicrogptError, require_positive

ENGINES = ('val', 'numpy', 'torch')
TORCH_INSTALL = "pip install 'microgpt[bench]'"
SAMPLES = 20
TEMPERATURE = 0.5
ATOM_SIZES = (1_000, 100_000)
# The original microgpt.py takes about this long for the default 1000 steps on this machine class.
ORIGINAL_SECONDS_PER_1000_STEPS = 405.0
GOALS = dict(
    numpy_process_vs_torch_loop=0.2,      # whole numpy `train` process / PyTorch's training loop
    numpy_peak_rss_mb=64.0,
    val_speedup_vs_original=10.0,
    val_peak_rss_mb=56.0,
)
QUICK_PROCESS_SECONDS = 2.0               # train processes quicker than this are timed --repeat times
ONE_THREAD = {name: '1' for name in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')}
REPORTED_ENV = ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE', 'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS',
                'MKL_NUM_THREADS')
# A child's ru_maxrss starts from its parent's peak (Linux carries the forked image's high-water
# mark across exec), so each child reports its own peak, VmHWM, on stderr as it exits.
PEAK_RSS_MARK = 'microgpt-bench peak RSS KiB: '
PEAK_RSS_REPORTER = f'''import atexit as _atexit, sys as _sys
def _report_peak_rss():
    try:
        with open('/proc/self/status') as status:
            kib = next(line.split()[1] for line in status if line.startswith('VmHWM:'))
    except (OSError, StopIteration):
        return
    _sys.stderr.write('\\n{PEAK_RSS_MARK}' + kib + '\\n')
_atexit.register(_report_peak_rss)
'''
# `microgpt ARGS`, as the console script runs it, plus the report of its peak RSS.
CLI_WITH_PEAK_RSS = PEAK_RSS_REPORTER + '''_sys.argv[0] = 'microgpt'
from microgpt.cli import main
main()
'''


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


# --- in a worker process ---------------------------------------------------------------------

def loss_line(step, num_steps, loss):
    return f"step {step:4d} / {num_steps:4d} | loss {loss:.4f}"


def worker(spec):
    """Train and sample one engine in this process; times and what came out (JSON-able)."""
    from .data import load_docs
    from .sampling import generate
    from .training import Run

    engine = spec['engine']
    t0 = time.perf_counter()
    if engine == 'torch':
        from .bench_torch import TorchEngine
    else:
        from .engines import engine_class
        engine_class(engine)
    import_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    # The torch twin starts from the numpy engine's initial weights: the same random draws.
    run = Run(load_docs(spec['data']), seed=spec['seed'], engine_name='numpy' if engine == 'torch' else engine)
    if engine == 'torch':
        run.engine = TorchEngine(run.config, run.engine.state_dict())
    setup_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    from .training import TrainConfig
    losses = run.train(TrainConfig(num_steps=spec['steps'], learning_rate=spec['lr']))
    loop_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    names = list(generate(run.engine, run.tokenizer, run.rng, spec['samples'], temperature=TEMPERATURE))
    sample_seconds = time.perf_counter() - t0
    lines = [loss_line(i, len(losses), loss) for i, loss in enumerate(losses, start=1)]
    return dict(import_seconds=import_seconds, setup_seconds=setup_seconds,
                train_loop_seconds=loop_seconds, train_step_seconds=loop_seconds / len(losses),
                sample_seconds=sample_seconds, final_loss_line=lines[-1],
                loss_lines_sha256=hashlib.sha256('\n'.join(lines).encode()).hexdigest(),
                samples=' '.join(names))


# --- in the benchmark process ----------------------------------------------------------------

def child_env():
    # Timed processes run as an installed microgpt does, with its bytecode cached: the
    # first of the repeated runs writes the cache, and the fastest run is compared.
    env = {**os.environ, **ONE_THREAD}
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    return env


def run_measured(command, cwd):
    """Run command; (wall seconds, its peak RSS in MB, stdout, stderr). Raises if it fails.

    The peak is the one the child reported (PEAK_RSS_REPORTER), else wait4's ru_maxrss.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=child_env(), stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        seconds = time.perf_counter() - t0
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or ['(no message)']
        raise MicrogptError(f"benchmark step failed ({' '.join(command[1:4])} ...): {tail[0]}")
    reported = [line for line in stderr.splitlines() if line.startswith(PEAK_RSS_MARK)]
    kib = int(reported[-1][len(PEAK_RSS_MARK):]) if reported else usage.ru_maxrss  # KiB on Linux
    return seconds, kib / 1024, stdout, stderr


def summary(values):
    return dict(min=min(values), median=statistics.median(values), runs=len(values))


def measure_worker(spec, cwd):
    command = [sys.executable, '-c', PEAK_RSS_REPORTER + 'from microgpt.bench import worker_main\nworker_main()',
               json.dumps(spec)]
    seconds, rss_mb, stdout, _ = run_measured(command, cwd)
    result = json.loads(stdout)
    result.update(process_seconds=seconds, peak_rss_mb=rss_mb)
    return result


def measure_train_process(engine, steps, data, cwd, repeat):
    """The whole `microgpt train --samples 0` process: seconds (min, median) and peak RSS."""
    args = ['train', '--engine', engine, '--steps', str(steps), '--samples', '0', '--data', str(data)]
    command = [sys.executable, '-c', CLI_WITH_PEAK_RSS, *args, '--out', str(Path(cwd) / f'{engine}.ckpt.json')]
    times, peaks = [], []
    while True:
        seconds, rss_mb, _, _ = run_measured(command, cwd)
        times.append(seconds)
        peaks.append(rss_mb)
        if len(times) >= repeat or times[0] > QUICK_PROCESS_SECONDS:
            break
    return dict(command=' '.join(['microgpt', *args, '--out', 'FILE']),
                seconds=summary(times), peak_rss_mb=max(peaks))


def measure_startup(cwd, repeat):
    """The floor under any `microgpt train`: the interpreter, numpy, and the CLI's imports."""
    probes = dict(python=['-c', 'pass'], python_import_numpy=['-c', 'import numpy'],
                  microgpt_help=['-m', 'microgpt', '--help'])
    return {name: summary([run_measured([sys.executable, *args], cwd)[0] for _ in range(repeat)])['min']
            for name, args in probes.items()}


def atom_graph(n):
    """A chain of n >= 3 Val nodes: leaves a and b, y = a * b, then alternately y + a and y * b."""
    from .autograd import Val
    a, b = Val(0.1), Val(0.9)
    y = a * b
    for i in range(n - 3):
        y = y + a if i % 2 == 0 else y * b
    return y


def measure_atom(n, budget_seconds=0.5):
    """Seconds to build an n-node Val graph and to back-propagate through it (best of several)."""
    builds, backwards = [], []
    while not builds or (sum(builds) + sum(backwards) < budget_seconds and len(builds) < 200):
        t0 = time.perf_counter()
        root = atom_graph(n)
        t1 = time.perf_counter()
        root.backward()
        t2 = time.perf_counter()
        builds.append(t1 - t0)
        backwards.append(t2 - t1)
        del root
    build, backward = min(builds), min(backwards)
    return dict(nodes=n, build_seconds=build, backward_seconds=backward, runs=len(builds),
                build_ns_per_node=build / n * 1e9, backward_ns_per_node=backward / n * 1e9)


def machine_info():
    info = dict(python=platform.python_version(), platform=platform.platform(), cpus=os.cpu_count(),
                numpy=metadata.version('numpy'),
                torch=metadata.version('torch') if torch_available() else None,
                env={name: os.environ.get(name) for name in REPORTED_ENV},
                child_env=ONE_THREAD)
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                info['cpu'] = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return info


def comparisons(engines, steps):
    """The issue's goals, measured: each with its value, its limit and whether it is met."""
    out = {}
    numpy, val, torch = engines.get('numpy'), engines.get('val'), engines.get('torch')
    if numpy and torch:
        ratio = numpy['train_process']['seconds']['min'] / torch['train_loop_seconds']
        out['numpy_process_vs_torch_loop'] = dict(
            value=ratio, goal_at_most=GOALS['numpy_process_vs_torch_loop'],
            met=ratio <= GOALS['numpy_process_vs_torch_loop'],
            what='whole `microgpt train --samples 0` process on numpy (fastest run) / PyTorch training loop')
        out['numpy_loop_vs_torch_loop'] = dict(value=numpy['train_loop_seconds'] / torch['train_loop_seconds'])
    if numpy:
        rss = numpy['train_process']['peak_rss_mb']
        out['numpy_peak_rss_mb'] = dict(value=rss, goal_below=GOALS['numpy_peak_rss_mb'],
                                        met=rss < GOALS['numpy_peak_rss_mb'])
    if val:
        speedup = ORIGINAL_SECONDS_PER_1000_STEPS / (val['train_step_seconds'] * 1000)
        out['val_speedup_vs_original'] = dict(
            value=speedup, goal_at_least=GOALS['val_speedup_vs_original'],
            met=speedup >= GOALS['val_speedup_vs_original'],
            what=f"original's {ORIGINAL_SECONDS_PER_1000_STEPS:.0f} s per 1000 steps / the Val engine's")
        rss = val['train_process']['peak_rss_mb']
        out['val_peak_rss_mb'] = dict(value=rss, goal_at_most=GOALS['val_peak_rss_mb'],
                                      met=rss <= GOALS['val_peak_rss_mb'])
    if numpy:
        out['same_losses_and_samples_as_numpy'] = {
            name: (result['loss_lines_sha256'] == numpy['loss_lines_sha256']
                   and result['samples'] == numpy['samples'])
            for name, result in engines.items() if name != 'numpy'}
    if steps != 1000:
        out['note'] = f"{steps} steps, not the default 1000: the process ratio carries more start-up"
    return out


def run_bench(engines, steps, data, repeat=5, seed=42, lr=0.01, samples=SAMPLES, progress=None):
    """The whole benchmark; returns the report (a dict). progress(message) hears each stage."""
    require_positive('steps', steps)
    require_positive('repeat', repeat)
    say = progress or (lambda message: None)
    data = Path(data).resolve()
    report = dict(machine=machine_info(),
                  settings=dict(steps=steps, seed=seed, lr=lr, samples=samples, temperature=TEMPERATURE,
                                data=str(data), repeat=repeat),
                  engines={})
    try:
        with tempfile.TemporaryDirectory(prefix='microgpt-bench-') as cwd:  # no genome.json, no input.txt
            say("start-up floor (python, numpy, microgpt --help)")
            report['startup_seconds'] = measure_startup(cwd, repeat)
            for engine in engines:
                say(f"{engine}: training {steps} steps and sampling {samples} in a worker process")
                spec = dict(engine=engine, steps=steps, samples=samples, data=str(data), seed=seed, lr=lr)
                result = measure_worker(spec, cwd)
                if engine != 'torch':
                    say(f"{engine}: whole `microgpt train --samples 0` process")
                    result['train_process'] = measure_train_process(engine, steps, data, cwd, repeat)
                report['engines'][engine] = result
        say("atom: building and back-propagating Val graphs")
        report['atom'] = {f'{n // 1000}k_nodes': measure_atom(n) for n in ATOM_SIZES}
    except KeyboardInterrupt:
        report['interrupted'] = True  # what was measured so far is still reported
    report['comparisons'] = comparisons(report['engines'], steps)
    return report


def worker_main():
    """A worker process: the spec is JSON in argv[1]; the result goes to stdout as JSON."""
    print(json.dumps(worker(json.loads(sys.argv[1]))))


def bench_job(console, steps, engines, repeat, data, out):
    """`microgpt bench`: the JSON report on stdout (and in `out`); progress on stderr."""
    from .data import load_docs, resolve_data_path
    from .fileio import atomic_write_json, check_output_path
    names = parse_engines(engines)
    if engines is None and 'torch' not in names:
        console.info(f"torch is not installed, so PyTorch is left out ({TORCH_INSTALL})")
    if out:
        check_output_path(out, 'report')
    data_path = resolve_data_path(data, echo=console.info)
    load_docs(data_path)  # a bad data file fails here, in one line
    report = run_bench(names, steps, data_path, repeat=repeat, progress=lambda m: console.info(f"bench: {m}"))
    if out:
        atomic_write_json(out, report, indent=2)
    console.out(json.dumps(report, indent=2))
    if report.get('interrupted'):
        console.info("interrupted: the report holds what was measured before")
        raise KeyboardInterrupt
