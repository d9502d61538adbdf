"""Checkpoints: one JSON file with config, vocabulary, weights and how they were trained.

JSON floats round-trip float64 exactly, and any engine can read them.
"""
import math
from dataclasses import dataclass
from pathlib import Path

from .data import Tokenizer
from .errors import MicrogptError
from .fileio import atomic_write_json, read_json
from .model import GPTConfig

FORMAT = 'microgpt-checkpoint'
VERSION = 1
DEFAULT_CHECKPOINT = 'microgpt.ckpt.json'


@dataclass
class Checkpoint:
    config: GPTConfig
    chars: list
    state_dict: dict
    training: dict

    @property
    def tokenizer(self):
        return Tokenizer(self.chars)


def save_checkpoint(path, config, tokenizer, state_dict, training):
    atomic_write_json(path, {
        'format': FORMAT, 'version': VERSION, 'config': config.to_dict(),
        'vocab': list(tokenizer.chars), 'training': training,
        'state_dict': {name: state_dict[name] for name, _ in config.param_shapes()},
    })


def load_checkpoint(path):
    path = Path(path)
    obj = read_json(path, 'checkpoint', f" (train one with `microgpt train --out {path}`)")

    def bad(why):
        return MicrogptError(f"checkpoint {path} is corrupt: {why}")

    if not isinstance(obj, dict) or obj.get('format') != FORMAT:
        raise bad("not a microgpt checkpoint")
    if obj.get('version') != VERSION:
        raise MicrogptError(f"checkpoint {path} has format version {obj.get('version')!r}; "
                            f"this microgpt reads version {VERSION}")
    try:
        config = GPTConfig(**obj['config'])
        chars, state, training = obj['vocab'], obj['state_dict'], obj.get('training', {})
        shapes_ok = {name: len(state[name]) == rows and all(len(row) == cols for row in state[name])
                     for name, (rows, cols) in config.param_shapes()}
    except MicrogptError as e:
        raise bad(str(e)) from None
    except (KeyError, TypeError) as e:
        raise bad(f"missing or malformed field {e}") from None
    if (not isinstance(chars, list) or len(chars) + 1 != config.vocab_size
            or not all(isinstance(c, str) and len(c) == 1 for c in chars)):
        raise bad("vocabulary does not match vocab_size")
    for name, (rows, cols) in config.param_shapes():
        if not shapes_ok[name]:
            raise bad(f"{name} is not {rows}x{cols}")
        if not all(isinstance(x, float) and math.isfinite(x) for row in state[name] for x in row):
            raise bad(f"{name} holds a value that is not a finite number")
    return Checkpoint(config, chars, state, training)
