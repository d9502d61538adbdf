"""`microgpt train`: the options (the settings' own, from their declarations in settings.py)
and the call to the work: train_plan.py settles and checks it, train_job.py does it."""
import click
from click.core import ParameterSource

from ..files.checkpoint import DEFAULT_CHECKPOINT
from ..gpt.engines import DEFAULT_DTYPE, DTYPES
from ..gpt.sampling import DEFAULT_NUM_SAMPLES, DEFAULT_TEMPERATURE, NEW_NAME_DRAWS_PER_NAME
from ..training.genome import DEFAULT_GENOME
from ..training.run import DEFAULT_SEED
from .options import (POSITIVE, SETTING_FLAGS, TRAIN_SECTIONS, SectionedCommand, command_argv, console, data_option,
                      engine_option, setting_options)
from .train_job import train_job
from .train_plan import TrainJob


@click.command(cls=SectionedCommand, sections=TRAIN_SECTIONS)
@data_option
@click.option('--seed', type=int, default=None, show_default=str(DEFAULT_SEED),
              help="Seed of the one random stream (shuffle, init, sampling).")
@setting_options
@click.option('--genome', 'genome_path', type=click.Path(dir_okay=False), default=None,
              help=f"Take the hyperparameters from this genome (default: ./{DEFAULT_GENOME} if it exists); "
                   "flags given here override its genes.")
@click.option('--primordial', is_flag=True,
              help=f"Ignore any {DEFAULT_GENOME}: the original microgpt's settings (unless flags say otherwise).")
@click.option('--temperature', type=POSITIVE, default=None, show_default=str(DEFAULT_TEMPERATURE),
              help="Sampling temperature (> 0).")
@click.option('--samples', type=click.IntRange(min=0), default=None, show_default=str(DEFAULT_NUM_SAMPLES),
              help="Names to sample after training (0 skips sampling).")
@click.option('--new-samples', is_flag=True,
              help=f"Print only samples that are not in the data and not repeated: drawn until there are "
                   f"--samples of them, giving up after {NEW_NAME_DRAWS_PER_NAME} draws a sample; stderr says "
                   "how many were rejected.")
@click.option('--text', 'text_mode', is_flag=True,
              help="Text mode: --data is one stream of characters (newlines are characters too), not a list; "
                   "each example is a window of block-size + 1 characters drawn at random (by --seed), "
                   "--val-split holds out the text's last share, and training ends by writing a passage. "
                   "Default data: the Shakespeare bundled with microgpt.")
@engine_option
@click.option('--out', type=click.Path(), default=None, show_default=DEFAULT_CHECKPOINT,
              help="Where to write the checkpoint (with --resume: the resumed checkpoint).")
@click.option('--resume', type=click.Path(), default=None,
              help="Continue the interrupted run in this checkpoint to its planned steps, exactly as "
                   "if it had not stopped (on either engine).")
@click.option('--dtype', type=click.Choice(DTYPES), default=None, show_default=DEFAULT_DTYPE,
              help="Numbers of the numpy engine: float32 is faster; float64 is the original's numbers.")
@click.option('--budget', type=POSITIVE, default=None, metavar='FLOPS',
              help="Train as many steps as this many floating-point operations buy (microgpt.compute.flops: the "
                   "mean step over the training documents); prints the steps and the time they should take. "
                   "Instead of --steps.")
@click.option('--max-time', type=POSITIVE, default=None, metavar='SECONDS',
              help="Stop at the first step boundary after this long, keep the checkpoint (resumable).")
@click.option('--plot', type=click.Path(dir_okay=False), default=None,
              help="Also draw the training loss per step and its moving average, and the held-out "
                   "loss of each evaluation, to this image (.png, .svg, .pdf; needs matplotlib: pip install "
                   "matplotlib).")
def train(engine, **settings):
    """Train a GPT and print the original microgpt's lines: header, losses, samples.

    Stdout carries exactly those lines; which genome is in use, where the checkpoint went
    and timings go to stderr. Hyperparameters: a flag beats ./genome.json (or --genome),
    which beats the built-in default; --primordial ignores the genome. Ctrl-C or SIGTERM
    saves a checkpoint of the steps done; --resume continues it.

    \b
    Examples:
      microgpt train --primordial            # the original microgpt.py, line for line
      microgpt train --steps 5000 --batch-size 8 --plot loss.png
      microgpt train --resume microgpt.ckpt.json
      microgpt train --val-split 0.1 --eval-every 500 --early-stop 4 --out run.ckpt.json
      microgpt train --budget 1e12 --batch-size 32 --weight-decay 0.1 --schedule cosine --warmup 100
      microgpt train --text --data play.txt --val-split 0.1 --eval-every 500
    """
    if click.get_current_context().get_parameter_source('engine') is ParameterSource.DEFAULT:
        engine = None  # not given: a resumed run takes its checkpoint's
    own = {name: settings.pop(name) for name in list(settings) if name not in SETTING_FLAGS}  # the job's options
    train_job(TrainJob(engine=engine, command=command_argv(), **own), settings, console())
