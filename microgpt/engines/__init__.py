"""Engines: interchangeable ways to run the same GPT, trainer and sampler.

Every engine is built from a config and a state_dict of plain floats, and offers:
  loss_and_backward(tokens) -> float   loss of one document; gradients kept inside
  gradients() -> {name: rows}          those gradients, as plain floats
  adam_step(lr, t)                     one Adam update (t counts from 1); zeroes gradients
  train_step(tokens, lr, t) -> float   the two above in one call (from base.Engine)
  state_dict() -> {name: rows}         the weights, as plain floats
  new_cache(), logits(token_id, pos_id, cache) -> list[float]   one decoding step
They differ only in speed: the printed numbers are the same.
"""
from ..errors import MicrogptError

ENGINE_HELP = {
    'val': "scalar Val autograd: every atom visible, slow",
    'numpy': "vectorized float64 numpy: same numbers, fast",
}


def engine_class(name):
    if name == 'val':
        from .val import ValEngine
        return ValEngine
    if name == 'numpy':
        from .numpy_engine import NumpyEngine
        return NumpyEngine
    raise MicrogptError(f"unknown engine {name!r}; choose from {', '.join(ENGINE_HELP)}")


def make_engine(name, config, state_dict):
    return engine_class(name)(config, state_dict)
