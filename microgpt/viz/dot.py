"""Graphviz: DOT text written by hand (it needs nothing), and Graphviz's `dot` program to
turn it into SVG or PNG where it is installed."""
import shutil
import subprocess
from pathlib import Path

from ..errors import MicrogptError
from ..fileio import atomic_write_bytes, check_output_path

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


def dot_program():
    """The path of Graphviz's `dot`, or None."""
    return shutil.which('dot')


def require_dot(why):
    path = dot_program()
    if path is None:
        raise MicrogptError(f"{why} needs Graphviz's `dot` program, which is not installed: {GRAPHVIZ_INSTALL}")
    return path


def check_graph_path(path):
    """Before any work: a writable file whose suffix says DOT, or SVG/PNG with `dot` installed."""
    check_output_path(path, 'graph file')
    suffix = Path(path).suffix.lower()
    if suffix not in DOT_SUFFIXES + RENDERED_SUFFIXES:
        raise MicrogptError(f"graph file {path} needs a suffix of {', '.join(DOT_SUFFIXES + RENDERED_SUFFIXES)}")
    if suffix in RENDERED_SUFFIXES:
        require_dot(f"writing {path}")
    return suffix


def render(dot_text, fmt):
    """The bytes of dot_text laid out by Graphviz in format fmt ('svg', 'png')."""
    program = require_dot(f"drawing the graph as {fmt}")
    try:
        cap = [f'-Gsize={PNG_MAX_INCHES},{PNG_MAX_INCHES}', f'-Gdpi={PNG_DPI}'] if fmt == 'png' else []
        done = subprocess.run([program, f'-T{fmt}', *cap], input=dot_text.encode('utf-8'),
                              capture_output=True, timeout=DOT_SECONDS)
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
    payload = dot_text.encode('utf-8') if suffix in DOT_SUFFIXES else render(dot_text, suffix[1:])
    atomic_write_bytes(path, payload)
