"""What the site build does beyond MkDocs and its plugins:

- the pages link to the repository's own files as GitHub shows them, relative to docs/pages/
  (`../../experiments/scaling.png`); the site serves those folders through the symlinks
  docs/pages/experiments and docs/pages/benchmarks, so the build points such links there;
- the CLI reference: click keeps a paragraph that follows a line of `\\b` as it is written
  (the commands' "Examples:"), which Markdown would run into one line; each becomes a fenced
  block, and each command's line in a list of subcommands its first sentence, whole;
- the tour (tour.ipynb) is executed in a scratch folder, so its page shows every output;
- "How this GPT works" (how-it-works.md): its `<!-- source: FILE:NAME -->` markers become the
  lines of microgpt's source that they name (docs/source_blocks.py), and its `{{ name }}`
  markers the numbers and pictures of the primordial model, trained as the site is built
  (docs/walkthrough.py).
"""
import importlib
import inspect
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from mkdocs.structure.files import File

REPO = Path(__file__).resolve().parent.parent
# The site documents this checkout: its microgpt, whatever else is installed.
sys.path.insert(0, str(REPO))

import source_blocks  # noqa: E402  (docs/, on the path while MkDocs loads this hook)
import walkthrough  # noqa: E402

REPOSITORY_LINK = re.compile(r'\]\(\.\./\.\./(experiments|benchmarks)/')
CLICK_DIRECTIVE = re.compile(r'^::: mkdocs-click\n((?:[ \t]+:\w+:.*\n?)+)', re.M)
NOTEBOOK_SECONDS = 120  # a cell that runs longer fails the build (the whole tour takes seconds)

_scratch = []  # folders made by this build, removed after it


def on_config(config):
    remove_scratch()
    walkthrough.forget()
    return config


def on_files(files, config):
    for file in files:
        if file.src_uri.endswith('.ipynb'):
            file.abs_src_path = executed_notebook(Path(file.abs_src_path))
    for name, content in walkthrough.pictures().items():
        files.append(File.generated(config, name, content=content))
    return files


def on_page_markdown(markdown, **kwargs):
    markdown = REPOSITORY_LINK.sub(r'](\1/', markdown)
    for match in CLICK_DIRECTIVE.finditer(markdown):
        options = dict(re.findall(r':(\w+):[ \t]*(.*)', match.group(1)))
        write_help_for_the_reference(options['module'], options['command'])
    markdown = source_blocks.fill_sources(markdown, REPO)
    return walkthrough.fill_values(markdown) if walkthrough.VALUE_MARKER.search(markdown) else markdown


def on_post_build(config):
    remove_scratch()


def remove_scratch():
    for folder in _scratch:
        shutil.rmtree(folder, ignore_errors=True)
    _scratch.clear()


# --- the CLI reference ------------------------------------------------------------------------

def write_help_for_the_reference(module, command_name):
    """Rewrite the help of a click command and of every command below it, as mkdocs-click will
    read it in this build (a terminal's --help is another process, untouched): the `\\b`
    paragraphs fenced, and the summary a list of subcommands shows a whole sentence."""
    command = getattr(importlib.import_module(module), command_name)
    stack = [command]
    while stack:
        command = stack.pop()
        if command.help and '\b' in command.help:
            command.help = fenced_help(command.help)
        if command.help and not command.short_help:
            command.short_help = first_sentence(command.help)
        stack.extend(getattr(command, 'commands', {}).values())


def fenced_help(help_text):
    """A click help text with each `\\b` paragraph as Markdown keeps it: its unindented lines
    (the "Examples:") as a paragraph, its indented lines as a fenced block."""
    paragraphs = inspect.cleandoc(help_text).split('\n\n')
    out = []
    for paragraph in paragraphs:
        lines = paragraph.split('\n')
        if lines[0].strip() != '\b':
            out.append(paragraph)
            continue
        lines = lines[1:]
        heading = [line for line in lines if not line.startswith(' ')]
        body = inspect.cleandoc('\n'.join(line for line in lines if line.startswith(' ')))
        shell = all(line.startswith('microgpt') for line in body.splitlines())
        if heading:
            out.append('\n'.join(heading))
        out.append(f"```{'bash' if shell else 'text'}\n{body}\n```")
    return '\n\n'.join(out)


def first_sentence(help_text):
    """The first sentence of a help text (click's own summary stops at a line's end)."""
    text = ' '.join(help_text.split('\n\n')[0].split())
    return re.split(r'(?<=[.!?])\s', text, maxsplit=1)[0]


# --- the tour ---------------------------------------------------------------------------------

def executed_notebook(path):
    """A copy of the notebook at path with every cell run (a cell's error fails the build), in
    a scratch folder of its own, so the files the tour writes never land among the pages."""
    import nbclient
    import nbformat
    folder = Path(tempfile.mkdtemp(prefix='microgpt-tour-'))
    _scratch.append(folder)
    (folder / 'run').mkdir()
    notebook = nbformat.read(str(path), as_version=4)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get('PYTHONPATH')])))
    nbclient.NotebookClient(notebook, timeout=NOTEBOOK_SECONDS, kernel_name='python3',
                            resources={'metadata': {'path': str(folder / 'run')}}).execute(env=env)
    executed = folder / path.name
    nbformat.write(notebook, str(executed))
    return str(executed)
