"""One training run, set up in the original's random order: shuffle, init, train, sample."""
import random
from dataclasses import dataclass, field

from .data import Tokenizer
from .engines import make_engine
from .model import GPTConfig, init_state_dict
from .optim import learning_rate_at

ARCH_DEFAULTS = dict(n_embd=16, n_head=4, n_layer=1, block_size=16, ff_mult=4)


def check_arch(**arch):
    """Raise MicrogptError now if these sizes cannot make a model (before any data is read)."""
    GPTConfig(vocab_size=1, **arch)


@dataclass
class Run:
    """Everything one run draws from its single `random.Random(seed)` stream, in order:
    the document shuffle, then the parameter init; after training, the samples."""
    docs: list
    seed: int = 42
    arch: dict = field(default_factory=dict)
    engine_name: str = 'numpy'

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self.docs = list(self.docs)
        self.rng.shuffle(self.docs)
        self.tokenizer = Tokenizer.from_docs(self.docs)
        self.config = GPTConfig(vocab_size=self.tokenizer.vocab_size, **{**ARCH_DEFAULTS, **self.arch})
        self.engine = make_engine(self.engine_name, self.config, init_state_dict(self.config, self.rng))
        self.losses = []

    def train(self, num_steps, learning_rate, on_step=None):
        """Step i trains on document i mod N; returns the list of losses."""
        docs, tokenizer, engine = self.docs, self.tokenizer, self.engine
        block_size = self.config.block_size
        for step in range(num_steps):
            tokens = tokenizer.doc_tokens(docs[step % len(docs)], block_size)
            loss = engine.train_step([tokens], learning_rate_at(step, num_steps, learning_rate), step + 1)
            self.losses.append(loss)
            if on_step is not None:
                on_step(step + 1, num_steps, loss)
        return self.losses
