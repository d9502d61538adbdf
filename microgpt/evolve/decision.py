"""The final and the keep-or-replace decision. The FINALISTS best organisms, the incumbent (the
genome at --out before the search) and the primordial genome are each trained on the same
FINAL_SCORINGS fresh seeds; the best finalist's mean wins, and replaces the incumbent only when it
beats it by more than the noise, or when asked to; else it goes beside it."""
from pathlib import Path

from ..errors import MicrogptError
from ..training.genome import PRIMORDIAL, load_genome
from .fitness import HIGHER_IS_BETTER
from .organism import Organism, organism_seed

FINALISTS = 3
FINAL_SCORINGS = 3
BASELINE_GENERATION = 0  # the baselines' birth: generations of evolved organisms count from 1


def final_seeds(run_seed, generations):
    """The seeds of the final, the same for every finalist and baseline."""
    return [organism_seed(run_seed, generations + 1, k) for k in range(FINAL_SCORINGS)]


def baselines_of(incumbent, with_primordial=True):
    """[(origin, genome)] of the final's baselines: the primordial genome and the incumbent (None:
    none); one that is both is scored once."""
    baselines = [('primordial', PRIMORDIAL)] if with_primordial else []
    if incumbent is not None and not (with_primordial and incumbent == PRIMORDIAL):
        baselines.append(('incumbent', incumbent))
    return baselines


def final_scorings(organism, origin, seeds, final):
    """The organism's scorings of the final, one a seed: their score the mean of those alone."""
    return [Organism(organism.genome, organism.generation, organism.index, seed, origin, organism.fitness,
                     parents=organism.parents, mutated=organism.mutated, scored_in=final, flops=organism.flops)
            for seed in seeds]


def read_incumbent(out):
    """The genome file at `out`, or None; a file there that is no genome is one line now."""
    if not Path(out).is_file():
        return None
    try:
        return load_genome(out)
    except MicrogptError as e:
        raise MicrogptError(f"{e}; the search would compare its winner with the genome at --out {out}: "
                            f"fix or move that file, or choose another --out") from None


def beside(out, kind):
    """Where a search writes a genome beside `out`: kind 'candidate' or 'interrupted'."""
    out = Path(out)
    return out.with_name(f"{out.stem}.{kind}{out.suffix or '.json'}")


def decide(fitness, winner, incumbent, out, replace=False, reused_from=()):
    """The decision as the log records it: the winner replaces the incumbent (or None) when it
    beats it by more than the noise (the larger of their spreads) or when `replace`."""
    decision = {'fitness': fitness, 'higher_is_better': HIGHER_IS_BETTER[fitness],
                'winner': winner.summary(), 'incumbent': None, 'lead': None, 'noise': None,
                'forced': False, 'out': str(out)}
    if incumbent is not None:
        decision['incumbent'] = dict(incumbent.summary(), origin=incumbent.origin, reused_from=list(reused_from))
    if incumbent is None or incumbent.score is None:
        decision.update(replaced=True, why='no incumbent' if incumbent is None else 'the incumbent failed to train')
    else:
        lead = incumbent.cost - winner.cost  # > 0: the winner is better
        spreads = [s for s in (winner.spread, incumbent.spread) if s is not None]
        noise = max(spreads) if spreads else 0.0
        beats = lead > noise
        why = ('the winner beats the incumbent by more than the noise' if beats else
               'the winner is within the noise of the incumbent' if lead > -noise else
               'the incumbent beats the winner')
        decision.update(lead=lead, noise=noise, replaced=beats or replace, forced=replace and not beats, why=why)
    decision['genome_written'] = str(Path(out) if decision['replaced'] else beside(out, 'candidate'))
    return decision


def lead_over(best, runner_up):
    """(the best's lead over the runner-up, whether it exceeds the larger of their spreads), or (None, None)."""
    if runner_up is None or best is None or runner_up.score is None:
        return None, None
    lead = abs(runner_up.score - best.score)
    spreads = [s for s in (best.spread, runner_up.spread) if s is not None]
    return lead, (lead > max(spreads)) if spreads else None

