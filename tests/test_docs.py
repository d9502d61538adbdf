"""The documentation: the site in docs/ builds strictly, with its generated CLI and API
references; every page is in its navigation; the README's tour is what benchmarks/tour.json
recorded; and every command and Python block of README.md and docs/pages/*.md runs, or says
why not in an HTML comment on the line directly above it (`<!-- not run: REASON -->`).

How a block runs. The blocks of one page run in order, in one scratch folder of their own
that holds input.txt (the names data), heldout.txt (300 of those names), microgpt.ckpt.json
(4 steps of the default model), for README.md the evolved genome.json of the project root,
and, where the page names it, a copy of experiments/. A python block runs there in a
namespace of its own; a text block right after it is what it must print. A bash block is one
`microgpt` command a line (`\\` continues a line, `#` starts a comment), run as a process
with small settings in place of the documented ones (`small_settings`):
- train: `--steps 4 --warmup 0` (given or, unless --budget, --resume or --primordial is,
  added), `--eval-every 2`, `--budget 3e7`, `--max-time 1`; a run whose checkpoint a later line
  resumes gets `--max-time 1e-9`, so it stops after its first step as if interrupted;
- evolve: `--population 2 --generations 1 --workers 1` and, in the budget space, `--budget 1e7`;
- sweep: `--workers 1 --out-dir sweeps` (so the shipped results stay the ones analyze reads)
  and `--from 4 --to 8 --every 4` (steps), `--steps 4` (params), `--sizes e8l1 --budgets 1e7
  --seeds 1 --lrs 0.01 --tune-budget 1e7` (frontier);
- analyze --fit: `--resamples 10`; graph: a `.dot` file where Graphviz is not installed.
In README.md, a command those settings leave as it is must print what benchmarks/tour.json
recorded of it."""
import contextlib
import importlib.util
import io
import json
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import DOCS_PAGES, REPO

DOCS = REPO / 'docs'
TOUR = runpy.run_path(str(REPO / 'benchmarks' / 'tour.py'))
fenced_blocks = TOUR['fenced_blocks']
PAGES = sorted(path.stem for path in DOCS_PAGES.glob('*.md'))
RUN = {'bash', 'python'}
OUTPUT = {'text'}  # what a command prints: shown, not run
NOT_RUN = re.compile(r'<!-- not run: (.+) -->')


def page_path(page):
    return REPO / 'README.md' if page == 'README' else DOCS_PAGES / f'{page}.md'


def mkdocs_missing():
    """Skip when MkDocs is not installed, except under CI, where the docs must build."""
    if importlib.util.find_spec('mkdocs') is not None:
        return
    if os.environ.get('CI') == 'true':
        pytest.fail("mkdocs is not installed under CI: install the docs extra (pip install -e '.[docs]')")
    pytest.skip("mkdocs is not installed: pip install -e '.[docs]'")


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    mkdocs_missing()
    out = tmp_path_factory.mktemp('site')
    done = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '-f', str(DOCS / 'mkdocs.yml'),
                           '-d', str(out)], capture_output=True, text=True, env=dict(os.environ, NO_MKDOCS_2_WARNING='1'))
    assert done.returncode == 0, done.stderr
    return out


def test_the_site_builds_strictly_with_generated_references(site):
    from microgpt.cli import main
    cli = (site / 'cli' / 'index.html').read_text()
    for name, command in main.commands.items():  # each command and subcommand has its section
        assert f'id="{name}"' in cli, name
        for sub in getattr(command, 'commands', {}):
            assert f'id="{sub}"' in cli, (name, sub)
    assert '--n-embd' in cli and '--fitness' in cli
    overview = (DOCS_PAGES / 'cli.md').read_text().split('## Every command and option')[0]
    for name in main.commands:  # the page's overview names every command
        assert re.search(rf'`(microgpt )?{name}\b', overview), name
    api = (site / 'api' / 'index.html').read_text()
    for name in re.findall(r'^::: (\S+)', (DOCS_PAGES / 'api.md').read_text(), re.M):
        assert f'id="{name}"' in api, name


def test_the_api_page_documents_every_name_the_package_exports():
    import microgpt
    documented = set(re.findall(r'^::: (\S+)', (DOCS_PAGES / 'api.md').read_text(), re.M))
    for name in getattr(microgpt, '__all__', []):
        value = getattr(microgpt, name)
        assert f"{value.__module__}.{value.__qualname__}" in documented, name


def nav_files():
    return re.findall(r'^\s*- [^:\n]+: (\S+\.(?:md|ipynb))\s*$', (DOCS / 'mkdocs.yml').read_text(), re.M)


def test_every_page_is_in_the_navigation():
    pages = {path.name for path in DOCS_PAGES.iterdir() if path.suffix in ('.md', '.ipynb')}
    assert sorted(nav_files()) == sorted(pages)


def test_ci_installs_what_the_readme_says():
    """.ci/run installs exactly the README's test command's install; the docs' home page
    shows the README's two commands."""
    readme = (REPO / 'README.md').read_text()
    [install] = re.findall(r"python -m pip install -e '(\.\[[^\]]*\])' && python -m pytest -q", readme)
    assert re.findall(r"python -m pip install -q -e '(\.\[[^\]]*\])'", (REPO / '.ci' / 'run').read_text()) == [install]
    assert 'docs' in install[2:-1].split(',')
    two = [block[1] for block in fenced_blocks(readme.split('## Two commands', 1)[1])[:2]]
    home = [block[1] for block in fenced_blocks((DOCS_PAGES / 'index.md').read_text())[:2]]
    assert two == home and two[0] == 'python -m pip install . && microgpt train --primordial'


# --- the README's tour -------------------------------------------------------------------------

def test_the_readme_is_a_quick_start(names_docs):
    """At most 200 lines: what microgpt is, the two commands, the tour, where the shipped
    genomes came from, the map of the docs, which links every page."""
    readme = (REPO / 'README.md').read_text()
    assert len(readme.splitlines()) <= 200
    assert f"a character-level GPT on {len(names_docs):,} names" in ' '.join(readme.split())
    headings = re.findall(r'^## (.+)$', readme, re.M)
    assert headings == ['Two commands', TOUR['TOUR_HEADING'][3:], 'Where the shipped genomes came from', 'The docs']
    linked = set(re.findall(r'\]\(docs/pages/([^)#]+)\)', readme.split('## The docs')[1]))
    assert linked == {path.name for path in DOCS_PAGES.glob('*.md')}


def tour_record():
    return json.loads((REPO / 'benchmarks' / 'tour.json').read_text())


def test_the_tour_quotes_its_recorded_run():
    """Each step of the README's tour is a command benchmarks/tour.py ran, in order, its time
    is that run's, and every output the step quotes (in backticks) is in what it printed."""
    steps, record = TOUR['tour_steps']((REPO / 'README.md').read_text()), tour_record()
    assert 6 <= len(steps) <= 8
    assert [command for _, _, command, _ in steps] == [run['command'] for run in record['commands']]
    for (title, shown_time, command, description), run in zip(steps, record['commands']):
        assert shown_time == TOUR['tour_time'](run['seconds']), command
        printed = '\n'.join(run['stdout'] + run['stderr'])
        for quoted in re.findall(r'`([^`]+)`', description):
            assert quoted in printed, (command, quoted)
    assert record['cores'] == 2 and record['provenance']['machine']['arch']
    assert f"load average {record['load_average_before'][0]:.1f} as the tour began" in ' '.join(
        TOUR['tour_section']((REPO / 'README.md').read_text()).split())
    summary = fenced_blocks(TOUR['tour_section']((REPO / 'README.md').read_text()))[0][1]  # all steps, in one block
    assert [shlex.join(line) for line in command_lines(summary)] == [command for _, _, command, _ in steps]
    home = (DOCS_PAGES / 'index.md').read_text().split('## The lifecycle', 1)[1]
    assert fenced_blocks(home)[0][1] == summary  # the docs' home page shows the same


# --- every block runs ----------------------------------------------------------------------------

def test_every_block_has_a_language():
    for page in ['README', *PAGES]:
        for language, code, line, _, _ in fenced_blocks(page_path(page).read_text()):
            assert language in RUN | OUTPUT, f"{page}, line {line}: a block of language {language!r}"


def option(args, name, value, add=True):
    """args with `name value`: its value replaced where given, else (if add) appended."""
    if name in args:
        i = args.index(name)
        return [*args[:i + 1], value, *args[i + 2:]]
    return [*args, name, value] if add else args


def small_settings(args, later):
    """A documented command's arguments with the small settings (the module's docstring)."""
    command = args[:2] if args[0] == 'sweep' else args[:1]
    if command == ['train']:
        if not {'--budget', '--resume', '--primordial'} & set(args):
            args = option(args, '--steps', '4')
        for name, value in (('--steps', '4'), ('--eval-every', '2'), ('--budget', '3e7'), ('--max-time', '1')):
            args = option(args, name, value, add=False)
        if '--steps' in args:  # a genome's warmup may be longer than 4 steps
            args = option(args, '--warmup', '0')
        if '--out' in args and any(f"--resume {args[args.index('--out') + 1]}" in line for line in later):
            args = option(args, '--max-time', '1e-9')
    elif command == ['evolve']:
        for name, value in (('--population', '2'), ('--generations', '1'), ('--workers', '1')):
            args = option(args, name, value)
        if '--space' not in args or args[args.index('--space') + 1] == 'budget':
            args = option(args, '--budget', '1e7')
    elif command[0] == 'sweep':
        args = option(option(args, '--workers', '1'), '--out-dir', 'sweeps')
        for name, value in {'steps': (('--from', '4'), ('--to', '8'), ('--every', '4')),
                            'params': (('--steps', '4'),),
                            'frontier': (('--sizes', 'e8l1'), ('--budgets', '1e7'), ('--seeds', '1'),
                                         ('--lrs', '0.01'), ('--tune-budget', '1e7'))}[command[1]]:
            args = option(args, name, value)
    elif command == ['analyze'] and '--fit' in args:
        args = option(args, '--resamples', '10')
    elif command == ['graph'] and shutil.which('dot') is None and '--out' in args:
        out = args.index('--out') + 1
        args = [*args[:out], re.sub(r'\.(svg|png)$', '.dot', args[out]), *args[out + 1:]]
    return args


def command_lines(code):
    """A bash block's commands: continuation lines joined, comments and blank lines dropped."""
    lines = [shlex.split(line, comments=True) for line in code.replace('\\\n', ' ').splitlines()]
    return [line for line in lines if line]


@pytest.fixture(scope='session')
def trained_checkpoint(tmp_path_factory, names_path):
    folder = tmp_path_factory.mktemp('trained')
    shutil.copy(names_path, folder / 'input.txt')
    subprocess.run([sys.executable, '-m', 'microgpt', 'train', '--steps', '4', '--samples', '0'],
                   cwd=folder, check=True, capture_output=True)
    return folder / 'microgpt.ckpt.json'


def scratch_folder(path, page, text, names_path, names_docs, checkpoint):
    path.mkdir()
    shutil.copy(names_path, path / 'input.txt')
    (path / 'heldout.txt').write_text('\n'.join(names_docs[300:600]) + '\n')
    shutil.copy(checkpoint, path / 'microgpt.ckpt.json')
    if page == 'README':  # the project root's evolved genome, which the tour trains
        shutil.copy(REPO / 'genome.json', path / 'genome.json')
    if 'experiments/' in text:
        shutil.copytree(REPO / 'experiments', path / 'experiments')
    return path


def run_bash(code, cwd, recorded):
    env = {k: v for k, v in os.environ.items() if not k.startswith('MICROGPT_CLUSTER')}
    lines = command_lines(code)
    for i, args in enumerate(lines):
        assert args[0] == 'microgpt', f"not a microgpt command (run it here or mark the block): {shlex.join(args)}"
        documented = args[1:]
        small = small_settings(documented, [shlex.join(line) for line in lines[i + 1:]])
        expanded = [arg for a in small for arg in (sorted((str(p.relative_to(cwd)) for p in Path(cwd).glob(a))) or [a] if '*' in a else [a])]
        done = subprocess.run([sys.executable, '-m', 'microgpt', *expanded], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"microgpt {shlex.join(small)}:\n{done.stderr[-3000:]}"
        command = shlex.join(args)
        if small == documented and command in recorded:  # the tour's record is this command's output
            assert TOUR['excerpt'](done.stdout) == recorded[command], command


@pytest.mark.slow
@pytest.mark.parametrize('page', ['README', *PAGES])
def test_every_block_runs_or_says_why_not(page, tmp_path, names_path, names_docs, trained_checkpoint, monkeypatch):
    text = page_path(page).read_text()
    recorded = {run['command']: run['stdout'] for run in tour_record()['commands']} if page == 'README' else {}
    cwd = scratch_folder(tmp_path / 'scratch', page, text, names_path, names_docs, trained_checkpoint)
    monkeypatch.chdir(cwd)
    blocks = fenced_blocks(text)
    for (language, code, line, above, between), following in zip(blocks, [*blocks[1:], None]):
        if language not in RUN:
            continue
        marked = NOT_RUN.fullmatch(above)
        if marked:
            assert len(marked.group(1)) > 10, f"{page}, line {line}: say why the block is not run"
        elif language == 'python':
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(code, f"{page}.md:{line}", 'exec'), {'__name__': f'docs_{page}'})
            if following and following[0] == 'text' and not between.strip():  # what it prints, shown
                assert printed.getvalue() == following[1] + '\n', f"{page}, line {line}"
        else:
            run_bash(code, cwd, recorded)


# --- the architecture page ------------------------------------------------------------------------

def unit_of(name):
    """The module of the package a top-level name is: a folder counts as one ('evolve/')."""
    path = REPO / 'microgpt' / name
    return f'{name}/' if path.is_dir() else f'{name}.py' if path.with_suffix('.py').exists() else None


def package_imports():
    """{module: the modules of microgpt it imports}, read from every import of its files
    (those inside functions too); the package's face, microgpt/__init__.py, left out."""
    import ast
    imports = {}
    for path in sorted((REPO / 'microgpt').rglob('*.py')):
        parts = path.relative_to(REPO).with_suffix('').parts
        if parts == ('microgpt', '__init__'):
            continue
        unit, package = unit_of(parts[1]), parts[:-1]
        found = imports.setdefault(unit, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = [*package[:len(package) - node.level + 1]] if node.level else []
                module += node.module.split('.') if node.module else []
                names = [[*module, alias.name] for alias in node.names] if len(module) == 1 else [module]
            elif isinstance(node, ast.Import):
                names = [alias.name.split('.') for alias in node.names]
            else:
                continue
            found.update(unit_of(name[1]) for name in names
                         if name[0] == 'microgpt' and len(name) > 1 and unit_of(name[1]) not in (None, unit))
    return imports


def test_the_architecture_page_draws_the_real_floors():
    """The architecture page's table is the package's imports, module by module, and each
    module's floor is one above the highest it imports (so no import runs upward)."""
    imports = package_imports()
    floors = {}

    def floor(unit):
        if unit not in floors:
            floors[unit] = 1 + max((floor(other) for other in imports[unit]), default=0)
        return floors[unit]
    page = (DOCS_PAGES / 'architecture.md').read_text()
    rows = re.findall(r'^\| (\d+) \| `([^`]+)` \| (.+) \|$', page, re.M)
    shown = {unit: (int(level), set() if listed == '–' else set(listed.split(', '))) for level, unit, listed in rows}
    assert shown == {unit: (floor(unit), imports[unit]) for unit in imports}
    for unit, (level, _) in shown.items():  # the drawing above the table puts each on its floor
        assert re.search(rf'^floor {level:>2} .*(?<![\w/]){re.escape(unit)}(?!\w)', page, re.M), unit


# --- what the reader sees: the rendered pages ------------------------------------------------------

class RenderedText(HTMLParser):
    """The text of an HTML page, each piece with the tags it sits in."""

    def __init__(self):
        super().__init__()
        self.open, self.pieces, self.images = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == 'img':
            self.images.append(dict(attrs).get('src', ''))
        elif tag not in VOID_TAGS:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag):]

    def handle_data(self, data):
        self.pieces.append((data, tuple(self.open)))

    def text_in(self, *tags):
        """The page's text inside any of these tags, pieces joined."""
        return ''.join(data for data, inside in self.pieces if set(tags) & set(inside))


VOID_TAGS = {'br', 'hr', 'img', 'input', 'link', 'meta', 'source', 'wbr', 'col', 'area', 'base', 'embed'}


def rendered(site, page):
    parser = RenderedText()
    parser.feed((site / page / 'index.html').read_text())
    return parser


def test_the_docstrings_examples_render_as_code(site):
    """A `>>>` example of a docstring is a code block, never a (nested) blockquote."""
    api = rendered(site, 'api')
    examples = [(data, inside) for data, inside in api.pieces if '>>>' in data]
    assert len(examples) >= 3  # Val's, draw_dot's, load_names'
    for data, inside in examples:
        assert 'blockquote' not in inside and 'code' in inside, data
    code = api.text_in('code')
    for line in (">>> a, b = Val(2.0), Val(-3.0)\n>>> c = a * b + 1.0\n>>> c.data\n-5.0",
                 ">>> names = load_names()", "digraph atoms {"):
        assert line in code, line


def test_gptconfig_s_fields_are_described(site):
    api = (site / 'api' / 'index.html').read_text()
    section = api.split('id="microgpt.gpt.model.GPTConfig"', 1)[1].split('id="microgpt.gpt.model.GPT"', 1)[0]
    for field in ('vocab_size', 'n_embd', 'n_head', 'n_layer', 'block_size', 'ff_mult'):
        # a field's name (a link where the field is a member the docs list) and its description
        assert re.search(rf'>{field}</(?:a|span)></code></td>.*?<p>\w', section, re.S), field


def click_examples(command):
    """Each line of the `\\b` paragraphs of a click command's help and of its subcommands'."""
    import inspect
    lines = []
    for paragraph in inspect.cleandoc(command.help or '').split('\n\n'):
        if paragraph.startswith('\b'):
            lines += [line.strip() for line in paragraph.splitlines()[1:] if line.startswith(' ')]
    for sub in getattr(command, 'commands', {}).values():
        lines += click_examples(sub)
    return lines


def test_the_cli_reference_shows_each_example_as_written(site):
    """Every example of every command is in a code block of the CLI reference, character for
    character (globs' `*` included), each on a line of its own, and `--help` still prints them."""
    from click.testing import CliRunner
    from microgpt.cli import main
    examples = click_examples(main)
    assert len(examples) > 20 and any('sweep-*.jsonl' in line for line in examples)
    code_lines = {' '.join(line.split()) for line in rendered(site, 'cli').text_in('pre').splitlines()}
    for line in examples:
        assert ' '.join(line.split()) in code_lines, line
    judge = CliRunner().invoke(main, ['judge', '--help']).output
    assert "\n  Example:\n    microgpt sample --num 50 | sed 's/^sample *[0-9]*: //'" in judge


def test_formulas_and_lists_render_as_written(site):
    scaling = rendered(site, 'scaling')
    assert "D' = U + U R_D* (1 - exp(-R/R_D*))" in scaling.text_in('code')
    assert 'L(N, D) = E + A/N^alpha + B/D^beta' in scaling.text_in('code')
    assert not [data for data, inside in scaling.pieces if 'em' in inside and 'R_D' in data]
    items = rendered(site, 'evolution').text_in('li')
    assert 'loss: mean per-token cross-entropy' in items and 'aesthetic: the judge below' in items


def test_every_image_of_the_site_is_there(site):
    """Every picture a page shows is a file of the site (or data in the page), and no link is
    left pointing at a page's source (a .md or .ipynb the build did not resolve)."""
    pages = sorted(site.rglob('index.html'))
    assert len(pages) > 15
    for page in pages:
        html = page.read_text()
        assert not re.findall(r'href="[^"#:]*\.(?:md|ipynb)"', html), page
        parser = RenderedText()
        parser.feed(html)
        for source in parser.images:
            if source.startswith(('data:', 'http://', 'https://')):
                continue
            assert (page.parent / source.split('#')[0]).resolve().is_file(), (page, source)


def test_the_tour_shows_its_outputs(site):
    tour = (site / 'tour' / 'index.html').read_text()
    text = rendered(site, 'tour').text_in('pre')
    assert 'loss 3.3660 ->' in text and 'held-out loss' in text
    assert 'class="jp-RenderedImage' in tour and '<img' in tour.split('class="jp-RenderedImage', 1)[1][:300]
    if shutil.which('dot'):
        assert 'data-mime-type="image/svg+xml"' in tour


def test_how_it_works_shows_the_code_and_the_numbers_of_the_primordial_model(site):
    """Its source blocks are the files' own lines; its numbers are the primordial run's."""
    page = rendered(site, 'how-it-works')
    html = (site / 'how-it-works' / 'index.html').read_text()
    assert '{{' not in html and '<!-- source:' not in html
    code = page.text_in('code')
    rmsnorm = (REPO / 'microgpt' / 'gpt' / 'model.py').read_text().split('def rmsnorm(x):', 1)[1].split('\n\n', 1)[0]
    assert 'def rmsnorm(x):' + rmsnorm in code
    for name in ('class Tokenizer:', 'def cross_entropy(logits, target):', 'def backward(self):',
                 'def adam_step(self, lr, t):', 'def next_token_probs(logits, temperature'):
        assert name in code, name
    assert html.count('title="microgpt/') >= 10 or html.count('microgpt/gpt/model.py · ') >= 5
    text = ' '.join(''.join(data for data, _ in page.pieces).split())
    for number in ('ln 27 = 3.2958', 'first training step is 3.3660', 'the loss is 2.6497', 'kamon, ann, karai'):
        assert number in text, number
    pictures = ['how-it-works-attention.svg'] + (['how-it-works-gradient.svg'] if shutil.which('dot') else [])
    for picture in pictures:
        assert any(source.endswith(picture) for source in page.images), picture
    for link in ('https://gist.github.com/karpathy/8627fe009c40f57531cb18360106ce95',
                 'https://github.com/karpathy/micrograd', 'https://github.com/karpathy/makemore'):
        assert f'href="{link}"' in html
