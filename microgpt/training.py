"""One training run, set up in the original's random order: shuffle, init, train, sample.

The defaults here and in `GPTConfig` are the original microgpt.py's settings: they are the
primordial genome, and every command's defaults come from them.
"""
import math
import random
from dataclasses import asdict, dataclass, fields
from typing import Optional

from .data import Tokenizer
from .engines import make_engine
from .errors import MicrogptError
from .model import GPTConfig, init_state_dict
from .optim import learning_rate_at

DEFAULT_SEED = 42
ARCH_FIELDS = tuple(f.name for f in fields(GPTConfig) if f.name != 'vocab_size')
ARCH_DEFAULTS = {f.name: f.default for f in fields(GPTConfig) if f.name != 'vocab_size'}


def check_arch(**arch):
    """Raise MicrogptError now if these sizes cannot make a model (before any data is read)."""
    GPTConfig(vocab_size=1, **{**ARCH_DEFAULTS, **arch})


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass(frozen=True)
class TrainConfig:
    """How to train: steps, Adam's learning rate (decayed linearly to 0), documents per step,
    and an optional clip of the global gradient norm."""
    num_steps: int = 1000
    learning_rate: float = 0.01
    batch_size: int = 1
    grad_clip: Optional[float] = None

    def __post_init__(self):
        for name in ('num_steps', 'batch_size'):
            if not _is_count(getattr(self, name)):
                raise MicrogptError(f"{name} must be a whole number >= 1, got {getattr(self, name)!r}")
        for name in ('learning_rate', 'grad_clip'):
            value = getattr(self, name)
            if value is None and name == 'grad_clip':
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and value > 0):
                raise MicrogptError(f"{name} must be a finite number > 0, got {value!r}")

    def to_dict(self):
        return asdict(self)


TRAIN_DEFAULTS = TrainConfig()


# Rough bytes held per parameter while training: the weights as Python lists at init, the
# engine's buffers (weights, gradient, Adam's two moments), and for the Val engine an atom per
# parameter plus the graph a step builds over the parameters.
BYTES_PER_PARAM = {'numpy': 120, 'val': 1200}


def available_memory():
    """Bytes this machine can still give (MemAvailable), or None where that is unknown."""
    try:
        with open('/proc/meminfo') as meminfo:
            for line in meminfo:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_needed(arch, engine_name, vocab_size=None):
    """(parameters, rough bytes) of training this architecture on this engine."""
    config = GPTConfig(vocab_size=vocab_size or 1, **{**ARCH_DEFAULTS, **arch})
    return config.num_params(), config.num_params() * BYTES_PER_PARAM.get(engine_name, max(BYTES_PER_PARAM.values()))


def check_memory(arch, engine_name, vocab_size=None):
    """Raise MicrogptError before allocating if the model cannot fit in memory."""
    config = GPTConfig(vocab_size=vocab_size or 1, **{**ARCH_DEFAULTS, **arch})
    _, need = memory_needed(arch, engine_name, vocab_size)
    have = available_memory()
    if have is not None and need > have:
        raise MicrogptError(f"a model of {config.num_params():,} parameters needs about {need / 2**30:.1f} GiB "
                            f"on the {engine_name} engine; this machine has {have / 2**30:.1f} GiB free. "
                            f"Choose a smaller --n-embd / --n-layer / --ff-mult / --block-size")


class Diverged(MicrogptError):
    """Training produced a non-finite loss (or the log of 0)."""

    def __init__(self, step, loss):
        self.step = step
        super().__init__(f"training diverged at step {step} (loss {loss}); "
                         f"try a lower learning rate (--lr)")


def _is_math_overflow(error):
    """The Val engine's arithmetic errors of a diverging run: log(0), exp overflow."""
    return str(error) in ('math domain error', 'math range error')


class Run:
    """Everything one run draws from its single `random.Random(seed)` stream, in order:
    the document shuffle, then the parameter init; after training, the samples."""

    def __init__(self, docs, seed=DEFAULT_SEED, arch=None, engine_name='numpy'):
        self.seed = seed
        self.rng = random.Random(seed)
        self.docs = list(docs)
        self.rng.shuffle(self.docs)
        self.tokenizer = Tokenizer.from_docs(self.docs)
        self.config = GPTConfig(vocab_size=self.tokenizer.vocab_size, **{**ARCH_DEFAULTS, **(arch or {})})
        self.engine = make_engine(engine_name, self.config, init_state_dict(self.config, self.rng))
        self.losses = []
        self.step = 0  # steps done

    def batch(self, step, batch_size):
        """The documents of a step: the next batch_size of the shuffled list, in order."""
        docs, block_size = self.docs, self.config.block_size
        return [self.tokenizer.doc_tokens(docs[(step * batch_size + i) % len(docs)], block_size)
                for i in range(batch_size)]

    def train(self, train_config, on_step=None, stop_requested=None):
        """Train from the steps done up to train_config.num_steps; returns the losses.

        Each step: the batch's loss and gradients, an optional gradient clip, one Adam update.
        A non-finite loss stops training with Diverged before it can reach the weights.
        `stop_requested()`, asked between steps, ends training early when it is true."""
        cfg, engine = train_config, self.engine
        for step in range(self.step, cfg.num_steps):
            if stop_requested is not None and stop_requested():
                break
            try:
                loss = engine.loss_and_backward(self.batch(step, cfg.batch_size))
            except (ValueError, OverflowError) as e:
                if not _is_math_overflow(e):
                    raise
                raise Diverged(step + 1, f'undefined: {e}') from None
            if not math.isfinite(loss):
                raise Diverged(step + 1, loss)
            if cfg.grad_clip is not None:
                engine.clip_grad_norm(cfg.grad_clip)
            engine.adam_step(learning_rate_at(step, cfg.num_steps, cfg.learning_rate), step + 1)
            self.losses.append(loss)
            self.step = step + 1
            if on_step is not None:
                on_step(step + 1, cfg.num_steps, loss)
        return self.losses
