"""What a benchmark worker process does: train (and sample) one engine in-process, timed.

Run as `python -c 'from microgpt.bench.worker import main; main()' SPEC`, SPEC a JSON object;
the result goes to stdout as JSON. Importing microgpt first gives the worker microgpt's
default of one BLAS/OpenMP thread; the PyTorch twin sets one thread itself.
"""
import hashlib
import json
import sys
import time

TEMPERATURE = 0.5


def make_run(spec):
    """The Run (data, shuffle, init) and its engine; the torch twin starts from the numpy
    engine's initial weights: the same random draws."""
    from ..data import load_docs
    from ..training import Run
    engine = spec['engine']
    t0 = time.perf_counter()
    if engine == 'torch':
        from ..engines.torch_twin import TorchEngine
    else:
        from ..engines import engine_class
        engine_class(engine)
    import_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    run = Run(load_docs(spec['data']), seed=spec['seed'], arch=spec.get('arch', {}),
              engine_name='numpy' if engine == 'torch' else engine)
    if engine == 'torch':
        run.engine = TorchEngine(run.config, run.engine.state_dict())
    return run, import_seconds, time.perf_counter() - t0


def train_worker(spec):
    """The default training loop (one document a step), then 20 samples."""
    from ..console import step_line
    from ..sampling import generate
    from ..training import TrainConfig
    run, import_seconds, setup_seconds = make_run(spec)
    t0 = time.perf_counter()
    losses = run.train(TrainConfig(num_steps=spec['steps'], learning_rate=spec['lr']))
    loop_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    names = list(generate(run.engine, run.tokenizer, run.rng, spec['samples'], temperature=TEMPERATURE))
    sample_seconds = time.perf_counter() - t0
    lines = [step_line(i, len(losses), loss) for i, loss in enumerate(losses, start=1)]
    return dict(import_seconds=import_seconds, setup_seconds=setup_seconds,
                train_loop_seconds=loop_seconds, train_step_seconds=loop_seconds / len(losses),
                sample_seconds=sample_seconds, final_loss_line=lines[-1],
                loss_lines_sha256=hashlib.sha256('\n'.join(lines).encode()).hexdigest(),
                samples=' '.join(names))


def batch_worker(spec):
    """Mini-batch training: batch_size consecutive documents a step, the learning rate decayed
    linearly over warmup + steps; the first `warmup` steps are not timed."""
    from ..optim import learning_rate_at
    run, _, _ = make_run(spec)
    engine, total = run.engine, spec['warmup'] + spec['steps']
    batches = [run.batch(step, spec['batch_size']) for step in range(total)]
    losses = []
    for step, batch in enumerate(batches):
        if step == spec['warmup']:
            t0 = time.perf_counter()
        losses.append(engine.train_step(batch, learning_rate_at(step, total, spec['lr']), step + 1))
    seconds = time.perf_counter() - t0
    tokens = sum(len(tokens) - 1 for batch in batches[spec['warmup']:] for tokens in batch)
    return dict(tokens_per_second=tokens / seconds, step_seconds=seconds / spec['steps'],
                timed_tokens=tokens, timed_seconds=seconds, params=run.config.num_params(),
                final_loss=losses[-1])


def main():
    spec = json.loads(sys.argv[1])
    work = batch_worker if spec['kind'] == 'batch' else train_worker
    print(json.dumps(work(spec)))
