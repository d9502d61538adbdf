"""One trial: train one configuration on the training split, measure it, return one record.

Evolution (one trial per organism) and sweeps (one per run) both fan trials out through
`trials.executor`. `run_trial` is a top-level function whose arguments carry everything it
needs (the documents themselves, never a path), so it runs the same inline, in a worker
process or on a Dask worker, and it returns plain data.
"""
import math
import time
import warnings

from ..errors import MicrogptError
from ..reproducibility import arithmetic, machine

TRAIN_LOSS_WINDOW = 100  # the recorded training loss is the mean of the last steps'


def trial_settings(arch, num_steps, learning_rate, seed, engine='numpy', **train):
    """The plain dict a trial is made of: architecture, training (num_steps, learning_rate
    and any other TrainConfig field in `train`), seed and engine."""
    return dict(arch, num_steps=num_steps, learning_rate=learning_rate, **train, seed=seed, engine=engine)


def run_trial(settings, train_docs, val_docs, measure=None, measure_options=None):
    """Train `settings` (see trial_settings) on train_docs, then measure it: always the
    validation loss (mean per-token cross-entropy on val_docs), and, when `measure` is given
    (a top-level function, e.g. evolve.fitness.aesthetic_measure), also
    `measure(run, train_docs, val_docs, **measure_options)` as 'measured'.

    Never raises for a failing configuration: an exception or a diverging run comes back
    as a record with 'error' set, so one bad trial cannot stop a search. Returns a dict:
    num_params, train_loss, val_loss, tokens, measured, seconds, cpu_seconds, eval_seconds, error, arithmetic
    (reproducibility.arithmetic of the machine that trained).
    """
    record = {'num_params': None, 'train_loss': None, 'error': None}
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        with warnings.catch_warnings():
            # a diverging run is caught by its loss; numpy's overflow warnings would only
            # scribble over the progress display
            warnings.simplefilter('ignore', RuntimeWarning)
            run = _train(settings, train_docs, record)
            record['seconds'] = time.perf_counter() - t0
            # CPU seconds of this process (all its threads): on a shared machine, what the
            # training would take on a core of its own
            record['cpu_seconds'] = time.process_time() - cpu0
            t1 = time.perf_counter()
            record['val_loss'] = validation_loss(run.engine, run.tokenizer, val_docs)
            if measure is not None:
                record['measured'] = measure(run, train_docs, val_docs, **(measure_options or {}))
            record['eval_seconds'] = time.perf_counter() - t1
    except Exception as e:  # noqa: BLE001 - a failing trial is data, not a crash
        record['error'] = f"{type(e).__name__}: {e}"
    record.setdefault('seconds', time.perf_counter() - t0)
    # what decided the last bits, from the process that trained (a Dask worker can be another
    # machine than the one that wrote the results file's header)
    record['arithmetic'] = arithmetic(machine(with_blas=settings.get('engine', 'numpy') != 'val'))
    return record


def _train(settings, train_docs, record):
    from dataclasses import fields
    from ..training import ARCH_FIELDS, Run, TrainConfig
    run = Run(train_docs, seed=settings['seed'], arch={k: settings[k] for k in ARCH_FIELDS},
              engine_name=settings.get('engine', 'numpy'))
    record['num_params'] = run.config.num_params()
    train = TrainConfig(**{f.name: settings[f.name] for f in fields(TrainConfig) if f.name in settings})
    losses = run.train(train)
    tail = losses[-TRAIN_LOSS_WINDOW:]
    record['train_loss'] = math.fsum(tail) / len(tail)
    record['tokens'] = tokens_trained(run, train)
    return run


def tokens_trained(run, train):
    """The positions (predicted tokens) of every batch the run trained on: its steps walk the
    shuffled documents round and round, batch_size at a time."""
    block = run.config.block_size
    positions = [len(run.tokenizer.doc_tokens(doc, block)) - 1 for doc in run.docs]
    passes, rest = divmod(run.step * train.batch_size, len(positions))
    return passes * sum(positions) + sum(positions[:rest])


def validation_loss(engine, tokenizer, val_docs):
    """Mean per-token loss on the validation documents this vocabulary can encode."""
    from ..evaluation import mean_loss
    docs = [doc for doc in val_docs if not tokenizer.unknown_chars(doc)]
    if not docs:
        raise MicrogptError("no validation document uses only characters seen in training")
    loss = mean_loss(engine, tokenizer, docs)
    if not math.isfinite(loss):
        raise FloatingPointError(f"validation loss is {loss}")
    return loss
