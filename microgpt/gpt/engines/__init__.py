"""Engines: interchangeable ways to run the same GPT, trainer and sampler.

Every engine is built from a config and a state_dict of plain floats, and offers:
  loss_and_backward(batch, dropout=None) -> float    mean token loss of a batch (a list of
                                       token lists, one per document, already cropped);
                                       gradients kept inside and added to any not yet used;
                                       dropout: the step's dropout.StepMasks (None: no dropout)
  gradients() -> {name: rows}          those gradients, as plain floats
  clip_grad_norm(max_norm) -> float    scale the gradients to global L2 norm <= max_norm (by
                                       base.clip_coef); returns the norm before (the original
                                       never clips)
  adam_step(lr, t)                     one Adam update (t counts from 1); zeroes gradients
  set_adam(settings)                   Adam's constants (optim.AdamSettings: betas, decoupled
                                       weight decay) from now on; the original's by default
  train_step(batch, lr, t) -> float    loss_and_backward, then adam_step (from base.Engine)
  optimizer_state() -> {'m': {name: rows}, 'v': {name: rows}}   Adam's moments, plain floats
  load_optimizer_state(state)          take those back: a run saved on one engine resumes on
                                       another
  state_dict() -> {name: rows}         the weights, as plain floats
  flat_weights() -> float64 array      the weights in param_shapes order (for the weight average)
  new_cache(), logits(token_id, pos_id, cache) -> list[float]   one decoding step
They differ in speed, and in the last bits: the Val engine performs the original
microgpt.py's floating-point operations in its order, so its weights are the original's bit
for bit; the printed numbers are the same on every engine. The numpy engine can also run in
float32 (dtype), faster and no longer the original's numbers.
"""
from ...errors import MicrogptError

ENGINE_HELP = {
    'val': "scalar Val autograd: every atom visible, the original's bits exactly",
    'numpy': "vectorized numpy, float64 (the same numbers) or float32 (--dtype): fast",
}
DTYPES = ('float64', 'float32')
DEFAULT_DTYPE = 'float64'


def engine_class(name):
    if name == 'val':
        from .val import ValEngine
        return ValEngine
    if name == 'numpy':
        from .numpy_engine import NumpyEngine
        return NumpyEngine
    raise MicrogptError(f"unknown engine {name!r}; choose from {', '.join(ENGINE_HELP)}")


def check_dtype(engine_name, dtype):
    """Raise MicrogptError unless this engine computes in this dtype (None: the default)."""
    if dtype is None or dtype == DEFAULT_DTYPE:
        return
    if dtype not in DTYPES:
        raise MicrogptError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    if engine_name != 'numpy':
        raise MicrogptError(f"dtype {dtype} is for the numpy engine; the {engine_name} engine computes in float64")


def make_engine(name, config, state_dict, dtype=None):
    """An engine of that name over these weights; dtype (numpy only) defaults to float64."""
    check_dtype(name, dtype)
    if dtype is None or dtype == DEFAULT_DTYPE:
        return engine_class(name)(config, state_dict)
    return engine_class(name)(config, state_dict, dtype=dtype)
