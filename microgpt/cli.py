"""The `microgpt` command line: it parses, calls the library, and prints."""
import random
import sys
import time

import click

from . import checkpoint as ckpt
from .data import load_docs, resolve_data_path, sha256_of
from .engines import ENGINE_HELP, make_engine
from .errors import MicrogptError
from .sampling import generate, check_sampling_args
from .training import ARCH_DEFAULTS, Run, check_arch

TRAIN_DEFAULTS = dict(ARCH_DEFAULTS, seed=42, steps=1000, lr=0.01)
ENGINE_CHOICE = click.Choice(list(ENGINE_HELP))
ENGINES_TEXT = '; '.join(f"{k}: {v}" for k, v in ENGINE_HELP.items())


class Group(click.Group):
    """Turns a MicrogptError into one line on stderr and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MicrogptError as e:
            raise click.ClickException(str(e)) from None


def info(message):
    click.echo(message, err=True)


@click.group(cls=Group, context_settings={'help_option_names': ['-h', '--help']})
@click.version_option(package_name='microgpt')
def main():
    """microgpt: train and sample a tiny character-level GPT, atom by atom."""


def positive(name, value):
    if value is not None and value < 1:
        raise MicrogptError(f"{name} must be >= 1, got {value}")


@main.command()
@click.option('--data', type=click.Path(), default=None,
              help="One document per line. Default: ./input.txt, downloading the names dataset there if missing.")
@click.option('--seed', type=int, default=TRAIN_DEFAULTS['seed'], show_default=True,
              help="Seed of the one random stream (shuffle, init, sampling).")
@click.option('--steps', type=int, default=TRAIN_DEFAULTS['steps'], show_default=True, help="Training steps (one document each).")
@click.option('--n-embd', type=int, default=ARCH_DEFAULTS['n_embd'], show_default=True, help="Embedding width.")
@click.option('--n-head', type=int, default=ARCH_DEFAULTS['n_head'], show_default=True, help="Attention heads (must divide n-embd).")
@click.option('--n-layer', type=int, default=ARCH_DEFAULTS['n_layer'], show_default=True, help="Transformer layers.")
@click.option('--block-size', type=int, default=ARCH_DEFAULTS['block_size'], show_default=True, help="Maximum context length.")
@click.option('--ff-mult', type=int, default=ARCH_DEFAULTS['ff_mult'], show_default=True, help="MLP hidden width = ff-mult * n-embd.")
@click.option('--lr', type=float, default=TRAIN_DEFAULTS['lr'], show_default=True, help="Adam learning rate, decayed linearly to 0.")
@click.option('--temperature', type=float, default=0.5, show_default=True, help="Sampling temperature (> 0).")
@click.option('--samples', type=int, default=20, show_default=True, help="Names to sample after training (0 skips sampling).")
@click.option('--engine', type=ENGINE_CHOICE, default='val', show_default=True, help=ENGINES_TEXT)
@click.option('--out', type=click.Path(dir_okay=False), default=ckpt.DEFAULT_CHECKPOINT, show_default=True,
              help="Where to write the checkpoint.")
def train(data, seed, steps, n_embd, n_head, n_layer, block_size, ff_mult, lr, temperature, samples,
          engine, out):
    """Train a GPT and print the original microgpt's lines: header, losses, samples.

    Stdout carries exactly those lines; where the checkpoint went and timings go to stderr.
    """
    arch = dict(n_embd=n_embd, n_head=n_head, n_layer=n_layer, block_size=block_size, ff_mult=ff_mult)
    check_arch(**arch)
    positive('steps', steps)
    if samples < 0:
        raise MicrogptError(f"samples must be >= 0, got {samples}")
    if not temperature > 0:
        raise MicrogptError(f"temperature must be > 0, got {temperature}")
    data_path = resolve_data_path(data, echo=info)
    docs = load_docs(data_path)

    run = Run(docs, seed=seed, arch=arch, engine_name=engine)
    out_write = sys.stdout.write
    out_write(f"num docs: {len(run.docs)}\nvocab size: {run.config.vocab_size}\n"
              f"num params: {run.config.num_params()}\n")
    # In a terminal the step line updates in place; piped, every step gets its own line.
    end = '\r' if sys.stdout.isatty() else '\n'

    def on_step(step, num_steps, loss):
        out_write(f"step {step:4d} / {num_steps:4d} | loss {loss:.4f}{end}")

    def save(steps_done):
        training = dict(seed=seed, steps=steps_done, planned_steps=steps, lr=lr, engine=engine,
                        final_loss=run.losses[-1] if run.losses else None,
                        data_sha256=sha256_of(data_path), data_path=str(data_path))
        ckpt.save_checkpoint(out, run.config, run.tokenizer, run.engine.state_dict(), training)

    t0 = time.perf_counter()
    try:
        run.train(steps, lr, on_step)
    except KeyboardInterrupt:
        sys.stdout.flush()
        save(len(run.losses))
        info(f"\ninterrupted after {len(run.losses)} steps: checkpoint saved to {out}")
        sys.exit(130)
    seconds = time.perf_counter() - t0
    save(steps)
    sys.stdout.flush()
    info(f"trained {steps} steps in {seconds:.2f}s ({engine} engine); checkpoint saved to {out}")
    if samples:
        out_write("\n--- inference (new, hallucinated names) ---\n")
        for i, name in enumerate(generate(run.engine, run.tokenizer, run.rng, samples,
                                          temperature=temperature), start=1):
            out_write(f"sample {i:2d}: {name}\n")


@main.command()
@click.option('--checkpoint', 'checkpoint_path', type=click.Path(dir_okay=False),
              default=ckpt.DEFAULT_CHECKPOINT, show_default=True, help="A checkpoint written by `microgpt train`.")
@click.option('--num', type=int, default=20, show_default=True, help="How many samples.")
@click.option('--temperature', type=float, default=0.5, show_default=True, help="Sampling temperature (> 0).")
@click.option('--seed', type=int, default=42, show_default=True, help="Seed of the sampling random stream.")
@click.option('--top-k', type=int, default=None, help="Draw only from the k most likely tokens.")
@click.option('--top-p', type=float, default=None, help="Draw only from the smallest set of tokens with this much probability (0 < p <= 1).")
@click.option('--prefix', default='', help="Every sample starts with this text (printed whole).")
@click.option('--engine', type=ENGINE_CHOICE, default='numpy', show_default=True, help=ENGINES_TEXT)
def sample(checkpoint_path, num, temperature, seed, top_k, top_p, prefix, engine):
    """Sample names from a trained checkpoint (whichever engine trained it)."""
    if num < 0:
        raise MicrogptError(f"num must be >= 0, got {num}")
    loaded = ckpt.load_checkpoint(checkpoint_path)
    tokenizer = loaded.tokenizer
    check_sampling_args(tokenizer, loaded.config.block_size, temperature, top_k, top_p, prefix)
    model = make_engine(engine, loaded.config, loaded.state_dict)
    rng = random.Random(seed)
    for i, name in enumerate(generate(model, tokenizer, rng, num, temperature=temperature,
                                      top_k=top_k, top_p=top_p, prefix=prefix), start=1):
        click.echo(f"sample {i:2d}: {name}")


if __name__ == '__main__':
    main()
