"""The numbers and pictures of "How this GPT works" (pages/how-it-works.md), computed as the site
is built: the primordial run (`microgpt train --primordial`, 1000 steps on the numpy engine),
then one name, "emma", through the trained model written over Vals (microgpt/model.py).

A `{{ name }}` in the page becomes values()[name]; a marker with no value fails the build.
The pictures are files of the site (pictures()), which the page shows as images.
"""
import math
import random
import re

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


# --- the computation ---------------------------------------------------------------------------

def compute():
    from microgpt import GPT, Run, TrainConfig, Val, generate, load_names
    from microgpt.sampling import next_token_probs

    values = {}
    config = TrainConfig(num_steps=STEPS)
    values.update(first_adam_step(Run(load_names(), engine_name='val'), config))
    run = Run(load_names())
    losses = run.train(config)
    if losses[0] != values.pop('_val_first_loss'):
        raise AssertionError("the Val and numpy engines disagree on the first step's loss")
    tokenizer = run.tokenizer
    vocab = run.config.vocab_size
    values.update(
        names=f"{len(run.docs):,}", vocab=str(vocab), chars=''.join(tokenizer.chars), bos=str(tokenizer.bos),
        params=f"{run.config.num_params():,}", uniform=f"{math.log(vocab):.4f}",
        first_loss=f"{losses[0]:.4f}", final_loss=f"{losses[-1]:.4f}", steps=f"{STEPS:,}",
        first_doc=run.docs[0])

    # "emma" through the trained model over Vals, with every stage recorded
    model = GPT(run.config, run.engine.state_dict())
    stages = {}

    def trace(where, **outputs):
        for stage, atoms in outputs.items():
            stages.setdefault(f"{where}.{stage}" if where else stage, []).append(atoms)
    tokens = tokenizer.doc_tokens(NAME, run.config.block_size)
    position_losses = model.document_losses(tokens, trace)
    chosen = position_losses[POSITION]
    chosen.backward()  # d loss at POSITION / d every atom below it
    data = lambda atoms: [a.data for a in atoms]  # noqa: E731
    values.update(
        name=NAME, tokens=str(tokens), position=str(POSITION), head=str(HEAD),
        input=symbol(tokenizer, tokens[POSITION]), target=symbol(tokenizer, tokens[POSITION + 1]),
        context=' '.join(symbol(tokenizer, t) for t in tokens[:POSITION + 1]),
        pairs=table(['position', 'the model has read', 'it must predict'],
                    [(p, ' '.join(symbol(tokenizer, t) for t in tokens[:p + 1]), symbol(tokenizer, tokens[p + 1]))
                     for p in range(len(tokens) - 1)]))

    # embedding and RMSNorm
    token, state = tokens[POSITION], run.engine.state_dict()
    embedding = data(stages['embedding'][POSITION])
    normed = data(stages['embedding_norm'][POSITION])
    mean_square = sum(x * x for x in embedding) / len(embedding)
    values.update(
        wte_row=vector(state['wte'][token]), wpe_row=vector(state['wpe'][POSITION]), embedding=vector(embedding),
        mean_square=f"{mean_square:.4f}", rms=f"{math.sqrt(mean_square):.4f}",
        scale=f"{(mean_square + 1e-5) ** -0.5:.4f}", normed=vector(normed),
        normed_rms=f"{math.sqrt(sum(x * x for x in normed) / len(normed)):.4f}",
        n_embd=str(run.config.n_embd), head_dim=str(run.config.head_dim), n_head=str(run.config.n_head))

    # one head: its query, the keys, the scores and the weights
    head_dim = run.config.head_dim
    part = slice(HEAD * head_dim, (HEAD + 1) * head_dim)
    query = data(stages['layer0.q'][POSITION])[part]
    keys = [data(k)[part] for k in stages['layer0.k'][:POSITION + 1]]
    scores = data(stages[f'layer0.head{HEAD}.scores'][POSITION])
    weights = data(stages[f'layer0.head{HEAD}.softmax'][POSITION])
    strongest = max(range(POSITION + 1), key=lambda t: weights[t])
    values.update(
        query=vector(query), sqrt_head_dim=f"{math.sqrt(head_dim):g}",
        attention_rows=table(['key position', 'token', 'its key (head %d)' % HEAD, 'score q·k/√%d' % head_dim, 'weight'],
                             [(t, symbol(tokenizer, tokens[t]), '`' + vector(keys[t]) + '`', f"{scores[t]:+.3f}",
                               f"{weights[t]:.3f}") for t in range(POSITION + 1)]),
        strongest=str(strongest), strongest_token=symbol(tokenizer, tokens[strongest]),
        strongest_weight=f"{weights[strongest]:.3f}", attention_picture=ATTENTION_PICTURE)
    all_weights = [data(w) for w in stages[f'layer0.head{HEAD}.softmax']]
    labels = [symbol(tokenizer, t) for t in tokens[:-1]]

    # the MLP
    hidden = data(stages['layer0.mlp_hidden'][POSITION])
    active = [i for i, h in enumerate(hidden) if h > 0]
    values.update(hidden_size=str(len(hidden)), active=str(len(active)),
                  hidden_top=', '.join(f"neuron {i}: {hidden[i]:.3f}" for i in sorted(active, key=lambda i: -hidden[i])[:3]))

    # logits, softmax, cross-entropy
    logits = data(stages['logits'][POSITION])
    probs = next_token_probs(logits, 1.0)
    target = tokens[POSITION + 1]
    order = sorted(range(vocab), key=lambda i: -probs[i])
    values.update(
        top_logits=table(['next', 'logit', 'probability'],
                         [(symbol(tokenizer, i), f"{logits[i]:+.3f}", f"{probs[i]:.3f}") for i in order[:5]]),
        target_logit=f"{logits[target]:+.3f}", target_prob=f"{probs[target]:.4f}",
        target_rank=str(order.index(target) + 1), max_logit=f"{max(logits):+.3f}",
        position_loss=f"{chosen.data:.4f}", times_better=f"{math.exp(math.log(vocab) - chosen.data):.1f}",
        name_loss=f"{sum(l.data for l in position_losses) / len(position_losses):.4f}",
        position_rows=table(['position', 'read', 'target', 'p(target)', 'loss −ln p'],
                            [(p, ' '.join(symbol(tokenizer, t) for t in tokens[:p + 1]), symbol(tokenizer, tokens[p + 1]),
                              f"{math.exp(-l.data):.4f}", f"{l.data:.4f}") for p, l in enumerate(position_losses)]))

    # one gradient, drawn: the score of the query against the strongest key
    # (the key whose score the loss is most sensitive to)
    score_atoms = stages[f'layer0.head{HEAD}.scores'][POSITION]
    drawn = max(range(POSITION + 1), key=lambda t: abs(score_atoms[t].grad))
    values.update(score_neuron(Val, score_atoms[drawn].grad, chosen.data, query, keys[drawn],
                               stages['layer0.k'][drawn][part]),
                  drawn=str(drawn), drawn_token=symbol(tokenizer, tokens[drawn]))
    gradient_svg = values.pop('_gradient_svg')

    # sampling at two temperatures, from the same random numbers
    state_of_stream = run.rng.getstate()
    cool = run.sample(SAMPLES)
    stream = random.Random()
    stream.setstate(state_of_stream)
    warm = list(generate(run.engine, tokenizer, stream, SAMPLES, temperature=1.0))
    first_logits = run.engine.logits(tokenizer.bos, 0, run.engine.new_cache())
    rows = []
    for temperature in (0.5, 1.0):
        p = next_token_probs(first_logits, temperature)
        best = sorted(range(vocab), key=lambda i: -p[i])[:5]
        rows.append((temperature, ', '.join(f"{symbol(tokenizer, i)} {p[i]:.3f}" for i in best)))
    values.update(cool_samples=', '.join(cool), warm_samples=', '.join(warm),
                  first_letter=table(['temperature', 'the five likeliest first letters'], rows))
    pictures = {ATTENTION_PICTURE: heatmap_svg(all_weights, labels, POSITION).encode(),
                GRADIENT_PICTURE: gradient_svg.encode()}
    return dict(values=values, pictures=pictures)


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
    return {'_val_first_loss': loss, 'lr': f"{lr:g}", 'beta1': f"{adam.beta1:g}", 'beta2': f"{adam.beta2:g}",
            'eps': f"{adam.eps:g}",
            'adam_rows': table(['weight', *(column[0] for column in columns)], rows)}


def score_neuron(Val, upstream, loss, query, key, real_key_atoms):
    """The attention score s = q·k / √head_dim as a Val graph of its own, below one atom that
    stands for the rest of the model: the position's loss, whose local gradient with respect
    to s is `upstream` (d loss / d s, from backward() through the model's whole graph). Its
    backward() then gives each q and k atom d loss / d atom through this score, which is
    checked against the model's own graph (a key feeds this position's loss through this
    score alone)."""
    from microgpt import draw_dot
    q = [Val(x) for x in query]
    k = [Val(x) for x in key]
    score = Val.dot(q, k) / len(q) ** 0.5  # as GPT.forward writes it
    rest_of_the_model = Val(loss, (score,), (upstream,), 'loss')
    rest_of_the_model.backward()
    for mine, real in zip(k, real_key_atoms):
        if not math.isclose(mine.grad, real.grad, rel_tol=1e-9, abs_tol=1e-15):
            raise AssertionError(f"the drawn gradient {mine.grad} is not the model's {real.grad}")
    names = {f'q[{i}]': v for i, v in enumerate(q)}
    names.update({f'k[{i}]': v for i, v in enumerate(k)}, score=score)
    svg = draw_dot(rest_of_the_model, format='svg', names=names)
    return {'_gradient_svg': svg[svg.index('<svg'):], 'upstream': f"{upstream:+.3g}", 'score': f"{score.data:+.4f}",
            'gradient_picture': GRADIENT_PICTURE,
            'key_grads': ', '.join(f"{v.grad:+.3g}" for v in k), 'query_data': ', '.join(f"{v.data:+.4f}" for v in q),
            'query_grads': ', '.join(f"{v.grad:+.3g}" for v in q)}


def heatmap_svg(rows, labels, followed, cell=56):
    """The attention weights as a grid: a row per query position, a column per key position,
    darker for more weight, each weight written in its cell (the upper triangle is the future,
    which a position never sees); the followed position's row outlined."""
    n = len(labels)
    left, top = 70, 60
    width, height = left + n * cell + 20, top + n * cell + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">',
             f'<text x="{left + n * cell / 2}" y="16" text-anchor="middle" font-size="12">key position (what is looked at)</text>']
    for j, label in enumerate(labels):
        parts.append(f'<text x="{left + j * cell + cell / 2}" y="{top - 10}" text-anchor="middle">{j} {label}</text>')
    for i, label in enumerate(labels):
        y = top + i * cell
        parts.append(f'<text x="{left - 8}" y="{y + cell / 2 + 4}" text-anchor="end">{i} {label}</text>')
        for j in range(n):
            x = left + j * cell
            if j > i:
                parts.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="#f4f4f4" stroke="#ffffff"/>')
                continue
            w = rows[i][j]
            fill = f"rgb({round(255 - 215 * w)},{round(255 - 160 * w)},{round(255 - 60 * w)})"
            parts.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" stroke="#ffffff"/>')
            ink = '#ffffff' if w > 0.55 else '#000000'
            parts.append(f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" text-anchor="middle" fill="{ink}">{w:.2f}</text>')
    parts.append(f'<rect x="{left}" y="{top + followed * cell}" width="{(followed + 1) * cell}" height="{cell}" '
                 f'fill="none" stroke="#d9480f" stroke-width="3"/>')
    parts.append(f'<text x="14" y="{top + n * cell / 2}" text-anchor="middle" font-size="12" '
                 f'transform="rotate(-90 14 {top + n * cell / 2})">query position (who looks)</text>')
    parts.append('</svg>')
    return '\n'.join(parts)
