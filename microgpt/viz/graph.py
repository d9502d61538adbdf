"""The graph below a Val, drawn as DOT text at three levels (atoms, ops, blocks) for Graphviz's `dot`.
Every atom belongs to one group: a named parameter, a stage the forward pass reported to its `trace`
('layer0.head1.softmax', ...) or the root's; a stage owns the atoms found walking back from its outputs."""
import math
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from typing import Optional

from ..errors import MicrogptError
from ..gpt.autograd import Val
from ..gpt.model import GPT

# Graphviz lays out the primordial model's loss at one position (4,024 atoms) in about 20 s;
# far more and it takes minutes, and no one reads the picture.
DRAW_LIMITS = {'atoms': 5000, 'ops': 1000, 'blocks': 1000}
LOSS_GROUP = 'loss'
EXPRESSION_GROUP = 'expression'  # the root's group when it is not a model's loss
DRAW_FORMATS = ('svg', 'dot', 'png')
# emma's mean loss: under 2,000 atoms. --primordial: in the project's folder, without it
# `train` would train genome.json's model
SMALL_MODEL = 'microgpt train --primordial --n-embd 4 --n-head 1 --ff-mult 1 --block-size 8'
LEAF = 'leaf'  # an atom made of no other: a weight, or a number an operation was written with
PARAM_COLOR, LEAF_COLOR, LOSS_COLOR, STAGE_COLOR = '#dbe9f6', '#eeeeee', '#f8d0c8', '#fdf3d0'
GRAPHVIZ_INSTALL = ("apt-get install graphviz (Debian, Ubuntu), brew install graphviz (macOS) "
                    "or conda install graphviz")
DOT_SECONDS = 300  # a layout that takes longer than this is given up
# A PNG is scaled down to fit this many inches at this dpi: 9,600 pixels a side, which viewers open (a model's
# atoms at full size would be tens of thousands); SVG is drawn at full size, as it scales without loss.
PNG_MAX_INCHES, PNG_DPI = 100, 96


class StageTrace:
    """The `trace` GPT.forward reports to: every stage's outputs, in the order made."""

    def __init__(self):
        self.stages = []  # (group name, list of Val)

    def __call__(self, where, **stages):
        for name, outputs in stages.items():
            self.stages.append((f'{where}.{name}' if where else name, outputs))


def block_of(group):
    """'embeddings', 'layer{i}' or 'head': the block a group belongs to."""
    if group in ('wte', 'wpe') or group.startswith('embedding'):
        return 'embeddings'
    if group in ('lm_head', 'logits', LOSS_GROUP):
        return 'head'
    return group.split('.')[0]


@dataclass
class ValGraph:
    nodes: list              # every Val reachable from the root, the root first
    index: dict              # Val -> its place in nodes
    group: list              # the group of each node
    weight_names: dict       # place -> 'wte[3,5]', for the named atoms
    groups: list             # group names: the parameters', then the stages' as made, then the root's
    param_groups: set
    root_group: str = EXPRESSION_GROUP
    text: Optional[str] = None      # for a model's loss: the text it is the loss of
    position: Optional[int] = None  # and the position (None: the mean loss over the whole text)

    @property
    def value(self):
        return self.nodes[0].data

    @property
    def is_loss(self):
        return self.root_group == LOSS_GROUP


def reachable(root):
    """Every Val below root, leaves too, each once: root first, then breadth first."""
    order, seen = [root], {root}
    for node in order:  # the list grows as it is read
        for child in node._children:
            if child not in seen:
                seen.add(child)
                order.append(child)
    return order


def named_atoms(names):
    """(group, atom name, Val) for each Val in names: {name: a Val, a list of Vals or a matrix
    of them}; other values and _names are passed over, so names may be locals()."""
    for name, value in names.items():
        rows = value if isinstance(value, (list, tuple)) and value else []
        if name.startswith('_'):
            continue
        if isinstance(value, Val):
            yield name, name, value
        elif all(isinstance(v, Val) for v in rows):
            yield from ((name, f'{name}[{i}]', v) for i, v in enumerate(rows))
        elif all(isinstance(row, (list, tuple)) and all(isinstance(v, Val) for v in row) for row in rows):
            yield from ((name, f'{name}[{r},{c}]', v) for r, row in enumerate(rows) for c, v in enumerate(row))


def graph_of(root, names=None, trace=None, root_group=EXPRESSION_GROUP, **about):
    """The ValGraph below root: a leaf named in `names` (see named_atoms) is a parameter in its
    name's group, `trace` (a StageTrace) names the stages, and the atoms left belong to the
    root's group. `about`: the text and position of a model's loss."""
    nodes = reachable(root)
    index = {v: i for i, v in enumerate(nodes)}
    group = [None] * len(nodes)
    weight_names, groups = {}, []
    for name, atom_name, p in named_atoms(names or {}):
        i = index.get(p)
        if i is not None and i not in weight_names:
            weight_names[i] = atom_name
            if not p._children:
                group[i] = name
                if name not in groups:
                    groups.append(name)
    param_groups = set(groups)

    def claim(outputs, name):
        stack = [v for v in outputs if v in index]
        claimed = False
        while stack:
            v = stack.pop()
            i = index[v]
            if group[i] is None:
                group[i] = name
                claimed = True
                stack.extend(c for c in v._children if group[index[c]] is None)
        if claimed and name not in groups:
            groups.append(name)

    for name, outputs in (trace.stages if trace is not None else ()):
        claim(outputs, name)
    claim([root], root_group)
    return ValGraph(nodes, index, group, weight_names, groups, param_groups, root_group, **about)


def build_graph(checkpoint, tokens, text, position=None):
    """The ValGraph of the text's mean loss (position None) or of one position's loss."""
    model = GPT(checkpoint.config, checkpoint.state_dict)
    trace = StageTrace()
    if position is None:
        loss = model.loss([tokens], trace)
    else:
        loss = model.document_losses(tokens[:position + 2], trace)[position]
    loss.backward()
    return graph_of(loss, model.state_dict, trace, LOSS_GROUP, text=text, position=position)


def op_counts(graph):
    """{group: Counter of its atoms' ops}, groups in graph order."""
    counts = {name: Counter() for name in graph.groups}
    for v, name in zip(graph.nodes, graph.group):
        counts[name][v._op or LEAF] += 1
    return counts


def summary(graph):
    """Counts: atoms and edges per op (their totals are the graph's), atoms per group and block."""
    ops = {}
    for v in graph.nodes:
        entry = ops.setdefault(v._op or LEAF, {'nodes': 0, 'edges': 0})
        entry['nodes'] += 1
        entry['edges'] += len(v._children)
    by_group = op_counts(graph)
    blocks = Counter()
    for name, counts in by_group.items():
        blocks[block_of(name)] += sum(counts.values())
    return {
        'text': graph.text, 'position': graph.position, 'loss': graph.value,
        'atoms': len(graph.nodes), 'edges': sum(e['edges'] for e in ops.values()),
        'ops': dict(sorted(ops.items())),
        'groups': [{'name': name, 'block': block_of(name), 'atoms': sum(by_group[name].values()),
                    'ops': dict(by_group[name])} for name in graph.groups],
        'blocks': dict(blocks),
    }


# --- drawing ---------------------------------------------------------------------------------

def check_drawable(graph, level):
    """One line, before Graphviz works for minutes: the level draws at most DRAW_LIMITS boxes."""
    drawn, limit = len(graph.nodes) if level == 'atoms' else len(graph.groups), DRAW_LIMITS[level]
    if drawn <= limit:
        return
    coarser = {'atoms': 'ops', 'ops': 'blocks'}.get(level)
    if graph.is_loss:
        at, hint = f"--level {level}", f"use --level {coarser}" if coarser else "use a smaller model"
        if level == 'atoms':
            hint += ", or --position P for one position's loss" if graph.position is None else ""
            hint += f", or a model of a few hundred weights ({SMALL_MODEL})"
    else:
        at, hint = f"level {level!r}", f"draw it at level={coarser!r}" if coarser else "draw a smaller expression"
    what = f"{drawn:,} atoms" if level == 'atoms' else f"{drawn:,} operations"
    raise MicrogptError(f"the graph has {what}, too many to draw at {at} (at most {limit:,}): {hint}")


def quote(text):
    """A DOT string: in double quotes, with quotes and backslashes escaped; newlines as \\n."""
    return '"' + str(text).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n') + '"'


def attributes(**attrs):
    return '[' + ', '.join(f'{k}={quote(v)}' for k, v in attrs.items()) + ']'


def to_dot(graph, level, title=None):
    """The DOT text of graph at level, titled (by default: which loss of which text, and its value)."""
    check_drawable(graph, level)
    if not title and graph.text is not None:
        where = 'mean loss' if graph.position is None else f'loss at position {graph.position}'
        title = f"{where} of {graph.text!r} = {graph.value:.4f}"
    font, rankdir = 'Helvetica', 'LR' if level == 'atoms' else 'TB'
    node = attributes(shape='box', style='rounded,filled', fillcolor='white', fontname=font, fontsize='10')
    body = {'atoms': atoms_dot, 'ops': ops_dot, 'blocks': blocks_dot}[level](graph)
    return '\n'.join([f'digraph {level} {{',
                      f'graph {attributes(label=title or "", labelloc="t", rankdir=rankdir, fontname=font)};',
                      f'node {node};',
                      f'edge {attributes(color="#555555", arrowsize="0.6")};',
                      *body, '}']) + '\n'


def root_label(graph):
    return f"{graph.root_group} = {graph.value:{'.4f' if graph.is_loss else '.4g'}}"


def _cluster(name, label, style):
    """The line that opens a box around the nodes after it (closed by a line '}')."""
    return f'subgraph cluster_{name} {{ graph {attributes(label=label, style=style)};'


def _block_label(graph, block):
    """A block's name and the state_dict names of the parameters in it."""
    params = [g for g in graph.groups if g in graph.param_groups and block_of(g) == block]
    short = [g.split('.', 1)[1] if '.' in g else g for g in params]
    return block + (f"\n({', '.join(short)})" if short else '')


def _blocks_in_order(graph):
    return list(dict.fromkeys(block_of(g) for g in graph.groups))


def _in_block_boxes(graph, block_lines):
    """Each block's lines (block_lines(b, block)), in a dashed box when the block holds a stage
    of a trace (a hand-built expression's parameters and root need no box each)."""
    lines = []
    for b, block in enumerate(_blocks_in_order(graph)):
        inner = block_lines(b, block)
        if any(block_of(g) == block and g not in graph.param_groups and g != graph.root_group
               for g in graph.groups):
            inner = [_cluster(b, _block_label(graph, block), 'dashed'), *inner, '}']
        lines += inner
    return lines


def _group_edges(graph, key):
    """Counter of (key of child's group, key of parent's group): atom edges between two keys."""
    index, group = graph.index, graph.group
    edges = Counter()
    for i, v in enumerate(graph.nodes):
        mine = key(group[i])
        for c in v._children:
            theirs = key(group[index[c]])
            if theirs != mine:
                edges[theirs, mine] += 1
    return edges


def atoms_dot(graph):
    by_block = {}
    for i, name in enumerate(graph.group):
        by_block.setdefault(block_of(name), []).append(i)

    def atom_lines(b, block):
        lines = []
        for i in by_block.get(block, []):
            v, name = graph.nodes[i], graph.weight_names.get(i)
            if not v._children:
                head, color = (name, PARAM_COLOR) if name is not None else (LEAF, LEAF_COLOR)
            else:
                head = v._op if name is None else f"{name} ({v._op})"
                color = LOSS_COLOR if i == 0 else STAGE_COLOR
            label = f"{head}\ndata {v.data:.4g}\ngrad {v.grad:.4g}"
            lines.append(f'n{i} {attributes(label=label, fillcolor=color, tooltip=graph.group[i])};')
        return lines
    edges = [f'n{graph.index[c]} -> n{i};' for i, v in enumerate(graph.nodes) for c in v._children]
    return _in_block_boxes(graph, atom_lines) + edges


def _ops_label(graph, name, counts, squared_grad):
    atoms = sum(counts.values())
    if name in graph.param_groups:
        return f"{name}\n{atoms:,} weights used\n|grad| {math.sqrt(squared_grad):.4g}"
    # a stage's leaves are the numbers it was written with (1/n, eps, -max)
    ops = ', '.join(f"{n:,} {op}" for op, n in counts.most_common())
    head = root_label(graph) if name == graph.root_group else name.split('.')[-1]
    return f"{head}\n{atoms:,} atoms: {ops}"


def ops_dot(graph):
    counts, squared_grads = op_counts(graph), Counter()
    for v, name in zip(graph.nodes, graph.group):
        squared_grads[name] += v.grad * v.grad
    ids = {name: f'g{k}' for k, name in enumerate(graph.groups)}

    def block_lines(b, block):
        lines, heads = [], {}
        for name in (g for g in graph.groups if block_of(g) == block):
            color = (PARAM_COLOR if name in graph.param_groups else LOSS_COLOR if name == graph.root_group
                     else STAGE_COLOR)
            label = _ops_label(graph, name, counts[name], squared_grads[name])
            node = f'{ids[name]} {attributes(label=label, fillcolor=color)};'
            parts = name.split('.')
            if len(parts) == 3:  # layer{i}.head{h}.stage: drawn inside the head's own box
                heads.setdefault(parts[1], (ids[name], []))[1].append(node)
            else:
                lines.append(node)
        in_order = sorted(heads.items(), key=lambda item: int(item[0][len('head'):]))
        for h, (head, (first, nodes)) in enumerate(in_order):
            lines += [_cluster(f'{b}_{h}', head, 'dotted'), *nodes, '}']
        if len(in_order) > 1:  # the heads' first stages on one rank, chained: left to right as numbered
            chain = ' -> '.join(first for _, (first, _) in in_order)
            lines.append(f'{{ rank=same; {chain} [style=invis]; }}')
        return lines
    edges = [f'{ids[a]} -> {ids[b]} {attributes(label=f"{n:,}", fontsize="8")};'
             for (a, b), n in _group_edges(graph, lambda g: g).items()]
    return _in_block_boxes(graph, block_lines) + edges


def blocks_dot(graph):
    counts = {}
    for name, ops in op_counts(graph).items():
        counts.setdefault(block_of(name), Counter()).update(ops)
    ids = {block: f'b{k}' for k, block in enumerate(_blocks_in_order(graph))}
    lines = []
    for block, node_id in ids.items():
        c = counts[block]
        label = f"{_block_label(graph, block)}\n{sum(c.values()):,} atoms (of them {c[LEAF]:,} leaves)"
        if block == block_of(graph.root_group):
            label += f"\n{root_label(graph)}"
        lines.append(f'{node_id} {attributes(label=label, fillcolor=STAGE_COLOR)};')
    return lines + [f'{ids[a]} -> {ids[b]} {attributes(label=f"{n:,} edges", fontsize="8")};'
                    for (a, b), n in _group_edges(graph, block_of).items()]


def dot_program(why=None):
    """The path of Graphviz's `dot`: None where it is not installed, or, given why it is needed,
    one line on how to install it."""
    path = shutil.which('dot')
    if path is None and why is not None:
        raise MicrogptError(f"{why} needs Graphviz's `dot` program, which is not installed: {GRAPHVIZ_INSTALL}")
    return path


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


class SVG(str):
    """SVG text that Jupyter shows as the picture it is."""

    def _repr_svg_(self):
        return str(self)


class PNG(bytes):
    """PNG bytes that Jupyter shows as the picture they are."""

    def _repr_png_(self):
        return bytes(self)  # a method, not bytes.__bytes__: that exists only from Python 3.11


def draw_dot(root, format='svg', level='atoms', names=None, trace=None, title=None):
    """The graph below a Val (an expression built by hand, or a model's loss) at a level
    ('atoms', 'ops', 'blocks') as 'dot' text, or laid out by Graphviz as 'svg' or 'png', which
    Jupyter shows as pictures. names ({name: Val, list or matrix of Vals}, or locals()) and
    trace (a StageTrace) group the atoms as `microgpt graph` does (docs/pages/see-it.md).

        >>> from microgpt import Val, draw_dot
        >>> a, b = Val(2.0), Val(-3.0)
        >>> c = a * b + 1.0
        >>> c.backward()
        >>> print(draw_dot(c, format='dot', names={'a': a, 'b': b}))  # doctest: +ELLIPSIS
        digraph atoms {
        ...
        n3 [label="a\\ndata 2\\ngrad -3", fillcolor="#dbe9f6", tooltip="a"];
        n4 [label="b\\ndata -3\\ngrad 2", fillcolor="#dbe9f6", tooltip="b"];
        n0 [label="+\\ndata -5\\ngrad 1", fillcolor="#f8d0c8", tooltip="expression"];
        n1 [label="*\\ndata -6\\ngrad 1", fillcolor="#fdf3d0", tooltip="expression"];
        n2 [label="leaf\\ndata 1\\ngrad 1", fillcolor="#eeeeee", tooltip="expression"];
        n1 -> n0;
        n2 -> n0;
        n3 -> n1;
        n4 -> n1;
        }
        <BLANKLINE>
    """
    for name, value, allowed in (('format', format, DRAW_FORMATS), ('level', level, DRAW_LIMITS)):
        if value not in allowed:
            raise MicrogptError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    if not isinstance(root, Val):
        raise MicrogptError(f"draw_dot draws a Val, got {type(root).__name__}")
    dot_text = to_dot(graph_of(root, names, trace), level, title)
    if format == 'dot':
        return dot_text
    data = render(dot_text, format)
    return SVG(data.decode('utf-8')) if format == 'svg' else PNG(data)


def jupyter_svg(val):
    """Val's picture in Jupyter: the SVG of its atoms, or None (its repr is shown instead)
    where Graphviz is not installed or the graph is too big to lay out quickly."""
    if dot_program() is None:
        return None
    try:
        return render(to_dot(graph_of(val), 'atoms'), 'svg').decode('utf-8')
    except MicrogptError:
        return None
