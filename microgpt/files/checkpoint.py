"""Checkpoints: one JSON file with config, vocabulary, weights, Adam's moments, the weight average when training
keeps one, how they were trained (enough to resume the run exactly) and where it came from (provenance).
JSON floats round-trip float64 exactly, and any engine reads them."""
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from ..data import Tokenizer
from ..errors import MicrogptError
from ..gpt.engines import DEFAULT_DTYPE, DTYPES, ENGINE_HELP
from ..gpt.model import GPTConfig, layers_held
from ..gpt.sampling import temperature_problem
from ..gpt.settings import MODEL_SETTINGS, TRAINING_SETTINGS, SettingError
from .fields import check_fields, is_count, is_digest, is_number, is_whole, or_null
from .fileio import atomic_write_json, read_json

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
        """Whether the run trained on one stream of text (microgpt/training/textmode.py), not a list."""
        return self.training.get('data_mode') == TEXT_MODE

    @property
    def inference_state_dict(self):
        """The weights to sample and evaluate with: the average when the run kept one."""
        return self.state_dict if self.ema is None else self.ema

    def trained_data(self, given, load):
        """The data this run trained on: `given` (a Dataset or TextData) when it has its SHA-256, else the
        recorded data_path read by `load` when it is still there unchanged, else None."""
        expected = self.training.get('data_sha256')
        if not expected:
            return None
        if given.sha256 == expected:
            return given
        recorded = self.training.get('data_path')
        if not (recorded and Path(recorded).is_file()):
            return None
        data = load(recorded)
        return data if data.sha256 == expected else None


def save_checkpoint(path, checkpoint):
    """Write atomically; refuses weights or moments that are not finite numbers."""
    held = [checkpoint.state_dict, checkpoint.ema or {}, *(checkpoint.optimizer or {}).values()]
    if not all(math.isfinite(x) for matrices in held for rows in matrices.values() for row in rows for x in row):
        raise MicrogptError(f"not saving {path}: the model holds values that are not finite numbers")
    names = [name for name, _ in checkpoint.config.param_shapes()]

    def in_order(matrices):
        return {name: matrices[name] for name in names}
    atomic_write_json(path, {
        'format': FORMAT, 'version': VERSION, 'config': checkpoint.config.to_dict(),
        'vocab': list(checkpoint.chars), 'training': checkpoint.training, 'provenance': checkpoint.provenance,
        'state_dict': in_order(checkpoint.state_dict),
        'optimizer': None if checkpoint.optimizer is None else {
            k: in_order(checkpoint.optimizer[k]) for k in ('m', 'v')},
        'losses': list(checkpoint.losses), **({} if checkpoint.ema is None else {'ema': in_order(checkpoint.ema)}),
    })


def load_checkpoint(path):
    """The checkpoint file at path, every field checked against what microgpt writes (one MicrogptError naming
    the file and the field); or the weights of a folder `microgpt export` wrote (weights_only)."""
    path = Path(path)
    if path.is_dir():
        from .export import read_export
        model = read_export(path)
        mode = {} if model.data_mode is None else {'data_mode': model.data_mode}  # text mode's, kept
        return Checkpoint(model.config, model.chars, model.weights, {'dtype': model.dtype, **mode}, weights_only=True)
    obj = read_json(path, 'checkpoint', f" (train one with `microgpt train --out {path}`)")

    def bad(field, why):
        return MicrogptError(f"checkpoint {path} is corrupt: field '{field}' {why}")

    if not isinstance(obj, dict) or obj.get('format') != FORMAT:
        raise MicrogptError(f"checkpoint {path} is corrupt: not a microgpt checkpoint")
    if obj.get('version') not in READABLE_VERSIONS or isinstance(obj.get('version'), bool):
        raise MicrogptError(f"checkpoint {path} has format version {obj.get('version')!r}; "
                            f"this microgpt reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    check_fields(obj, TOP_FIELDS, '', bad, optional=('training', 'provenance', 'optimizer', 'losses', 'ema'))
    config = _checked_config(obj['config'], bad)
    chars = obj['vocab']
    if len(chars) + 1 != config.vocab_size or len(set(chars)) != len(chars):
        raise bad('vocab', f"must be {config.vocab_size - 1} different characters (config.vocab_size less "
                           f"BOS), got {len(chars)}")
    training, losses = obj.get('training', {}), obj.get('losses', [])
    optimizer, ema = obj.get('optimizer'), obj.get('ema')
    _check_training(training, losses, optimizer is not None, bad)
    matrices = {'state_dict': obj['state_dict'], 'optimizer.m': (optimizer or {}).get('m'),
                'optimizer.v': (optimizer or {}).get('v'), 'ema': ema}
    for where, mats in matrices.items():
        if mats is not None:
            _check_matrices(mats, config, where, bad)
    decay = training.get('ema')
    if ema is not None and decay is None:
        raise bad('training.ema', "must be the decay of the weight average the file holds, got None")
    if decay is not None and training.get('steps_done') and ema is None:
        raise bad('ema', "is missing: its run keeps a weight average (training.ema)")
    return Checkpoint(config, chars, obj['state_dict'], training, optimizer, losses, obj.get('provenance') or {}, ema)


# --- what a checkpoint file holds, field by field ------------------------------------------

TOP_FIELDS = {
    'format': (lambda v: v == FORMAT, f"must be {FORMAT!r}"),
    'version': (lambda v: is_whole(v) and v in READABLE_VERSIONS, "must be a readable version"),
    'config': (lambda v: isinstance(v, dict), "must be an object of the model's settings"),
    'vocab': (lambda v: isinstance(v, list) and all(isinstance(c, str) and len(c) == 1 for c in v),
              "must be a list of single characters"),
    'training': (lambda v: isinstance(v, dict), "must be an object"),
    'provenance': (or_null(lambda v: isinstance(v, dict)), "must be null or an object"),
    'state_dict': (lambda v: isinstance(v, dict), "must be an object of the model's matrices"),
    'optimizer': (or_null(lambda v: isinstance(v, dict) and set(v) == {'m', 'v'}),
                  "must be null or an object of Adam's moments m and v"),
    'losses': (lambda v: isinstance(v, list) and all(map(is_number, v)), "must be a list of finite numbers"),
    'ema': (lambda v: isinstance(v, dict), "must be an object of the weight average's matrices"),
}


# The training record beyond the settings (each checked by its declaration). A file that can
# resume (it holds Adam's moments) has RESUMABLE's and num_steps; any other may be missing (an
# older microgpt's file trained with the default; a file of weights alone may have none).
RUN_FIELDS = {
    'seed': (is_whole, "must be a whole number"),
    'steps_done': (is_count, "must be a whole number >= 0"),
    'temperature': (lambda v: is_number(v) and temperature_problem(v) is None,
                    "must be a number > 0 whose inverse is finite"),
    'samples': (is_count, "must be a whole number >= 0"),
    'engine': (lambda v: isinstance(v, str) and v in ENGINE_HELP, f"must be one of {', '.join(ENGINE_HELP)}"),
    'dtype': (lambda v: isinstance(v, str) and v in DTYPES, f"must be one of {', '.join(DTYPES)}"),
    'final_loss': (or_null(is_number), "must be null or a finite number"),
    'data_sha256': (or_null(is_digest), "must be null or a sha256 digest (64 hex digits)"),
    'data_path': (or_null(lambda v: isinstance(v, str)), "must be null or a path"),
    'genome': (or_null(lambda v: isinstance(v, str)), "must be null or a path"),
    'curve': (lambda v: isinstance(v, list), "must be a list of evaluations"),
    'stopped_early': (lambda v: isinstance(v, bool), "must be true or false"),
    'budget': (or_null(lambda v: is_number(v) and v > 0), "must be null or a number of FLOPs > 0"),
    'best': (or_null(lambda v: isinstance(v, dict)), "must be null or an object"),
    'data_mode': (lambda v: v == TEXT_MODE, f"must be {TEXT_MODE!r} (a run of `train --text`) or absent"),
}
RESUMABLE = ('seed', 'steps_done', 'temperature', 'samples')
# curves other tools write, which `microgpt report` draws as it finds them (viz/report.py)
FOREIGN_CURVES = ('curves', 'eval', 'eval_curve')
SETTINGS_OF_TRAINING = {setting.name: setting for setting in TRAINING_SETTINGS}
POINT_FIELDS = {
    'step': (lambda v: is_whole(v) and v >= 1, "must be a whole number >= 1"),
    'train_loss': (is_number, "must be a finite number"),
    'val_loss': (is_number, "must be a finite number"),
}
BEST_FIELDS = {
    'step': POINT_FIELDS['step'],
    'val_loss': POINT_FIELDS['val_loss'],
    'checkpoint': (or_null(lambda v: isinstance(v, str) and bool(v)), "must be null or a path"),
}


def _checked_config(recorded, bad):
    names = [setting.name for setting in MODEL_SETTINGS]
    for name in recorded:
        if name not in names:
            raise bad(f'config.{name}', f"is not a setting of the model (settings: {', '.join(names)})")
    if 'vocab_size' not in recorded:
        raise bad('config.vocab_size', "is missing")
    try:
        return GPTConfig(**recorded)
    except SettingError as e:
        raise bad(f'config.{e.setting}', e.reason) from None


def _check_training(training, losses, resumable, bad):
    known = tuple(SETTINGS_OF_TRAINING) + tuple(RUN_FIELDS) + FOREIGN_CURVES
    check_fields(training, RUN_FIELDS, 'training', bad, known=known,
                 optional=[name for name in RUN_FIELDS if not resumable or name not in RESUMABLE])
    if resumable and 'num_steps' not in training:
        raise bad('training.num_steps', "is missing: the run it resumes needs its steps")
    if training.get('stopped_early') and training.get('early_stop') is None:
        raise bad('training.stopped_early', "can be true only for a run with early_stop, got True")
    if training.get('val_split') and 'seed' not in training:
        raise bad('training.seed', "is missing: the run's held-out split is chosen by it")
    # each setting by its declaration, a step-counted one against the run's steps
    settings = SimpleNamespace(**{name: setting.default for name, setting in SETTINGS_OF_TRAINING.items()})
    for name, setting in SETTINGS_OF_TRAINING.items():
        if name in training:
            problem = setting.problem(training[name], settings)
            if problem is not None:
                raise bad(f'training.{name}', problem.reason)
            setattr(settings, name, training[name])
    if 'steps_done' in training:
        steps = training['steps_done']
        if 'num_steps' in training and steps > training['num_steps']:
            raise bad('training.steps_done', f"must be at most num_steps ({training['num_steps']}), got {steps}")
        if steps != len(losses):
            raise bad('training.steps_done', f"must be the number of losses ({len(losses)}), got {steps}")
    steps_done = training.get('steps_done', len(losses))
    last = 0
    for k, point in enumerate(training.get('curve') or ()):
        where = f'training.curve[{k}]'
        if not isinstance(point, dict):
            raise bad(where, "must be an object of step, train_loss and val_loss")
        check_fields(point, POINT_FIELDS, where, bad)
        if not last < point['step'] <= steps_done:
            raise bad(f'{where}.step', f"must be after the point before ({last}) and at most steps_done "
                                       f"({steps_done}), got {point['step']}")
        last = point['step']
    best = training.get('best')
    if best is not None:
        check_fields(best, BEST_FIELDS, 'training.best', bad)
        if best['step'] not in [point['step'] for point in training.get('curve') or ()]:
            raise bad('training.best.step', f"must be the step of an evaluation in training.curve, got {best['step']}")
    if training.get('dtype', DEFAULT_DTYPE) != DEFAULT_DTYPE and training.get('engine', 'numpy') != 'numpy':
        raise bad('training.dtype', f"{training['dtype']} is for the numpy engine, not the run's "
                                    f"{training['engine']} engine")


def _check_matrices(mats, config, where, bad):
    layers = layers_held(mats)
    if config.n_layer != layers:  # before listing the config's shapes: n_layer may be absurd
        raise bad('config.n_layer', f"must be the number of layers {where} holds ({layers}), got {config.n_layer}")
    shapes = dict(config.param_shapes())
    for name in mats:
        if name not in shapes:
            raise bad(f'{where}.{name}', "is not a matrix of the model")
    for name, (rows, cols) in shapes.items():
        rows_of = mats.get(name)
        if not (isinstance(rows_of, list) and len(rows_of) == rows
                and all(isinstance(row, list) and len(row) == cols for row in rows_of)):
            raise bad(f'{where}.{name}', f"must be {rows}x{cols}")
        if not all(isinstance(x, float) and math.isfinite(x) for row in rows_of for x in row):
            raise bad(f'{where}.{name}', "holds a value that is not a finite number")
