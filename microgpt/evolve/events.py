"""What a search tells as it goes (Evolution.events yields them; `evolve` prints them)."""
from collections import namedtuple

# Before the first training: the plan, as the log records it.
PlanMade = namedtuple('PlanMade', 'plan')
# One finished training as its progress line tells it: the stage ('generation' k of G, or 'final'),
# trainings done of the total, seconds elapsed and to go (None: unknown), the final's seed from 1.
TrainingDone = namedtuple('TrainingDone', 'organism stage generation generations done total elapsed eta final_seed',
                          defaults=[None])
# A worker process died running `name`: it runs again on a fresh worker.
WorkerRetried = namedtuple('WorkerRetried', 'name attempt')
# A generation's end: its best, mean and worst score (None when any failed), failures, architectures.
GenerationSummary = namedtuple('GenerationSummary', 'generation best mean worst failed diversity')
# No better organism in `stale` generations: `immigrants` a generation from now on.
Stagnation = namedtuple('Stagnation', 'generation stale immigrants')
# A baseline of the final scored on its seeds; `reused_from` the file of each scoring reused.
BaselineScored = namedtuple('BaselineScored', 'organism reused_from')
# The winner (None: every organism failed), its lead over the runner-up and whether it exceeds their spreads.
FinalResult = namedtuple('FinalResult', 'best runner_up lead lead_exceeds_spread')
# Whether the winner replaced the genome at --out, and where it went (decision.decide).
Decision = namedtuple('Decision', 'decision')
