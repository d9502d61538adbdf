"""How fast each engine trains and samples on this machine, as `microgpt bench` reports it: engines
alternate round after round in this process (so a ratio does not depend on when each ran on a shared
machine), and figures are medians over the rounds."""
import hashlib
import math
import os
import platform
import statistics
import time
from importlib import metadata

from .console import step_line
from .reproducibility import cpu_model
from .training.run import DEFAULT_SEED, TRAIN_DEFAULTS, Run, TrainConfig

SAMPLES = 20
TEMPERATURE = 0.5
# An engine whose first round takes longer than this (the Val engine's 1000 steps) runs once.
SLOW_SECONDS = 10.0


def time_engine(run, steps, samples=SAMPLES, learning_rate=TRAIN_DEFAULTS.learning_rate):
    """Seconds of the run's engine training `steps` steps of the default config, then sampling `samples`
    names, with the loss lines and names it got (engines that compute the same numbers get the same)."""
    config = TrainConfig(num_steps=steps, learning_rate=learning_rate)
    seconds, losses = run.time_steps(config, steps, warmup=0, engine=run.engine)
    t0 = time.perf_counter()
    names = run.sample(samples, temperature=TEMPERATURE)
    sample_seconds = time.perf_counter() - t0
    lines = [step_line(i, steps, loss) for i, loss in enumerate(losses, start=1)]
    loop_seconds = math.fsum(seconds)
    return dict(train_loop_seconds=loop_seconds, train_step_seconds=loop_seconds / steps,
                sample_seconds=sample_seconds, final_loss_line=lines[-1],
                loss_lines_sha256=hashlib.sha256('\n'.join(lines).encode()).hexdigest(), samples=' '.join(names))


def summary(values):
    return dict(median=statistics.median(values), min=min(values), max=max(values), runs=len(values))


def _output(figures):
    """What a run printed: its loss lines' digest and its names."""
    return figures['loss_lines_sha256'], figures['samples']


def engine_figures(results):
    """One engine's rounds, summed up."""
    first = results[0]
    return dict(runs=len(results), train_loop_seconds=summary([r['train_loop_seconds'] for r in results]),
                train_step_seconds=statistics.median(r['train_step_seconds'] for r in results),
                sample_seconds=statistics.median(r['sample_seconds'] for r in results),
                final_loss_line=first['final_loss_line'], loss_lines_sha256=first['loss_lines_sha256'],
                samples=first['samples'], same_output_every_run=all(_output(r) == _output(first) for r in results))


def machine_info():
    return dict(python=platform.python_version(), platform=platform.platform(), cpus=os.cpu_count(),
                cpu=cpu_model(), numpy=metadata.version('numpy'))


def time_engines(docs, engines, steps, repeat, progress):
    """The report (a dict) of each engine timed `repeat` rounds (once when its first round is slow);
    progress(message) hears each round. On Ctrl-C it holds the rounds done, marked interrupted."""
    rounds = {name: [] for name in engines}
    report = dict(machine=machine_info(),
                  settings=dict(steps=steps, seed=DEFAULT_SEED, learning_rate=TRAIN_DEFAULTS.learning_rate,
                                samples=SAMPLES, temperature=TEMPERATURE, repeat=repeat, slow_seconds=SLOW_SECONDS))
    try:
        for number in range(1, repeat + 1):
            todo = [name for name in engines
                    if not rounds[name] or rounds[name][0]['train_loop_seconds'] <= SLOW_SECONDS]
            if not todo:
                break
            progress(f"round {number}/{repeat}: {', '.join(todo)}")
            for name in todo:
                rounds[name].append(time_engine(Run(docs, seed=DEFAULT_SEED, engine_name=name), steps))
    except KeyboardInterrupt:
        report['interrupted'] = True
    report['engines'] = {name: engine_figures(results) for name, results in rounds.items() if results}
    numpy = report['engines'].get('numpy')
    if numpy is not None:
        report['same_losses_and_samples_as_numpy'] = {name: _output(figures) == _output(numpy)
                                                      for name, figures in report['engines'].items() if name != 'numpy'}
    return report
