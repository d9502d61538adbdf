"""microgpt graph, attention, embeddings and report (microgpt/viz/), on a tiny model trained
in a fixture."""
import json
import re
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

from microgpt.cli import main
from microgpt.errors import MicrogptError
from microgpt.files.checkpoint import load_checkpoint
from microgpt.gpt.autograd import Val
from microgpt.gpt.model import GPT
from microgpt.viz import dot as dot_module
from microgpt.viz import graph as graph_module
from microgpt.viz import text_tokens
from microgpt.viz.figures import attention_weights, cosine_similarity, pca_2d
from microgpt.viz.graph import StageTrace, build_graph, draw_dot, reachable
from microgpt.viz.report import recorded_curves

from conftest import REPO

TINY = ['--primordial', '--steps', '8', '--n-embd', '4', '--n-head', '2', '--ff-mult', '1', '--block-size', '8',
        '--samples', '0']
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
HAS_DOT = shutil.which('dot') is not None
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory, names_docs):
    """A checkpoint of a 1-layer, 2-head, 4-wide model trained 8 steps on 300 names."""
    folder = tmp_path_factory.mktemp('tiny')
    data = folder / 'names.txt'
    data.write_text('\n'.join(names_docs[:300]) + '\n')
    path = folder / 'tiny.ckpt.json'
    result = CliRunner().invoke(main, ['train', '--data', str(data), *TINY, '--out', str(path)])
    assert result.exit_code == 0, result.output
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_error(result, fragment):
    assert result.exit_code != 0
    assert 'Traceback' not in result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith('Error:') and fragment in errors[0], result.stderr


def own_loss(checkpoint, text, position=None, trace=None):
    """The loss Val, built here from the model as training builds it."""
    model = GPT(checkpoint.config, checkpoint.state_dict)
    tokens = text_tokens(checkpoint, text)
    if position is None:
        return model, model.loss([tokens], trace)
    return model, model.document_losses(tokens[:position + 2], trace)[position]


# --- the graph -----------------------------------------------------------------------------

@pytest.mark.parametrize('position', [None, 2])
def test_json_counts_are_the_val_nodes_the_engine_built(tiny, position, monkeypatch):
    args = ['graph', '--checkpoint', tiny, '--text', 'emma', '--json']
    result = run(*args, *(['--position', position] if position is not None else []))
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert counts['atoms'] == sum(entry['nodes'] for entry in counts['ops'].values())
    assert counts['edges'] == sum(entry['edges'] for entry in counts['ops'].values())

    # independently: walk the graph of the same loss, built without a trace, by hand
    checkpoint = load_checkpoint(tiny)
    model, loss = own_loss(checkpoint, 'emma', position)
    seen, stack = {loss}, [loss]
    while stack:
        for child in stack.pop()._children:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    ops = Counter(v._op or 'leaf' for v in seen)
    assert {op: entry['nodes'] for op, entry in counts['ops'].items()} == dict(ops)
    assert counts['atoms'] == len(seen)
    assert counts['edges'] == sum(len(v._children) for v in seen)
    assert counts['loss'] == loss.data

    if position is None:  # the whole text: every Val built for the loss is in its graph
        built = []
        original_init = Val.__init__

        def counting_init(self, *args, **kwargs):
            built.append(1)
            original_init(self, *args, **kwargs)

        monkeypatch.setattr(Val, '__init__', counting_init)
        model.loss([text_tokens(checkpoint, 'emma')])
        monkeypatch.undo()
        cfg = checkpoint.config
        e, tokens = cfg.n_embd, text_tokens(checkpoint, 'emma')
        weights_used = (len(set(tokens[:-1])) * e + (len(tokens) - 1) * e + cfg.vocab_size * e
                        + cfg.n_layer * (4 + 2 * cfg.ff_mult) * e * e)
        assert counts['atoms'] == len(built) + weights_used


def test_trace_changes_no_bit_and_names_every_atom(tiny):
    checkpoint = load_checkpoint(tiny)
    plain_model, plain = own_loss(checkpoint, 'emma')
    trace = StageTrace()
    traced_model, traced = own_loss(checkpoint, 'emma', trace=trace)
    plain.backward()
    traced.backward()
    assert traced.data == plain.data
    assert [p.grad for p in traced_model.parameters()] == [p.grad for p in plain_model.parameters()]

    graph = build_graph(checkpoint, text_tokens(checkpoint, 'emma'), 'emma')
    assert None not in graph.group and len(graph.group) == len(reachable(plain))
    stages = {f'layer0.{s}' for s in ('attn_norm', 'q', 'k', 'v', 'attn_out', 'attn_residual', 'mlp_norm',
                                      'mlp_hidden', 'mlp_out', 'mlp_residual')}
    stages |= {f'layer0.head{h}.{s}' for h in range(2) for s in ('scores', 'softmax', 'mix')}
    stages |= {'embedding', 'embedding_norm', 'logits', 'loss'}
    weights = {name for name, _ in checkpoint.config.param_shapes()}
    assert set(graph.groups) == stages | weights
    ops = {name: {op for v, g in zip(graph.nodes, graph.group) if g == name for op in [v._op]} for name in graph.groups}
    assert ops['layer0.q'] == {'dot'} and ops['layer0.mlp_hidden'] == {'dot', 'relu'}
    assert ops['layer0.head0.softmax'] >= {'exp', 'sum'} and ops['loss'] >= {'log'}
    assert all(ops[name] == {''} for name in weights)


def test_ops_and_blocks_levels_name_operations_and_state_dict(tiny, tmp_path):
    counts = json.loads(run('graph', '--checkpoint', tiny, '--text', 'emma', '--json').stdout)
    atoms = {g['name']: g['atoms'] for g in counts['groups']}
    ops_file, blocks_file = tmp_path / 'ops.dot', tmp_path / 'blocks.gv'
    assert run('graph', '--checkpoint', tiny, '--text', 'emma', '--out', ops_file).exit_code == 0
    text = ops_file.read_text()
    assert text.startswith('digraph ops {')
    for group in ('layer0.q', 'layer0.k', 'layer0.v', 'layer0.head0.softmax', 'layer0.head1.mix',
                  'layer0.mlp_hidden', 'logits'):
        assert f'label="{group.split(".")[-1]}\\n{atoms[group]:,} atoms' in text
    assert f'loss = {counts["loss"]:.4f}' in text
    assert 'label="layer0\\n(attn_wq, attn_wk, attn_wv, attn_wo, mlp_fc1, mlp_fc2)"' in text
    assert 'label="layer0.attn_wq\\n16 weights used' in text
    assert len(re.findall(r'^g\d+ \[', text, re.M)) == len(counts['groups'])

    assert run('graph', '--checkpoint', tiny, '--text', 'emma', '--level', 'blocks', '--out', blocks_file).exit_code == 0
    blocks = blocks_file.read_text()
    for block, n in counts['blocks'].items():
        assert re.search(rf'label="{block}(\\n\([^)]*\))?\\n{n:,} atoms', blocks), block


def test_atoms_level_draws_every_atom_with_data_and_grad(tiny, tmp_path):
    out = tmp_path / 'atoms.dot'
    result = run('graph', '--checkpoint', tiny, '--text', 'emma', '--position', 0, '--level', 'atoms', '--out', out)
    assert result.exit_code == 0, result.output
    counts = json.loads(run('graph', '--checkpoint', tiny, '--text', 'emma', '--position', 0, '--json').stdout)
    text = out.read_text()
    assert len(re.findall(r'^n\d+ \[label=', text, re.M)) == counts['atoms']
    assert len(re.findall(r'^n\d+ -> n\d+;$', text, re.M)) == counts['edges']
    assert f'label="*\\ndata {counts["loss"]:.4g}\\ngrad 1"' in text  # the loss: d loss / d loss = 1
    assert re.search(r'label="wte\[26,0\]\\ndata \S+\\ngrad \S+"', text)  # BOS's embedding, by name


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_svg_and_png_through_graphviz(tiny, tmp_path):
    for suffix, check in (('svg', lambda b: b'<svg' in b and b'layer0' in b), ('png', lambda b: b.startswith(PNG_MAGIC))):
        out = tmp_path / f'g.{suffix}'
        result = run('graph', '--checkpoint', tiny, '--text', 'ab', '--out', out)
        assert result.exit_code == 0, result.output
        assert check(out.read_bytes())


def test_svg_without_graphviz_says_how_to_install_it(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(dot_module.shutil, 'which', lambda name: None)
    result = run('graph', '--checkpoint', tiny, '--text', 'emma', '--out', tmp_path / 'g.svg')
    assert_one_error(result, "needs Graphviz's `dot` program, which is not installed: apt-get install graphviz")
    assert not (tmp_path / 'g.svg').exists()
    assert run('graph', '--checkpoint', tiny, '--text', 'emma', '--out', tmp_path / 'g.dot').exit_code == 0


def test_graph_too_big_for_its_level(tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(graph_module.DRAW_LIMITS, 'atoms', 500)
    result = run('graph', '--checkpoint', tiny, '--text', 'emma', '--level', 'atoms', '--out', tmp_path / 'a.dot')
    assert_one_error(result, "too many to draw at --level atoms (at most 500): use --level ops")
    assert not (tmp_path / 'a.dot').exists()


def test_small_model_of_the_hint_draws_every_atom(tmp_path, names_docs):
    data, ckpt = tmp_path / 'names.txt', tmp_path / 'small.ckpt.json'
    data.write_text('\n'.join(names_docs[:100]) + '\n')
    small = graph_module.SMALL_MODEL.split()[2:]  # the flags after `microgpt train`
    trained = run('train', '--data', data, '--primordial', *small, '--steps', 2, '--samples', 0, '--out', ckpt)
    assert trained.exit_code == 0, trained.output
    result = run('graph', '--checkpoint', ckpt, '--text', 'emma', '--level', 'atoms', '--out', tmp_path / 'a.dot')
    assert result.exit_code == 0, result.output
    assert 'graph of 1,' in result.stderr  # over a thousand atoms, fewer than the limit


@pytest.mark.parametrize('args, fragment', [
    (['--text', 'em9a', '--json'], "text 'em9a' has a character the model does not know: '9'"),
    (['--text', 'abcdefgh', '--json'], "the model's block_size (8) holds at most 7"),
    (['--text', '', '--json'], "--text is empty"),
    (['--text', 'emma', '--position', '5', '--json'], "--position 5 is beyond 'emma': its positions are 0 to 4"),
    (['--text', 'emma', '--out', 'g.bmp'], "needs a suffix of .dot, .gv, .svg, .png"),
    (['--text', 'emma', '--out', 'missing/g.dot'], "folder missing does not exist"),
    (['--text', 'emma'], "say where the graph goes"),
])
def test_graph_bad_input_is_one_line(tiny, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    assert_one_error(run('graph', '--checkpoint', tiny, *args), fragment)


# --- attention and embeddings ------------------------------------------------------------------

def test_attention_weights_are_the_val_models_softmax(tiny):
    checkpoint = load_checkpoint(tiny)
    tokens = text_tokens(checkpoint, 'emma')
    weights = attention_weights(checkpoint, tokens)
    T = len(tokens) - 1
    assert weights.shape == (1, 2, T, T)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(np.triu(weights, k=1) == 0.0)  # causal: nothing read from later positions
    trace = StageTrace()
    own_loss(checkpoint, 'emma', trace=trace)
    for h in range(2):
        rows = [out for name, out in trace.stages if name == f'layer0.head{h}.softmax']
        assert len(rows) == T
        for pos, row in enumerate(rows):
            np.testing.assert_allclose(weights[0, h, pos, :pos + 1], [v.data for v in row], rtol=1e-12)


def test_pca_and_cosine_similarity():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(30, 2)) @ rng.normal(size=(2, 5))  # rank 2 in 5-D
    coords, share = pca_2d(plane)
    assert share.sum() == pytest.approx(1.0)
    centred = plane - plane.mean(axis=0)
    distances = lambda x: np.linalg.norm(x[:, None] - x[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(distances(coords), distances(centred), atol=1e-9)  # nothing lost
    line = np.outer(np.arange(6.0), [1.0, 2.0, 2.0])
    assert pca_2d(line)[1][0] == pytest.approx(1.0)
    sim = cosine_similarity(np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]]))
    np.testing.assert_allclose(sim, [[1, 0, -1], [0, 1, 0], [-1, 0, 1]], atol=1e-12)


def test_attention_and_embeddings_pictures(tiny, tmp_path):
    pytest.importorskip('matplotlib')
    att, emb = tmp_path / 'att.png', tmp_path / 'emb.png'
    result = run('attention', '--checkpoint', tiny, '--text', 'emma', '--out', att)
    assert result.exit_code == 0, result.output
    assert "attention of 1 layer(s) x 2 head(s) on 'emma' drawn to" in result.stderr
    result = run('embeddings', '--checkpoint', tiny, '--out', emb)
    assert result.exit_code == 0, result.output
    assert att.read_bytes().startswith(PNG_MAGIC) and emb.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize('args, fragment', [
    (['attention', '--text', 'eMma', '--out', 'a.png'], "does not know: 'M'"),
    (['attention', '--text', 'emma', '--out', 'a.bmp'], "needs a suffix of .png, .svg, .pdf"),
    (['embeddings', '--out', 'e.txt'], "needs a suffix of .png, .svg, .pdf"),
    (['report', '--out', 'r.txt'], "needs a suffix of .html, .htm"),
    (['report', '--out', 'r.html', '--text', 'x y'], "does not know: ' '"),
])
def test_figures_bad_input_is_one_line(tiny, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    assert_one_error(run(args[0], '--checkpoint', tiny, *args[1:]), fragment)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('args', [['attention', '--text', 'emma', '--out', 'a.png'], ['embeddings', '--out', 'e.png']])
def test_pictures_without_matplotlib_say_how_to_install_it(tiny, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, 'matplotlib.figure', None)  # as if not installed
    assert_one_error(run(args[0], '--checkpoint', tiny, *args[1:]),
                     "plotting needs matplotlib: pip install matplotlib (from a clone of microgpt: "
                     "pip install -e '.[plot]')")


def test_report_without_matplotlib_or_graphviz_is_written_with_what_it_can_draw(tiny, tmp_path, monkeypatch):
    """After the README's plain install: the page has its story, samples and playground, and
    one line on stderr says what is left out and how to add it."""
    monkeypatch.setitem(sys.modules, 'matplotlib.figure', None)  # as if not installed
    monkeypatch.setattr(dot_module.shutil, 'which', lambda name: None)
    out = tmp_path / 'r.html'
    result = run('report', '--checkpoint', tiny, '--text', 'emma', '--samples', 5, '--out', out)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[-1] == f'report of {tiny} written to {out}'
    assert lines[-2] == ("the report leaves out what needs matplotlib (the attention and embeddings pictures: "
                         "pip install matplotlib (from a clone of microgpt: pip install -e '.[plot]')) and "
                         "Graphviz (the computation graph: apt-get install graphviz (Debian, Ubuntu), "
                         "brew install graphviz (macOS) or conda install graphviz)")
    page = out.read_text()
    assert '<img ' not in page and '<svg class="loss"' in page and 'id="microgpt-model"' in page
    assert len(re.findall(r'<li><code>', page)) == 5
    assert 'matplotlib is not installed' in page and 'Graphviz is not installed' in page
    monkeypatch.undo()
    if HAS_DOT:
        pytest.importorskip('matplotlib')
        result = run('report', '--checkpoint', tiny, '--text', 'emma', '--out', out)
        assert result.stderr.splitlines() == [f'report of {tiny} written to {out}']


# --- the report ---------------------------------------------------------------------------------

def make_report(tiny, out, *extra):
    result = run('report', '--checkpoint', tiny, '--text', 'emma', '--samples', 12, '--out', out, *extra)
    assert result.exit_code == 0, result.output
    return out.read_text()


def test_report_is_one_self_contained_page(tiny, tmp_path):
    pytest.importorskip('matplotlib')
    page = make_report(tiny, tmp_path / 'report.html')
    assert 'http://' not in page and 'https://' not in page
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith('data:') for s in sources)
    assert len(re.findall(r'<img ', page)) == 3  # loss, attention, embeddings
    checkpoint = load_checkpoint(tiny)
    headings = re.findall(r'<h2>(.*?)</h2>', page)
    assert headings == ['Loss', 'Samples', 'Try it', 'Attention on <code>emma</code>', 'Embeddings',
                        'The computation graph']  # the story first, then the place to play
    folded = re.findall(r'<details><summary>(.*?)</summary>', page)
    assert folded == ['Model and training settings', 'Provenance']
    assert page.index('<details>') > page.index('The computation graph')
    assert checkpoint.provenance['data_sha256'] in page
    marks = re.findall(r'<span class="(new|seen)">(new|in training data)</span>', page)
    assert len(marks) == 12 and all((c == 'new') == (t == 'new') for c, t in marks)
    docs = set(open(checkpoint.training['data_path']).read().split())
    names = re.findall(r'<li><code>([^<]*)</code> <span class="(new|seen)"', page)
    assert all((name in docs) == (kind == 'seen') for name, kind in names)
    assert 'No held-out loss is recorded' in page
    assert ('<svg' in page) == HAS_DOT


def test_report_without_graphviz_says_how_to_install_it(tiny, tmp_path, monkeypatch):
    pytest.importorskip('matplotlib')
    monkeypatch.setattr(dot_module.shutil, 'which', lambda name: None)
    page = make_report(tiny, tmp_path / 'r.html')
    assert '<svg' not in page and 'Graphviz is not installed' in page and 'apt-get install graphviz' in page
    assert len(re.findall(r'<img ', page)) == 3


def test_report_reads_recorded_curves(tiny, tmp_path):
    pytest.importorskip('matplotlib')
    raw = json.loads(tiny.read_text())
    raw['training']['curve'] = [{'step': 4, 'train_loss': 3.2, 'val_loss': 3.3},
                                {'step': 8, 'train_loss': 3.1, 'val_loss': 3.25}]
    with_curve = tmp_path / 'curve.ckpt.json'
    with_curve.write_text(json.dumps(raw))
    assert recorded_curves(load_checkpoint(with_curve)) == {'train_loss': [(4, 3.2), (8, 3.1)],
                                                             'val_loss': [(4, 3.3), (8, 3.25)]}
    assert recorded_curves(load_checkpoint(tiny)) == {}
    # curves other tools record, in other shapes (microgpt's own `curve` is checked as it writes it)
    raw['training']['curve'] = []
    raw['training']['eval_curve'] = {'step': [4, 8], 'val_loss': [3.3, 3.25]}
    raw['training']['eval'] = {'held_out': [[4, 3.4], [8, 3.35]]}
    other_shapes = tmp_path / 'shapes.ckpt.json'
    other_shapes.write_text(json.dumps(raw))
    assert recorded_curves(load_checkpoint(other_shapes)) == {'eval_curve val_loss': [(4, 3.3), (8, 3.25)],
                                                               'eval held_out': [(4, 3.4), (8, 3.35)]}
    page = make_report(with_curve, tmp_path / 'r.html')
    assert 'No held-out loss is recorded' not in page


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tiny, tmp_path):
    """Every image loads and nothing is logged to the console, in a real browser."""
    pytest.importorskip('matplotlib')
    page = make_report(tiny, tmp_path / 'report.html')
    # A copy with a checker: it notes errors from the first moment, and after load writes what
    # it found into the page, which --dump-dom prints.
    checker_head = ("<script>window.__errors = []; window.addEventListener('error', e => "
                    "__errors.push(String(e.message || (e.target && (e.target.src || e.target.tagName)))), true);"
                    "const realError = console.error; console.error = (...a) => { __errors.push(a.join(' ')); "
                    "realError(...a); };</script>")
    checker_tail = ("<script>window.addEventListener('load', () => { const imgs = [...document.images]; "
                    "document.body.setAttribute('data-check', JSON.stringify({images: imgs.length, "
                    "loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length, "
                    "svgs: document.querySelectorAll('svg').length, errors: __errors})); });</script>")
    checked = tmp_path / 'checked.html'
    checked.write_text(page.replace('<head>', '<head>' + checker_head, 1).replace('</body>', checker_tail + '</body>'))

    def chromium(*args, profile):
        command = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                   '--disable-background-networking', '--disable-component-update', '--disable-sync',
                   f'--user-data-dir={tmp_path / profile}', '--enable-logging=stderr', '--v=0', *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    dumped = chromium('--virtual-time-budget=5000', '--dump-dom', checked.as_uri(), profile='p1')
    found = re.search(r'data-check="([^"]*)"', dumped.stdout)
    assert found, dumped.stderr[-2000:]
    check = json.loads(found.group(1).replace('&quot;', '"').replace('&amp;', '&'))
    assert check['images'] == 3 and check['loaded'] == 3, check
    assert check['errors'] == []
    assert check['svgs'] == (1 if HAS_DOT else 0)

    shot = tmp_path / 'shot.png'
    taken = chromium('--hide-scrollbars', '--window-size=1200,3000', f'--screenshot={shot}',
                     (tmp_path / 'report.html').as_uri(), profile='p2')
    assert shot.read_bytes().startswith(PNG_MAGIC), taken.stderr[-2000:]
    console = [line for line in taken.stderr.splitlines() if ':CONSOLE' in line]
    assert console == []


# --- training stays untouched ------------------------------------------------------------------

def test_train_imports_no_viewer(tmp_path, names_path):
    script = ("import sys\nfrom microgpt.cli import main\n"
              "try:\n    main(['train', '--data', sys.argv[1], '--steps', '2', '--samples', '0', '--primordial',"
              " '--out', sys.argv[2]])\nexcept SystemExit:\n    pass\n"
              "print(sorted(m for m in sys.modules if m.startswith(('microgpt.viz.', 'matplotlib', 'graphviz'))))")
    done = subprocess.run([sys.executable, '-c', script, str(names_path), str(tmp_path / 'm.ckpt.json')],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == '[]'


# --- any expression built by hand: draw_dot, and a Val in Jupyter ---------------------------------

def neuron():
    """A neuron as a learner builds one: tanh(w1 x1 + w2 x2 + b), back-propagated."""
    x1, x2, w1, w2, b = Val(2.0), Val(0.0), Val(-3.0), Val(1.0), Val(6.8813735870195432)
    n = x1 * w1 + x2 * w2 + b
    o = n.tanh()
    o.backward()
    return o, dict(x1=x1, x2=x2, w1=w1, w2=w2, b=b, n=n)


def test_draw_dot_draws_every_atom_of_an_expression_with_its_names():
    o, names = neuron()
    text = draw_dot(o, format='dot', names=names)
    atoms = reachable(o)
    assert len(re.findall(r'^n\d+ \[label=', text, re.M)) == len(atoms) == 10
    assert len(re.findall(r'^n\d+ -> n\d+;$', text, re.M)) == sum(len(v._children) for v in atoms) == 9
    assert 'label="tanh\\ndata 0.7071\\ngrad 1"' in text  # the root: d o / d o = 1
    assert 'label="w1\\ndata -3\\ngrad 1"' in text  # d o / d w1 = x1 (1 - o**2) = 1
    assert 'label="x1\\ndata 2\\ngrad -1.5"' in text
    assert 'label="n (+)\\ndata 0.8814\\ngrad 0.5"' in text  # a named inner atom keeps its op
    assert 'subgraph' not in text  # no trace: no boxes around the parameters or the root


def test_draw_dot_takes_names_from_a_namespace_and_lists_of_vals():
    xs = [Val(1.5), Val(-2.0)]
    total = Val.sum(x * x for x in xs)
    total.backward()
    text = draw_dot(total, format='dot', names={'xs': xs, 'other': 3, '_hidden': xs[0]})
    assert 'label="xs[0]\\ndata 1.5\\ngrad 3"' in text and 'label="xs[1]\\ndata -2\\ngrad -4"' in text


def test_draw_dot_levels_group_an_expression_by_its_names():
    o, names = neuron()
    ops = draw_dot(o, format='dot', level='ops', names=names)
    boxes = re.findall(r'^g\d+ \[label="([^"]*)"', ops, re.M)
    assert [box.split('\\n')[0] for box in boxes] == ['x1', 'x2', 'w1', 'w2', 'b', 'expression = 0.7071']
    assert 'expression = 0.7071\\n5 atoms: 2 +, 2 *, 1 tanh' in ops
    blocks = draw_dot(o, format='dot', level='blocks', names=names)
    assert blocks.startswith('digraph blocks {') and 'expression\\n5 atoms (of them 0 leaves)' in blocks


def test_draw_dot_of_a_models_loss_is_the_graph_commands_drawing(tiny, tmp_path):
    checkpoint = load_checkpoint(tiny)
    trace = StageTrace()
    model, loss = own_loss(checkpoint, 'emma', trace=trace)
    loss.backward()
    mine = draw_dot(loss, format='dot', level='ops', names=model.state_dict, trace=trace)
    assert run('graph', '--checkpoint', tiny, '--text', 'emma', '--out', tmp_path / 'ops.dot').exit_code == 0
    theirs = (tmp_path / 'ops.dot').read_text()

    def boxes_and_edges(text):  # every box but the root's (named 'loss' by the command) and every edge
        return (sorted(line for line in text.splitlines() if re.match(r'g\d+ ', line) and ' = ' not in line),
                sorted(line for line in text.splitlines() if ' -> ' in line))
    assert boxes_and_edges(mine) == boxes_and_edges(theirs)
    assert len(boxes_and_edges(mine)[0]) > 20


def test_draw_dot_refuses_what_it_cannot_draw():
    o, _ = neuron()
    for kwargs, fragment in ((dict(format='jpg'), 'format must be one of svg, dot, png'),
                             (dict(level='atom'), 'level must be one of atoms, ops, blocks')):
        with pytest.raises(MicrogptError, match=fragment):
            draw_dot(o, **kwargs)
    with pytest.raises(MicrogptError, match='draw_dot draws a Val, got float'):
        draw_dot(0.5)


def test_draw_dot_of_too_big_an_expression_says_which_level_to_use(monkeypatch):
    monkeypatch.setitem(graph_module.DRAW_LIMITS, 'atoms', 5)
    o, _ = neuron()
    with pytest.raises(MicrogptError, match=r"10 atoms, too many to draw at level 'atoms' \(at most 5\): "
                                            r"draw it at level='ops'"):
        draw_dot(o, format='dot')


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_draw_dot_svg_and_png_show_in_jupyter():
    o, names = neuron()
    svg = draw_dot(o, names=names)
    assert '<svg' in svg and '>w1<' in svg and svg._repr_svg_() == str(svg)
    png = draw_dot(o, format='png')
    assert png.startswith(PNG_MAGIC) and png._repr_png_() == bytes(png)


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_a_val_shows_in_jupyter_as_its_graph():
    o, _ = neuron()
    bundle = o._repr_mimebundle_()
    assert bundle['text/plain'] == repr(o)
    assert '<svg' in bundle['image/svg+xml'] and '>tanh<' in bundle['image/svg+xml']


def test_a_val_shows_as_text_without_graphviz_or_when_too_big(monkeypatch):
    o, _ = neuron()
    monkeypatch.setitem(graph_module.DRAW_LIMITS, 'atoms', 5)
    assert o._repr_mimebundle_() == {'text/plain': repr(o)}
    monkeypatch.undo()
    monkeypatch.setattr(dot_module.shutil, 'which', lambda name: None)
    assert o._repr_mimebundle_() == {'text/plain': repr(o)}
    with pytest.raises(MicrogptError, match="needs Graphviz's `dot` program"):
        draw_dot(o)
    assert draw_dot(o, format='dot').startswith('digraph atoms {')


# --- drawing a real model: the primordial one the README trains ---------------------------------

@pytest.fixture(scope='module')
def primordial(tmp_path_factory, names_docs):
    """The README's model (`microgpt train --primordial`), trained 2 steps: its graph's size
    is the architecture's, whatever the steps."""
    folder = tmp_path_factory.mktemp('primordial')
    data, path = folder / 'names.txt', folder / 'primordial.ckpt.json'
    data.write_text('\n'.join(names_docs[:200]) + '\n')
    result = run('train', '--data', data, '--primordial', '--steps', 2, '--samples', 0, '--out', path)
    assert result.exit_code == 0, result.output
    return path


def test_graph_help_examples_run_on_the_readmes_checkpoint(primordial, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    help_text = run('graph', '--help').output
    examples = [line.split()[2:] for line in help_text.splitlines() if line.strip().startswith('microgpt graph')]
    assert len(examples) == 3 and any('--level' in args and 'atoms' in args for args in examples)
    for args in examples:
        # DOT text where Graphviz is missing, and for the atoms: what is tested is the limit, not
        # Graphviz's 20 s layout
        if not HAS_DOT or '--level' in args:
            args = [a.replace('.svg', '.dot') for a in args]
        result = run('graph', '--checkpoint', primordial, *args)
        assert result.exit_code == 0, (args, result.output)
        if '--level' in args:
            assert 'graph of 4,024 atoms drawn at level atoms' in result.stderr


def test_ops_graph_draws_the_heads_in_order(primordial, tmp_path):
    out = tmp_path / 'ops.dot'
    assert run('graph', '--checkpoint', primordial, '--text', 'emma', '--out', out).exit_code == 0
    heads = re.findall(r'subgraph cluster_\S+ \{ graph \[label="(head\d+)"', out.read_text())
    assert heads == ['head0', 'head1', 'head2', 'head3']
    if HAS_DOT:  # as Graphviz lays them out: left to right
        svg = tmp_path / 'ops.svg'
        assert run('graph', '--checkpoint', primordial, '--text', 'emma', '--out', svg).exit_code == 0
        labels = re.findall(r'<text text-anchor="middle" x="([-\d.]+)"[^>]*>(head\d)</text>', svg.read_text())
        assert [name for _, name in sorted(labels, key=lambda xy: float(xy[0]))] == ['head0', 'head1', 'head2', 'head3']


def test_leaves_have_one_name_in_the_report_the_graph_and_draw_dot(tiny, tmp_path):
    o, names = neuron()
    atoms = draw_dot(o, format='dot', names=names)
    assert 'label="leaf\\ndata 6.881' not in atoms  # b is named: drawn under its name
    product = Val(2.0) * 3.0
    product.backward()
    assert 'const' not in draw_dot(product, format='dot')
    assert 'label="leaf\\ndata 3\\ngrad 2"' in draw_dot(product, format='dot')
    ops = tmp_path / 'ops.dot'
    assert run('graph', '--checkpoint', tiny, '--text', 'emma', '--out', ops).exit_code == 0
    assert 'const' not in ops.read_text() and re.search(r'\d leaf', ops.read_text())
    counts = json.loads(run('graph', '--checkpoint', tiny, '--text', 'emma', '--json').stdout)
    assert 'leaf' in counts['ops']


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_a_png_is_scaled_down_to_fit_the_cap(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(dot_module, 'PNG_MAX_INCHES', 4)
    out = tmp_path / 'atoms.png'
    result = run('graph', '--checkpoint', tiny, '--text', 'emma', '--position', 0, '--level', 'atoms', '--out', out)
    assert result.exit_code == 0, result.output
    png = out.read_bytes()
    width, height = int.from_bytes(png[16:20], 'big'), int.from_bytes(png[20:24], 'big')
    assert max(width, height) <= 4 * dot_module.PNG_DPI + 1


def test_hint_for_a_smaller_model_says_primordial(tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(graph_module.DRAW_LIMITS, 'atoms', 100)
    result = run('graph', '--checkpoint', tiny, '--text', 'emma', '--level', 'atoms', '--out', tmp_path / 'a.dot')
    assert_one_error(result, 'microgpt train --primordial --n-embd 4')


def test_report_samples_are_the_names_train_printed(tmp_path, names_docs):
    data, ckpt, page = tmp_path / 'names.txt', tmp_path / 'm.ckpt.json', tmp_path / 'r.html'
    data.write_text('\n'.join(names_docs[:300]) + '\n')
    trained = run('train', '--data', data, *TINY[:-2], '--samples', 6, '--out', ckpt)
    assert trained.exit_code == 0, trained.output
    printed = re.findall(r'^sample +\d+: (.*)$', trained.stdout, re.M)
    assert len(printed) == 6
    page_text = make_report(ckpt, page)
    shown = re.findall(r'<li><code>([^<]*)</code>', page_text)
    assert shown[:6] == printed and len(shown) == 12
    assert 'The same names train printed after training (seed 42, temperature 0.5)' in page_text
    other = make_report(ckpt, tmp_path / 'r2.html', '--seed', 7)
    assert 'train printed its names with seed 42 at temperature 0.5; these use seed 7' in other
