"""Reading an evolve log back: every organism's birth and the winner's ancestry.

An organism is known by where it was born, "generation.index"; its birth record says how
(random, immigrant, or child of which parents with which genes mutated), and its later
records are re-scorings (elite, confirmation), each with the mean of its scorings so far.
Logs written before births were recorded have no 'parents': their ancestry is unknown.
"""


def scored_in(record):
    """The generation whose evaluation made this record (older logs: its birth generation)."""
    return record.get('scored_in', record['generation'])


def describe_score(record):
    scorings = record.get('scorings', 1)
    spread = record.get('spread')
    text = '-' if record.get('score') is None else f"{record['score']:.4f}"
    if spread is not None:
        text += f" \u00b1 {spread:.4f}"
    return text + (f" ({scorings} scorings)" if scorings > 1 else '')


def birth_text(record):
    """'random', 'immigrant', 'child of 3.1 x 2.4, mutated n_layer, lr' or 'mutant of 3.1, ...'."""
    if record['origin'] != 'child':
        return record['origin']
    parents = [f"{g}.{i}" for g, i in record.get('parents', [])]
    kind = 'child of ' + ' x '.join(parents) if len(parents) > 1 else 'mutant of ' + ''.join(parents)
    mutated = record.get('mutated') or []
    return kind + (f", mutated {', '.join(mutated)}" if mutated else '')


def ancestry_lines(log, winner=None):
    """The winner's family tree, one line per ancestor, indented by generation back; an
    ancestor met twice is shown once (later: 'see above')."""
    if not log.has_lineage:
        return ["this log records no births (written before microgpt recorded lineage)"]
    if winner is None:
        best = (log.result or {}).get('best') or min(
            log.latest().values(), key=lambda r: (r['score'] is None, _cost(log.fitness, r['score'])))
        winner = (best['generation'], best['index'])
    births, latest = log.births(), log.latest()
    lines, seen = [], set()

    def walk(key, depth):
        record = births.get(key)
        if record is None:
            lines.append(f"{'  ' * depth}{key[0]}.{key[1]}  (not in this log)")
            return
        label = f"{'  ' * depth}{key[0]}.{key[1]}  {birth_text(record)}"
        if key in seen:
            lines.append(f"{label}  (see above)")
            return
        seen.add(key)
        lines.append(f"{label}: {describe_score(latest[key])}  [{_genes_text(record['genes'])}]")
        for parent in record.get('parents', []):
            walk(tuple(parent), depth + 1)

    walk(tuple(winner), 0)
    return lines


def _cost(fitness, score):
    return score if fitness == 'loss' else -score


def _genes_text(genes):
    from ..genome import Genome
    return Genome.from_settings(genes).describe()
