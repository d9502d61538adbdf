"""Standard weights: a model as a folder Hugging Face tools read. `config.json` holds GPTConfig's fields, the
dtype, the vocabulary (token i is chars[i]) and BOS (the last token); `model.safetensors` every weight under the
checkpoint's names, float32 or float64 as trained (the safetensors library: the `export` extra, imported when
needed). `read_export` serves checkpoint.load_checkpoint, so every command that reads a checkpoint reads a folder."""
import json
import os
import shutil
import uuid
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import MicrogptError
from ..gpt.model import GPTConfig, layers_held
from .fileio import check_writable, interrupts_deferred, read_json, unwritable

FORMAT = 'microgpt-export'
VERSION = 1
CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'
DTYPES = ('float32', 'float64')
ARCHITECTURE = ("GPT-2 with RMSNorm (no gain, eps 1e-5) instead of LayerNorm, no biases, ReLU; "
                "logits = lm_head @ x; every matrix is (out, in), as torch.nn.Linear's weight")


@dataclass
class Exported:
    """An exported folder's model; weights as a checkpoint's state_dict ({name: rows of floats})."""
    config: GPTConfig
    chars: list
    dtype: str
    weights: dict
    data_mode: str = None  # 'text' for a model trained in text mode (microgpt/training/textmode.py); else None


def safetensors_numpy():
    """safetensors.numpy, or one line on how to install it."""
    try:
        import safetensors.numpy
    except ImportError:
        raise MicrogptError("standard weights need the safetensors library: pip install safetensors "
                            "(from a clone of microgpt: pip install -e '.[export]')") from None
    return safetensors.numpy


def check_export_folder(folder, force=False):
    """The folder, or a MicrogptError line before any work unless it is missing, empty or (with force)
    holding files, in a writable parent."""
    folder = check_writable(folder, 'export folder', 'folder')
    if folder.exists() and any(folder.iterdir()) and not force:
        raise MicrogptError(f"export folder {folder} exists and is not empty: choose another or add --force "
                            f"(which replaces its {CONFIG_FILE} and {WEIGHTS_FILE})")
    if folder.exists():  # the files are made beside it first, in its parent
        why = unwritable(folder.parent)
        if why:
            raise MicrogptError(f"export folder {folder}: folder {folder.parent} is not writable ({why})")
    return folder


def write_export(checkpoint, folder, force=False):
    """Write the weights the checkpoint samples with to folder, every value exactly as held (in the run's
    dtype; a float32 run's average is float64). Returns {'folder', 'dtype', 'tensors', 'parameters'}."""
    import numpy as np
    folder = check_export_folder(folder, force)
    save_file = safetensors_numpy().save_file
    dtype = (checkpoint.training or {}).get('dtype') or 'float64'
    if dtype not in DTYPES:
        raise MicrogptError(f"checkpoint's dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    config, weights = checkpoint.config, checkpoint.inference_state_dict
    exact = {name: np.array(weights[name], dtype=np.float64) for name, _ in config.param_shapes()}
    if not all(np.array_equal(matrix.astype(dtype), matrix) for matrix in exact.values()):
        dtype = 'float64'  # a float32 run's weight average is kept in float64: stored as kept
    tensors = {name: matrix.astype(dtype) for name, matrix in exact.items()}
    data_mode = (checkpoint.training or {}).get('data_mode')  # 'text': it continues text, never reads BOS
    # every GPTConfig field at the top level, as Hugging Face configs keep them
    settings = {'format': FORMAT, 'version': VERSION, 'model_type': 'microgpt', **config.to_dict(),
                'dtype': dtype, 'chars': list(checkpoint.chars), 'bos_token_id': len(checkpoint.chars),
                'architecture': ARCHITECTURE, **({} if data_mode is None else {'data_mode': data_mode})}
    try:
        _write_whole(folder, tensors, settings, save_file)
    except OSError as e:
        raise MicrogptError(f"cannot write export folder {folder}: {e.strerror or e}") from None
    return {'folder': str(folder), 'dtype': dtype, 'tensors': len(tensors), 'parameters': config.num_params()}


def _write_whole(folder, tensors, settings, save_file):
    """Write the two files in a hidden folder beside folder, then put them in place whole: by one rename of
    that folder, or (into a full folder, --force) one rename a file. No staging is left behind."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f'.{folder.name}.{uuid.uuid4().hex[:12]}.tmp'
    try:
        staging.mkdir()  # with the umask's mode, which the folder put in place keeps
        save_file(tensors, str(staging / WEIGHTS_FILE), metadata={'format': 'np'})
        (staging / CONFIG_FILE).write_text(json.dumps(settings, indent=2, ensure_ascii=False) + '\n', encoding='utf-8')
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            (staging / name).chmod(staging.stat().st_mode & 0o666)  # safetensors makes its file private
            with open(staging / name, 'rb') as f:
                os.fsync(f.fileno())
        with interrupts_deferred():
            if folder.exists() and any(folder.iterdir()):
                for name in (WEIGHTS_FILE, CONFIG_FILE):
                    os.replace(staging / name, folder / name)
            else:
                os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_export(folder):
    """An exported folder's model (Exported), every field checked: one MicrogptError line for a missing or
    malformed file, or tensors that do not match the config."""
    folder = Path(folder)
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not config_path.exists():
        raise MicrogptError(f"{folder} is a folder without {CONFIG_FILE}: not a model written by `microgpt export`")
    settings = read_json(config_path, 'export config')
    config, chars, dtype, data_mode = _parse_config(config_path, settings)
    if not weights_path.is_file():
        raise MicrogptError(f"{weights_path} not found: an exported model needs both {CONFIG_FILE} and {WEIGHTS_FILE}")
    load_file = safetensors_numpy().load_file
    try:
        tensors = load_file(str(weights_path))
    except Exception as e:  # the library's errors for a damaged file have no common base class
        raise MicrogptError(f"{weights_path} is not a readable safetensors file: {' '.join(str(e).split())[:200]}") \
            from None
    return Exported(config, chars, dtype, _check_tensors(weights_path, tensors, config, dtype), data_mode)


def _parse_config(path, settings):
    def bad(why):
        return MicrogptError(f"{path} is not a valid export config: {why}")

    if not isinstance(settings, dict) or settings.get('format') != FORMAT:
        raise bad(f"its format is not {FORMAT!r}")
    if settings.get('version') != VERSION:
        raise bad(f"version {settings.get('version')!r}; this microgpt reads version {VERSION}")
    needed = [f.name for f in fields(GPTConfig)] + ['dtype', 'chars', 'bos_token_id']
    missing = [name for name in needed if name not in settings]
    if missing:
        raise bad(f"it misses {', '.join(missing)}")
    try:
        config = GPTConfig(**{f.name: settings[f.name] for f in fields(GPTConfig)})
    except (MicrogptError, TypeError) as e:
        raise bad(str(e)) from None
    chars, dtype = settings['chars'], settings['dtype']
    if dtype not in DTYPES:
        raise bad(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if (not isinstance(chars, list) or not all(isinstance(c, str) and len(c) == 1 for c in chars)
            or len(set(chars)) != len(chars)):
        raise bad("chars is not a list of distinct single characters")
    if len(chars) + 1 != config.vocab_size:
        raise bad(f"{len(chars)} chars and BOS make {len(chars) + 1} tokens, not vocab_size {config.vocab_size}")
    if settings['bos_token_id'] != len(chars) or isinstance(settings['bos_token_id'], bool):
        raise bad(f"bos_token_id is {settings['bos_token_id']!r}, not {len(chars)} (the token after the chars)")
    if settings.get('data_mode') not in (None, 'text'):
        raise bad(f"data_mode {settings['data_mode']!r} is not 'text' (a list's model has none)")
    return config, chars, dtype, settings.get('data_mode')


def _check_tensors(path, tensors, config, dtype):
    import numpy as np

    def bad(why):
        return MicrogptError(f"{path} does not match its {CONFIG_FILE}: {why}")

    layers = layers_held(tensors)
    if config.n_layer != layers:  # before listing the config's shapes: n_layer may be absurd
        raise bad(f"n_layer is {config.n_layer} and the tensors hold {layers} layer(s)")
    shapes = dict(config.param_shapes())
    missing = [name for name in shapes if name not in tensors]
    extra = sorted(name for name in tensors if name not in shapes)
    if missing or extra:
        raise bad('; '.join(part for part in (missing and f"missing {', '.join(missing)}",
                                              extra and f"extra {', '.join(extra)}") if part))
    weights = {}
    for name, shape in shapes.items():
        tensor = tensors[name]
        if tensor.shape != shape:
            raise bad(f"{name} is {'x'.join(map(str, tensor.shape)) or 'a scalar'}, not {shape[0]}x{shape[1]}")
        if tensor.dtype != np.dtype(dtype):
            raise bad(f"{name} is {tensor.dtype}, not {dtype}")
        if not np.isfinite(tensor).all():
            raise bad(f"{name} holds a value that is not a finite number")
        weights[name] = tensor.astype(np.float64).tolist()
    return weights
