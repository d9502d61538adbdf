"""The incumbent met by its own record: genome.json keeps the scorings its final made, a search
takes them where training the incumbent again would compute the same (the same split, settings,
seeds and engine, on the same arithmetic or within the drift measured for it), and trains it
otherwise; a hand-edited record is one line naming its field."""
import copy
import json
from pathlib import Path

import pytest

from microgpt.cli import main
from microgpt.data import split_docs
from microgpt.errors import MicrogptError
from microgpt.evolve.fitness import aesthetic_measure, sampling_seeds
from microgpt.evolve.incumbent import final_record, recorded_scorings, split_digest
from microgpt.reproducibility import INCUMBENT_REUSE_TOLERANCE, arithmetic, machine
from microgpt.training.genome import Genome, load_genome, save_genome
from microgpt.trials.runner import Trial, run_trial

REPO = Path(__file__).resolve().parent.parent
SMALL = Genome(n_embd=8, n_head=2, n_layer=1, block_size=16, ff_mult=1, learning_rate=0.01, num_steps=20,
               batch_size=4)
SEEDS = [11, 12, 13]
HASWELL = {'arch': 'x86_64', 'numpy': '2.4.6', 'simd': ['X86_V3', 'X86_V4', 'AVX512_ICL'], 'blas': 'openblas',
           'blas_version': '0.3.31.188.0', 'blas_kernel': 'Haswell', 'blas_threads': 1}
AVX2_ONLY = dict(HASWELL, simd=['X86_V3'])
DIGEST = 'ab' * 32


def fake_result(k, fitness):
    """A finished trial's record, as run_trial returns it."""
    result = {'num_params': 1000, 'tokens': 500, 'train_loss': 2.5 + k / 100, 'val_loss': 2.6 + k / 100,
              'error': None, 'arithmetic': HASWELL, 'seconds': 1.0}
    if fitness == 'aesthetic':
        result['measured'] = {'score': 0.4 + k / 100, 'seeds': sampling_seeds(42, 7, SEEDS[k]), 'samples': ['ann']}
    return result


def genome_file(tmp_path, fitness='loss', drift=None, genome=SMALL, **changes):
    """A genome file whose record is a final's three scorings of SMALL on SEEDS, on HASWELL."""
    record = final_record(SMALL, [(seed, fake_result(k, fitness)) for k, seed in enumerate(SEEDS)], fitness,
                          'numpy', DIGEST, 42, 'cd' * 32, drift=drift)
    record.update(changes)
    save_genome(tmp_path / 'genome.json', genome, {'fitness': fitness}, record)
    return load_genome(tmp_path / 'genome.json')


def scorings(file, fitness='loss', split=DIGEST, seeds=SEEDS, engine='numpy', here=HASWELL):
    judged = {seed: sampling_seeds(42, 7, seed) for seed in seeds}
    return recorded_scorings(file, split, seeds, engine, fitness, judged if fitness == 'aesthetic' else None, here)


@pytest.mark.parametrize('fitness', ['loss', 'aesthetic'])
def test_a_matching_record_is_reused_as_the_trial_results_it_keeps(tmp_path, fitness):
    file = genome_file(tmp_path, fitness)
    found, reason = scorings(file, fitness)
    assert reason == "the same split, settings, seeds and arithmetic"
    assert sorted(found) == SEEDS and all(source == str(tmp_path / 'genome.json') for _, source in found.values())
    for k, seed in enumerate(SEEDS):
        result, made = found[seed][0], fake_result(k, fitness)
        assert {key: result[key] for key in ('num_params', 'tokens', 'train_loss', 'val_loss', 'arithmetic')} == \
            {key: made[key] for key in ('num_params', 'tokens', 'train_loss', 'val_loss', 'arithmetic')}
        assert result['error'] is None and result['cpu_seconds'] == 0.0
        assert result.get('measured') == made.get('measured')
    # an aesthetic record holds the held-out loss a loss search asks for
    if fitness == 'aesthetic':
        assert scorings(file, 'loss')[0][SEEDS[0]][0]['val_loss'] == fake_result(0, 'loss')['val_loss']
    # only the seeds of this final
    assert sorted(scorings(file, fitness, seeds=[SEEDS[1], 99])[0]) == [SEEDS[1]]


def test_a_record_of_another_split_seed_engine_setting_or_fitness_is_trained(tmp_path):
    file = genome_file(tmp_path)
    assert scorings(file, split='ef' * 32) == ({}, "its record was made on another split of the data")
    assert scorings(file, seeds=[98, 99]) == ({}, "its record holds other seeds")
    assert scorings(file, engine='val') == ({}, "its record was trained by the numpy engine")
    assert scorings(file, 'aesthetic') == ({}, "its record holds no judge's scores")
    edited = genome_file(tmp_path, genome=SMALL.with_settings(num_steps=40))
    assert scorings(edited) == ({}, "its record trained other settings")
    # other names judged: trained
    aesthetic = genome_file(tmp_path, 'aesthetic')
    other_names = {seed: sampling_seeds(42, 8, seed) for seed in SEEDS}
    assert recorded_scorings(aesthetic, DIGEST, SEEDS, 'numpy', 'aesthetic', other_names, HASWELL)[0] == {}
    # no record: trained
    save_genome(tmp_path / 'bare.json', SMALL, {})
    found, reason = recorded_scorings(load_genome(tmp_path / 'bare.json'), DIGEST, SEEDS, 'numpy', 'loss')
    assert found == {} and reason == f"{tmp_path / 'bare.json'} keeps no record of its final's scorings"


SKYLAKEX = dict(HASWELL, blas_kernel='SkylakeX')
MEASURED = {'val_loss': 2e-14, 'score': 0.0, 'arithmetics': [AVX2_ONLY, SKYLAKEX], 'measured_in': 'experiments/x.jsonl'}


@pytest.mark.parametrize('here', [
    AVX2_ONLY, SKYLAKEX, dict(AVX2_ONLY, blas_kernel='Zen', numpy='2.1.3', blas_version='0.3.27', cpu='another'),
])
def test_an_arithmetic_of_a_kind_measured_within_the_tolerance_is_reused(tmp_path, here):
    """The record's drift, measured on arithmetics of this machine's kind (the same
    architecture, BLAS, kernel SIMD width, threads, numpy major version and SIMD target), is
    within INCUMBENT_REUSE_TOLERANCE: its scorings stand for training it here."""
    file = genome_file(tmp_path, drift=MEASURED)
    found, reason = scorings(file, here=here)
    assert sorted(found) == SEEDS
    assert reason == "the same split, settings and seeds, on an arithmetic within its measured drift of 2e-14"
    assert found[SEEDS[0]][0]['arithmetic'] == HASWELL  # what computed it


@pytest.mark.parametrize('here, why', [
    (dict(HASWELL, arch='aarch64', blas_kernel='NEOVERSEN1'), "on aarch64"),
    (dict(HASWELL, blas='mkl'), "with mkl"),
    (dict(HASWELL, blas_kernel='Nehalem', simd=[]), "on the Nehalem (128-bit) kernel"),
    (dict(HASWELL, blas_kernel='Loongson3R4'), "on the Loongson3R4 (unknown width) kernel"),
    (dict(HASWELL, blas_threads=2), "with 2 BLAS threads"),
    (dict(HASWELL, numpy='3.0.1'), "with numpy 3"),
    (dict(HASWELL, simd=['X86_V3', 'X86_V4']), "with numpy's loops at X86_V4"),
    (dict(SKYLAKEX, simd=['X86_V3']), "on this combination of them"),
])
def test_an_arithmetic_the_measurement_did_not_cover_is_trained(tmp_path, here, why):
    found, reason = scorings(genome_file(tmp_path, drift=MEASURED), here=here)
    assert found == {} and reason.endswith(f", and its drift was not measured {why}"), reason
    assert reason.startswith("its record was computed on x86_64 numpy 2.4.6 (AVX512_ICL), openblas ")
    found, reason = scorings(genome_file(tmp_path, drift=MEASURED), here=dict(HASWELL, simd=None))
    assert found == {} and reason.endswith("and this machine's arithmetic is not fully known")


def test_without_a_measured_drift_or_above_the_bound_only_the_same_arithmetic_is_reused(tmp_path):
    found, reason = scorings(genome_file(tmp_path), here=AVX2_ONLY)
    assert found == {} and reason.endswith("and its drift across arithmetics was not measured")
    wide = dict(MEASURED, val_loss=INCUMBENT_REUSE_TOLERANCE * 2)
    found, reason = scorings(genome_file(tmp_path, drift=wide), here=AVX2_ONLY)
    assert found == {}
    assert f"its measured drift across arithmetics ({INCUMBENT_REUSE_TOLERANCE * 2:.2g}) exceeds" in reason
    assert sorted(scorings(genome_file(tmp_path, drift=wide))[0]) == SEEDS  # the same arithmetic: the same bits


def test_a_record_of_a_real_final_gives_back_what_training_gives(tmp_path, names_docs):
    """Trained, recorded, saved and read back, then met by the record: the same trial results
    to the last bit as training again here (the aesthetic fitness: the judge's too)."""
    train, val = split_docs(names_docs[:300], 42)
    seeds = SEEDS[:2]

    def trained(seed):
        return run_trial(Trial(SMALL, seed, 'numpy'), train, val, aesthetic_measure, {'seeds': sampling_seeds(42, 7, seed)})

    results = [(seed, trained(seed)) for seed in seeds]
    record = final_record(SMALL, results, 'aesthetic', 'numpy', split_digest(train, val), 42, 'cd' * 32)
    save_genome(tmp_path / 'genome.json', SMALL, {}, record)
    file = load_genome(tmp_path / 'genome.json')
    found, _ = recorded_scorings(file, split_digest(train, val), seeds, 'numpy', 'aesthetic',
                                 {seed: sampling_seeds(42, 7, seed) for seed in seeds})
    again = trained(seeds[0])
    assert found[seeds[0]][0]['val_loss'] == again['val_loss']
    assert found[seeds[0]][0]['measured'] == json.loads(json.dumps(again['measured']))
    assert found[seeds[0]][0]['arithmetic'] == arithmetic(machine())


# --- a hand-edited record ----------------------------------------------------------------------

def edited(record, change):
    record = copy.deepcopy(record)
    change(record)
    return record


@pytest.mark.parametrize('change, field', [
    (lambda r: r.update(fitness='beauty'), 'record.fitness'),
    (lambda r: r.pop('split_sha256'), 'record.split_sha256'),
    (lambda r: r.update(split_sha256='abc'), 'record.split_sha256'),
    (lambda r: r.update(val_split=1.5), 'record.val_split'),
    (lambda r: r.update(split_seed='42'), 'record.split_seed'),
    (lambda r: r.update(colour=3), 'record.colour'),
    (lambda r: r['genes'].update(colour=3), 'record.genes.colour'),
    (lambda r: r.update(scorings=[]), 'record.scorings'),
    (lambda r: r['scorings'].__setitem__(1, 'x'), 'record.scorings[1]'),
    (lambda r: r['scorings'][1].update(seed=1.5), 'record.scorings[1].seed'),
    (lambda r: r['scorings'][2].update(seed=11), 'record.scorings[2].seed'),
    (lambda r: r['scorings'][1]['components'].update(val_loss='low'), 'record.scorings[1].components.val_loss'),
    (lambda r: r['scorings'][0]['components'].pop('seeds'), 'record.scorings[0].components.seeds'),
    (lambda r: r['scorings'][0]['components'].update(val_loss=1.0), 'record.val_loss.mean'),
    (lambda r: r['score'].update(spread='wide'), 'record.score.spread'),
    (lambda r: r['arithmetic'].pop('blas_threads'), 'record.arithmetic'),
    (lambda r: r.update(drift={'val_loss': -1}), 'record.drift.val_loss'),
    (lambda r: r.update(drift=dict(MEASURED, arithmetics=[{}])), 'record.drift.arithmetics'),
    (lambda r: r.update(drift=dict(MEASURED, score=None, measured_in=None)), 'record.drift.measured_in'),
])
def test_a_hand_edited_record_is_one_line_naming_its_field(tmp_path, change, field):
    record = genome_file(tmp_path, 'aesthetic').record
    path = tmp_path / 'edited.json'
    save_genome(path, SMALL, {}, edited(record, change))
    with pytest.raises(MicrogptError) as err:
        load_genome(path)
    message = str(err.value)
    assert message.startswith(f"genome file {path}: field '{field}' ") and '\n' not in message


def test_train_with_a_hand_edited_record_prints_one_line(runner, small_data):
    record = genome_file(Path('.'), 'loss').record
    save_genome('genome.json', SMALL, {}, edited(record, lambda r: r.update(split_seed=None)))
    result = runner.invoke(main, ['train', '--data', str(small_data), '--samples', '0'])
    assert result.exit_code == 1 and 'Traceback' not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith('Error:')]
    assert errors == ["Error: genome file genome.json: field 'record.split_seed' must be a whole number, got None"]


def test_genome_files_without_a_record_load_as_before(tmp_path):
    for version, genes in ((1, {k: getattr(SMALL, k) for k in ('n_embd', 'n_head', 'n_layer', 'block_size',
                                                                'ff_mult', 'learning_rate', 'num_steps')}),
                           (2, SMALL.genes())):
        path = tmp_path / f'v{version}.json'
        path.write_text(json.dumps({'format': 'microgpt-genome', 'version': version, 'genes': genes}))
        assert load_genome(path).record is None
    assert genome_file(tmp_path, drift=MEASURED).record['drift'] == MEASURED  # and one with a record round-trips


# --- the shipped genomes' records -----------------------------------------------------------

def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_the_shipped_genome_records_the_scorings_its_logs_hold():
    """genome.json's record is the aesthetic search's final's scorings of it (the incumbent
    there), exactly as that log holds them; experiments/genome-aesthetic.json's is the same
    final's scorings of its winner."""
    shipped = (('genome.json', (0, 1, 'incumbent')), ('experiments/genome-aesthetic.json', (6, 5, 'confirmation')))
    for path, born in shipped:
        file = load_genome(REPO / path)
        record = file.record
        log = read_jsonl(REPO / record['log'])
        run = log[0]
        made = {r['seed']: r for r in log if r['kind'] == 'organism' and r.get('scored_in') == run['generations'] + 1
                and (r['generation'], r['index'], r['origin']) == born}
        [confirmation] = [r for r in log if r['kind'] == 'confirmation']
        assert [s['seed'] for s in record['scorings']] == confirmation['seeds']
        assert set(made) == set(confirmation['seeds'])
        for scoring in record['scorings']:
            source = made[scoring['seed']]
            assert scoring['components'] == source['components'] and scoring['tokens'] == source['tokens']
            assert record['arithmetic'] == source['arithmetic']
        assert Genome.from_settings(record['genes']) == file.genome
        assert (record['split_sha256'], record['split_seed'], record['engine']) == \
            (run['split_sha256'], run['seed'], run['engine'])
        assert record['data_sha256'] == run['provenance']['data_sha256']


def test_a_default_search_from_the_project_root_meets_the_shipped_genome_by_its_record():
    """On the arithmetic that made it, and on an AVX2-only machine (within the drift measured
    of it), the default search's final takes all three scorings; on arm64 it trains them."""
    from microgpt.data import load_docs
    from microgpt.evolve.genes import DEFAULT_GENERATIONS
    from microgpt.evolve.search import organism_seed
    shipped = load_genome(REPO / 'genome.json')
    train, val = split_docs(load_docs(REPO / 'input.txt'), 42)
    final = DEFAULT_GENERATIONS + 1
    seeds = [organism_seed(42, final, k) for k in range(3)]
    judged = {seed: sampling_seeds(42, final, seed) for seed in seeds}
    for here in (shipped.record['arithmetic'], AVX2_ONLY, SKYLAKEX, dict(AVX2_ONLY, blas_kernel='Zen')):
        for fitness in ('loss', 'aesthetic'):
            found, _ = recorded_scorings(shipped, split_digest(train, val), seeds, 'numpy', fitness, judged, here)
            assert sorted(found) == sorted(seeds), (here, fitness)
    for here in (dict(HASWELL, arch='aarch64', blas_kernel='NEOVERSEN1'), dict(HASWELL, blas_threads=8)):
        assert recorded_scorings(shipped, split_digest(train, val), seeds, 'numpy', 'loss', None, here)[0] == {}


def incumbent_replays():
    return [r for r in read_jsonl(REPO / 'experiments/incumbent-drift/incumbent-drift.jsonl')
            if '(incumbent)' in r['run']]


def test_the_reuse_tolerance_holds_the_measured_drift_of_the_shipped_genome():
    """experiments/incumbent-drift/: the shipped genome's first final scoring trained again as
    an AVX2-only machine computes it (and on the other arithmetics replayed) stays within
    INCUMBENT_REUSE_TOLERANCE, in held-out loss and in judge score, as its scorings on SkylakeX
    do; the genome's record states the largest drift measured and the arithmetics it covers,
    and the tolerance is far below the spread of its scorings."""
    replays = incumbent_replays()
    kinds = {(r['arithmetic']['blas_kernel'], r['arithmetic']['blas_threads'], tuple(r['arithmetic']['simd']))
             for r in replays}
    assert ('Haswell', 1, ('X86_V3',)) in kinds
    record = load_genome(REPO / 'genome.json').record
    for r in replays:
        assert r['recorded']['val_loss'] == record['scorings'][0]['components']['val_loss']
        assert r['val_loss_drift'] == abs(r['replayed']['val_loss'] - r['recorded']['val_loss'])
        assert r['val_loss_drift'] <= record['drift']['val_loss'] <= INCUMBENT_REUSE_TOLERANCE
        assert r['score_drift'] <= record['drift']['score'] <= INCUMBENT_REUSE_TOLERANCE
        assert r['arithmetic'] in record['drift']['arithmetics']
    skylakex = read_jsonl(REPO / 'experiments/evolve-aesthetic-20261203-060904-seed42.jsonl')
    recorded = {s['seed']: s['components'] for s in record['scorings']}
    for r in skylakex:
        if r['kind'] == 'organism' and r['origin'] == 'incumbent':
            assert abs(r['components']['val_loss'] - recorded[r['seed']]['val_loss']) <= record['drift']['val_loss']
            assert r['arithmetic'] in record['drift']['arithmetics']
    assert INCUMBENT_REUSE_TOLERANCE * 1e4 <= record['val_loss']['spread']
