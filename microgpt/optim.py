"""Adam's hyperparameters and learning-rate schedule, shared by every engine."""

BETA1 = 0.85
BETA2 = 0.99
EPS = 1e-8


def learning_rate_at(step, num_steps, learning_rate):
    """Linear decay from learning_rate at step 0 to 0 at num_steps (step counts from 0)."""
    return learning_rate * (1 - step / num_steps)
