"""Keep or replace: the genome at --out (the incumbent) gives way to a search's winner only
when the winner beats it by more than the noise, or when asked to; else the winner goes
beside it, and an interrupted search writes beside it too."""
from pathlib import Path

from ..errors import MicrogptError
from ..genome import load_genome
from .fitness import HIGHER_IS_BETTER


def read_incumbent(out):
    """The genome file at `out` before the search (genome.GenomeFile: the genome and its
    record), or None if there is no file; a file there that is not a genome that can make a
    run is one line now, before any work."""
    if not Path(out).is_file():
        return None
    try:
        return load_genome(out)
    except MicrogptError as e:
        raise MicrogptError(f"{e}; the search would compare its winner with the genome at --out {out}: "
                            f"fix or move that file, or choose another --out") from None


def interrupted_genome_path(out):
    """Where an interrupted search writes its best so far: beside out, never over it."""
    out = Path(out)
    return out.with_name(f"{out.stem}.interrupted{out.suffix or '.json'}")


def candidate_genome_path(out):
    """Where a finished search writes a winner that does not beat the incumbent at out."""
    out = Path(out)
    return out.with_name(f"{out.stem}.candidate{out.suffix or '.json'}")


def decide(fitness, winner, incumbent, out, replace=False, reused_from=()):
    """Whether the winner replaces the incumbent (its Organism scored on the final's seeds,
    or None): when there is none, when the winner beats it by more than the noise (the larger
    of their spreads over the final's seeds), or when asked to (`replace`). `reused_from`:
    the file of each incumbent scoring reused. Returns the decision as the log records
    it, with where the winner goes."""
    decision = {'fitness': fitness, 'higher_is_better': HIGHER_IS_BETTER[fitness],
                'winner': winner.summary(), 'incumbent': None, 'lead': None, 'noise': None,
                'forced': False, 'out': str(out)}
    if incumbent is not None:
        decision['incumbent'] = dict(incumbent.summary(), origin=incumbent.origin, reused_from=list(reused_from))
    if incumbent is None:
        decision = dict(decision, replaced=True, why='no incumbent')
    elif incumbent.score is None:
        decision = dict(decision, replaced=True, why='the incumbent failed to train')
    else:
        lead = incumbent.cost - winner.cost  # > 0: the winner is better
        spreads = [s for s in (winner.spread, incumbent.spread) if s is not None]
        noise = max(spreads) if spreads else 0.0
        beats = lead > noise
        why = ('the winner beats the incumbent by more than the noise' if beats else
               'the winner is within the noise of the incumbent' if lead > -noise else
               'the incumbent beats the winner')
        decision = dict(decision, lead=lead, noise=noise, replaced=beats or replace,
                        forced=replace and not beats, why=why)
    decision['genome_written'] = str(Path(out) if decision['replaced'] else candidate_genome_path(out))
    return decision


def not_written(decision, error):
    """The decision as the log records it when writing the genome failed (a full disk):
    nothing written, nothing replaced, and why."""
    return dict(decision, genome_written=None, replaced=False, write_error=str(error))


def lead_over(best, runner_up):
    """(the best's lead over the runner-up, whether it exceeds the larger of their spreads),
    or (None, None) without a runner-up."""
    if runner_up is None or best is None or runner_up.score is None:
        return None, None
    lead = abs(runner_up.score - best.score)
    spreads = [s for s in (best.spread, runner_up.spread) if s is not None]
    return lead, (lead > max(spreads)) if spreads else None


def genome_provenance(best, runner_up, primordial, incumbent, decision, search, final_seeds, log, origin):
    """What genome.json records of the search that wrote it: the winner's scores, the
    search's settings (`search`: space, budget, seed, population, generations, completed,
    engine, data), the final's seeds, the baselines' and the runner-up's scores, the decision,
    the log, and the run's provenance (`origin`)."""
    lead, clear = lead_over(best, runner_up)
    return {
        'fitness': best.fitness, 'score': best.score, 'spread': best.spread, 'scores': best.scores,
        'seeds': best.seeds,
        'components': {k: v for k, v in best.components.items() if k != 'samples'},
        'generation': best.generation, 'index': best.index, 'organism_seed': best.seed,
        'space': search['space'], 'budget': search['budget'], 'flops': best.flops,
        'seed': search['seed'], 'population': search['population'], 'generations': search['generations'],
        'completed': search['completed'], 'engine': search['engine'], 'data': search['data'],
        'primordial_score': primordial.score if primordial else None,
        'primordial_spread': primordial.spread if primordial else None,
        'final_seeds': final_seeds,
        'incumbent_score': incumbent.score if incumbent else None,
        'incumbent_spread': incumbent.spread if incumbent else None,
        'replaced_incumbent': None if decision is None else decision['replaced'],
        'runner_up': runner_up.summary() if runner_up else None,
        'lead': lead, 'lead_exceeds_spread': clear,
        'log': log, **(origin or {}),
    }
