"""Lines of microgpt's own source, pulled into a page when the site is built, so that the page
shows the code as it is, never a copy that drifts from it.

A marker on a line of its own,

    <!-- source: microgpt/gpt/model.py:rmsnorm -->
    <!-- source: microgpt/gpt/model.py:GPT.forward from "x = [t + p" to "x = rmsnorm" -->
    <!-- source: microgpt/gpt/model.py:GPT.forward from "x_residual = x" #2 to "x = [a + b" -->

becomes a fenced block of that function, method or class (found with ast, by its qualified
name), headed by its file and numbered by its lines in the file. With `from "A" to "B"`, only
the statements of its body from the one whose first line holds A (with `#N`, the N-th such)
to the next one whose first line holds B, each whole. A name or text that is not there fails the build.
"""
import ast
import re
import textwrap

SOURCE_MARKER = re.compile(r'^<!-- source: (?P<file>[\w/.]+\.py):(?P<name>[\w.]+)'
                           r'(?: from "(?P<start>[^"]+)"(?: #(?P<nth>\d+))? to "(?P<stop>[^"]+)")? -->$', re.M)


class SourceNotFound(LookupError):
    pass


def definition(tree, qualname):
    """The ast node of the def or class at qualname ('GPT.forward') in a module's tree."""
    node = tree
    for part in qualname.split('.'):
        found = [child for child in ast.iter_child_nodes(node)
                 if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child.name == part]
        if not found:
            raise SourceNotFound(f"no {qualname} in the module")
        node = found[0]
    return node


def statements(node):
    """Every statement below node, outer ones before the ones they hold."""
    for child in ast.walk(node):
        if isinstance(child, ast.stmt) and child is not node:
            yield child


def first_holding(node, lines, text, after=0, nth=1):
    for statement in sorted(statements(node), key=lambda s: s.lineno):
        if statement.lineno > after and text in lines[statement.lineno - 1]:
            nth -= 1
            if not nth:
                return statement
    raise SourceNotFound(f"no statement of {getattr(node, 'name', '?')} holds {text!r}")


def excerpt(repo, file, name, start=None, stop=None, nth=1):
    """(first line number, last line number, the lines' text dedented) of a marker's code."""
    text = (repo / file).read_text()
    lines = text.splitlines()
    node = definition(ast.parse(text), name)
    if start is None:
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        last = node.end_lineno
    else:
        first_statement = first_holding(node, lines, start, nth=nth)
        first = first_statement.lineno
        last = first_holding(node, lines, stop, after=first - 1).end_lineno
    return first, last, textwrap.dedent('\n'.join(lines[first - 1:last]))


def fill_sources(markdown, repo):
    def block(match):
        first, last, code = excerpt(repo, match['file'], match['name'], match['start'], match['stop'],
                                   int(match['nth'] or 1))
        title = f"{match['file']} · {match['name']} · lines {first}–{last}"
        return f'```python title="{title}" linenums="{first}"\n{code}\n```'
    return SOURCE_MARKER.sub(block, markdown)
