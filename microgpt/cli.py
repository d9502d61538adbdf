"""The `microgpt` command line: it parses, calls the library, and prints."""
import random
import sys
import time

import click

from . import checkpoint as ckpt
from .data import load_docs, resolve_data_path, sha256_of
from .engines import ENGINE_HELP, make_engine
from .errors import MicrogptError, require_positive
from .executor import CLUSTER_ENV, default_workers
from .fitness import AESTHETIC_WEIGHTS, FITNESS_KINDS, describe_score
from .genome import DEFAULT_GENOME, resolve_train_settings
from .sampling import generate, check_sampling_args
from .training import ARCH_DEFAULTS, Run, check_arch
from . import sweep as sweeps

TRAIN_DEFAULTS = dict(ARCH_DEFAULTS, seed=42, steps=1000, lr=0.01)
ENGINE_CHOICE = click.Choice(list(ENGINE_HELP))
DATA_HELP = "One document per line. Default: ./input.txt, else the names data bundled with microgpt."
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


@main.command()
@click.option('--data', type=click.Path(), default=None,
              help=DATA_HELP)
@click.option('--seed', type=int, default=TRAIN_DEFAULTS['seed'], show_default=True,
              help="Seed of the one random stream (shuffle, init, sampling).")
# Gene options default to None so that a genome's gene applies unless the flag is given;
# --help still shows the built-in default.
@click.option('--steps', type=int, show_default=str(TRAIN_DEFAULTS['steps']), help="Training steps (one document each).")
@click.option('--n-embd', type=int, show_default=str(ARCH_DEFAULTS['n_embd']), help="Embedding width.")
@click.option('--n-head', type=int, show_default=str(ARCH_DEFAULTS['n_head']), help="Attention heads (must divide n-embd).")
@click.option('--n-layer', type=int, show_default=str(ARCH_DEFAULTS['n_layer']), help="Transformer layers.")
@click.option('--block-size', type=int, show_default=str(ARCH_DEFAULTS['block_size']), help="Maximum context length.")
@click.option('--ff-mult', type=int, show_default=str(ARCH_DEFAULTS['ff_mult']), help="MLP hidden width = ff-mult * n-embd.")
@click.option('--lr', type=float, show_default=str(TRAIN_DEFAULTS['lr']), help="Adam learning rate, decayed linearly to 0.")
@click.option('--genome', 'genome_path', type=click.Path(dir_okay=False), default=None,
              help=f"Take the hyperparameters from this genome (default: ./{DEFAULT_GENOME} if it exists); "
                   "flags given here override its genes.")
@click.option('--primordial', is_flag=True,
              help=f"Ignore any {DEFAULT_GENOME}: the original microgpt's settings (unless flags say otherwise).")
@click.option('--temperature', type=float, default=0.5, show_default=True, help="Sampling temperature (> 0).")
@click.option('--samples', type=int, default=20, show_default=True, help="Names to sample after training (0 skips sampling).")
@click.option('--engine', type=ENGINE_CHOICE, default='numpy', show_default=True, help=ENGINES_TEXT)
@click.option('--out', type=click.Path(dir_okay=False), default=ckpt.DEFAULT_CHECKPOINT, show_default=True,
              help="Where to write the checkpoint.")
def train(data, seed, steps, n_embd, n_head, n_layer, block_size, ff_mult, lr, genome_path, primordial,
          temperature, samples, engine, out):
    """Train a GPT and print the original microgpt's lines: header, losses, samples.

    Stdout carries exactly those lines; which genome is in use, where the checkpoint went
    and timings go to stderr. Hyperparameters: a flag beats ./genome.json (or --genome),
    which beats the built-in default; --primordial ignores the genome.
    """
    settings, genome_file, genome_message = resolve_train_settings(
        dict(steps=steps, n_embd=n_embd, n_head=n_head, n_layer=n_layer, block_size=block_size,
             ff_mult=ff_mult, lr=lr), genome_path, primordial, defaults=TRAIN_DEFAULTS)
    info(genome_message)
    steps, lr = settings['steps'], settings['lr']
    arch = {name: settings[name] for name in ARCH_DEFAULTS}
    check_arch(**arch)
    require_positive('steps', steps)
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
                        data_sha256=sha256_of(data_path), data_path=str(data_path),
                        genome=None if genome_file is None else str(genome_file.path))
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


def cluster_option(command):
    """--cluster: the runs of evolve and sweep go to a Dask scheduler instead of local processes."""
    return click.option('--cluster', metavar='ADDRESS', envvar=CLUSTER_ENV, show_envvar=True, default=None,
                        help="Send the runs to the Dask scheduler at ADDRESS (tcp://HOST:8786) instead of "
                             "local processes (needs pip install 'microgpt[cluster]'). Results equal a local "
                             "run's.")(command)


# --- evolution ----------------------------------------------------------------------------

@main.command()
@click.option('--fitness', type=click.Choice(FITNESS_KINDS), required=True,
              help="loss: validation loss after training (lower is better); "
                   "aesthetic: a judge of the names the organism samples (higher is better).")
@click.option('--population', type=int, default=8, show_default=True, help="Organisms per generation.")
@click.option('--generations', type=int, default=10, show_default=True,
              help="Generations, the random first one included.")
@click.option('--seed', type=int, default=TRAIN_DEFAULTS['seed'], show_default=True,
              help="Seed of the search, of the validation split and of every organism's training.")
@click.option('--workers', type=int, default=None,
              help="Organisms trained at a time (default: one per core; 1 trains them in this process). "
                   "The result does not depend on it.")
@cluster_option
@click.option('--data', type=click.Path(), default=None,
              help=DATA_HELP)
@click.option('--out', type=click.Path(dir_okay=False), default=DEFAULT_GENOME, show_default=True,
              help="Where to write the best genome (`microgpt train` loads ./genome.json).")
def evolve(fitness, population, generations, seed, workers, cluster, data, out):
    """Evolve the hyperparameters ("DNA") with a genetic search and write the best genome.

    Tournament selection, crossover, mutation, 2 random immigrants and the best organism
    kept each generation; organisms train on the numpy engine, in parallel. Every organism
    goes into a log under experiments/. On Ctrl-C the best so far is written.
    """
    from .evolution import Evolution, check_evolution_args  # on use: keeps `train` start-up short
    check_evolution_args(fitness, population, generations, workers)
    data_path = resolve_data_path(data, echo=info)
    docs = load_docs(data_path)
    progress = sys.stderr.isatty()

    def on_organism(organism, done, total):
        if progress:
            sys.stderr.write(f"\rgeneration {organism.generation}/{generations}: "
                             f"{done}/{total} organisms trained \033[K")
            sys.stderr.flush()

    def on_generation(summary):
        if progress:
            sys.stderr.write("\r\033[K")
        worst = 'failed' if summary.failed else f"{summary.worst:.4f}"
        mean = 'n/a' if summary.mean is None else f"{summary.mean:.4f}"
        best = 'n/a' if summary.best.score is None else f"{summary.best.score:.4f}"
        click.echo(f"gen {summary.generation:2d}/{generations} | best {best} | mean {mean} | "
                   f"worst {worst} | diversity {summary.diversity} | {summary.best.genome.describe()}")

    def on_baseline(organism):
        click.echo(f"primordial ({organism.genome.describe()}): "
                   f"{describe_score(fitness, organism.score)}")

    evolution = Evolution(docs, fitness=fitness, population=population, generations=generations,
                          seed=seed, workers=workers, cluster=cluster, out=out, data_sha256=sha256_of(data_path),
                          data_path=str(data_path), on_organism=on_organism,
                          on_generation=on_generation, on_baseline=on_baseline)
    info(f"evolving {population} organisms x {generations} generations for {fitness} fitness "
         f"({len(evolution.train_docs)} training, {len(evolution.val_docs)} validation documents; "
         f"seed {seed}, " + (f"cluster {cluster})" if cluster else f"workers: {workers or default_workers()})"))
    t0 = time.perf_counter()
    try:
        best = evolution.run()
    except KeyboardInterrupt:
        best = evolution.best
        written = (f"best so far ({describe_score(fitness, best.score)}) written to {out}"
                   if best is not None and best.score is not None else "no organism finished: nothing written")
        info(f"\ninterrupted: {written}; log {evolution.log_path}")
        sys.exit(130)
    seconds = time.perf_counter() - t0
    if best is None or best.score is None:
        raise MicrogptError(f"every organism failed (see {evolution.log_path}); no genome written")
    click.echo(f"best: {describe_score(fitness, best.score)} (generation {best.generation}): "
               f"{best.genome.describe()}")
    if fitness == 'aesthetic':
        parts = ', '.join(f"{k} {best.result['components'][k]:.3f}" for k in AESTHETIC_WEIGHTS)
        click.echo(f"judged: {parts}; samples: {', '.join(best.result['components']['samples'][:10])}")
    info(f"evolved in {seconds:.1f}s; genome written to {out}; log {evolution.log_path}")


# --- scaling sweeps and their analysis ------------------------------------------------------

SIZES_TEXT = '; '.join(f"{name}: " + ', '.join(f"{k} {v}" for k, v in arch.items())
                       for name, arch in sweeps.SIZES.items())


def sweep_options(command):
    """The options every sweep shares: data, run settings, parallelism, results file."""
    options = [
        click.option('--data', type=click.Path(), default=None,
                     help=DATA_HELP),
        click.option('--seed', type=int, default=TRAIN_DEFAULTS['seed'], show_default=True,
                     help="Seed of every run and of the held-out validation split."),
        click.option('--lr', type=float, default=TRAIN_DEFAULTS['lr'], show_default=True,
                     help="Adam learning rate, decayed linearly to 0 in each run."),
        click.option('--engine', type=ENGINE_CHOICE, default='numpy', show_default=True, help=ENGINES_TEXT),
        click.option('--workers', type=int, default=None,
                     help="Runs at a time (default: one per core; 1 runs them in this process)."),
        cluster_option,
        click.option('--out-dir', type=click.Path(file_okay=False), default='experiments', show_default=True,
                     help="Where a new sweep writes its timestamped results file."),
        click.option('--resume', type=click.Path(dir_okay=False), default=None,
                     help="Results file of an interrupted sweep: run only the runs it lacks, appending to it."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def start_sweep(plan, data, workers, cluster, out_dir, resume):
    require_positive('workers', workers)
    data_path = resolve_data_path(data, echo=info)
    docs = load_docs(data_path)
    try:
        sweeps.run_sweep(plan, docs, sha256_of(data_path), out_dir=out_dir, resume=resume,
                         workers=workers, cluster=cluster, echo=info)
    except KeyboardInterrupt:
        sys.exit(130)


@main.group()
def sweep():
    """Scaling sweeps: many runs in parallel, each appended to a JSON-lines results file
    (under experiments/) as soon as it finishes. Progress goes to stderr, one line per run."""


@sweep.command('steps')
@click.option('--from', 'start', type=int, default=sweeps.STEPS_RANGE_DEFAULTS['start'], show_default=True,
              help="Steps of the shortest run.")
@click.option('--to', 'stop', type=int, default=sweeps.STEPS_RANGE_DEFAULTS['stop'], show_default=True,
              help="Steps of the longest run (included when on the grid).")
@click.option('--every', type=int, default=sweeps.STEPS_RANGE_DEFAULTS['every'], show_default=True,
              help="Steps between neighbouring runs.")
@click.option('--size', type=click.Choice(list(sweeps.SIZES)), default=sweeps.DEFAULT_SIZE, show_default=True,
              help=f"Model size. {SIZES_TEXT}.")
@sweep_options
def sweep_steps(start, stop, every, size, seed, lr, engine, data, workers, cluster, out_dir, resume):
    """Loss against training steps: one model trained for FROM, FROM+EVERY, ..., TO steps."""
    plan = sweeps.steps_plan(start, stop, every, size, seed=seed, lr=lr, engine=engine)
    start_sweep(plan, data, workers, cluster, out_dir, resume)


@sweep.command('params')
@click.option('--sizes', default=','.join(sweeps.SIZES), show_default=True,
              help=f"Comma-separated model sizes. {SIZES_TEXT}.")
@click.option('--steps', type=int, default=sweeps.PARAMS_SWEEP_STEPS, show_default=True,
              help="Training steps of every run.")
@sweep_options
def sweep_params(sizes, steps, seed, lr, engine, data, workers, cluster, out_dir, resume):
    """Loss against parameters: each named size trained for the same steps."""
    plan = sweeps.params_plan(sweeps.parse_sizes(sizes), steps, seed=seed, lr=lr, engine=engine)
    start_sweep(plan, data, workers, cluster, out_dir, resume)


@main.command()
@click.argument('files', nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option('--plot', 'plot_path', type=click.Path(dir_okay=False), default=None,
              help="Also draw loss against steps / parameters (log x axis) to this image (.png, .svg, .pdf).")
@click.option('--markdown', is_flag=True, help="Print the tables as Markdown.")
def analyze(files, plot_path, markdown):
    """Per sweep in the results FILES: loss against steps or parameters, and the return of
    each increase (validation-loss drop per 1,000 extra steps or parameters)."""
    from . import analysis  # on use: keeps `train` start-up short
    if plot_path:
        analysis.figure_class()  # without matplotlib, say so before any work
    found = analysis.load_sweeps(files, warn=info)
    click.echo(analysis.report(found, markdown=markdown))
    if plot_path:
        analysis.plot_sweeps(found, plot_path)
        info(f"plot saved to {plot_path}")


# --- benchmark ----------------------------------------------------------------------------

@main.command()
@click.option('--steps', type=int, default=TRAIN_DEFAULTS['steps'], show_default=True,
              help="Training steps per engine (default config, one document a step).")
@click.option('--engines', default=None,
              help="Comma-separated engines from val, numpy, torch. Default: val,numpy, plus torch "
                   "when it is installed (pip install 'microgpt[bench]').")
@click.option('--repeat', type=int, default=5, show_default=True,
              help="Rounds: each measurement runs once a round, engines alternating; figures are "
                   "medians (a measurement whose first run takes over 10 s runs once).")
@click.option('--batch-steps', type=int, default=50, show_default=True,
              help="Timed steps of the batch-32 throughput runs (wider model; numpy and torch).")
@click.option('--data', type=click.Path(), default=None,
              help=DATA_HELP)
@click.option('--out', type=click.Path(dir_okay=False), default=None, help="Also write the JSON report here.")
def bench(steps, engines, repeat, batch_steps, data, out):
    """Time and measure each engine side by side; print a JSON report.

    Each measurement in a process of its own: seconds per training step, seconds for 20
    samples, peak RSS; the whole `microgpt train --samples 0` process, with its CPU seconds
    per wall second; training throughput (tokens/second) at batch size 32 of a wider model
    (n_embd 64, 4 heads, 2 layers), numpy beside PyTorch; the same model in PyTorch
    (float64, one thread, eager) when installed; building and back-propagating Val graphs
    of 1k and 100k nodes. Goals, each with its measured value and PASS or FAIL: numpy's
    batch throughput >= PyTorch's; the whole numpy `train` process <= 0.2 x PyTorch's
    training loop; its CPU per wall second <= 1.1; its peak RSS < 64 MB; the Val engine
    >= 10x the original, in <= 56 MB. The report goes to stdout; progress and the goals'
    verdicts to stderr.
    """
    import json
    from . import bench as benchmark
    from .fileio import atomic_write_json
    names = benchmark.parse_engines(engines)
    if engines is None and 'torch' not in names:
        info(f"torch is not installed, so PyTorch is left out ({benchmark.TORCH_INSTALL})")
    data_path = resolve_data_path(data, echo=info)
    load_docs(data_path)  # a bad data file fails here, in one line
    report = benchmark.run_bench(names, steps, data_path, repeat=repeat, batch_steps=batch_steps,
                                 progress=lambda m: info(f"bench: {m}"))
    if out:
        atomic_write_json(out, report, indent=2)
    click.echo(json.dumps(report, indent=2))
    for line in benchmark.goal_lines(report):
        info(line)
    if report.get('interrupted'):
        info("interrupted: the report holds what was measured before")
        sys.exit(130)


if __name__ == '__main__':
    main()
