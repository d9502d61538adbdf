"""The winner's ancestry, read back from an evolve log.

An organism is known by where it was born, "generation.index"; its birth record says how
(random, immigrant, or child of which parents with which genes mutated), its later records are
re-scorings. Logs written before births were recorded have no 'parents': no ancestry.
"""
from ..training.genome import Genome
from .fitness import cost


def birth_text(record):
    """'random', 'immigrant', 'child of 3.1 x 2.4, mutated n_layer, lr' or 'mutant of 3.1, ...'."""
    if record['origin'] != 'child':
        return record['origin']
    parents = [f"{g}.{i}" for g, i in record.get('parents', [])]
    kind = 'child of ' + ' x '.join(parents) if len(parents) > 1 else 'mutant of ' + ''.join(parents)
    mutated = record.get('mutated') or []
    return kind + (f", mutated {', '.join(mutated)}" if mutated else '')


def _score_text(record):
    """'2.3456 ± 0.0071 (3 scorings)': the mean of its scorings so far."""
    scorings = record.get('scorings', 1)
    text = '-' if record.get('score') is None else f"{record['score']:.4f}"
    if record.get('spread') is not None:
        text += f" \u00b1 {record['spread']:.4f}"
    return text + (f" ({scorings} scorings)" if scorings > 1 else '')


def ancestry_lines(log, winner=None):
    """The winner's family tree, one line per ancestor, indented by generation back; an
    ancestor met twice is shown once (later: 'see above')."""
    if not log.has_lineage:
        return ["this log records no births (written before microgpt recorded lineage)"]
    births, latest = log.births(), log.latest()
    if winner is None:
        best = (log.result or {}).get('best') or min(latest.values(), key=lambda r: cost(log.fitness, r['score']))
        winner = (best['generation'], best['index'])
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
        genes = Genome.from_settings(record['genes']).describe()
        lines.append(f"{label}: {_score_text(latest[key])}  [{genes}]")
        for parent in record.get('parents', []):
            walk(tuple(parent), depth + 1)

    walk(tuple(winner), 0)
    return lines
