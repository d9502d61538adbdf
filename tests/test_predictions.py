"""What the model predicts (microgpt/predictions.py; `microgpt predict`, `surprise`, `trace`):
the same numbers from the Val and the numpy engine; probabilities that sum to 1; a surprisal
whose mean is the model's loss; a trace whose name is sample's; strict JSON; one line for each
bad input; and the page that shows them, with the primordial model's real output."""
import json
import math
import random
import re
import runpy
import shlex
import shutil
import subprocess
import sys

import pytest

from microgpt.cli import main
from microgpt.files.checkpoint import load_checkpoint
from microgpt.gpt.engines import make_engine
from microgpt.predictions import END, predict_next, surprisal, trace_sample

from conftest import DOCS_PAGES, REPO

EXACT = 1e-12  # float64 engines differ only in the order of a few sums
PREFIXES = ['', 'e', 'em', 'kar', 'abcdefghijklmno']


@pytest.fixture(scope='module')
def primordial(tmp_path_factory, names_path):
    """The checkpoint `microgpt train --primordial` writes (1000 steps: about a second)."""
    folder = tmp_path_factory.mktemp('primordial')
    shutil.copy(names_path, folder / 'input.txt')
    subprocess.run([sys.executable, '-m', 'microgpt', 'train', '--primordial', '--samples', '0'],
                   cwd=folder, check=True, capture_output=True)
    return folder / 'microgpt.ckpt.json'


@pytest.fixture(scope='module')
def engines(primordial):
    loaded = load_checkpoint(primordial)
    return {name: make_engine(name, loaded.config, loaded.inference_state_dict) for name in ('val', 'numpy')}, \
        loaded.tokenizer


def run_cli(runner, *args):
    return runner.invoke(main, list(args))


def assert_close(a, b, tolerance=EXACT):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert abs(x - y) <= tolerance, (x, y)


# --- the numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize('prefix', PREFIXES)
def test_the_next_character_s_probabilities_are_the_same_on_both_engines_and_sum_to_one(engines, prefix):
    (by_engine, tokenizer) = engines
    val, numpy = (predict_next(by_engine[name], tokenizer, prefix) for name in ('val', 'numpy'))
    assert_close(val.probabilities, numpy.probabilities)
    assert len(numpy.probabilities) == tokenizer.vocab_size and math.isclose(sum(numpy.probabilities), 1, abs_tol=EXACT)
    assert list(numpy.as_dict()) == [*tokenizer.chars, END]
    cooler = predict_next(by_engine['numpy'], tokenizer, prefix, temperature=0.5)
    assert cooler.top(1)[0][0] == numpy.top(1)[0][0] and cooler.top(1)[0][1] > numpy.top(1)[0][1]


@pytest.mark.parametrize('text', ['emma', 'x', '', 'qqqq', 'abcdefghijklmno'])
def test_surprisal_is_the_same_on_both_engines_and_its_mean_is_the_model_s_loss(engines, text):
    (by_engine, tokenizer) = engines
    val, numpy = (surprisal(by_engine[name], tokenizer, text) for name in ('val', 'numpy'))
    assert [c.label for c in numpy.characters] == [*text, END]
    for field in ('probability', 'nats', 'bits', 'likeliest_probability'):
        assert_close([getattr(c, field) for c in val.characters], [getattr(c, field) for c in numpy.characters])
    assert [c.likeliest for c in val.characters] == [c.likeliest for c in numpy.characters]
    for c in numpy.characters:
        assert math.isclose(c.nats, -math.log(c.probability)) and math.isclose(c.bits, -math.log2(c.probability))
    # the model's own loss function, on the Val engine: the mean cross-entropy of the document
    tokens = tokenizer.doc_tokens(text, by_engine['val'].config.block_size)
    loss = by_engine['val'].model.loss([tokens]).data
    assert abs(val.mean_nats - loss) <= EXACT and abs(numpy.mean_nats - loss) <= EXACT
    assert math.isclose(numpy.perplexity, math.exp(numpy.mean_nats))


def test_surprisal_mean_is_what_eval_prints_for_that_one_name(runner, primordial):
    (runner_dir := primordial.parent / 'one-name').mkdir(exist_ok=True)
    (runner_dir / 'emma.txt').write_text('emma\n')
    evaluated = run_cli(runner, 'eval', '--checkpoint', str(primordial), '--data', str(runner_dir / 'emma.txt'),
                        '--json')
    assert evaluated.exit_code == 0, evaluated.output
    surprised = run_cli(runner, 'surprise', '--checkpoint', str(primordial), '--text', 'emma', '--json')
    assert surprised.exit_code == 0, surprised.output
    assert abs(json.loads(evaluated.stdout)['loss'] - json.loads(surprised.stdout)['mean_nats']) <= EXACT


TRACED = [dict(), dict(seed=7, temperature=1.0), dict(seed=3, prefix='ka'), dict(seed=5, top_k=3),
          dict(seed=11, top_p=0.6, temperature=0.8), dict(seed=2, top_k=1)]


@pytest.mark.parametrize('options', TRACED, ids=str)
def test_a_trace_is_the_same_on_both_engines_and_its_draws_add_up(engines, options):
    (by_engine, tokenizer) = engines
    kwargs = {k: v for k, v in options.items() if k != 'seed'}
    val, numpy = (trace_sample(by_engine[name], tokenizer, random.Random(options.get('seed', 42)), **kwargs)
                  for name in ('val', 'numpy'))
    assert val.name == numpy.name and len(val.draws) == len(numpy.draws) > 0
    assert numpy.name.startswith(options.get('prefix', ''))
    for a, b in zip(val.draws, numpy.draws):
        assert (a.position, a.after, a.drawn) == (b.position, b.after, b.drawn)
        assert_close(a.probabilities, b.probabilities)
        assert math.isclose(sum(b.probabilities), 1, abs_tol=EXACT) and b.drawn_probability > 0
        if 'top_k' in options:
            assert sum(p > 0 for p in b.probabilities) <= options['top_k']
    # each draw read what the ones before drew; the last drew the end, or the context was full
    assert [d.after for d in numpy.draws] == [numpy.name[:d.position] for d in numpy.draws]
    assert numpy.draws[-1].drawn == END or len(numpy.name) == by_engine['numpy'].config.block_size


@pytest.mark.parametrize('options', TRACED, ids=str)
@pytest.mark.parametrize('engine', ['numpy', 'val'])
def test_trace_draws_the_first_name_sample_prints(runner, primordial, options, engine):
    args = ['--checkpoint', str(primordial), '--engine', engine]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    sampled = run_cli(runner, 'sample', '--num', '1', *args)
    traced = run_cli(runner, 'trace', *args)
    assert sampled.exit_code == 0 and traced.exit_code == 0, (sampled.output, traced.output)
    first = sampled.stdout.splitlines()[0].split(': ', 1)[1]
    assert traced.stdout.splitlines()[-1] == f"name: {first}"
    as_json = run_cli(runner, 'trace', '--json', *args)
    assert json.loads(as_json.stdout)['name'] == first


# --- the commands ----------------------------------------------------------------------------

def strict_json(text):
    """The one JSON object of text; NaN and Infinity are refused, as strict parsers refuse them."""
    def refuse(constant):
        raise AssertionError(f"not strict JSON: {constant}")
    [line] = text.splitlines()
    return json.loads(line, parse_constant=refuse)


@pytest.mark.parametrize('engine', ['numpy', 'val'])
def test_json_output_is_strict_and_the_same_on_both_engines(runner, primordial, engines, engine):
    tokenizer = engines[1]
    ckpt = ['--checkpoint', str(primordial), '--engine', engine]
    predicted = strict_json(run_cli(runner, 'predict', *ckpt, '--prefix', 'em', '--json').stdout)
    assert predicted['end'] == END and list(predicted['probabilities']) == [*tokenizer.chars, END]
    reference = predict_next(engines[0]['numpy'], tokenizer, 'em')
    assert_close(list(predicted['probabilities'].values()), reference.probabilities)
    surprised = strict_json(run_cli(runner, 'surprise', *ckpt, '--text', 'emma', '--json').stdout)
    assert [c['label'] for c in surprised['characters']] == ['e', 'm', 'm', 'a', END]
    assert abs(surprised['mean_nats'] - surprisal(engines[0]['numpy'], tokenizer, 'emma').mean_nats) <= EXACT
    traced = strict_json(run_cli(runner, 'trace', *ckpt, '--json', '--top-k', '2').stdout)
    assert traced['seed'] == 42 and traced['top_k'] == 2 and traced['draws'][0]['after'] == ''
    assert all(list(d['probabilities']) == [*tokenizer.chars, END] for d in traced['draws'])


def test_the_text_output_shows_the_candidates_with_bars(runner, primordial):
    ckpt = ['--checkpoint', str(primordial)]
    lines = run_cli(runner, 'predict', *ckpt, '--prefix', 'em', '--top', '3').stdout.splitlines()
    assert lines[0].startswith('after BOS em, the next character: 3 likeliest of 27') and len(lines) == 4
    for line in lines[1:]:
        label, probability, bar = line.split()
        assert bar == '#' * round(float(probability) * 40)
    lines = run_cli(runner, 'surprise', *ckpt, '--text', 'emma').stdout.splitlines()
    assert [line.split()[1] for line in lines[2:7]] == ['e', 'm', 'm', 'a', END]
    assert lines[-1].startswith('mean ') and len(lines) == 8
    lines = run_cli(runner, 'trace', *ckpt, '--top', '1', '--temperature', '2').stdout.splitlines()
    draws = [i for i, line in enumerate(lines) if line.startswith('after ')]
    assert lines[-1].startswith('name: ') and draws
    for start, end in zip(draws, [*draws[1:], len(lines) - 1]):  # the likeliest, and the drawn if not it
        candidates = lines[start + 1:end]
        assert 1 <= len(candidates) <= 2 and sum(line.endswith('  <- drawn') for line in candidates) == 1


BAD = [
    (['predict', '--prefix', 'é'], "prefix 'é' has characters the model does not know: 'é'"),
    (['predict', '--prefix', 'Emma'], "prefix 'Emma' has characters the model does not know: 'E'"),
    (['predict', '--prefix', 'a' * 16], "prefix is 16 characters; the model's block_size (16) leaves room for at most 15"),
    (['surprise', '--text', 'em ma'], "text 'em ma' has characters the model does not know: ' '"),
    (['surprise', '--text', 'a' * 16], "text is 16 characters; the model's block_size (16) leaves room for at most 15"),
    (['trace', '--prefix', '3'], "prefix '3' has characters the model does not know: '3'"),
    (['trace', '--prefix', 'a' * 16], "leaves room for at most 15"),
    (['predict', '--temperature', '0'], "'0' must be a finite number > 0"),
    (['trace', '--top-p', '2'], "--top-p"),
]


@pytest.mark.parametrize('args, fragment', BAD, ids=lambda a: ' '.join(a) if isinstance(a, list) else '')
def test_each_bad_input_is_one_line(runner, primordial, args, fragment):
    result = runner.invoke(main, [*args, '--checkpoint', str(primordial)])
    assert result.exit_code in (1, 2) and 'Traceback' not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith('Error:')]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert result.stdout == ''


@pytest.mark.parametrize('command', [['predict'], ['surprise', '--text', 'emma'], ['trace']])
def test_a_missing_or_bad_checkpoint_is_one_line(runner, tmp_path, command):
    missing = runner.invoke(main, [*command, '--checkpoint', str(tmp_path / 'none.ckpt.json')])
    assert missing.exit_code == 1 and missing.stderr.startswith('Error: checkpoint not found')
    (tmp_path / 'bad.ckpt.json').write_text('{"format": "something else"}')
    bad = runner.invoke(main, [*command, '--checkpoint', str(tmp_path / 'bad.ckpt.json')])
    assert bad.exit_code == 1 and bad.stderr.count('\n') == 1 and 'not a microgpt checkpoint' in bad.stderr
    assert 'Traceback' not in missing.output + bad.output


def test_a_bad_input_never_shows_a_traceback_in_a_real_process(primordial):
    done = subprocess.run([sys.executable, '-m', 'microgpt', 'surprise', '--checkpoint', str(primordial),
                           '--text', 'Zoe'], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ''
    assert done.stderr.splitlines() == ["Error: text 'Zoe' has characters the model does not know: 'Z'"]


# --- the page ----------------------------------------------------------------------------------

def numbers_by_key(text):
    return dict(re.findall(r'"([^"]+)": (-?[0-9][0-9.e+-]*)', text))


def test_the_page_shows_the_primordial_model_s_real_output(runner, primordial):
    """Each command of predictions.md (run by tests/test_docs.py on a small checkpoint) prints,
    on the primordial checkpoint, the text block below it: exactly, or for JSON shown with
    `...` the same keys and numbers (to 1e-9) of what it shows."""
    fenced_blocks = runpy.run_path(str(REPO / 'benchmarks' / 'tour.py'))['fenced_blocks']
    blocks = fenced_blocks((DOCS_PAGES / 'predictions.md').read_text())
    shown = 0
    for (language, code, *_), following in zip(blocks, [*blocks[1:], None]):
        if language != 'bash' or following is None or following[0] != 'text':
            continue
        [args] = [shlex.split(line) for line in code.splitlines() if line.strip()]
        printed = run_cli(runner, *args[1:], '--checkpoint', str(primordial))
        assert printed.exit_code == 0, printed.output
        expected = following[1]
        if '...' in expected:
            real = numbers_by_key(printed.stdout)
            for key, value in numbers_by_key(expected).items():
                assert math.isclose(float(real[key]), float(value), rel_tol=1e-9), key
            assert list(real)[:2] == list(numbers_by_key(expected))[:2]  # the same keys, in order
            assert printed.stdout.startswith(expected.split(': 0.')[0]) and printed.stdout.endswith('}}\n')
        else:
            assert printed.stdout == expected + '\n', args
        shown += 1
    assert shown == 5
