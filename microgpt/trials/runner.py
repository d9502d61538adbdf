"""One trial: train one genome, measure it, return one record of plain data. Evolution (a trial
per organism) and sweeps (one per run) fan trials out through `trials.executor`."""
import math
import time
import warnings
from collections import Counter
from dataclasses import dataclass

from ..errors import MicrogptError
from ..reproducibility import arithmetic, machine
from ..training.genome import Genome

TRAIN_LOSS_WINDOW = 100  # the recorded training loss is the mean of the last steps'


@dataclass(frozen=True)
class Trial:
    """A genome trained with this seed on this engine; with a `budget` (FLOPs), for the steps it buys."""
    genome: Genome
    seed: int
    engine: str = 'numpy'
    budget: float = None  # FLOPs


def run_trial(trial, train_docs, val_docs, measure=None, measure_options=None):
    """Train `trial`, then measure its validation loss and, with `measure`, `measure(run, train_docs,
    val_docs, **measure_options)` as 'measured'. A failing trial is a record with 'error' set."""
    record = {'num_params': None, 'train_loss': None, 'error': None}
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        with warnings.catch_warnings():
            # a diverging run is caught by its loss; overflow warnings would scribble over progress
            warnings.simplefilter('ignore', RuntimeWarning)
            run = _train(trial, train_docs, record)
            record['seconds'] = time.perf_counter() - t0
            # CPU seconds of this process: on a shared machine, what it takes on a core of its own
            record['cpu_seconds'] = time.process_time() - cpu0
            t1 = time.perf_counter()
            record['val_loss'] = validation_loss(run.inference_engine(), run.tokenizer, val_docs)
            if measure is not None:
                record['measured'] = measure(run, train_docs, val_docs, **(measure_options or {}))
            record['eval_seconds'] = time.perf_counter() - t1
    except Exception as e:  # noqa: BLE001 - a failing trial is data, not a crash
        from ..training.run import Diverged
        record['error'] = f"{type(e).__name__}: {e}"
        record['diverged'] = isinstance(e, (Diverged, FloatingPointError))
    record.setdefault('seconds', time.perf_counter() - t0)
    # what decided the last bits, from the process that trained (a Dask worker may be another machine)
    record['arithmetic'] = arithmetic(machine(with_blas=trial.engine != 'val'))
    return record


def _train(trial, train_docs, record):
    from ..compute.flops import lengths_of
    from ..training.run import Run
    genome = trial.genome
    run = Run(train_docs, seed=trial.seed, arch=genome.arch(), engine_name=trial.engine)
    record['num_params'] = run.config.num_params()
    lengths = lengths_of(run.docs, run.config, run.tokenizer)
    if trial.budget is not None:
        from ..compute.flops import batch_fixed_flops, document_flops, steps_for_budget
        steps = steps_for_budget(run.config, genome.batch_size, trial.budget, lengths, genome.dropout)
        genome = genome.with_settings(num_steps=steps)
        # the FLOPs of these very batches, not of an average one
        walked = _walked(lengths, genome.batch_size, steps)
        record['flops'] = steps * batch_fixed_flops(run.config).total + sum(
            num * document_flops(run.config, n, genome.dropout).total for n, num in walked.items())
    record['num_steps'] = genome.num_steps
    train = genome.train_config()
    record['tokens'] = _positions_planned(run, train, lengths)  # a run that diverges keeps its plan's
    losses = run.train(train)
    tail = losses[-TRAIN_LOSS_WINDOW:]
    record['train_loss'] = math.fsum(tail) / len(tail)
    return run


def _positions_planned(run, train, lengths):
    """The positions (predicted tokens) of every batch of the run's steps."""
    if train.batch_order == 'walk':
        return sum(n * num for n, num in _walked(lengths, train.batch_size, train.num_steps).items())
    return sum(lengths[i] for step in range(train.num_steps)
               for i in run.batch_indices(step, train.batch_size, train.batch_order))


def _walked(lengths, batch_size, num_steps):
    """{positions: documents} of the documents num_steps batches walk round and round, in order."""
    laps, rest = divmod(batch_size * num_steps, len(lengths))
    walked = Counter({n: laps * num for n, num in Counter(lengths).items()})
    walked.update(lengths[:rest])
    return walked


def validation_loss(engine, tokenizer, val_docs):
    """Mean per-token loss on the validation documents this vocabulary can encode."""
    from ..training.evaluation import mean_loss
    docs = [doc for doc in val_docs if not tokenizer.unknown_chars(doc)]
    if not docs:
        raise MicrogptError("no validation document uses only characters seen in training")
    loss = mean_loss(engine, tokenizer, docs)
    if not math.isfinite(loss):
        raise FloatingPointError(f"validation loss is {loss}")
    return loss
