"""`microgpt sample`, `eval` and `judge`: what a trained checkpoint says, and how good it is;
the samples' lines, which `train` prints too."""
import click
from click.core import ParameterSource

from ..console import Ticker, json_text, new_names_line, novelty_line, sample_line
from ..errors import MicrogptError
from ..gpt.sampling import DEFAULT_NUM_SAMPLES, DEFAULT_TEXT_CHARS, NEW_NAME_DRAWS_PER_NAME
from ..signals import JobInterrupted, exit_status
from .options import DATA_HELP, checkpoint_option, console, data_option, engine_option, list_only, sampling_options


def print_samples(console, draw, num, known=None):
    """Print `num` samples of draw(count) as the original does; with `known` (documents),
    only new ones (sampling.NewNames), then a stderr line of what was rejected. Returns them."""
    from ..gpt.sampling import NewNames
    names = []
    chosen = None if known is None else NewNames(draw(NEW_NAME_DRAWS_PER_NAME * num), known, num)
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
@click.option('--prompt', default=None,
              help="Text mode: the text to continue (printed, then the characters written after it; "
                   "default: the start of a line).")
@click.option('--chars', type=click.IntRange(min=0), default=None, show_default=str(DEFAULT_TEXT_CHARS),
              help="Text mode: how many characters to write after the prompt.")
def sample(checkpoint_path, num, temperature, seed, top_k, top_p, prefix, engine, novelty, new, data, prompt, chars):
    """Sample names from a trained checkpoint (whichever engine trained it); from a
    checkpoint trained with `train --text`, continue a prompt for --chars characters.

    \b
    Examples:
      microgpt sample --num 10 --temperature 0.6 --prefix ka --top-k 5
      microgpt sample --checkpoint run.best.ckpt.json --novelty
      microgpt sample --new
      microgpt sample --checkpoint play.ckpt.json --prompt "ROMEO:" --chars 300
    """
    import random
    from functools import partial
    from ..compute.limits import check_horizon, describe_count, fastest_seconds
    from ..data import load_dataset
    from ..files.checkpoint import load_checkpoint
    from ..gpt.engines import make_engine
    from ..gpt.sampling import check_prompt, check_sampling_args, continue_text, generate, novelty_documents
    from ..gpt.sampling import novelty as novelty_counts
    out = console()
    check_horizon(f"sampling {describe_count(num)} names", fastest_seconds(num), "choose a smaller --num")
    loaded = load_checkpoint(checkpoint_path)
    continuing = loaded.text_mode or prompt is not None or chars is not None
    if continuing and not loaded.text_mode:
        raise MicrogptError(f"--prompt and --chars continue a text; checkpoint {checkpoint_path} was trained on a "
                            f"list (one document per line): sample names with --prefix and --num")
    num_given = click.get_current_context().get_parameter_source('num') is ParameterSource.COMMANDLINE
    for name, given in dict(num=num_given, prefix=prefix, novelty=novelty, new=new).items():
        if continuing and given:
            raise MicrogptError(f"--{name} is for names; checkpoint {checkpoint_path} was trained on text "
                                f"(train --text): continue a --prompt instead")
    if novelty and loaded.weights_only:
        raise MicrogptError(f"--novelty needs the training record (which documents trained the model), and "
                            f"{checkpoint_path} is an exported folder: it holds weights only")
    tokenizer, options = loaded.tokenizer, dict(temperature=temperature, top_k=top_k, top_p=top_p)
    check_sampling_args(tokenizer, loaded.config.block_size, prefix=prefix, **options)
    if continuing:
        check_prompt(tokenizer, prompt or '')  # before the engine is built
    dataset = load_dataset(data, echo=out.info) if novelty or new else None
    known = novelty_documents(loaded, dataset) if novelty else None
    model = make_engine(engine, loaded.config, loaded.inference_state_dict)
    if continuing:
        written = continue_text(model, tokenizer, random.Random(seed), prompt or '',
                                DEFAULT_TEXT_CHARS if chars is None else chars, **options)
        out.out((prompt or '') + ''.join(written))
        return
    # draw(count): the next count names of the one random stream
    draw = partial(generate, model, tokenizer, random.Random(seed), prefix=prefix, **options)
    names = print_samples(out, draw, num, dataset.docs if new else None)
    if known is not None:
        out.info(novelty_line(novelty_counts(names, *known)))


def baselines_line(baselines, training_documents, scored='the same tokens', counted=None):
    """What the loss is read against (stderr): the three guesses' losses on the tokens scored, and what the
    unigram and bigram were counted on (None: the scored documents themselves; `counted` says it otherwise)."""
    counted = counted or (f"the {training_documents:,} training documents" if training_documents is not None
                          else "these documents themselves: the checkpoint's training data is not at hand")
    return (f"baselines on {scored}: uniform {baselines['uniform']:.4f}, unigram {baselines['unigram']:.4f}, "
            f"bigram {baselines['bigram']:.4f} (unigram and bigram counted on {counted})")


def held_out_baselines_line(run, held_out):
    """train's line of the baselines on its held-out documents, counted on those it trains on."""
    from ..training.baselines import baseline_losses
    baselines = baseline_losses(run.tokenizer, run.docs, held_out, run.config.block_size)
    return baselines_line(baselines.as_dict(), len(run.docs), scored='the held-out documents')


@click.command('eval')
@checkpoint_option
@data_option
@click.option('--held-out', is_flag=True,
              help="Score only the documents the checkpoint's run held out (its --val-split of --data, which "
                   "must be the file it trained on).")
@click.option('--json', 'as_json', is_flag=True, help="Print one JSON object instead.")
def evaluate(checkpoint_path, data, held_out, as_json):
    """Score a checkpoint on a data file: mean per-token cross-entropy (`loss 2.3456`), its
    perplexity and the tokens counted, batched on the numpy engine; then (stderr) the losses
    of guessing uniformly, by token frequency (unigram) and by the previous token (bigram) on
    the same tokens, counted on the documents the checkpoint trained on.

    \b
    Examples:
      microgpt eval --checkpoint microgpt.ckpt.json --data heldout.txt
      microgpt eval --checkpoint run.ckpt.json --held-out
    """
    from ..files.checkpoint import load_checkpoint
    out = console()
    loaded = load_checkpoint(checkpoint_path)
    score = score_text if loaded.text_mode else score_documents
    result, loss_line, baselines_note = score(out, loaded, checkpoint_path, data, held_out)
    if as_json:
        out.out(json_text(result))
    else:
        out.out(loss_line)
        out.info(baselines_note)


def score_documents(out, loaded, checkpoint_path, data, held_out):
    """`eval` of a list's checkpoint: (result, loss line, baselines line) of the documents of
    --data, or with held_out of those its run held out of that very file."""
    import math
    from ..data import held_out_split, load_dataset
    from ..training.baselines import baseline_losses, checkpoint_documents
    from ..training.evaluation import checkpoint_loss
    dataset, training = load_dataset(data, echo=out.info), loaded.training
    docs = dataset.docs
    if held_out:
        if not training.get('val_split'):
            raise MicrogptError("--held-out scores the documents the run held out, and this checkpoint's run "
                                "held out none (it trained without --val-split)")
        if dataset.sha256 != training.get('data_sha256'):
            raise MicrogptError(f"--held-out needs the data the checkpoint was trained on, and {dataset.path} is "
                                f"not it (SHA-256 {dataset.sha256[:12]}..., the checkpoint's "
                                f"{str(training.get('data_sha256'))[:12]}...)")
        docs = held_out_split(docs, training['seed'], training['val_split'])[1]
    ticker = Ticker(out, 'evaluating', len(docs), unit='documents')
    loss, tokens = checkpoint_loss(loaded, docs, dataset.path, on_batch=ticker.update)
    trained_on = (checkpoint_documents(loaded, dataset) or [None])[0]
    baselines = baseline_losses(loaded.tokenizer, docs if trained_on is None else trained_on, docs,
                                loaded.config.block_size).as_dict()
    trained = None if trained_on is None else len(trained_on)
    result = {'loss': loss, 'perplexity': math.exp(loss), 'tokens': tokens, 'documents': len(docs),
              'checkpoint': str(checkpoint_path), 'data': str(dataset.path),
              'baselines': dict(baselines, training_documents=trained)}
    return (result, f"loss {loss:.4f} | perplexity {result['perplexity']:.4f} | {tokens:,} tokens in "
                    f"{len(docs):,} documents", baselines_line(baselines, trained))


def score_text(out, loaded, checkpoint_path, data, held_out):
    """`eval` of a text-mode checkpoint: (result, loss line, baselines line) of the whole of
    --data (default: the bundled text) as one stream, or with held_out of the tail its run held
    out of that very text."""
    import math
    from dataclasses import replace
    from ..data import load_text, split_text
    from ..training.textmode import text_baselines, text_loss, training_text
    text = whole = load_text(data, echo=out.info)
    if held_out:
        t = loaded.training
        if not t.get('val_split') or text.sha256 != t.get('data_sha256'):
            raise MicrogptError(f"--held-out scores the tail of its text that the run held out: it needs the text "
                                f"checkpoint {checkpoint_path} was trained on, with a --val-split")
        text = replace(text, text=split_text(text.text, t['val_split'])[1])
    loss, chars, windows = text_loss(loaded, text)
    trained_on = training_text(loaded, whole)  # the file is read once, held-out or not
    baselines = text_baselines(loaded.chars, text.text if trained_on is None else trained_on, text.text).as_dict()
    counted = ("this text itself: the checkpoint's training text is not at hand" if trained_on is None
               else f"the {len(trained_on):,} training characters")
    result = {'loss': loss, 'perplexity': math.exp(loss), 'tokens': chars, 'windows': windows, 'data_mode': 'text',
              'checkpoint': str(checkpoint_path), 'data': str(text.path),
              'baselines': dict(baselines, training_characters=None if trained_on is None else len(trained_on))}
    return (result, f"loss {loss:.4f} | perplexity {result['perplexity']:.4f} | {chars:,} characters in "
                    f"{windows:,} windows", baselines_line(baselines, None, 'the same characters', counted))


@click.command()
@click.argument('names_file', type=click.Path(dir_okay=False))
@click.option('--data', type=click.Path(), default=None,
              help="The training data the names are judged against. " + DATA_HELP.split('. ', 1)[1])
@list_only("it scores names, each against a list of names")
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
