"""`microgpt sample`, `eval` and `judge`: what a trained checkpoint says, and how good it is;
the samples' lines, which `train` prints too."""
import click

from ..console import Ticker, json_text, new_names_line, novelty_line, sample_line
from ..sampling import DEFAULT_NUM_SAMPLES, NEW_NAME_DRAWS_PER_NAME
from ..signals import JobInterrupted, exit_status
from .options import DATA_HELP, checkpoint_option, console, data_option, engine_option, sampling_options


def print_samples(console, draw, num, known=None):
    """Print `num` samples of draw(count) as the original does; with `known` (documents),
    only new ones (sampling.new_names), then a stderr line of what was rejected. Returns them."""
    from ..sampling import new_names
    names = []
    chosen = None if known is None else new_names(draw(NEW_NAME_DRAWS_PER_NAME * num), known, num)
    try:
        for i, name in enumerate(draw(num) if chosen is None else chosen, start=1):
            console.out(sample_line(i, name))
            names.append(name)
    except KeyboardInterrupt as interrupt:
        raise JobInterrupted(exit_status(interrupt)) from None
    if chosen is not None:
        console.info(new_names_line(chosen.counts))
    return names


@click.command()
@checkpoint_option
@click.option('--num', type=click.IntRange(min=0), default=DEFAULT_NUM_SAMPLES, show_default=True,
              help="How many samples.")
@sampling_options
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
    import random
    from ..checkpoint import load_checkpoint
    from ..data import load_dataset
    from ..engines import make_engine
    from ..sampling import check_sampling_args, generate, novelty_documents
    from ..sampling import novelty as novelty_counts
    from ..limits import check_horizon, describe_count, fastest_seconds
    out = console()
    check_horizon(f"sampling {describe_count(num)} names", fastest_seconds(num), "choose a smaller --num")
    loaded = load_checkpoint(checkpoint_path)
    tokenizer = loaded.tokenizer
    check_sampling_args(tokenizer, loaded.config.block_size, temperature, top_k, top_p, prefix)
    dataset = load_dataset(data, echo=out.info) if novelty or new else None
    known = novelty_documents(loaded, dataset) if novelty else None
    model = make_engine(engine, loaded.config, loaded.inference_state_dict)
    rng = random.Random(seed)
    draw = lambda count: generate(model, tokenizer, rng, count, temperature=temperature,  # noqa: E731
                                  top_k=top_k, top_p=top_p, prefix=prefix)
    names = print_samples(out, draw, num, dataset.docs if new else None)
    if known is not None:
        out.info(novelty_line(novelty_counts(names, *known)))


def loss_line(result):
    return (f"loss {result['loss']:.4f} | perplexity {result['perplexity']:.4f} | "
            f"{result['tokens']:,} tokens in {result['documents']:,} documents")


@click.command('eval')
@checkpoint_option
@data_option
@click.option('--json', 'as_json', is_flag=True, help="Print one JSON object instead.")
def evaluate(checkpoint_path, data, as_json):
    """Score a checkpoint on a data file: mean per-token cross-entropy (`loss 2.3456`), its
    perplexity and the tokens counted, batched on the numpy engine.

    \b
    Example:
      microgpt eval --checkpoint microgpt.ckpt.json --data heldout.txt
    """
    import math
    from ..checkpoint import load_checkpoint
    from ..data import load_dataset
    from ..evaluation import checkpoint_loss
    out = console()
    loaded = load_checkpoint(checkpoint_path)
    dataset = load_dataset(data, echo=out.info)
    ticker = Ticker(out, 'evaluating', len(dataset.docs), unit='documents')
    loss, tokens = checkpoint_loss(loaded, dataset.docs, dataset.path, on_batch=ticker.update)
    result = {'loss': loss, 'perplexity': math.exp(loss), 'tokens': tokens, 'documents': len(dataset.docs),
              'checkpoint': str(checkpoint_path), 'data': str(dataset.path)}
    out.out(json_text(result) if as_json else loss_line(result))


@click.command()
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
    from ..data import load_dataset
    from ..evolve.judge import Judge, format_report, read_names
    out = console()
    names = read_names(names_file)
    report = Judge(load_dataset(data, echo=out.info).docs).score_batch(names)
    out.out(json_text(report) if as_json else format_report(report))
