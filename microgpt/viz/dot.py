"""Graphviz: DOT text written by hand (it needs nothing), and Graphviz's `dot` program to
turn it into SVG or PNG where it is installed."""
import shutil
import subprocess
from pathlib import Path

from ..errors import MicrogptError
from ..files.fileio import atomic_write_bytes

DOT_SUFFIXES = ('.dot', '.gv')
RENDERED_SUFFIXES = ('.svg', '.png')
GRAPHVIZ_INSTALL = ("apt-get install graphviz (Debian, Ubuntu), brew install graphviz (macOS) "
                    "or conda install graphviz")
DOT_SECONDS = 300  # a layout that takes longer than this is given up
# A PNG is scaled down to fit this many inches at this many dots per inch (9,600 pixels a
# side), which image viewers open; the atoms of a model's loss laid out at full size would be
# tens of thousands of pixels. SVG is drawn at full size (it scales without losing detail).
PNG_MAX_INCHES, PNG_DPI = 100, 96


def quote(text):
    """A DOT string: in double quotes, with quotes and backslashes escaped; newlines as \\n."""
    return '"' + str(text).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n') + '"'


def attributes(**attrs):
    return '[' + ', '.join(f'{k}={quote(v)}' for k, v in attrs.items()) + ']'


def dot_program(why=None):
    """The path of Graphviz's `dot`: None where it is not installed, or, given why it is needed,
    one line on how to install it."""
    path = shutil.which('dot')
    if path is None and why is not None:
        raise MicrogptError(f"{why} needs Graphviz's `dot` program, which is not installed: {GRAPHVIZ_INSTALL}")
    return path


def check_graph_path(path):
    """Before any work (the command has checked that path can be written): its suffix says
    DOT, or SVG/PNG with `dot` installed."""
    suffix = Path(path).suffix.lower()
    if suffix not in DOT_SUFFIXES + RENDERED_SUFFIXES:
        raise MicrogptError(f"graph file {path} needs a suffix of {', '.join(DOT_SUFFIXES + RENDERED_SUFFIXES)}")
    if suffix in RENDERED_SUFFIXES:
        dot_program(f"writing {path}")
    return suffix


def render(dot_text, fmt):
    """The bytes of dot_text laid out by Graphviz in format fmt ('svg', 'png')."""
    cap = [f'-Gsize={PNG_MAX_INCHES},{PNG_MAX_INCHES}', f'-Gdpi={PNG_DPI}'] if fmt == 'png' else []
    command = [dot_program(f"drawing the graph as {fmt}"), f'-T{fmt}', *cap]
    try:
        done = subprocess.run(command, input=dot_text.encode('utf-8'), capture_output=True, timeout=DOT_SECONDS)
    except subprocess.TimeoutExpired:
        raise MicrogptError(f"Graphviz's dot took over {DOT_SECONDS} s to lay the graph out: "
                            f"choose a coarser --level") from None
    if done.returncode != 0:
        why = ' '.join(done.stderr.decode('utf-8', 'replace').split())[:200]
        raise MicrogptError(f"Graphviz's dot failed: {why}")
    return done.stdout


def write_graph(dot_text, path):
    """Write dot_text to path as DOT, or rendered in the format of path's suffix."""
    suffix = check_graph_path(path)
    atomic_write_bytes(path, dot_text.encode('utf-8') if suffix in DOT_SUFFIXES else render(dot_text, suffix[1:]))
