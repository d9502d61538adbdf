"""Scorings an earlier search already made, found in its log and used again.

The final's incumbent (the genome at --out) is the same training in every search that has the
same data, held-out split, seed and generations: the same settings on the same seeds, and the
same as the final scorings of the search whose winner it was. On the same arithmetic
(reproducibility.same_arithmetic) training it again computes the same bits, so a search first
looks for those scorings in the evolve logs of its log folder and reuses what it finds: a heavy
incumbent (the shipped genome trains 14,600 steps) then costs the final nothing. A scoring is
reused only when all of these match: the split (its documents' digest), the engine, every
setting of the genome, the training seed, a finished scoring without error, the arithmetic of
the machine that made it, and for the aesthetic fitness the sampling seeds (an aesthetic
scoring also holds the held-out loss a loss search asks for). `--retrain-incumbent` trains
it anyway.
"""
import json
from pathlib import Path

from ..reproducibility import arithmetic, machine, same_arithmetic
from .incumbent import split_digest, trial_result  # noqa: F401 - split_digest: where the search imports it from

LOG_PATTERN = 'evolve-*.jsonl'


def _genes_key(genes):
    return json.dumps(genes, sort_keys=True)


class RecordedScorings:
    """The finished scorings of the evolve logs in a folder whose runs trained on this split
    with this engine: {(genes, seed): [(record, log path), ...]}."""

    def __init__(self, log_dir, split_sha256, engine):
        self.split_sha256, self.engine = split_sha256, engine
        self.here = arithmetic(machine(with_blas=engine != 'val'))
        self.found = {}
        for path in sorted(Path(log_dir).glob(LOG_PATTERN)):
            self._read(path)

    def _read(self, path):
        try:
            lines = path.read_text(encoding='utf-8').splitlines()
        except (OSError, UnicodeDecodeError):
            return  # an unreadable log is no record: its scorings are trained again
        run = None
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn line of an interrupted run
            if not isinstance(record, dict):
                continue
            if record.get('kind') == 'run':
                run = record
                if run.get('split_sha256') != self.split_sha256 or run.get('engine') != self.engine:
                    return
            elif record.get('kind') == 'organism' and run is not None and not record.get('error') \
                    and isinstance(record.get('genes'), dict) and isinstance(record.get('components'), dict):
                key = (_genes_key(record['genes']), record.get('seed'))
                self.found.setdefault(key, []).append((record, path))

    def find(self, genome, seed, fitness, sampling_seeds=None):
        """(the trial result a training of `genome` on `seed` would return here, the log it
        came from), or None: a scoring made on this machine's arithmetic, for the aesthetic
        fitness one judged on `sampling_seeds`."""
        for record, path in self.found.get((_genes_key(genome.genes()), seed), []):
            components = record['components']
            if components.get('val_loss') is None or not same_arithmetic(record.get('arithmetic'), self.here):
                continue
            if fitness == 'aesthetic' and (record.get('fitness') != 'aesthetic'
                                           or components.get('seeds') != list(sampling_seeds)):
                continue
            return trial_result(record, fitness, record.get('arithmetic')), path
        return None
