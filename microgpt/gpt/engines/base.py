"""What every engine shares (the interface itself is described in engines/__init__.py)."""
from ..optim import ORIGINAL_ADAM

# clip_grad_norm scales by max_norm / (norm + CLIP_EPS), as PyTorch's clip_grad_norm_ does:
# the norm after is then at most max_norm, never a rounding above it.
CLIP_EPS = 1e-6


def clip_coef(norm, max_norm):
    """The factor clip_grad_norm scales the gradients by: 1.0 when norm <= max_norm."""
    return 1.0 if norm <= max_norm else max_norm / (norm + CLIP_EPS)


class Engine:
    adam = ORIGINAL_ADAM  # Adam's constants (optim.AdamSettings): the original's unless set

    def set_adam(self, settings):
        """Take Adam's constants (betas, weight decay) for the steps from now on."""
        self.adam = settings

    def flat_weights(self):
        """The weights as one float64 array in the parameters' order (GPTConfig.param_shapes)."""
        import numpy as np
        state = self.state_dict()
        return np.array([x for name, _ in self.config.param_shapes() for row in state[name] for x in row],
                        dtype=np.float64)

    def train_step(self, batch, lr, t):
        """One training step on a batch (a list of token lists, one per document): the mean
        loss over all its tokens and the gradients, then one Adam update."""
        loss = self.loss_and_backward(batch)
        self.adam_step(lr, t)
        return loss
