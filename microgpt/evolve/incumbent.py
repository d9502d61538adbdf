"""The incumbent met by its own record (genome_record.py): a later final that would train the same
settings on the same engine, split, seeds and arithmetic (or within the drift measured) takes them."""
import hashlib
import math

from ..data import VAL_FRACTION
from ..reproducibility import arithmetic, describe_arithmetic, machine, reuse_across_arithmetics, same_arithmetic
from ..training.genome import Genome
from .organism import components_of, spread_of


def split_digest(train_docs, val_docs):
    """The digest of a held-out split: its training and validation documents, in order."""
    digest = hashlib.sha256()
    for part in (train_docs, val_docs):
        digest.update('\n'.join(part).encode('utf-8'))
        digest.update(b'\0')
    return digest.hexdigest()


def recorded_scorings(genome_file, split_sha256, seeds, engine, fitness, sampling_seeds=None, here=None):
    """({seed: (its trial result, the genome file's path)}, why) of the recorded scorings a final on
    `seeds` may take; `sampling_seeds` {seed: seeds of the names judged}; `here` defaults to this machine."""
    record, source = genome_file.record, str(genome_file.path)
    if record is None:
        return {}, f"{source} keeps no record of its final's scorings"
    why_not = _other_run(record, genome_file.genome, split_sha256, engine, fitness)
    if why_not:
        return {}, f"its record {why_not}"
    here = arithmetic(here if here is not None else machine(with_blas=engine != 'val'))
    recorded = arithmetic(record['arithmetic'])
    why_not = reuse_across_arithmetics(recorded, here, record['drift'])
    if why_not:
        return {}, (f"its record was computed on {describe_arithmetic(recorded)}, this machine computes on "
                    f"{describe_arithmetic(here)}, and {why_not}")
    found = {}
    for scoring in record['scorings']:
        seed = scoring['seed']
        if seed in seeds and (fitness != 'aesthetic' or scoring['components']['seeds'] == list(sampling_seeds[seed])):
            found[seed] = (trial_result(scoring, fitness, recorded), source)
    if not found:
        return {}, "its record holds other seeds" + (" or other names judged" if fitness == 'aesthetic' else '')
    if same_arithmetic(recorded, here):
        return found, "the same split, settings, seeds and arithmetic"
    drift = max(d for d in (record['drift']['val_loss'], record['drift']['score']) if d is not None)
    return found, f"the same split, settings and seeds, on an arithmetic within its measured drift of {drift:.2g}"


def _other_run(record, genome, split_sha256, engine, fitness):
    """How the recorded scorings differ from what the final would train, or None."""
    if Genome.from_settings(record['genes']) != genome:
        return "trained other settings"
    if record['split_sha256'] != split_sha256:
        return "was made on another split of the data"
    if record['engine'] != engine:
        return f"was trained by the {record['engine']} engine"
    if fitness == 'aesthetic' and record['fitness'] != 'aesthetic':
        return "holds no judge's scores"
    return None


def trial_result(scoring, fitness, computed_on):
    """run_trial's record of a recorded scoring; its seconds are none of this search's."""
    components = scoring['components']
    result = {'num_params': scoring.get('num_params'), 'error': None,
              'train_loss': components.get('train_loss'), 'val_loss': components['val_loss'],
              'tokens': scoring.get('tokens'), 'seconds': 0.0, 'cpu_seconds': 0.0, 'eval_seconds': 0.0,
              'arithmetic': computed_on}
    if fitness == 'aesthetic':
        result['measured'] = {k: v for k, v in components.items() if k not in ('train_loss', 'val_loss')}
    return result


def final_record(genome, scorings, fitness, engine, split_sha256, split_seed, data_sha256,
                 val_split=VAL_FRACTION, log=None, drift=None):
    """The record a genome file keeps of its final's [(seed, trial result)] of `genome`."""
    kept = [{'seed': seed, 'num_params': result['num_params'], 'tokens': result.get('tokens'),
             'components': components_of(result, fitness)} for seed, result in scorings]
    computed_on = [arithmetic(result.get('arithmetic')) for _, result in scorings]
    record = {'fitness': fitness, 'genes': genome.genes(), 'engine': engine, 'data_sha256': data_sha256,
              'val_split': val_split, 'split_seed': split_seed, 'split_sha256': split_sha256,
              'scorings': kept, 'val_loss': _summary([s['components']['val_loss'] for s in kept])}
    if fitness == 'aesthetic':
        record['score'] = _summary([s['components']['score'] for s in kept])
    # scorings made on several arithmetics (a cluster's workers) promise no one arithmetic's bits
    record['arithmetic'] = computed_on[0] if all(a == computed_on[0] for a in computed_on) else arithmetic(None)
    record['drift'], record['log'] = drift, log
    return record


def _summary(values):
    """{mean, spread}, as the final printed them."""
    return {'mean': math.fsum(values) / len(values), 'spread': spread_of(values)}
