"""Engines: interchangeable ways to run the same GPT, trainer and sampler.

Every engine is built from a config and a state_dict of plain floats, and offers:
  loss_and_backward(batch) -> float    batch: a list of token lists, one per document, each
                                       already cropped to block_size + 1; returns the mean
                                       loss over all tokens of the batch, (1/N) * the sum of
                                       the N token losses (documents in order); the
                                       gradients are kept inside (and add up until adam_step)
  gradients() -> {name: rows}          those gradients, as plain floats
  clip_grad_norm(max_norm) -> float    scales the gradients so their global L2 norm is at
                                       most max_norm (by base.clip_coef); returns the norm
                                       before clipping
  adam_step(lr, t)                     one Adam update (t counts from 1); zeroes gradients
  train_step(batch, lr, t) -> float    loss_and_backward then adam_step (from base.Engine)
  optimizer_state() -> {'m': {name: rows}, 'v': {name: rows}}   Adam's moments in the
                                       original's form (m = b1*m + (1-b1)*g,
                                       v = b2*v + (1-b2)*g**2), as plain floats
  load_optimizer_state(state)          sets them: a run saved on one engine resumes on another
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
