"""The numbers and pictures of "How this GPT works" (pages/how-it-works.md), computed as the site
is built: the primordial run (`microgpt train --primordial`, 1000 steps on the numpy engine),
then one name, "emma", through the trained model written over Vals (microgpt/gpt/model.py).

A `{{ name }}` in the page becomes values()[name]; a marker with no value fails the build.
The pictures are files of the site (pictures()), which the page shows as images.
"""
import math
import random
import re
import shutil

VALUE_MARKER = re.compile(r'\{\{ (\w+) \}\}')
NAME = 'emma'
POSITION = 3  # the position the page follows: input the second "m", target "a"
HEAD = 2      # the head whose queries, keys and weights the page shows
STEPS = 1000
SAMPLES = 10
ATTENTION_PICTURE = 'how-it-works-attention.svg'
GRADIENT_PICTURE = 'how-it-works-gradient.svg'

_computed = {}


def forget():
    """Compute again at the next build (a `mkdocs serve` rebuild after the code changed)."""
    _computed.clear()


def computed():
    if not _computed:
        _computed.update(compute())
    return _computed


def pictures():
    return computed()['pictures']


def fill_values(markdown):
    values = computed()['values']

    def value(match):
        if match[1] not in values:
            raise KeyError(f"how-it-works: no computed value {match[1]!r} (docs/walkthrough.py)")
        return values[match[1]]
    return VALUE_MARKER.sub(value, markdown)


# --- formatting ---------------------------------------------------------------------------------

def vector(values, digits=2, per_line=8):
    """A vector as text lines of per_line numbers, aligned."""
    numbers = [f"{v:+.{digits}f}" for v in values]
    rows = [' '.join(numbers[i:i + per_line]) for i in range(0, len(numbers), per_line)]
    return '\n'.join(rows)


def symbol(tokenizer, token):
    return 'BOS' if token == tokenizer.bos else tokenizer.chars[token]


def table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)]
    lines += ['| ' + ' | '.join(str(cell) for cell in row) + ' |' for row in rows]
    return '\n'.join(lines)


# --- the computation, a function per section of the page ---------------------------------------

class Walk:
    """The trained run and one name through its model over Vals: every stage's atoms recorded
    (GPT.forward's trace), and backward() run from the loss at POSITION."""

    def __init__(self, run):
        from microgpt import GPT
        self.run, self.tokenizer, self.config = run, run.tokenizer, run.config
        self.tokens = self.tokenizer.doc_tokens(NAME, self.config.block_size)
        self.stages = {}
        self.losses = GPT(self.config, run.engine.state_dict()).document_losses(self.tokens, self.trace)
        self.loss = self.losses[POSITION]
        self.loss.backward()  # d (the loss at POSITION) / d every atom below it
        self.head = slice(HEAD * self.config.head_dim, (HEAD + 1) * self.config.head_dim)

    def trace(self, where, **outputs):
        for stage, atoms in outputs.items():
            self.stages.setdefault(f"{where}.{stage}" if where else stage, []).append(atoms)

    def data(self, stage, position=POSITION):
        return [atom.data for atom in self.stages[stage][position]]

    def symbol(self, token):
        return symbol(self.tokenizer, token)

    def read(self, position):
        """The tokens the model has read at a position, as text."""
        return ' '.join(self.symbol(t) for t in self.tokens[:position + 1])


def compute():
    from microgpt import Run, TrainConfig, load_names
    config = TrainConfig(num_steps=STEPS)
    adam_values, val_first_loss = first_adam_step(Run(load_names(), engine_name='val'), config)
    run = Run(load_names())
    losses = run.train(config)
    if losses[0] != val_first_loss:
        raise AssertionError("the Val and numpy engines disagree on the first step's loss")
    walk = Walk(run)
    values = {**adam_values, **the_run(run, losses), **tokens(walk), **embedding(walk), **attention(walk),
              **mlp(walk), **cross_entropy(walk), **sampling(run), **baselines(run)}
    gradient_values, gradient_svg = one_gradient(walk)
    values.update(gradient_values)
    heads = [[atom.data for atom in weights] for weights in walk.stages[f'layer0.head{HEAD}.softmax']]
    pictures = {ATTENTION_PICTURE: heatmap_svg(heads, [walk.symbol(t) for t in walk.tokens[:-1]], POSITION)}
    if gradient_svg is not None:
        pictures[GRADIENT_PICTURE] = gradient_svg
    return dict(values=values, pictures={name: svg.encode() for name, svg in pictures.items()})


def the_run(run, losses):
    vocab = run.config.vocab_size
    return dict(names=f"{len(run.docs):,}", vocab=str(vocab), chars=''.join(run.tokenizer.chars),
                bos=str(run.tokenizer.bos), uniform=f"{math.log(vocab):.4f}", first_loss=f"{losses[0]:.4f}",
                final_loss=f"{losses[-1]:.4f}", steps=f"{STEPS:,}", first_doc=run.docs[0],
                n_embd=str(run.config.n_embd), head_dim=str(run.config.head_dim), n_head=str(run.config.n_head))


def baselines(run):
    """The three guesses a loss is read against (microgpt/training/baselines.py), counted and scored on
    the names the run trained on, and the trained model's mean loss on the same tokens (what
    `microgpt eval` prints of its checkpoint)."""
    from microgpt.training.baselines import baseline_losses
    from microgpt.training.evaluation import mean_loss
    guesses = baseline_losses(run.tokenizer, run.docs, run.docs, run.config.block_size)
    loss = mean_loss(run.engine, run.tokenizer, run.docs)
    if not loss < guesses.bigram < guesses.unigram < guesses.uniform:
        raise AssertionError("the page says the model beats the bigram, which beats the unigram and the uniform")
    return dict(unigram=f"{guesses.unigram:.4f}", bigram=f"{guesses.bigram:.4f}", eval_loss=f"{loss:.4f}",
                below_bigram=f"{guesses.bigram - loss:.4f}")


def tokens(walk):
    t = walk.tokens
    return dict(name=NAME, tokens=str(t), position=str(POSITION), head=str(HEAD), input=walk.symbol(t[POSITION]),
                target=walk.symbol(t[POSITION + 1]), context=walk.read(POSITION),
                pairs=table(['position', 'the model has read', 'it must predict'],
                            [(p, walk.read(p), walk.symbol(t[p + 1])) for p in range(len(t) - 1)]))


def embedding(walk):
    from microgpt.gpt.model import RMSNORM_EPS
    state = walk.run.engine.state_dict()
    x, normed = walk.data('embedding'), walk.data('embedding_norm')
    mean_square = sum(v * v for v in x) / len(x)
    return dict(wte_row=vector(state['wte'][walk.tokens[POSITION]]), wpe_row=vector(state['wpe'][POSITION]),
                embedding=vector(x), mean_square=f"{mean_square:.4f}", rms=f"{math.sqrt(mean_square):.4f}",
                scale=f"{(mean_square + RMSNORM_EPS) ** -0.5:.4f}", normed=vector(normed),
                normed_rms=f"{math.sqrt(sum(v * v for v in normed) / len(normed)):.4f}")


def attention(walk):
    query = walk.data('layer0.q')[walk.head]
    keys = [walk.data('layer0.k', t)[walk.head] for t in range(POSITION + 1)]
    scores = walk.data(f'layer0.head{HEAD}.scores')
    weights = walk.data(f'layer0.head{HEAD}.softmax')
    strongest = max(range(POSITION + 1), key=lambda t: weights[t])
    head_dim = walk.config.head_dim
    rows = [(t, walk.symbol(walk.tokens[t]), f"`{vector(keys[t])}`", f"{scores[t]:+.3f}", f"{weights[t]:.3f}")
            for t in range(POSITION + 1)]
    return dict(query=vector(query), sqrt_head_dim=f"{math.sqrt(head_dim):g}",
                attention_rows=table(['key position', 'token', f'its key (head {HEAD})', f'score q·k/√{head_dim}',
                                      'weight'], rows),
                strongest=str(strongest), strongest_token=walk.symbol(walk.tokens[strongest]),
                strongest_weight=f"{weights[strongest]:.3f}", attention_picture=ATTENTION_PICTURE)


def mlp(walk):
    hidden = walk.data('layer0.mlp_hidden')
    active = sorted((i for i, h in enumerate(hidden) if h > 0), key=lambda i: -hidden[i])
    return dict(hidden_size=str(len(hidden)), active=str(len(active)),
                hidden_top=', '.join(f"neuron {i}: {hidden[i]:.3f}" for i in active[:3]))


def cross_entropy(walk):
    from microgpt.gpt.sampling import next_token_probs
    logits = walk.data('logits')
    probs = next_token_probs(logits, 1.0)
    target, vocab = walk.tokens[POSITION + 1], walk.config.vocab_size
    order = sorted(range(vocab), key=lambda i: -probs[i])
    loss = walk.loss.data
    positions = [(p, walk.read(p), walk.symbol(walk.tokens[p + 1]), f"{math.exp(-l.data):.4f}", f"{l.data:.4f}")
                 for p, l in enumerate(walk.losses)]
    return dict(top_logits=table(['next', 'logit', 'probability'],
                                 [(walk.symbol(i), f"{logits[i]:+.3f}", f"{probs[i]:.3f}") for i in order[:5]]),
                target_logit=f"{logits[target]:+.3f}", target_prob=f"{probs[target]:.4f}",
                target_rank=str(order.index(target) + 1), position_loss=f"{loss:.4f}",
                times_better=f"{math.exp(math.log(vocab) - loss):.1f}",
                name_loss=f"{sum(l.data for l in walk.losses) / len(walk.losses):.4f}",
                position_rows=table(['position', 'read', 'target', 'p(target)', 'loss −ln p'], positions))


def sampling(run):
    """Names at two temperatures from the same random numbers (the run's stream, where the
    original draws its samples), and the first letter's distribution at each."""
    from microgpt import generate
    from microgpt.gpt.sampling import next_token_probs
    stream = random.Random()
    stream.setstate(run.rng.getstate())
    cool = run.sample(SAMPLES)
    warm = list(generate(run.engine, run.tokenizer, stream, SAMPLES, temperature=1.0))
    first_logits = run.engine.logits(run.tokenizer.bos, 0, run.engine.new_cache())
    rows = []
    for temperature in (0.5, 1.0):
        p = next_token_probs(first_logits, temperature)
        likeliest = sorted(range(len(p)), key=lambda i: -p[i])[:5]
        rows.append((temperature, ', '.join(f"{symbol(run.tokenizer, i)} {p[i]:.3f}" for i in likeliest)))
    return dict(cool_samples=', '.join(cool), warm_samples=', '.join(warm),
                first_letter=table(['temperature', 'the five likeliest first letters'], rows))


def one_gradient(walk):
    """The score of head HEAD's query against the key the loss is most sensitive to, drawn."""
    from microgpt import Val
    scores = walk.stages[f'layer0.head{HEAD}.scores'][POSITION]
    drawn = max(range(POSITION + 1), key=lambda t: abs(scores[t].grad))
    values, svg = score_neuron(Val, scores[drawn].grad, walk.loss.data, walk.data('layer0.q')[walk.head],
                               walk.stages['layer0.k'][drawn][walk.head])
    values.update(drawn=str(drawn), drawn_token=walk.symbol(walk.tokens[drawn]))
    return values, svg


def first_adam_step(run, config):
    """The first training step of the primordial run on the Val engine (the code the page
    shows): two weights of lm_head, the one with the largest gradient and the one with the
    smallest, through Adam's update."""
    engine = run.engine
    engine.set_adam(config.adam())
    loss = engine.loss_and_backward(run.batch(0, config.batch_size))
    head = engine.model.state_dict['lm_head']
    candidates = [(r, c) for r in range(len(head)) for c in range(len(head[0])) if head[r][c].grad]
    largest = max(candidates, key=lambda rc: abs(head[rc[0]][rc[1]].grad))
    smallest = min(candidates, key=lambda rc: abs(head[rc[0]][rc[1]].grad))
    picked = [(rc, head[rc[0]][rc[1]]) for rc in (largest, smallest)]
    before = [(p.data, p.grad) for _, p in picked]
    index = {id(p): i for i, p in enumerate(engine.params)}
    lr = config.learning_rate_at(0)
    engine.adam_step(lr, 1)
    adam = engine.adam
    columns = []
    for ((r, c), p), (w, g) in zip(picked, before):
        m, v = engine.m[index[id(p)]], engine.v[index[id(p)]]
        columns.append((f"`lm_head[{symbol(run.tokenizer, r)}][{c}]`", f"{w:+.5f}", f"{g:+.3g}", f"{m:+.3g}",
                        f"{v:.3g}", f"{m / (1 - adam.beta1):+.3g}", f"{v / (1 - adam.beta2):.3g}",
                        f"{p.data - w:+.5f}", f"{p.data:+.5f}"))
    quantities = ['weight', 'before: w', 'gradient g', 'm', 'v', 'm̂ = m / (1 − β1)', 'v̂ = v / (1 − β2)',
                  'change', 'after']
    rows = [(quantity, *(column[i] for column in columns)) for i, quantity in enumerate(quantities)][1:]
    return dict(lr=f"{lr:g}", beta1=f"{adam.beta1:g}", beta2=f"{adam.beta2:g}", eps=f"{adam.eps:g}",
                adam_rows=table(['weight', *(column[0] for column in columns)], rows)), loss


def score_neuron(Val, upstream, loss, query, real_key_atoms):
    """The attention score s = q·k / √head_dim as a Val graph of its own, below one atom that
    stands for the rest of the model: the position's loss, whose local gradient with respect
    to s is `upstream` (d loss / d s, from backward() through the model's whole graph). Its
    backward() then gives each q and k atom d loss / d atom through this score, which is
    checked against the model's own graph (a key feeds this position's loss through this
    score alone)."""
    from microgpt import draw_dot
    q = [Val(x) for x in query]
    k = [Val(atom.data) for atom in real_key_atoms]
    score = Val.dot(q, k) / len(q) ** 0.5  # as GPT.forward writes it
    rest_of_the_model = Val(loss, (score,), (upstream,), 'loss')
    rest_of_the_model.backward()
    for mine, real in zip(k, real_key_atoms):
        if not math.isclose(mine.grad, real.grad, rel_tol=1e-9, abs_tol=1e-15):
            raise AssertionError(f"the drawn gradient {mine.grad} is not the model's {real.grad}")
    names = {f'q[{i}]': v for i, v in enumerate(q)}
    names.update({f'k[{i}]': v for i, v in enumerate(k)}, score=score)
    values = dict(upstream=f"{upstream:+.3g}", key_grads=', '.join(f"{v.grad:+.3g}" for v in k))
    if shutil.which('dot') is None:  # no Graphviz to lay it out: the graph as DOT text
        text = draw_dot(rest_of_the_model, format='dot', names=names)
        values['gradient_figure'] = (f"(Graphviz's `dot` was not installed where this site was built: "
                                     f"the graph as DOT text.)\n\n```text\n{text}```")
        return values, None
    svg = draw_dot(rest_of_the_model, format='svg', names=names)
    values['gradient_figure'] = (f"![the score of a query against a key as a Val graph, with each atom's value and "
                                 f"gradient]({GRADIENT_PICTURE})")
    return values, svg[svg.index('<svg'):]


def heatmap_svg(rows, labels, followed, cell=56):
    """The attention weights as a grid: a row per query position, a column per key position,
    darker for more weight, each weight written in its cell (the upper triangle is the future,
    which a position never sees); the followed position's row outlined."""
    n, left, top = len(labels), 70, 60
    width, height, middle = left + n * cell + 20, top + n * cell + 20, top + n * cell / 2

    def square(x, y, fill):
        return f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" stroke="#ffffff"/>'

    def text(x, y, words, anchor='middle', extra=''):
        return f'<text x="{x}" y="{y}" text-anchor="{anchor}"{extra}>{words}</text>'
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} '
             f'{height}" font-family="Helvetica, Arial, sans-serif" font-size="13">',
             text(left + n * cell / 2, 16, 'key position (what is looked at)', extra=' font-size="12"'),
             text(14, middle, 'query position (who looks)',
                  extra=f' font-size="12" transform="rotate(-90 14 {middle})"')]
    for j, label in enumerate(labels):
        parts.append(text(left + j * cell + cell / 2, top - 10, f'{j} {label}'))
    for i, label in enumerate(labels):
        y = top + i * cell
        parts.append(text(left - 8, y + cell / 2 + 4, f'{i} {label}', anchor='end'))
        for j in range(n):
            x = left + j * cell
            if j > i:
                parts.append(square(x, y, '#f4f4f4'))
                continue
            w = rows[i][j]
            parts.append(square(x, y, f"rgb({round(255 - 215 * w)},{round(255 - 160 * w)},{round(255 - 60 * w)})"))
            parts.append(text(x + cell / 2, y + cell / 2 + 4, f'{w:.2f}',
                              extra=f' fill="{"#ffffff" if w > 0.55 else "#000000"}"'))
    parts.append(f'<rect x="{left}" y="{top + followed * cell}" width="{(followed + 1) * cell}" height="{cell}" '
                 f'fill="none" stroke="#d9480f" stroke-width="3"/>')
    parts.append('</svg>')
    return '\n'.join(parts)
