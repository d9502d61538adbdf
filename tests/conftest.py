import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
# The original microgpt.py's outputs (see data/reference/README.md): the fidelity targets.
REFERENCE = TESTS / 'data' / 'reference'
# The documentation site's pages (docs/mkdocs.yml), one Markdown file per topic.
DOCS_PAGES = REPO / 'docs' / 'pages'
# The project's own tools, outside the package (the benchmark suite, the PyTorch twin, the
# drift replays): their tests import them as the scripts there do, by module name.
BENCHMARKS = REPO / 'benchmarks'
sys.path.insert(0, str(BENCHMARKS))


def docs_text(*pages):
    """The text of the named documentation pages, joined: 'training' is
    docs/pages/training.md, 'README' the README.md in the project root. A test names the
    page that holds the text it checks."""
    paths = [REPO / 'README.md' if page == 'README' else DOCS_PAGES / f'{page}.md' for page in pages]
    return '\n'.join(path.read_text() for path in paths)


def find_names():
    """$MICROGPT_DATA if set, else the names data committed as the project's input.txt."""
    env = os.environ.get('MICROGPT_DATA')
    path = Path(env) if env else REPO / 'input.txt'
    return path if path.exists() else None


@pytest.fixture(scope='session')
def names_path():
    path = find_names()
    if path is None:
        pytest.fail("names dataset not found: set MICROGPT_DATA or restore input.txt in the project root")
    return path


@pytest.fixture(scope='session')
def names_docs(names_path):
    from microgpt.data import load_docs
    return load_docs(names_path)


@pytest.fixture
def runner(tmp_path, monkeypatch):
    """A CliRunner working in an empty temporary directory (no genome.json, no input.txt)."""
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.fixture
def small_data(tmp_path, names_docs):
    """The first 300 names as a data file."""
    path = tmp_path / 'small.txt'
    path.write_text('\n'.join(names_docs[:300]) + '\n')
    return path


# Each replay of a shipped result says which case applied (bit for bit on the recording
# arithmetic, or the cross-machine tolerance elsewhere); the lines are printed at the end.
REPLAY_CASES = []


def pytest_terminal_summary(terminalreporter):
    if REPLAY_CASES:
        terminalreporter.section('replays of shipped results')
        for line in REPLAY_CASES:
            terminalreporter.write_line(line)
