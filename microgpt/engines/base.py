"""What every engine shares (the interface itself is described in engines/__init__.py)."""


class Engine:
    def train_step(self, batch, lr, t):
        """One training step: the batch's loss and gradients, then one Adam update."""
        loss = self.loss_and_backward(batch)
        self.adam_step(lr, t)
        return loss
