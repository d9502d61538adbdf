"""`microgpt predict`, `surprise` and `trace`: a learner's three questions of a checkpoint (what
comes next? which letters surprised it? how did it pick each letter?) and the lines they print."""
import click

from ..console import json_text
from ..errors import MicrogptError
from ..gpt.sampling import DEFAULT_TEMPERATURE
from ..predictions import END
from .options import COUNT, POSITIVE, checkpoint_option, console, engine_option, sampling_options, text_option

BAR_WIDTH = 40     # a probability of 1 is this many '#'
BAR_PER_BIT = 2    # a surprisal bar has this many '#' per bit
DEFAULT_TOP = 10   # candidates `predict` shows
TRACE_TOP = 5      # candidates `trace` shows at each draw

json_option = click.option('--json', 'as_json', is_flag=True,
                           help=f'Print one JSON object instead (the end of the name is the key "{END}").')


def loaded_engine(checkpoint_path, engine):
    """(engine over the checkpoint's weights, its tokenizer)."""
    from ..files.checkpoint import load_checkpoint
    from ..gpt.engines import make_engine
    loaded = load_checkpoint(checkpoint_path)
    if loaded.text_mode:
        command = click.get_current_context().info_name
        raise MicrogptError(f"{command} reads a name from BOS to BOS; checkpoint {checkpoint_path} was trained on "
                            f"text (train --text), which has no BOS: continue a text with `microgpt sample --prompt`")
    return make_engine(engine, loaded.config, loaded.inference_state_dict), loaded.tokenizer


def read(text):
    """What the model has read, as a learner says it: BOS, then the text."""
    return f'BOS {text}' if text else 'BOS'


def candidate_line(label, probability, mark=''):
    """`a     0.3010  ############`, the label padded so the numbers line up."""
    return f"  {label:<4} {probability:.4f}  {'#' * round(probability * BAR_WIDTH)}{mark}".rstrip()


@click.command()
@checkpoint_option
@click.option('--prefix', default='', help="The letters the model has read after BOS (default: none, "
                                           "so the first letter of a name).")
@click.option('--top', type=COUNT, default=DEFAULT_TOP, show_default=True, help="How many candidates to show.")
@click.option('--temperature', type=POSITIVE, default=1.0, show_default=True,
              help="Divide the logits by this before the softmax (1: the model's own distribution; "
                   f"sampling's default is {DEFAULT_TEMPERATURE}).")
@engine_option
@json_option
def predict(checkpoint_path, prefix, top, temperature, engine, as_json):
    """Show the next character's probabilities after a prefix: the likeliest candidates, each
    with a bar (BOS: the name ends here). --json gives every character of the vocabulary.

    \b
    Examples:
      microgpt predict --prefix em
      microgpt predict --prefix em --top 27 --temperature 0.5
      microgpt predict --prefix em --json
    """
    from ..predictions import predict_next
    model, tokenizer = loaded_engine(checkpoint_path, engine)
    after = predict_next(model, tokenizer, prefix, temperature)
    out = console()
    if as_json:
        out.out(json_text({'prefix': prefix, 'temperature': temperature, 'end': END,
                            'probabilities': after.as_dict()}))
        return
    shown = after.top(top)
    at = '' if temperature == 1.0 else f" at temperature {temperature:g}"
    out.out(f"after {read(prefix)}{at}, the next character: {len(shown)} likeliest of {len(after.labels)} "
            f"({END} ends the name)")
    for label, probability in shown:
        out.out(candidate_line(label, probability))


@click.command()
@checkpoint_option
@text_option(help_text="The name the model reads (BOS first, the end of the name last): e.g. emma.")
@engine_option
@json_option
def surprise(checkpoint_path, text, engine, as_json):
    """Show how surprised the model is by each character of a text, given the ones before it
    (BOS first), and by the end of the name: its probability, -ln p in nats and in bits (a
    bar, two '#' a bit), and what the model expected instead. The mean is the model's loss on
    the text, the number training and `microgpt eval` report.

    \b
    Examples:
      microgpt surprise --text emma
      microgpt surprise --text emma --json
    """
    from ..predictions import surprisal
    model, tokenizer = loaded_engine(checkpoint_path, engine)
    seen = surprisal(model, tokenizer, text)
    out = console()
    if as_json:
        out.out(json_text(seen.as_dict()))
        return
    out.out(f"surprisal of {text!r}: each character given BOS and the ones before ({END}: the end of the name)")
    out.out(f"  {'pos':>3}  {'char':<4} {'p':>6}  {'nats':>6}  {'bits':>6}  expected")
    for c in seen.characters:
        expected = f"{c.likeliest} {c.likeliest_probability:.4f}"
        out.out(f"  {c.position:>3}  {c.label:<4} {c.probability:.4f}  {c.nats:6.3f}  {c.bits:6.3f}  {expected:<11} "
                f"{'#' * round(c.bits * BAR_PER_BIT)}".rstrip())
    out.out(f"mean {seen.mean_nats:.4f} nats = {seen.mean_bits:.4f} bits a character (the loss on {text!r}); "
            f"perplexity {seen.perplexity:.4f}")


@click.command()
@checkpoint_option
@sampling_options
@click.option('--prefix', default='', help="The sample starts with this text (fed, not drawn).")
@click.option('--top', type=COUNT, default=TRACE_TOP, show_default=True,
              help="Candidates shown at each draw (the drawn one is always shown).")
@engine_option
@json_option
def trace(checkpoint_path, temperature, seed, top_k, top_p, prefix, top, engine, as_json):
    """Draw one name step by step and show each draw: the likeliest candidates with the chance
    each had (at the temperature, after --top-k and --top-p, as `microgpt sample` applies
    them) and the one drawn. With the same options and seed, the name is the first one
    `microgpt sample` prints.

    \b
    Examples:
      microgpt trace
      microgpt trace --temperature 1.0 --seed 7 --prefix ka --top-k 5
      microgpt trace --json
    """
    import random
    from ..predictions import trace_sample
    model, tokenizer = loaded_engine(checkpoint_path, engine)
    traced = trace_sample(model, tokenizer, random.Random(seed), temperature, top_k, top_p, prefix)
    out = console()
    if as_json:
        out.out(json_text({**traced.as_dict(), 'seed': seed}))
        return
    cuts = ''.join(f", {flag} {value:g}" for flag, value in (('top-k', top_k), ('top-p', top_p)) if value is not None)
    out.out(f"one sample, seed {seed}, temperature {temperature:g}{cuts} ({END} ends the name)")
    for draw in traced.draws:
        out.out(f"after {read(draw.after)}: drew {draw.drawn} ({draw.drawn_probability:.4f})")
        shown = draw.top(top)
        if draw.drawn not in dict(shown):
            shown.append((draw.drawn, draw.drawn_probability))
        for label, probability in shown:
            out.out(candidate_line(label, probability, '  <- drawn' if label == draw.drawn else ''))
    out.out(f"name: {traced.name}")
