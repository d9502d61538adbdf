"""Training on any text (text mode): the file is one stream of characters, newlines included,
and each training example a window of block_size + 1 characters drawn from it. The vocabulary
is the whole file's, so the held-out tail has no character the model lacks.
"""
from dataclasses import dataclass

from ..data import Tokenizer, split_text, tiling_windows, window_starts
from ..errors import MicrogptError
from ..gpt.engines import make_engine
from ..gpt.sampling import DEFAULT_TEXT_CHARS, continue_text
from .evaluation import sequences_loss
from .run import DEFAULT_SEED, Run


@dataclass
class TextSplit:
    """A text cut for training: the part trained on, the held-out tail, the vocabulary."""
    train: str
    held_out: str
    chars: list

    @classmethod
    def of(cls, text_data, block_size, val_split=0.0):
        """The split of a TextData (data.load_text); a MicrogptError unless the training part holds a
        window (block_size + 1 characters) and the held-out tail, if any, one target."""
        path, text = text_data.path, text_data.text
        train, held_out = split_text(text, val_split)
        window = block_size + 1
        if len(text) < window:
            raise MicrogptError(f"text {path} has {len(text):,} characters, fewer than one window of block_size + 1 "
                                f"= {window:,}: give a longer text or a smaller --block-size")
        if len(train) < window:
            raise MicrogptError(f"the window (block_size + 1 = {window:,} characters) is longer than the "
                                f"{len(train):,} characters of {path} left to train on after holding out "
                                f"{len(held_out):,} (val_split {val_split:g}): a smaller --block-size or --val-split")
        if held_out and len(held_out) < 2:
            raise MicrogptError(f"val_split {val_split:g} holds out {len(held_out)} character of {path}; scoring "
                                f"needs at least 2: a larger --val-split or a longer text")
        return cls(train, held_out, sorted(set(text)))


class TextRun(Run):
    """A Run whose one document is the training part of a TextSplit: the same random stream
    (shuffling one document draws nothing), engines and steps; only the batch (windows placed by
    data.window_starts) and the held-out loss (the tail cut by data.tiling_windows) differ."""

    def __init__(self, split, seed=DEFAULT_SEED, arch=None, engine_name='numpy', dtype=None):
        super().__init__([split.train], seed, arch, engine_name, held_out=[split.held_out] if split.held_out else [],
                         dtype=dtype, chars=split.chars)
        self.stream = self.tokenizer.encode(split.train)

    def batch_indices(self, step, batch_size, order=None):
        """Where the step's windows start in the training stream (whatever the batch order)."""
        return window_starts(self.seed, step, batch_size, len(self.stream), self.config.block_size)

    def batch(self, step, batch_size, order=None):
        window = self.config.block_size + 1
        return [self.stream[start:start + window] for start in self.batch_indices(step, batch_size)]

    def evaluate(self):
        """The mean per-character loss of the held-out tail, with the weights inference uses."""
        engine = self.engine if self.average is None else make_engine('numpy', self.config, self.inference_state_dict())
        return sequences_loss(engine, tiling_windows(self.tokenizer.encode(self.held_out[0]), self.config.block_size))

    def write(self, num_chars=DEFAULT_TEXT_CHARS, prompt='', **options):
        """num_chars characters the model writes after `prompt`, drawn from the run's own random
        stream; options: temperature, top_k, top_p (sampling.continue_text)."""
        return ''.join(continue_text(self.inference_engine(), self.tokenizer, self.rng, prompt, num_chars, **options))


def text_baselines(chars, train_text, scored_text):
    """The baselines on scored_text's characters after its first, counted on train_text, each one
    stream (BOS, which no window holds, is no guess)."""
    from .baselines import sequence_baselines
    tokenizer = Tokenizer(chars)
    return sequence_baselines(len(chars), [tokenizer.encode(train_text)], [tokenizer.encode(scored_text)])


def training_text(checkpoint, text_data):
    """The part of its text a text-mode checkpoint's run trained on, where it is at hand, else None."""
    from ..data import load_text
    text_data = checkpoint.trained_data(text_data, load_text)
    if text_data is None:
        return None
    return split_text(text_data.text, checkpoint.training.get('val_split') or 0.0)[0]


def text_loss(checkpoint, text_data):
    """(mean loss, characters scored, windows) of a text-mode checkpoint on a whole text, cut into
    windows that score each character after the first once."""
    tokenizer = checkpoint.tokenizer
    unknown = tokenizer.unknown_chars(text_data.text)
    if unknown:
        raise MicrogptError(f"{text_data.path} has characters the model does not know: {''.join(unknown)!r}")
    if len(text_data.text) < 2:
        raise MicrogptError(f"{text_data.path} has {len(text_data.text)} character: scoring needs at least 2")
    windows = tiling_windows(tokenizer.encode(text_data.text), checkpoint.config.block_size)
    engine = make_engine('numpy', checkpoint.config, checkpoint.inference_state_dict)
    loss = sequences_loss(engine, windows)
    return loss, len(text_data.text) - 1, len(windows)
