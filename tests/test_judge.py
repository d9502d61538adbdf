"""The aesthetic judge (microgpt/judge.py), checked against held-out real names.

The names data is split here, deterministically, into a training part (what the judge is
fitted on) and a held-out part; held-out names that are not also in training are the
"real unseen" names a good judge must prefer over every kind of junk.
"""
import json
import math
import random
from pathlib import Path

import pytest

from microgpt.errors import MicrogptError
from microgpt.evolve.judge import WEIGHTS, Judge, format_report, is_degenerate, read_names

DATA = Path(__file__).parents[1] / 'input.txt'
HOLD_OUT_EVERY = 8        # every 8th line of input.txt is held out
CLASS_SIZE = 300          # names per class
SEED = 9173

# What the judge must achieve on these sets.
MARGINS = {               # mean score of real unseen names minus that of each other class
    'memorized': 0.12,
    'cv_gibberish': 0.2,
    'random_letters': 0.35,
    'degenerate': 0.35,
}
TOP_SHARE = 0.2           # among all classes scored together, the top 20% of scores ...
TOP_REAL_UNSEEN = 0.8     # ... are at least 80% real unseen names

VOWELS = 'aeiouy'
CONSONANTS = 'bcdfghjklmnpqrstvwxz'   # uncommon ones (q, x, z, w, f, v) included
LETTERS = 'abcdefghijklmnopqrstuvwxyz'


# --- the held-out setup ---------------------------------------------------------------------

def _all_docs():
    return [line.strip() for line in DATA.read_text(encoding='utf-8').split('\n') if line.strip()]


@pytest.fixture(scope='module')
def split():
    docs = _all_docs()
    train = [d for i, d in enumerate(docs) if i % HOLD_OUT_EVERY]
    held = [d for i, d in enumerate(docs) if not i % HOLD_OUT_EVERY]
    return docs, train, held


@pytest.fixture(scope='module')
def judge(split):
    return Judge(split[1])


def _syllables(rng, low, high):
    return ''.join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(low, high)))


def make_classes(docs, train, held):
    """The name sets, CLASS_SIZE each, all from a fixed seed."""
    rng = random.Random(SEED)
    known = set(docs)
    train_set = set(train)
    unseen = sorted({d for d in held if d not in train_set})
    classes = {
        'real_unseen': rng.sample(unseen, CLASS_SIZE),
        'memorized': rng.sample(sorted(train_set), CLASS_SIZE),
    }
    gibberish = set()
    while len(gibberish) < CLASS_SIZE:
        name = _syllables(rng, 2, 4)
        if name not in known and not is_degenerate(name):
            gibberish.add(name)
    classes['cv_gibberish'] = sorted(gibberish)
    randoms = set()
    while len(randoms) < CLASS_SIZE:
        name = ''.join(rng.choice(LETTERS) for _ in range(rng.randint(4, 9)))
        if name not in known:
            randoms.add(name)
    classes['random_letters'] = sorted(randoms)
    degenerate = []
    for i in range(CLASS_SIZE):
        kind = i % 4
        if kind == 0:    # one letter over and over
            name = rng.choice(LETTERS) * rng.randint(2, 6)
        elif kind == 1:  # one syllable over and over
            name = _syllables(rng, 1, 1) * rng.randint(2, 4)
        elif kind == 2:  # one or two letters
            name = ''.join(rng.choice(LETTERS) for _ in range(rng.randint(1, 2)))
        else:            # a junk palindrome
            half = ''.join(rng.choice(LETTERS) for _ in range(rng.randint(2, 4)))
            name = half + rng.choice(['', rng.choice(LETTERS)]) + half[::-1]
        degenerate.append(name)
    classes['degenerate'] = degenerate
    return classes


@pytest.fixture(scope='module')
def classes(split):
    return make_classes(*split)


def _mean(values):
    values = list(values)
    return sum(values) / len(values)


def class_means(judge, classes):
    return {label: _mean(judge.score_name(n)['score'] for n in names) for label, names in classes.items()}


# --- real unseen names beat every kind of junk ----------------------------------------------

def test_real_unseen_names_beat_every_other_class_by_a_margin(judge, classes):
    means = class_means(judge, classes)
    for label, margin in MARGINS.items():
        assert means['real_unseen'] - means[label] >= margin, (label, means)


def test_top_scores_are_mostly_real_unseen_names(judge, classes):
    pool = [(judge.score_name(n)['score'], label) for label, names in classes.items() for n in names]
    pool.sort(key=lambda item: -item[0])
    top = pool[:int(len(pool) * TOP_SHARE)]
    share = sum(label == 'real_unseen' for _, label in top) / len(top)
    assert share >= TOP_REAL_UNSEEN


def test_real_unseen_names_flow_and_random_letters_do_not(judge, classes):
    assert _mean(judge.flow(n) for n in classes['real_unseen']) >= 0.8
    assert _mean(judge.flow(n) for n in classes['random_letters']) <= 0.15


def test_components_are_in_unit_interval_and_score_is_their_weighted_sum(judge, classes):
    for names in classes.values():
        for name in names:
            entry = judge.score_name(name)
            for key in WEIGHTS:
                assert 0.0 <= entry[key] <= 1.0
            assert entry['score'] == pytest.approx(sum(WEIGHTS[k] * entry[k] for k in WEIGHTS))


# --- monotonicity ---------------------------------------------------------------------------

@pytest.mark.parametrize('smooth, rough', [
    ('delorin', 'dqlxrin'),
    ('marisel', 'mzrwsel'),
    ('tabetha', 'tabqxha'),
    ('kelvani', 'kjlvzni'),
])
def test_probable_transitions_flow_better_than_rare_ones(judge, smooth, rough):
    assert len(smooth) == len(rough)
    assert judge.flow(smooth) > judge.flow(rough) + 0.3


def test_flow_follows_the_model_likelihood(judge, classes):
    names = classes['real_unseen'][:50] + classes['cv_gibberish'][:50]
    by_loglik = sorted(names, key=judge.model.loglik)
    flows = [judge.flow(n) for n in by_loglik]
    assert flows == sorted(flows)


@pytest.mark.parametrize('context', ['\n\n', '\nk', 'ar', 'qx', 'zz', 'y\n'])
def test_the_trigram_model_is_a_distribution(judge, context):
    model = judge.model
    assert sum(math.exp(model.logprob(context + w)) for w in model.symbols) == pytest.approx(1.0)


def test_characters_outside_the_data_flow_badly_but_score(judge):
    assert judge.flow('cor7ina') < judge.flow('corvina') - 0.3
    assert 0.0 <= judge.score_name('Corvina!')['score'] < judge.score_name('corvina')['score']


def test_a_tiny_training_set_still_gives_a_judge():
    judge = Judge(['corvina', 'tebaldo', 'mirela'])
    entry = judge.score_name('corvila')
    assert all(0.0 <= entry[k] <= 1.0 for k in WEIGHTS)
    assert judge.score_name('corvina')['creativity'] == 0.0


def test_near_copy_is_less_creative_than_new_and_more_than_a_copy(judge, split):
    _, train, _ = split
    copy = next(n for n in train if len(n) == 7 and judge.flow(n) > 0.8)
    near = next(v for v in (copy[:-1] + ch for ch in VOWELS + 'nlr') if v not in judge.known)
    assert judge.near_copy(near)
    new = next(n for n in ('brovandel', 'quelmarith', 'sorvantha', 'terzabeline')
               if not judge.near_copy(n) and n not in judge.known and judge.flow(n) > 0.5)
    c = {k: judge.score_name(n)['creativity'] for k, n in (('copy', copy), ('near', near), ('new', new))}
    assert c['copy'] == 0.0 < c['near'] < c['new']


def _damerau_within_one(a, b):
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def test_near_copy_matches_a_brute_force_edit_distance(split):
    rng = random.Random(SEED + 1)
    small = sorted(set(rng.sample(split[1], 300)))
    judge = Judge(small)
    probes = []
    for name in small[:60]:
        i = rng.randrange(len(name))
        ch = rng.choice(LETTERS)
        probes += [name[:i] + name[i + 1:], name[:i] + ch + name[i:], name[:i] + ch + name[i + 1:],
                   name[:i] + name[i + 1:i + 2] + name[i:i + 1] + name[i + 2:], name + 'zz', name[1:-1]]
    for probe in probes:
        expected = probe not in judge.known and any(_damerau_within_one(probe, k) for k in small)
        assert judge.near_copy(probe) == expected, probe


def test_length_shapes_creativity(judge):
    assert judge.score_name('ro')['creativity'] == 0.0
    long_name = 'marabelinorasta'
    assert judge.length_factor(long_name) < 1.0
    assert judge.length_factor(long_name * 2) == 0.0
    assert judge.length_factor('corvina') == 1.0


def test_repeats_lower_the_batch_score(judge, classes):
    names = classes['real_unseen'][:20]
    repeated = names[:10] + [names[0]] * 10
    fresh = judge.score_batch(names)
    stale = judge.score_batch(repeated)
    assert stale['score'] < fresh['score']
    first, later = stale['names'][0], stale['names'][10]
    assert later['name'] == first['name'] and later['creativity'] == 0.0
    assert first['creativity'] == judge.score_name(names[0])['creativity']
    mean = _mean(e['score'] for e in stale['names'])
    assert stale['score'] == pytest.approx(mean * 10 / 20)


@pytest.mark.parametrize('name', ['tttt', 'ee', 'kokoko', 'bibi', 'renarenarena', 'sasas'])
def test_degenerate_strings_get_no_symmetry_and_no_creativity(judge, name):
    assert is_degenerate(name)
    entry = judge.score_name(name)
    assert entry['symmetry'] == 0.0 and entry['creativity'] == 0.0


def test_a_flowing_palindrome_gains_and_a_junk_palindrome_does_not(judge):
    assert not is_degenerate('elle') and not is_degenerate('navan')
    assert judge.score_name('navan')['symmetry'] > 0.8
    assert judge.score_name('zqxqz')['symmetry'] < 0.05
    assert judge.score_name('navan')['score'] > judge.score_name('zqxqz')['score'] + 0.3


# --- determinism, plain data, errors ---------------------------------------------------------

def test_judge_is_deterministic(split, classes, judge):
    names = [n for group in classes.values() for n in group[:30]]
    again = Judge(split[1])
    assert again.score_batch(names) == judge.score_batch(names)
    assert judge.score_batch(names) == judge.score_batch(names)


def test_batch_report_is_plain_json_with_exactly_the_documented_keys(judge):
    report = judge.score_batch(['corvina', 'tttt', 'corvina', 'zqxqz'])
    assert set(report) == {'score', 'components', 'names'}
    assert set(report['components']) == {'flow', 'symmetry', 'creativity'}
    for entry in report['names']:
        assert set(entry) == {'name', 'score', 'flow', 'symmetry', 'creativity'}
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    for key in WEIGHTS:
        assert report['components'][key] == pytest.approx(_mean(e[key] for e in report['names']))


def test_empty_batch_scores_zero(judge):
    report = judge.score_batch([])
    assert report == {'score': 0.0, 'components': {'flow': 0.0, 'symmetry': 0.0, 'creativity': 0.0},
                      'names': []}


def test_format_report_has_a_line_per_name_and_a_batch_line(judge):
    names = ['corvina', 'tttt', 'corvina', 'a']
    text = format_report(judge.score_batch(names))
    lines = text.split('\n')
    assert len(lines) == len(names) + 2  # header, names, batch
    assert lines[0].split() == ['name', 'score', 'flow', 'symmetry', 'creativity']
    for line, name in zip(lines[1:-1], names):
        assert line.split()[0] == name and len(line.split()) == 5
    assert lines[-1].startswith('batch') and '4 names, 3 distinct' in lines[-1]
    assert len({len(line) for line in lines}) == 1  # aligned columns


def test_read_names_strips_and_drops_blank_lines(tmp_path):
    path = tmp_path / 'names.txt'
    path.write_text('  corvina \n\n\ttebaldo\r\n   \n', encoding='utf-8')
    assert read_names(path) == ['corvina', 'tebaldo']


@pytest.mark.parametrize('payload, needle', [
    (b'', 'empty'),
    (b'\n  \n\t\n', 'empty'),
    (b'123\n--\n', 'no letters'),
    (b'corv\x00ina\n', 'binary'),
    (b'corvina\nt\xe9baldo\n', 'UTF-8'),
])
def test_read_names_rejects_unusable_files(tmp_path, payload, needle):
    path = tmp_path / 'bad.txt'
    path.write_bytes(payload)
    with pytest.raises(MicrogptError) as info:
        read_names(path)
    message = str(info.value)
    assert needle in message and str(path) in message and '\n' not in message


def test_read_names_missing_file(tmp_path):
    with pytest.raises(MicrogptError, match='not found'):
        read_names(tmp_path / 'nope.txt')


def test_judge_needs_training_names():
    with pytest.raises(MicrogptError):
        Judge(['', '  '])
