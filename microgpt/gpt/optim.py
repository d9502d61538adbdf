"""Adam's hyperparameters and the learning-rate schedules, shared by every engine.

The defaults are the original microgpt.py's: Adam with betas 0.85 / 0.99, no weight decay,
no warmup, and the learning rate decayed linearly to 0.
"""
import math
from dataclasses import dataclass

BETA1 = 0.85
BETA2 = 0.99
EPS = 1e-8
SCHEDULES = {
    'linear': "decay linearly to 0 at the last step (the original)",
    'cosine': "decay along half a cosine to 0 at the last step",
    'constant': "keep the learning rate",
}
DEFAULT_SCHEDULE = 'linear'


@dataclass(frozen=True)
class AdamSettings:
    """Adam's constants; weight_decay > 0 makes it AdamW (decoupled: each step first shrinks
    the weights by lr * weight_decay, then takes the Adam step)."""
    beta1: float = BETA1
    beta2: float = BETA2
    weight_decay: float = 0.0
    eps: float = EPS


ORIGINAL_ADAM = AdamSettings()


def learning_rate_at(step, num_steps, learning_rate, warmup=0, schedule=DEFAULT_SCHEDULE):
    """The learning rate of step `step` (counting from 0) of num_steps.

    The first `warmup` steps rise linearly to learning_rate (step i gets (i + 1) / warmup of
    it); the steps after follow the schedule over the rest of the run. With no warmup and the
    linear schedule this is the original's `learning_rate * (1 - step / num_steps)`, evaluated
    as that very expression: the same floating-point operations, and no others."""
    if warmup and step < warmup:
        return learning_rate * ((step + 1) / warmup)
    if schedule == 'constant':
        return learning_rate
    progress = (step - warmup) / (num_steps - warmup) if warmup else step / num_steps
    if schedule == 'cosine':
        return learning_rate * (0.5 * (1 + math.cos(math.pi * progress)))
    return learning_rate * (1 - progress)
