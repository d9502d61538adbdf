"""Checkpoints: one JSON file with config, vocabulary, weights, Adam's moments, the weight
average when training keeps one, and how they were trained (enough to resume the run
exactly), plus where it came from (provenance).

JSON floats round-trip float64 exactly, and any engine can read them.
"""
import math
from dataclasses import dataclass, field
from pathlib import Path

from .data import Tokenizer
from .errors import MicrogptError
from .fileio import atomic_write_json, read_json
from .model import GPTConfig

FORMAT = 'microgpt-checkpoint'
VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 has no optimizer state: it samples, it cannot resume
DEFAULT_CHECKPOINT = 'microgpt.ckpt.json'
TEXT_MODE = 'text'  # training['data_mode'] of a run trained with `train --text`; a list's records none


@dataclass
class Checkpoint:
    config: GPTConfig
    chars: list
    state_dict: dict
    training: dict
    optimizer: dict = None  # {'m': {name: rows}, 'v': {name: rows}}
    losses: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    ema: dict = None  # the weight average {name: rows} (training's ema), if kept
    weights_only: bool = False  # read from a folder `microgpt export` wrote: no training record

    @property
    def tokenizer(self):
        return Tokenizer(self.chars)

    @property
    def text_mode(self):
        """Whether the run trained on one stream of text (microgpt/textmode.py), not a list."""
        return self.training.get('data_mode') == TEXT_MODE

    @property
    def inference_state_dict(self):
        """The weights to sample and evaluate with: the average when the run kept one."""
        return self.state_dict if self.ema is None else self.ema


def _all_finite(matrices):
    return all(math.isfinite(x) for rows in matrices.values() for row in rows for x in row)


def save_checkpoint(path, checkpoint):
    """Write atomically; refuses weights or moments that are not finite numbers."""
    if not _all_finite(checkpoint.state_dict) or (
            checkpoint.optimizer and not all(_all_finite(checkpoint.optimizer[k]) for k in ('m', 'v'))) or (
            checkpoint.ema is not None and not _all_finite(checkpoint.ema)):
        raise MicrogptError(f"not saving {path}: the model holds values that are not finite numbers")
    names = [name for name, _ in checkpoint.config.param_shapes()]
    atomic_write_json(path, {
        'format': FORMAT, 'version': VERSION, 'config': checkpoint.config.to_dict(),
        'vocab': list(checkpoint.chars), 'training': checkpoint.training,
        'provenance': checkpoint.provenance,
        'state_dict': {name: checkpoint.state_dict[name] for name in names},
        'optimizer': None if checkpoint.optimizer is None else {
            k: {name: checkpoint.optimizer[k][name] for name in names} for k in ('m', 'v')},
        'losses': list(checkpoint.losses),
        **({} if checkpoint.ema is None else {'ema': {name: checkpoint.ema[name] for name in names}}),
    })


def load_checkpoint(path):
    """The checkpoint file at path; or, for a folder written by `microgpt export`, its weights
    (weights_only: no optimizer state and no training record but the dtype)."""
    path = Path(path)
    if path.is_dir():
        from .export import read_export
        model = read_export(path)
        mode = {} if model.data_mode is None else {'data_mode': model.data_mode}  # text mode's, kept
        return Checkpoint(model.config, model.chars, model.weights, {'dtype': model.dtype, **mode}, weights_only=True)
    obj = read_json(path, 'checkpoint', f" (train one with `microgpt train --out {path}`)")

    def bad(why):
        return MicrogptError(f"checkpoint {path} is corrupt: {why}")

    if not isinstance(obj, dict) or obj.get('format') != FORMAT:
        raise bad("not a microgpt checkpoint")
    if obj.get('version') not in READABLE_VERSIONS:
        raise MicrogptError(f"checkpoint {path} has format version {obj.get('version')!r}; "
                            f"this microgpt reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    try:
        config = GPTConfig(**obj['config'])
        chars, state, training = obj['vocab'], obj['state_dict'], obj.get('training', {})
        optimizer, losses = obj.get('optimizer'), obj.get('losses', [])
        matrices = {'state_dict': state}
        if optimizer is not None:
            matrices.update(m=optimizer['m'], v=optimizer['v'])
        ema = obj.get('ema')
        if ema is not None:
            matrices['ema'] = ema
    except MicrogptError as e:
        raise bad(str(e)) from None
    except (KeyError, TypeError) as e:
        raise bad(f"missing or malformed field {e}") from None
    if (not isinstance(chars, list) or len(chars) + 1 != config.vocab_size
            or not all(isinstance(c, str) and len(c) == 1 for c in chars)):
        raise bad("vocabulary does not match vocab_size")
    if not isinstance(training, dict) or not isinstance(losses, list):
        raise bad("training or losses malformed")
    for what, mats in matrices.items():
        for name, (rows, cols) in config.param_shapes():
            rows_of = mats.get(name) if isinstance(mats, dict) else None
            if not (isinstance(rows_of, list) and len(rows_of) == rows
                    and all(isinstance(row, list) and len(row) == cols for row in rows_of)):
                raise bad(f"{what} {name} is not {rows}x{cols}")
            if not all(isinstance(x, float) and math.isfinite(x) for row in rows_of for x in row):
                raise bad(f"{what} {name} holds a value that is not a finite number")
    if training.get('ema') is not None and training.get('steps_done') and ema is None:
        raise bad("its run keeps a weight average (ema), but the file holds none")
    return Checkpoint(config, chars, state, training, optimizer, losses, obj.get('provenance') or {}, ema)
