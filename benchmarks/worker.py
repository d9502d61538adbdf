"""What a benchmark worker process does: train (and sample) one engine in-process, timed.

Run as `python benchmarks/worker.py SPEC` (suite.worker_job), SPEC a JSON object;
the result goes to stdout as JSON. Importing microgpt first gives the worker microgpt's
default of one BLAS/OpenMP thread; the PyTorch twin sets one thread itself.
"""
import json
import math
import sys
import time


def make_run(spec, docs=None, held_out=None):
    """The Run (data, shuffle, init) and its engine; the torch twin starts from the numpy
    engine's initial weights: the same random draws. spec may set the dtype (float64) and,
    for the twin, PyTorch's threads (1)."""
    from microgpt.data import load_docs
    from microgpt.training.run import Run
    engine = spec['engine']
    t0 = time.perf_counter()
    if engine == 'torch':
        from torch_twin import TorchEngine, set_threads
        set_threads(spec.get('threads', 1))
    else:
        from microgpt.gpt.engines import engine_class
        engine_class(engine)
    import_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    dtype = spec.get('dtype')
    run = Run(load_docs(spec['data']) if docs is None else docs, seed=spec['seed'], arch=spec.get('arch', {}),
              engine_name='numpy' if engine == 'torch' else engine, held_out=held_out,
              dtype=None if engine == 'torch' else dtype)
    if engine == 'torch':
        run.engine = TorchEngine(run.config, run.engine.state_dict(), dtype=dtype or 'float64')
    return run, import_seconds, time.perf_counter() - t0


def train_worker(spec):
    """The default training loop (one document a step), then 20 samples (speed.time_engine,
    as `microgpt bench` times them)."""
    from microgpt.speed import time_engine
    run, import_seconds, setup_seconds = make_run(spec)
    return dict(time_engine(run, spec['steps'], spec['samples'], spec['lr']), import_seconds=import_seconds,
                setup_seconds=setup_seconds)


def timed_tokens(run, cfg, first, last):
    """The target tokens of steps first..last-1 (what a step trains on, padding left out)."""
    return sum(len(tokens) - 1 for step in range(first, last) for tokens in run.batch(step, cfg.batch_size, cfg.batch_order))


def batch_worker(spec):
    """Mini-batch training: batch_size consecutive documents a step, the learning rate decayed
    linearly over warmup + steps; the first `warmup` steps are not timed."""
    from microgpt.training.run import TrainConfig
    run, _, _ = make_run(spec)
    total = spec['warmup'] + spec['steps']
    cfg = TrainConfig(num_steps=total, learning_rate=spec['lr'], batch_size=spec['batch_size'])
    seconds, losses = run.time_steps(cfg, spec['steps'], warmup=spec['warmup'], engine=run.engine)
    timed = math.fsum(seconds)
    tokens = timed_tokens(run, cfg, spec['warmup'], total)
    return dict(tokens_per_second=tokens / timed, step_seconds=timed / spec['steps'],
                timed_tokens=tokens, timed_seconds=timed, params=run.config.num_params(),
                final_loss=losses[-1])


def steps_for_seconds(spec, train_docs, train_config, seconds, calibration_seconds):
    """How many steps of this recipe fit in `seconds`: timed on a throwaway copy of the run for
    about calibration_seconds (its first 3 steps untimed, at least 10 timed)."""
    from dataclasses import replace
    run, _, _ = make_run(spec, train_docs)
    t0 = time.perf_counter()
    timed, _ = run.time_steps(replace(train_config, num_steps=10 ** 9), 10, warmup=3,
                              min_seconds=calibration_seconds, engine=run.engine)
    step_seconds = math.fsum(timed) / len(timed)
    return max(1, int(seconds / step_seconds)), time.perf_counter() - t0


def race_worker(spec):
    """Train one contestant of the race for spec['seconds'] of wall time on the 90/10 split,
    then measure its held-out loss (float64, batched). A recipe with a decaying schedule
    plans its steps, as many as fit when fewer than its own do (steps_for_seconds, not
    counted in the race), so that its learning rate reaches 0 in time."""
    from dataclasses import replace
    from microgpt.data import held_out_split, load_docs
    from microgpt.training.run import TrainConfig
    train_docs, held_out = held_out_split(load_docs(spec['data']), spec['seed'], spec['val_split'])
    cfg = TrainConfig(**spec['train'])
    calibration = None
    if cfg.schedule != 'constant':
        steps, calibration = steps_for_seconds(spec, train_docs, cfg, spec['seconds'], spec['calibration_seconds'])
        cfg = replace(cfg, num_steps=min(steps, cfg.num_steps))
    run, _, _ = make_run(spec, train_docs, held_out)
    t0 = time.perf_counter()
    deadline = t0 + spec['seconds']
    run.train(cfg, stop_requested=lambda: time.perf_counter() >= deadline)
    seconds = time.perf_counter() - t0
    tokens = timed_tokens(run, cfg, 0, run.step)
    tail = run.losses[-100:]
    return dict(steps=run.step, planned_steps=cfg.num_steps, seconds=seconds, calibration_seconds=calibration,
                tokens=tokens, tokens_per_second=tokens / seconds, params=run.config.num_params(),
                train_loss_last_100_steps=sum(tail) / len(tail), held_out_loss=run.evaluate(),
                train_docs=len(train_docs), held_out_docs=len(held_out))


def genome_worker(spec):
    """A genome's own training steps (its batch, dropout, weight average) with spec['threads']
    BLAS threads; the first `warmup` steps are not timed."""
    from threadpoolctl import threadpool_limits
    from microgpt.training.run import TrainConfig
    run, _, _ = make_run(spec)
    total = spec['warmup'] + spec['steps']
    cfg = TrainConfig(**dict(spec['train'], num_steps=total, warmup=min(spec['train'].get('warmup', 0), total - 1)))
    with threadpool_limits(spec['threads'], user_api='blas'):
        seconds, losses = run.time_steps(cfg, spec['steps'], warmup=spec['warmup'], engine=run.engine)
    timed = math.fsum(seconds)
    return dict(step_seconds=timed / spec['steps'], tokens_per_second=timed_tokens(run, cfg, spec['warmup'], total) / timed,
                timed_seconds=timed, params=run.config.num_params(), final_loss=losses[-1])


WORKERS = {'batch': batch_worker, 'race': race_worker, 'genome': genome_worker}


def main():
    spec = json.loads(sys.argv[1])
    print(json.dumps(WORKERS.get(spec['kind'], train_worker)(spec)))
