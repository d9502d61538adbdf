"""The `microgpt` command line: it parses, calls one library function per command, and maps
errors and interrupts to one line and an exit status (usage 2, other errors 1, Ctrl-C 130,
SIGTERM 143). Option names translate to the configs' field names here and nowhere else."""
import click

from .checkpoint import DEFAULT_CHECKPOINT
from .commands.bench import bench
from .commands.options import (COUNT, DATA_HELP, GENE_DEFAULTS, POSITIVE, SETTING_FLAGS, TRAIN_SECTIONS,
                               SectionedCommand, apply, checkpoint_option, command_argv, console,
                               data_option, engine_option, gene_options, parallel_options, seed_option,
                               text_option, train_options)
from .console import Console
from .engines import DEFAULT_DTYPE, DTYPES
from .errors import MicrogptError
from .evolve.fitness import FITNESS_KINDS
from .evolve.genes import DEFAULT_BUDGET, DEFAULT_GENERATIONS, DEFAULT_POPULATION, DEFAULT_SPACE, SPACES
from .genome import DEFAULT_GENOME
from .sampling import DEFAULT_NUM_SAMPLES, DEFAULT_TEMPERATURE, NEW_NAME_DRAWS_PER_NAME
from .scaling import plans
from .scaling.fit import BOOTSTRAP_RESAMPLES
from .signals import JobInterrupted, exit_status, raise_on_sigterm
from .training import DEFAULT_SEED, TRAIN_DEFAULTS
from .viz import DEFAULT_GRAPH_LEVEL, GRAPH_LEVELS


class Group(click.Group):
    """Every command: SIGTERM is handled like Ctrl-C; a MicrogptError is one `Error:` line
    and exit 1; an interrupt exits 130 (SIGTERM 143) without a traceback."""

    def parse_args(self, ctx, args):
        ctx.meta['argv'] = list(args)  # the command, as provenance records it
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        raise_on_sigterm()
        try:
            return super().invoke(ctx)
        except MicrogptError as e:
            raise click.ClickException(str(e)) from None
        except JobInterrupted as e:
            ctx.exit(e.status)
        except KeyboardInterrupt as interrupt:
            Console().info("interrupted")
            ctx.exit(exit_status(interrupt))


@click.group(cls=Group, context_settings={'help_option_names': ['-h', '--help']})
@click.version_option(package_name='microgpt')
def main():
    """microgpt: train and sample a tiny character-level GPT, atom by atom; evolve its
    hyperparameters; study how its loss scales."""


# --- train, sample, eval ------------------------------------------------------------------------

@main.command(cls=SectionedCommand, sections=TRAIN_SECTIONS)
@data_option
@click.option('--seed', type=int, default=None, show_default=str(DEFAULT_SEED),
              help="Seed of the one random stream (shuffle, init, sampling).")
@gene_options
@train_options
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
@engine_option
@click.option('--out', type=click.Path(), default=None, show_default=DEFAULT_CHECKPOINT,
              help="Where to write the checkpoint (with --resume: the resumed checkpoint).")
@click.option('--resume', type=click.Path(dir_okay=False), default=None,
              help="Continue the interrupted run in this checkpoint to its planned steps, exactly as "
                   "if it had not stopped (on either engine).")
@click.option('--dtype', type=click.Choice(DTYPES), default=None, show_default=DEFAULT_DTYPE,
              help="Numbers of the numpy engine: float32 is faster; float64 is the original's numbers.")
@click.option('--budget', type=POSITIVE, default=None, metavar='FLOPS',
              help="Train as many steps as this many floating-point operations buy (microgpt.flops: the "
                   "mean step over the training documents); prints the steps and the time they should take. "
                   "Instead of --steps.")
@click.option('--max-time', type=POSITIVE, default=None, metavar='SECONDS',
              help="Stop at the first step boundary after this long, keep the checkpoint (resumable).")
@click.option('--plot', type=click.Path(dir_okay=False), default=None,
              help="Also draw the training loss per step and its moving average, and the held-out "
                   "loss of each evaluation, to this image (.png, .svg, .pdf; needs pip install "
                   "'microgpt[plot]').")
def train(data, seed, genome_path, primordial, temperature, samples, new_samples, engine, dtype, out, resume,
          plot, budget, max_time, **settings):
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
    """
    from .jobs import TrainRequest, train_job
    genes = {name: settings.pop(name) for name in GENE_DEFAULTS}
    train_job(TrainRequest(genes=genes, options=settings, data=data, seed=seed, genome_path=genome_path,
                           primordial=primordial, temperature=temperature, samples=samples, engine=engine,
                           dtype=dtype, out=out, resume=resume, plot=plot, max_time=max_time, budget=budget,
                           new_samples=new_samples, command=command_argv(), flags=SETTING_FLAGS), console())


@main.command()
@click.option('--checkpoint', 'checkpoint_path', type=click.Path(dir_okay=False),
              default=DEFAULT_CHECKPOINT, show_default=True, help="A checkpoint written by `microgpt train`.")
@click.option('--num', type=click.IntRange(min=0), default=DEFAULT_NUM_SAMPLES, show_default=True,
              help="How many samples.")
@click.option('--temperature', type=POSITIVE, default=DEFAULT_TEMPERATURE, show_default=True,
              help="Sampling temperature (> 0).")
@click.option('--seed', type=int, default=DEFAULT_SEED, show_default=True, help="Seed of the sampling random stream.")
@click.option('--top-k', type=COUNT, default=None, help="Draw only from the k most likely tokens.")
@click.option('--top-p', type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Draw only from the smallest set of tokens with this much probability (0 < p <= 1).")
@click.option('--prefix', default='', help="Every sample starts with this text (printed whole).")
@engine_option
@click.option('--novelty', is_flag=True,
              help="Then say (stderr) how many samples are new, in the training data or in the held-out "
                   "data: of --data, split as the checkpoint's run split it when it trained on that data "
                   "with --val-split (else all of --data counts as training data).")
@click.option('--new', is_flag=True,
              help=f"Print only names that are not in --data and not repeated: drawn until there are --num of "
                   f"them, giving up after {NEW_NAME_DRAWS_PER_NAME} draws a name; stderr says how many were "
                   "rejected.")
@data_option
def sample(checkpoint_path, num, temperature, seed, top_k, top_p, prefix, engine, novelty, new, data):
    """Sample names from a trained checkpoint (whichever engine trained it).

    \b
    Examples:
      microgpt sample --num 10 --temperature 0.6 --prefix ka --top-k 5
      microgpt sample --checkpoint run.best.ckpt.json --novelty
      microgpt sample --new
    """
    from .jobs import sample_job
    sample_job(console(), checkpoint_path, num, temperature, seed, top_k, top_p, prefix, engine, novelty, data,
               new=new)


@main.command('eval')
@click.option('--checkpoint', 'checkpoint_path', type=click.Path(dir_okay=False),
              default=DEFAULT_CHECKPOINT, show_default=True, help="A checkpoint written by `microgpt train`.")
@data_option
@click.option('--json', 'as_json', is_flag=True, help="Print one JSON object instead.")
def evaluate(checkpoint_path, data, as_json):
    """Score a checkpoint on a data file: mean per-token cross-entropy (`loss 2.3456`), its
    perplexity and the tokens counted, batched on the numpy engine.

    \b
    Example:
      microgpt eval --checkpoint microgpt.ckpt.json --data heldout.txt
    """
    from .jobs import eval_job
    eval_job(console(), checkpoint_path, data, as_json)


@main.command()
@click.argument('names_file', type=click.Path(dir_okay=False))
@click.option('--data', type=click.Path(), default=None,
              help="The training data the names are judged against. " + DATA_HELP.split('. ', 1)[1])
@click.option('--json', 'as_json', is_flag=True,
              help='Print one JSON object: {"score", "components", "names": [...]}.')
def judge(names_file, data, as_json):
    """Score a file of names (one per line) with the aesthetic judge that `evolve --fitness
    aesthetic` uses: per name its score, flow, symmetry and creativity, then the batch.

    \b
    Example:
      microgpt sample --num 50 | sed 's/^sample *[0-9]*: //' > names.txt && microgpt judge names.txt
    """
    from .jobs import judge_job
    judge_job(console(), names_file, data, as_json)


# --- evolution ----------------------------------------------------------------------------

EVOLVE_SECTIONS = (
    ('Search', ['fitness', 'population', 'generations', 'space', 'budget', 'seed']),
    ('Where the runs go', ['workers', 'cluster']),
    ('Input and output', ['data', 'out']),
    ('The final', ['replace', 'retrain_incumbent']),
)


@main.command(cls=SectionedCommand, sections=EVOLVE_SECTIONS)
@click.option('--fitness', type=click.Choice(FITNESS_KINDS), required=True,
              help="loss: validation loss after training (lower is better); "
                   "aesthetic: a judge of the names the organism samples (higher is better).")
@click.option('--population', type=click.IntRange(min=2), default=DEFAULT_POPULATION, show_default=True,
              help="Organisms per generation.")
@click.option('--generations', type=COUNT, default=DEFAULT_GENERATIONS, show_default=True,
              help="Generations, the random first one included.")
@seed_option("Seed of the search, of the validation split and of every organism's training.")
@parallel_options
@data_option
@click.option('--out', type=click.Path(), default=DEFAULT_GENOME, show_default=True,
              help="Where to write the best genome (`microgpt train` loads ./genome.json). A genome "
                   "already there takes part in the final and is replaced only when the winner beats it "
                   "by more than the noise; else the winner goes beside it (genome.candidate.json). An "
                   "interrupted search writes beside it (genome.interrupted.json).")
@click.option('--replace', is_flag=True,
              help="Write the winner to --out even when it does not beat the genome there.")
@click.option('--retrain-incumbent', is_flag=True,
              help="Train the genome at --out in the final even where a log in experiments/ already "
                   "holds its scorings on the same split, settings, seeds and arithmetic (such "
                   "scorings are otherwise reused).")
@click.option('--space', type=click.Choice(list(SPACES)), default=DEFAULT_SPACE, show_default=True,
              help="budget: the wide genome, every organism the same FLOPs (--budget), its steps "
                   "following from its architecture and batch size; seed: the seed design's narrow "
                   "ranges with steps as a gene, one document a step, no budget.")
@click.option('--budget', type=POSITIVE, default=None, metavar='FLOPS',
              help=f"FLOPs each organism trains for (budget space; default {DEFAULT_BUDGET:.0e}: the default "
                   "search finishes within 10 minutes on 2 cores). Counted as `microgpt.flops` counts them.")
def evolve(fitness, population, generations, seed, workers, cluster, data, out, replace, retrain_incumbent, space,
           budget):
    """Evolve the hyperparameters ("DNA") with a genetic search and write the best genome.

    Tournament selection, crossover, mutation, 2 random immigrants (more when the search
    stagnates) and the best organism kept and trained again on a fresh seed each generation.
    Then the final: the 3 best, the genome at --out (as `microgpt train` trains it) and the
    primordial genome are trained on the same 3 fresh seeds; the best finalist wins, and
    replaces --out only when it beats it by more than the larger spread of the two (scorings
    of the genome at --out that an earlier log in experiments/ holds are reused). Organisms
    train on the numpy engine, in parallel; a plan with an estimated time, then a line per
    training with elapsed time and ETA, go to stderr. Every organism goes into a log under
    experiments/.

    \b
    Examples:
      microgpt evolve --fitness loss                # the default search
      microgpt evolve --fitness loss --population 8 --generations 10 --budget 3e11
      microgpt evolve --fitness loss --space seed
    """
    from .evolve.search import evolve_job
    evolve_job(console(), fitness, population, generations, seed, workers, cluster, data, out,
               command=command_argv(), space=space, budget=budget, replace=replace,
               retrain_incumbent=retrain_incumbent)


# --- scaling sweeps and their analysis ------------------------------------------------------

def results_file_options(command):
    """Where a sweep's runs go and its results file: every sweep has them."""
    return apply(command, [
        engine_option,
        parallel_options,
        click.option('--out-dir', type=click.Path(file_okay=False), default='experiments', show_default=True,
                     help="Where a new sweep writes its timestamped results file."),
        click.option('--resume', type=click.Path(dir_okay=False), default=None,
                     help="Results file of an interrupted sweep of the same kind and settings: run only "
                          "the runs it lacks, appending to it."),
    ])


def sweep_options(command):
    """The options of the steps and params sweeps: data, run settings, parallelism, results file."""
    return apply(command, [
        data_option,
        seed_option("Seed of every run and of the held-out validation split."),
        click.option('--lr', type=POSITIVE, default=TRAIN_DEFAULTS.learning_rate, show_default=True,
                     help="Adam learning rate, decayed linearly to 0 in each run."),
        results_file_options,
    ])


@main.group()
def sweep():
    """Scaling sweeps: many runs in parallel, each appended to a JSON-lines results file
    (under experiments/) as soon as it finishes. Progress goes to stderr, one line per run."""


SIZES_TEXT = '; '.join(f"{name}: " + ', '.join(f"{k} {v}" for k, v in arch.items())
                       for name, arch in plans.SIZES.items())


@sweep.command('steps')
@click.option('--from', 'start', type=COUNT, default=plans.STEPS_RANGE_DEFAULTS['start'], show_default=True,
              help="Steps of the shortest run.")
@click.option('--to', 'stop', type=COUNT, default=plans.STEPS_RANGE_DEFAULTS['stop'], show_default=True,
              help="Steps of the longest run (included when on the grid).")
@click.option('--every', type=COUNT, default=plans.STEPS_RANGE_DEFAULTS['every'], show_default=True,
              help="Steps between neighbouring runs.")
@click.option('--size', type=click.Choice(list(plans.SIZES)), default=plans.DEFAULT_SIZE, show_default=True,
              help=f"Model size. {SIZES_TEXT}.")
@sweep_options
def sweep_steps(start, stop, every, size, seed, lr, engine, data, workers, cluster, out_dir, resume):
    """Loss against training steps: one model trained for FROM, FROM+EVERY, ..., TO steps.

    \b
    Example:
      microgpt sweep steps --from 1000 --to 21000 --every 2000
    """
    from .scaling.sweep import sweep_job
    plan = plans.steps_plan(start, stop, every, size, seed=seed, lr=lr, engine=engine)
    sweep_job(console(), plan, data, workers, cluster, out_dir, resume, command=command_argv())


@sweep.command('params')
@click.option('--sizes', default=','.join(plans.SIZES), show_default=True,
              help=f"Comma-separated model sizes. {SIZES_TEXT}.")
@click.option('--steps', type=COUNT, default=plans.PARAMS_SWEEP_STEPS, show_default=True,
              help="Training steps of every run.")
@sweep_options
def sweep_params(sizes, steps, seed, lr, engine, data, workers, cluster, out_dir, resume):
    """Loss against parameters: each named size trained for the same steps.

    \b
    Example:
      microgpt sweep params --sizes small,medium,large --steps 21000
    """
    from .scaling.sweep import sweep_job
    plan = plans.params_plan(plans.parse_sizes(sizes), steps, seed=seed, lr=lr, engine=engine)
    sweep_job(console(), plan, data, workers, cluster, out_dir, resume, command=command_argv())


FRONTIER = plans.FRONTIER_DEFAULTS
FRONTIER_SIZES_TEXT = '; '.join(f"{name}: " + ', '.join(f"{k} {v}" for k, v in arch.items())
                                for name, arch in plans.FRONTIER_SIZES.items())


def comma_joined(values):
    return ','.join(f"{v:g}" for v in values)


@sweep.command('frontier')
@click.option('--budgets', default=comma_joined(FRONTIER['budgets']), show_default=True,
              help="Comma-separated compute budgets: FLOPs of training (forward, backward and Adam, "
                   "counted exactly by microgpt.flops). Each run takes the steps its budget pays for.")
@click.option('--sizes', default=','.join(plans.FRONTIER_SIZES), show_default=True,
              help=f"Comma-separated model sizes of the ladder. {FRONTIER_SIZES_TEXT}.")
@click.option('--seeds', type=COUNT, default=FRONTIER['seeds'], show_default=True,
              help="Seeds per (size, budget): --seed, --seed + 1, ...")
@seed_option("First seed; also the seed of the held-out validation split and of the learning-rate search.")
@click.option('--lrs', 'lr_grid', default=comma_joined(FRONTIER['lr_grid']), show_default=True,
              help="The learning rates searched for each size (at --tune-budget, first seed); every "
                   "run of a size then uses its best.")
@click.option('--tune-budget', type=POSITIVE, default=FRONTIER['tune_budget'], show_default=True,
              help="FLOPs of the learning-rate search's runs.")
@click.option('--batch-size', type=COUNT, default=FRONTIER['batch_size'], show_default=True,
              help="Documents per step.")
@data_option
@results_file_options
def sweep_frontier(budgets, sizes, seeds, seed, lr_grid, tune_budget, batch_size, data, engine, workers,
                   cluster, out_dir, resume):
    """The compute-optimal frontier: every size of the ladder trained for exactly each budget
    of FLOPs, at a learning rate tuned for its size, over several seeds. `microgpt analyze
    FILE --fit` fits the scaling law L(N, D) to it.

    \b
    Examples:
      microgpt sweep frontier                      # the default grid
      microgpt sweep frontier --sizes e32l2 --budgets 1e11 --seeds 1
    """
    from .scaling.sweep import frontier_job
    frontier_job(console(), plans.parse_sizes(sizes, plans.FRONTIER_SIZES), plans.parse_budgets(budgets), seed,
                 seeds, plans.parse_lr_grid(lr_grid), tune_budget, batch_size, engine, data, workers, cluster,
                 out_dir, resume, command=command_argv())


@main.command()
@click.argument('files', nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option('--plot', 'plot_path', type=click.Path(dir_okay=False), default=None,
              help="Also draw the results to this image (.png, .svg, .pdf): loss against steps / "
                   "parameters for sweeps, fitness and diversity against generation for evolve logs.")
@click.option('--markdown', is_flag=True, help="Print the tables as Markdown.")
@click.option('--fit', 'fit', is_flag=True,
              help="Fit L(N, D) = E + A/N^alpha + B/D^beta to the results of `sweep frontier`, and its "
                   "data-constrained form (Muennighoff et al. 2023: repeated passes over the data decay "
                   "in value over R_D* passes): the parameters with bootstrap 95% intervals (those the runs "
                   "do not determine marked), a = beta/(alpha+beta), the compute-optimal size of each "
                   "budget, IsoFLOP optima, a held-out check of the largest budget naming the better law, "
                   "and where more compute stops paying at each size. With --plot: four plots of the "
                   "frontier and the laws.")
@click.option('--json', 'as_json', is_flag=True,
              help="With --fit: print one JSON object (E, A, B, alpha, beta, a, ci, data_constrained, "
                   "holdout, better, undetermined, ...).")
@click.option('--predict', metavar='C=FLOPS|N=PARAMS,C=FLOPS', default=None,
              help="With --fit: the predicted loss at a budget, for the ladder's best size or for N "
                   "parameters, by the law that predicted the held-out budget better: its passes over the "
                   "data, its range, and warnings where it leaves the runs' budgets, sizes or passes or "
                   "depends on a parameter they do not determine (JSON: size, N, D, passes, loss, range, "
                   "law, warnings).")
@click.option('--resamples', type=COUNT, default=BOOTSTRAP_RESAMPLES, show_default=True,
              help="With --fit: bootstrap resamples of the runs behind the 95% intervals.")
@click.option('--tolerance', type=POSITIVE, default=None,
              help="Loss difference below which two runs of a steps or params sweep are not told apart "
                   "(marked 'noise'). Default: the largest half-range between the seeds of the sweep; "
                   "with one seed, the typical spread of 4 seeds that the shipped sweeps measured for "
                   "runs that long, and outside those lengths differences are not interpreted.")
def analyze(files, plot_path, markdown, fit, as_json, predict, resamples, tolerance):
    """Tables of sweep results files (loss against steps or parameters, and the return of each
    increase) and of evolve logs (per generation: best, mean, worst, distinct architectures);
    with --fit, the scaling law of a frontier sweep.

    \b
    Examples:
      microgpt analyze experiments/sweep-*.jsonl --markdown --plot scaling.png
      microgpt analyze experiments/sweep-frontier-*.jsonl --fit --plot frontier.png
      microgpt analyze experiments/sweep-frontier-*.jsonl --fit --predict C=3e12 --json
    """
    from .scaling.analysis import analyze_job
    analyze_job(console(), files, plot_path, markdown, fit, as_json, predict, resamples, tolerance)


# --- seeing inside a model --------------------------------------------------------------------

@main.command()
@checkpoint_option
@text_option()
@click.option('--position', type=click.IntRange(min=0), default=None,
              help="Only the loss at this position (0 predicts the first character from BOS); "
                   "default: the mean loss over the whole text.")
@click.option('--level', type=click.Choice(GRAPH_LEVELS), default=DEFAULT_GRAPH_LEVEL, show_default=True,
              help="atoms: every Val with its op, data and grad; ops: one box per named operation "
                   "(rmsnorm, q, k, v, each head's scores, softmax and mix, MLP, lm_head, loss) with its "
                   "atom count; blocks: the embeddings, each layer, the head.")
@click.option('--json', 'as_json', is_flag=True,
              help="Print the graph's counts as one JSON object: atoms and edges per op, atoms per operation.")
@click.option('--out', type=click.Path(dir_okay=False), default=None,
              help="Where to draw it: .dot (always), .svg or .png (with Graphviz's dot installed).")
def graph(checkpoint_path, text, position, level, as_json, out):
    """Build the Val graph of a text's loss, run backward, and draw it.

    \b
    Examples:
      microgpt graph --text emma --out graph.svg
      microgpt graph --text emma --position 0 --level atoms --out atoms.dot
      microgpt graph --text emma --json
    """
    from .viz.graph import graph_job
    graph_job(console(), checkpoint_path, text, position, level, as_json, out)


@main.command()
@checkpoint_option
@text_option()
@click.option('--out', type=click.Path(dir_okay=False), required=True,
              help="The picture (.png, .svg, .pdf; needs pip install 'microgpt[plot]').")
def attention(checkpoint_path, text, out):
    """Draw the attention weights of every layer and head on a text, as a grid of heatmaps.

    \b
    Example:
      microgpt attention --text emma --out att.png
    """
    from .viz.figures import attention_job
    attention_job(console(), checkpoint_path, text, out)


@main.command()
@checkpoint_option
@click.option('--out', type=click.Path(dir_okay=False), required=True,
              help="The picture (.png, .svg, .pdf; needs pip install 'microgpt[plot]').")
def embeddings(checkpoint_path, out):
    """Draw the token embeddings (wte) in 2-D by PCA, one point per character, and the
    cosine similarity of the position embeddings (wpe).

    \b
    Example:
      microgpt embeddings --out emb.png
    """
    from .viz.figures import embeddings_job
    embeddings_job(console(), checkpoint_path, out)


@main.command()
@checkpoint_option
@text_option(required=False, help_text="The name whose attention and graph the page shows "
                                       "(default: the first sample that fits the model's context).")
@click.option('--samples', 'num_samples', type=click.IntRange(min=0), default=DEFAULT_NUM_SAMPLES,
              show_default=True, help="Samples shown, each marked new or in the training data.")
@click.option('--seed', type=int, default=DEFAULT_SEED, show_default=True, help="Seed of the samples.")
@click.option('--temperature', type=POSITIVE, default=DEFAULT_TEMPERATURE, show_default=True,
              help="Sampling temperature (> 0).")
@click.option('--data', type=click.Path(), default=None,
              help="The training data the samples are judged new against. Default: the file the "
                   "checkpoint was trained on, else as for `train`.")
@click.option('--out', type=click.Path(dir_okay=False), required=True, help="The page (.html).")
def report(checkpoint_path, text, num_samples, seed, temperature, data, out):
    """Write one self-contained HTML page about a checkpoint: config and provenance, loss
    curves, samples and their novelty, attention, embeddings, and the ops-level graph (drawn
    when Graphviz is installed). It opens offline: every image is inside it.

    \b
    Example:
      microgpt report --text emma --out report.html
    """
    from .viz.report import report_job
    report_job(console(), checkpoint_path, out, text, data, num_samples, seed, temperature)


main.add_command(bench)


if __name__ == '__main__':
    main()
