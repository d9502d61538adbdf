"""One training run, set up in the original's random order: shuffle, init, train, sample.

The settings of `TrainConfig` and `GPTConfig` are declared in microgpt/gpt/settings.py, with the
original microgpt.py's defaults.
"""
import math
import random
import statistics
import time
from dataclasses import asdict, fields

from ..compute.limits import available_memory, describe_count, gib
from ..data import Tokenizer
from ..errors import MicrogptError
from ..gpt.engines import make_engine
from ..gpt.model import GPTConfig, init_state_dict
from ..gpt.optim import AdamSettings, learning_rate_at
from ..gpt.sampling import DEFAULT_NUM_SAMPLES, generate
from ..gpt.settings import DEFAULT_BATCH_ORDER, MODEL_SETTINGS, TRAINING_SETTINGS, SettingError, configured

DEFAULT_SEED = 42
ARCH_FIELDS = tuple(s.name for s in MODEL_SETTINGS if s.gene)
ARCH_DEFAULTS = {s.name: s.default for s in MODEL_SETTINGS if s.gene}


@configured(TRAINING_SETTINGS)
class TrainConfig:
    """How to train: the settings declared in microgpt/gpt/settings.py, each checked there. Every
    default is the original's: Adam (betas 0.85, 0.99, no weight decay), the learning rate
    decayed linearly to 0 without warmup, one document a step walking the shuffled list, no
    gradient clip, every document trained on, no evaluation.

    dropout drops that share of the attention weights and of both residual branches' outputs in
    training; ema keeps a moving average of the weights (WeightAverage) for evaluation and
    sampling. val_split holds out that share of the documents; eval_every measures their loss
    every that many steps and at the end; early_stop ends training after that many evaluations
    without a new best."""

    def check(self):
        if self.eval_every is not None and not self.val_split:
            raise SettingError('eval_every', "evaluates the held-out documents: it needs a val_split")
        if self.early_stop is not None and self.eval_every is None:
            raise SettingError('early_stop', "counts evaluations: it needs eval_every")

    def adam(self):
        return AdamSettings(beta1=self.beta1, beta2=self.beta2, weight_decay=self.weight_decay)

    def learning_rate_at(self, step):
        return learning_rate_at(step, self.num_steps, self.learning_rate, self.warmup, self.schedule)

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, recorded):
        """The TrainConfig a checkpoint's 'training' holds; a field it lacks is the default, which an
        older microgpt trained with."""
        return cls(**{f.name: recorded[f.name] for f in fields(cls) if f.name in recorded})


TRAIN_DEFAULTS = TrainConfig()


# Rough bytes while training: per parameter (the weights as lists at init, the engine's weights,
# gradient and Adam's two moments; on Val also an atom each and the graph over them), per Val atom
# of a step's graph (the object, its children and local gradients), per document beyond its text.
BYTES_PER_PARAM = {'numpy': 120, 'val': 1200}
BYTES_PER_VAL_ATOM = 250
BYTES_PER_DOC = 57


def data_bytes(docs):
    return sum(len(doc) for doc in docs) + BYTES_PER_DOC * len(docs)


def activation_bytes(config, engine_name, batch_size):
    """Rough bytes of one step's activations over a full batch: on numpy, float64 per position and
    layer the residual stream, attention's weights and the MLP's hidden layer, then the logits,
    forward and backward; on Val, an atom per forward FLOP."""
    if engine_name == 'numpy':
        c, positions = config.n_embd, config.block_size
        per_layer = 8 * c + 2 * config.n_head * positions + 2 * config.ff_mult * c
        floats = 2 * (config.n_layer * per_layer + 3 * config.vocab_size)
        return 8 * floats * positions * batch_size
    from ..compute.flops import document_flops
    return BYTES_PER_VAL_ATOM * batch_size * document_flops(config, config.block_size).forward


def param_count(config):
    """config.num_params() without a loop over the layers, so that an absurd --n-layer is refused at once."""
    e, hidden = config.n_embd, config.ff_mult * config.n_embd
    return (2 * config.vocab_size + config.block_size) * e + config.n_layer * (4 * e * e + 2 * hidden * e)


def memory_needed(arch, engine_name, vocab_size=None, batch_size=1, data=0):
    """(parameters, rough bytes) of training this architecture on this engine: the parameters with
    Adam's state, one batch's activations and `data` bytes of documents."""
    config = GPTConfig(vocab_size=vocab_size or 1, **{**ARCH_DEFAULTS, **arch})
    params = param_count(config)
    per_param = BYTES_PER_PARAM.get(engine_name, max(BYTES_PER_PARAM.values()))
    return params, params * per_param + activation_bytes(config, engine_name, batch_size) + data


def memory_short_of(need):
    """(need, bytes free) when `need` bytes are more than this machine has free, else None."""
    have = available_memory()
    return (need, have) if have is not None and need > have else None


def memory_shortfall(arch, engine_name, vocab_size=None, copies=1, batch_size=1, data=0):
    """(parameters, bytes one training needs, bytes free) when `copies` trainings at once do not
    fit in the memory free, else None."""
    params, need = memory_needed(arch, engine_name, vocab_size, batch_size, data)
    short = memory_short_of(need * copies)
    return None if short is None else (params, need, short[1])


def check_memory(arch, engine_name, vocab_size=None, batch_size=1, data=0):
    """Raise MicrogptError before allocating if the training cannot fit in memory."""
    shortfall = memory_shortfall(arch, engine_name, vocab_size, batch_size=batch_size, data=data)
    if shortfall is None:
        return
    params, need, have = shortfall
    batched = f" with {describe_count(batch_size)} documents a step" if batch_size > 1 else ''
    knobs = "--n-embd / --n-layer / --ff-mult / --block-size" + (" / --batch-size" if batch_size > 1 else '')
    raise MicrogptError(f"a model of {describe_count(params)} parameters needs about {gib(need)} GiB on the "
                        f"{engine_name} engine{batched}; this machine has {gib(have)} GiB free. "
                        f"Choose a smaller {knobs}")


class Diverged(MicrogptError):
    """Training produced a non-finite loss (or the log of 0)."""

    def __init__(self, step, loss):
        super().__init__(f"training diverged at step {step} (loss {loss}); try a lower learning rate (--lr)")


def quiet_arithmetic():
    """numpy's overflow, division and invalid-value warnings silenced (the arithmetic untouched):
    training's own check of every loss says a diverging run in one line (Diverged)."""
    import numpy as np
    return np.errstate(over='ignore', divide='ignore', invalid='ignore')


class WeightAverage:
    """An exponential moving average of the weights (Polyak averaging): it starts at the initial
    weights, and after each step average = decay * average + (1 - decay) * weights. Kept in
    float64 in the parameters' order (GPTConfig.param_shapes), whatever the engine."""

    def __init__(self, decay, weights):
        import numpy as np
        self.decay = decay
        self.weights = np.array(weights, dtype=np.float64)
        self._scratch = np.empty_like(self.weights)

    def update(self, weights):
        import numpy as np
        np.multiply(weights, 1 - self.decay, out=self._scratch)
        self.weights *= self.decay
        self.weights += self._scratch

    def state_dict(self, config):
        from ..gpt.engines.numpy_engine import flat_views
        return {name: view.tolist() for name, view in flat_views(self.weights, config)[0].items()}

    @classmethod
    def from_state_dict(cls, decay, config, state_dict):
        """The average as a checkpoint holds it (load_checkpoint has checked every matrix's shape)."""
        return cls(decay, [x for name, _ in config.param_shapes() for row in state_dict[name] for x in row])


class Run:
    """Everything one run draws from its single `random.Random(seed)` stream, in order:
    the document shuffle, then the parameter init; after training, the samples.

    `held_out` documents (see data.held_out_split) are never trained on: with
    TrainConfig.eval_every, their loss is measured while training, into `curve`. Batch orders
    other than the original's draw from streams of their own, keyed by the seed and the step
    (or the pass), so the one stream stays the original's and a resumed run draws the same."""

    def __init__(self, docs, seed=DEFAULT_SEED, arch=None, engine_name='numpy', held_out=None, dtype=None,
                 chars=None):
        self.seed = seed
        self.rng = random.Random(seed)
        self.docs = list(docs)
        self.rng.shuffle(self.docs)
        self.held_out = list(held_out or [])
        # the vocabulary: `chars` when given (text mode: the whole file's), else the documents'
        self.tokenizer = Tokenizer.from_docs(self.docs) if chars is None else Tokenizer(chars)
        self.config = GPTConfig(vocab_size=self.tokenizer.vocab_size, **{**ARCH_DEFAULTS, **(arch or {})})
        self.engine_name, self.dtype = engine_name, dtype
        self.engine = make_engine(engine_name, self.config, init_state_dict(self.config, self.rng), dtype)
        self.losses = []
        self.curve = []  # one {'step', 'train_loss', 'val_loss'} per evaluation
        self.step = 0  # steps done
        self.stopped_early = False
        self.average = None  # a WeightAverage, when training keeps one (TrainConfig.ema)
        self._pass_order = (0, range(len(self.docs)))  # (pass, its order) of the epoch order

    def batch(self, step, batch_size, order=DEFAULT_BATCH_ORDER):
        """The documents of a step, as token lists (see settings.BATCH_ORDERS)."""
        docs, block_size = self.docs, self.config.block_size
        return [self.tokenizer.doc_tokens(docs[i], block_size) for i in self.batch_indices(step, batch_size, order)]

    def batch_indices(self, step, batch_size, order=DEFAULT_BATCH_ORDER):
        n, first = len(self.docs), step * batch_size
        if order == 'replacement':
            draw = random.Random(f"{self.seed} batch {step}")
            return [draw.randrange(n) for _ in range(batch_size)]
        if order == 'epoch':
            return [self._order_of_pass(k // n)[k % n] for k in range(first, first + batch_size)]
        return [(first + i) % n for i in range(batch_size)]

    def _order_of_pass(self, number):
        """The order of pass `number`: the shuffled list itself first, then a shuffle fixed by the seed."""
        if self._pass_order[0] != number:
            order = list(range(len(self.docs)))
            random.Random(f"{self.seed} pass {number}").shuffle(order)
            self._pass_order = (number, order)
        return self._pass_order[1]

    def dropout_masks(self, step, batch, p):
        """The step's dropout masks (dropout.step_masks) over this batch, or None when p is 0."""
        if not p:
            return None
        from ..gpt.dropout import step_masks
        return step_masks(p, self.seed, step, [len(tokens) - 1 for tokens in batch], self.config)

    def inference_state_dict(self):
        """The weights evaluation and sampling use: the average when one is kept, else the weights."""
        return self.engine.state_dict() if self.average is None else self.average.state_dict(self.config)

    def inference_engine(self):
        """An engine (of the run's kind) over inference_state_dict: the run's own without an average."""
        if self.average is None:
            return self.engine
        return make_engine(self.engine_name, self.config, self.inference_state_dict(), self.dtype)

    def _step(self, engine, average, step, cfg, guard=True):
        """One step: loss and gradients (with the step's dropout masks), a gradient clip, Adam,
        the average; returns the loss. guard: a non-finite loss raises Diverged before the update."""
        batch = self.batch(step, cfg.batch_size, cfg.batch_order)
        masks = self.dropout_masks(step, batch, cfg.dropout)
        try:
            loss = engine.loss_and_backward(batch, masks)
        except (ValueError, OverflowError) as e:  # the Val engine's log(0) or exp overflow
            if not guard or str(e) not in ('math domain error', 'math range error'):
                raise
            raise Diverged(step + 1, f'undefined: {e}') from None
        if guard and not math.isfinite(loss):
            raise Diverged(step + 1, loss)
        if cfg.grad_clip is not None:
            engine.clip_grad_norm(cfg.grad_clip)
        engine.adam_step(cfg.learning_rate_at(step), step + 1)
        if average is not None:
            average.update(engine.flat_weights())
        return loss

    def time_steps(self, train_config, steps, warmup=1, min_seconds=0.0, engine=None):
        """(each timed step's seconds, every step's loss) of training steps from the first: `warmup`
        untimed, then `steps` timed and more until min_seconds. They run on `engine`, by default
        a copy of the run's (the run and its random stream stay untouched)."""
        cfg = train_config
        if engine is None:
            engine = make_engine(self.engine_name, self.config, self.engine.state_dict(), self.dtype)
        engine.set_adam(cfg.adam())
        average = None if cfg.ema is None else WeightAverage(cfg.ema, engine.flat_weights())
        seconds, losses, timed = [], [], 0.0
        with quiet_arithmetic():
            while len(seconds) < steps or timed < min_seconds:
                step = len(losses)
                t0 = time.perf_counter()
                losses.append(self._step(engine, average, step, cfg, guard=False))
                if step >= warmup:
                    seconds.append(time.perf_counter() - t0)
                    timed += seconds[-1]
        return seconds, losses

    def seconds_per_step(self, train_config, steps=5):
        """The median seconds of a training step (time_steps on a copy of the engine)."""
        return statistics.median(self.time_steps(train_config, steps)[0])

    @property
    def best(self):
        """The curve's point of lowest held-out loss (the first, if tied), or None."""
        return min(self.curve, key=lambda point: point['val_loss']) if self.curve else None

    def evaluate(self):
        """The mean per-token loss of the held-out documents (batched, on numpy), with the
        weights inference uses (the average, when kept)."""
        from .evaluation import mean_loss
        engine = self.engine if self.average is None else make_engine('numpy', self.config, self.inference_state_dict())
        return mean_loss(engine, self.tokenizer, self.held_out)

    def _record_evaluation(self, cfg):
        """Evaluate now; append the point to the curve. Returns it and whether it is a new best."""
        previous = self.curve[-1]['step'] if self.curve else 0
        since = self.losses[previous:self.step]
        val_loss = self.evaluate()
        if not math.isfinite(val_loss):
            raise Diverged(self.step, f'{val_loss} on the held-out documents')
        point = dict(step=self.step, train_loss=math.fsum(since) / len(since), val_loss=val_loss)
        self.curve.append(point)
        best = self.best
        if cfg.early_stop is not None and len(self.curve) - 1 - self.curve.index(best) >= cfg.early_stop:
            self.stopped_early = True
        return point, best is point

    def sample(self, num=DEFAULT_NUM_SAMPLES, **options):
        """num names drawn from the run's own random stream (after training, the original's
        samples). options: temperature, top_k, top_p, prefix (sampling.generate)."""
        return list(generate(self.engine, self.tokenizer, self.rng, num, **options))

    def train(self, train_config, on_step=None, stop_requested=None, on_eval=None):
        """Train from the steps done up to train_config.num_steps; returns the losses. A non-finite
        loss raises Diverged. With eval_every, each evaluation goes into the curve and to
        `on_eval(point, improved)`; `stop_requested()`, asked between steps, ends training."""
        cfg, engine = train_config, self.engine
        engine.set_adam(cfg.adam())
        if cfg.ema is not None and self.average is None:
            self.average = WeightAverage(cfg.ema, engine.flat_weights())
        with quiet_arithmetic():
            for step in range(self.step, cfg.num_steps):
                if self.stopped_early or (stop_requested is not None and stop_requested()):
                    break
                loss = self._step(engine, self.average, step, cfg)
                self.losses.append(loss)
                self.step = step + 1
                if on_step is not None:
                    on_step(step + 1, cfg.num_steps, loss)
                if cfg.eval_every is not None and (self.step % cfg.eval_every == 0 or self.step == cfg.num_steps):
                    point, improved = self._record_evaluation(cfg)
                    if on_eval is not None:
                        on_eval(point, improved)
        return self.losses


def first_evaluation(recorded, docs):
    """A run recorded in a checkpoint (its 'config' and 'training'), trained again from scratch
    on `docs` to its first held-out evaluation: (the step, the held-out loss there)."""
    from ..data import held_out_split
    t, config = recorded['training'], recorded['config']
    train, held_out = held_out_split(docs, t['seed'], t['val_split'])
    run = Run(train, seed=t['seed'], arch={k: config[k] for k in ARCH_FIELDS}, held_out=held_out, dtype=t['dtype'])
    run.train(TrainConfig.from_dict(t), stop_requested=lambda: len(run.curve) == 1)
    return run.curve[0]['step'], run.curve[0]['val_loss']
