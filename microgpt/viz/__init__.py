"""Seeing a trained model: its Val graph (graph.py), attention and embeddings (figures.py),
and one self-contained HTML page of it all (report.py).

The graph's DOT needs nothing; SVG and PNG need Graphviz's `dot`; the figures need the
`plot` extra (matplotlib). Nothing here is imported by training.
"""

GRAPH_LEVELS = ('atoms', 'ops', 'blocks')  # how finely `microgpt graph` draws: every Val, ... , every block
DEFAULT_GRAPH_LEVEL = 'ops'
