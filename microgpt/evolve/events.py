"""What a search tells as it goes (Evolution.events yields them; the `evolve` command prints
them): plain records, in the order they happen. A generation's end is told by its
GenerationSummary (evolve.organism)."""
from dataclasses import dataclass

from .organism import Organism


@dataclass
class PlanMade:
    """Before the first training: what the search will train and its estimated time
    (Progress.plan_record, as the log's plan record holds it)."""
    plan: dict


@dataclass
class TrainingDone:
    """One finished training of a search, as its progress line tells it: the stage
    ('generation' k of G, or 'final'), trainings done of the total, and the time."""
    organism: Organism
    stage: str
    generation: int
    generations: int
    done: int
    total: int
    elapsed: float
    eta: float  # seconds still to go, estimated (None before anything is known)
    final_seed: int = None  # in the final: which of its seeds this was, counting from 1


@dataclass
class WorkerRetried:
    """A worker process died running `name`: it runs again on a fresh worker."""
    name: str
    attempt: int


@dataclass
class Stagnation:
    """No better organism in `stale` generations: `immigrants` a generation from now on."""
    generation: int
    stale: int
    immigrants: int


@dataclass
class BaselineScored:
    """A baseline of the final (the primordial genome or the incumbent) scored on the
    final's seeds; `reused_from` the file of each scoring reused, not trained."""
    organism: Organism
    reused_from: list


@dataclass
class FinalResult:
    """The search's winner (None when every organism failed), and its lead over the
    runner-up with whether it exceeds the larger of their spreads (None without one)."""
    best: Organism
    runner_up: Organism
    lead: float
    lead_exceeds_spread: bool


@dataclass
class Decision:
    """Whether the winner replaced the genome at --out, and where it was written: the
    decision as the log records it (evolve.decision.decide)."""
    decision: dict
