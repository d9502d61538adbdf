"""Text mode (microgpt/training/textmode.py): `train --text` reads --data as one stream of characters and
trains on windows of block_size + 1 of them; the held-out share is the stream's tail; `sample
--prompt --chars` continues a text-mode checkpoint, `eval` scores a whole text; the commands
that read a list say in one line that they have no text mode; list mode is untouched."""
import json
import math
import os
import random
import re
import runpy
import shlex
import signal
from pathlib import Path

import pytest

from conftest import REPO, docs_text
from microgpt.cli import main
from microgpt.data import (TEXT_SHA256, TextData, bundled_text_path, load_text, sha256_of, tiling_windows,
                           window_starts)
from microgpt.files import checkpoint as ckpt
from microgpt.gpt.engines import make_engine
from microgpt.gpt.sampling import continue_text
from microgpt.training.run import TrainConfig
from microgpt.training.textmode import TextRun, TextSplit, text_loss

TINY = ['--primordial', '--n-embd', '8', '--n-head', '2', '--block-size', '8']
ARCH = dict(n_embd=8, n_head=2, block_size=8)  # TINY's model
WORDS = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'far']


def made_text(lines=150, seed=1):
    """A text this test makes itself: lines of a few words, newlines between them."""
    draw = random.Random(seed)
    return '\n'.join(' '.join(draw.choice(WORDS) for _ in range(draw.randint(2, 6))) for _ in range(lines)) + '\n'


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / 'play.txt'
    path.write_text(made_text())
    return path


def errors_of(result):
    return [line for line in result.stderr.splitlines() if line.startswith('Error:')]


def train_text(runner, data, *extra):
    return runner.invoke(main, ['train', '--text', '--data', str(data), *TINY, *extra])


def text_split(path, block_size=8, val_split=0.0):
    return TextSplit.of(load_text(path), block_size, val_split)


# --- the stream and its windows -------------------------------------------------------------------

def test_the_stream_is_every_character_of_the_file_newlines_included(tmp_path):
    path = tmp_path / 'crlf.txt'
    path.write_bytes('\ufeffTo be,\r\n  or not\r\n\r\nto be\r\n'.encode('utf-8'))
    data = load_text(path)
    assert data.text == 'To be,\n  or not\n\nto be\n'  # no BOM, CRLF as one newline, blanks kept
    assert data.sha256 == sha256_of(path)
    assert TextSplit.of(data, 4).chars == sorted(set(data.text)) and '\n' in TextSplit.of(data, 4).chars


def test_windows_are_fixed_by_the_seed_and_the_step(text_file):
    split = text_split(text_file)
    run, again = TextRun(split, seed=3, arch=ARCH), TextRun(split, seed=3, arch=ARCH)
    for step in (0, 5, 999):
        batch = run.batch(step, 4)
        assert batch == again.batch(step, 4)
        assert batch != TextRun(split, seed=4, arch=ARCH).batch(step, 4) and batch != run.batch(step + 1, 4)
        for start, window in zip(run.batch_indices(step, 4), batch):
            assert len(window) == 9 and run.tokenizer.decode(window) == split.train[start:start + 9]
    # a batch draws nothing from the run's own stream: what the run samples after training does not move
    assert run.rng.getstate() == again.rng.getstate()


def test_the_held_out_share_is_the_tail_of_the_text_and_no_training_window_reaches_it(text_file):
    text = text_file.read_text()
    split = text_split(text_file, val_split=0.1)
    assert split.train + split.held_out == text and len(split.held_out) == round(len(text) * 0.1)
    run = TextRun(split, seed=42, arch=ARCH)
    assert run.held_out == [split.held_out] and run.docs == [split.train]
    ends = [start + 9 for step in range(500) for start in run.batch_indices(step, 8)]
    assert max(ends) <= len(split.train)  # every window inside the training part
    starts = {start for step in range(3000) for start in run.batch_indices(step, 8)}
    assert min(starts) == 0 and max(starts) == len(split.train) - 9  # reaching its first and last window
    # the held-out loss scores every character of the tail after its first, once
    windows = tiling_windows(run.tokenizer.encode(split.held_out), 8)
    assert sum(len(w) - 1 for w in windows) == len(split.held_out) - 1
    assert ''.join(run.tokenizer.decode(w[1:]) for w in windows) == split.held_out[1:]


def test_a_text_run_from_python_trains_evaluates_and_writes(text_file):
    run = TextRun(text_split(text_file, val_split=0.1), arch=ARCH)
    losses = run.train(TrainConfig(num_steps=20, batch_size=4, val_split=0.1, eval_every=10))
    assert len(losses) == 20 and [point['step'] for point in run.curve] == [10, 20]
    assert run.curve[-1]['val_loss'] == run.evaluate()
    state = run.rng.getstate()
    written = run.write(50, prompt='the ')
    run.rng.setstate(state)
    assert len(written) == 50 and written == ''.join(continue_text(run.engine, run.tokenizer, run.rng, 'the ', 50))


def test_window_starts_is_a_stream_of_its_own():
    assert window_starts(42, 7, 5, 100, 8) == window_starts(42, 7, 5, 100, 8)
    assert all(0 <= s <= 100 - 9 for s in window_starts(42, 7, 1000, 100, 8))


# --- training, resuming, the checkpoint -----------------------------------------------------------

def test_a_text_mode_checkpoint_says_so_and_a_list_one_does_not(runner, text_file, small_data):
    result = train_text(runner, text_file, '--steps', '3', '--samples', '0', '--out', 'text.json')
    assert result.exit_code == 0, result.output
    text = text_file.read_text()
    assert result.stdout.splitlines()[:2] == [f"num chars: {len(text)}", f"vocab size: {len(set(text)) + 1}"]
    loaded = ckpt.load_checkpoint('text.json')
    assert loaded.text_mode and loaded.training['data_mode'] == ckpt.TEXT_MODE
    assert loaded.chars == sorted(set(text))
    listed = runner.invoke(main, ['train', '--data', str(small_data), *TINY, '--steps', '3', '--samples', '0',
                                  '--out', 'list.json'])
    assert listed.exit_code == 0 and listed.stdout.startswith('num docs: 300\n')
    assert 'data_mode' not in ckpt.load_checkpoint('list.json').training
    assert not ckpt.load_checkpoint('list.json').text_mode


def test_the_held_out_loss_is_measured_on_the_tail(runner, text_file):
    result = train_text(runner, text_file, '--steps', '4', '--samples', '0', '--val-split', '0.2',
                        '--eval-every', '2', '--out', 'run.json')
    assert result.exit_code == 0, result.output
    text = text_file.read_text()
    n_tail = round(len(text) * 0.2)
    assert (f"held out: the last {n_tail:,} characters of the text (val_split 0.2); training on windows of the "
            f"first {len(text) - n_tail:,}") in result.stderr
    assert result.stdout.startswith(f"num chars: {len(text) - n_tail}\n")
    best = ckpt.load_checkpoint('run.best.json')
    tail = TextData(text_file, text[-n_tail:], '')
    assert text_loss(best, tail)[0] == pytest.approx(ckpt.load_checkpoint('run.json').training['best']['val_loss'],
                                                     abs=1e-12)


def interrupting_at(step_wanted, step_line):
    """step_line, but Ctrl-C (SIGINT) arrives as the line of step `step_wanted` is made."""
    def line(step, *rest):
        if step == step_wanted:
            os.kill(os.getpid(), signal.SIGINT)
        return step_line(step, *rest)
    return line


@pytest.mark.parametrize('engine', ['numpy', 'val'])
def test_a_text_mode_run_resumed_prints_and_ends_as_the_whole_run(runner, text_file, engine, monkeypatch):
    """Stopped after k steps (as Ctrl-C does) and resumed: the same step lines, weights and passage."""
    args = ['--steps', '6', '--batch-size', '2', '--val-split', '0.1', '--eval-every', '3', '--engine', engine]
    whole = train_text(runner, text_file, *args, '--out', 'whole.json')
    assert whole.exit_code == 0, whole.output
    from microgpt.commands import train_job as jobs
    with monkeypatch.context() as patched:
        patched.setattr(jobs, 'step_line', interrupting_at(2, jobs.step_line))
        stopped = train_text(runner, text_file, *args, '--out', 'part.json')
    assert stopped.exit_code == 130 and ckpt.load_checkpoint('part.json').training['steps_done'] == 2
    resumed = runner.invoke(main, ['train', '--resume', 'part.json', '--data', str(text_file), '--engine', engine])
    assert resumed.exit_code == 0, resumed.output
    whole_lines = whole.stdout.splitlines()
    after_step_2 = [line for line in whole_lines[3:] if not line.startswith(('step    1', 'step    2'))]
    assert resumed.stdout.splitlines()[3:] == after_step_2
    part, full = ckpt.load_checkpoint('part.json'), ckpt.load_checkpoint('whole.json')
    assert part.state_dict == full.state_dict and part.losses == full.losses
    assert part.training['curve'] == full.training['curve'] and part.text_mode
    passage = whole.stdout.split(jobs.TEXT_INFERENCE_HEADER + '\n')[1]
    assert len(passage) == jobs.DEFAULT_TEXT_CHARS + 1 and passage.endswith('\n')  # the passage, then a newline


def test_a_budget_counts_windows_of_block_size(runner, text_file):
    from microgpt.compute.flops import steps_for_budget
    result = train_text(runner, text_file, '--budget', '2e6', '--samples', '0')
    assert result.exit_code == 0, result.output
    loaded = ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT)
    assert loaded.training['num_steps'] == steps_for_budget(loaded.config, 1, 2e6, [8], 0.0)  # every window: 8
    assert loaded.training['num_steps'] != steps_for_budget(loaded.config, 1, 2e6, [4], 0.0)


# --- sampling: continuing a prompt ----------------------------------------------------------------

@pytest.fixture
def text_checkpoint(runner, text_file):
    result = train_text(runner, text_file, '--steps', '30', '--batch-size', '4', '--samples', '0', '--out', 't.json')
    assert result.exit_code == 0, result.output
    return 't.json'


@pytest.mark.parametrize('prompt, chars', [('the cat ', 57), ('', 40), ('a mat and the dog ran far', 30), ('dog', 0)])
def test_sample_prints_the_prompt_then_exactly_n_characters(runner, text_checkpoint, prompt, chars):
    args = ['sample', '--checkpoint', text_checkpoint, '--chars', str(chars), *(['--prompt', prompt] if prompt else [])]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith('\n') and result.stdout[:len(prompt)] == prompt
    written = result.stdout[len(prompt):-1]
    assert len(written) == chars
    loaded = ckpt.load_checkpoint(text_checkpoint)
    engine = make_engine('numpy', loaded.config, loaded.state_dict)
    assert written == ''.join(continue_text(engine, loaded.tokenizer, random.Random(42), prompt, chars))
    assert set(written) <= set(loaded.chars)
    if chars > 20:
        assert runner.invoke(main, [*args, '--seed', '7']).stdout != result.stdout


def test_the_window_slides_over_what_is_written(runner, text_checkpoint):
    """The incremental reading (a cache until block_size, then the window read again) draws what a
    model reading the last block_size characters afresh for every draw draws."""
    loaded = ckpt.load_checkpoint(text_checkpoint)
    engine = make_engine('numpy', loaded.config, loaded.state_dict)
    tokenizer, block = loaded.tokenizer, loaded.config.block_size
    written = tokenizer.encode('the cat')
    for _ in range(40):  # greedy: the likeliest character after the last block_size characters
        cache, window = engine.new_cache(), written[-block:]
        logits = [engine.logits(token, position, cache) for position, token in enumerate(window)][-1]
        written.append(max(range(len(tokenizer.chars)), key=lambda i: logits[i]))
    greedy = ''.join(continue_text(engine, tokenizer, random.Random(0), 'the cat', 40, top_k=1))
    assert greedy == tokenizer.decode(written[len('the cat'):])


def test_eval_scores_every_character_of_a_text_after_the_first_once(runner, text_checkpoint, tmp_path):
    other = tmp_path / 'other.txt'
    other.write_text(made_text(lines=30, seed=9))
    text = other.read_text()
    result = runner.invoke(main, ['eval', '--checkpoint', text_checkpoint, '--data', str(other), '--json'])
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    loaded = ckpt.load_checkpoint(text_checkpoint)
    engine = make_engine('numpy', loaded.config, loaded.state_dict)
    ids, block, nats = loaded.tokenizer.encode(text), loaded.config.block_size, []
    for start in range(0, len(ids) - 1, block):  # each window read afresh, its targets scored one by one
        window, cache = ids[start:start + block + 1], engine.new_cache()
        for position in range(len(window) - 1):
            logits = engine.logits(window[position], position, cache)
            top = max(logits)
            nats.append(math.log(sum(math.exp(l - top) for l in logits)) - (logits[window[position + 1]] - top))
    assert len(nats) == len(text) - 1 == scored['tokens']
    assert scored['loss'] == pytest.approx(math.fsum(nats) / len(nats), abs=1e-10)
    shown = runner.invoke(main, ['eval', '--checkpoint', text_checkpoint, '--data', str(other)]).stdout
    assert shown == (f"loss {scored['loss']:.4f} | perplexity {math.exp(scored['loss']):.4f} | "
                     f"{len(text) - 1:,} characters in {scored['windows']:,} windows\n")


# --- the baselines a text's loss is read against ------------------------------------------------

def counted_baselines(chars, train, scored):
    """uniform, unigram and bigram losses on scored's characters after its first, counted on train's
    (add-one smoothed), by plain counting: the figures text mode must print."""
    from collections import Counter
    V = len(chars)
    following = Counter(train[1:])
    pairs, before = Counter(zip(train, train[1:])), Counter(train[:-1])
    targets = list(zip(scored, scored[1:]))
    unigram = -sum(math.log((following[b] + 1) / (len(train) - 1 + V)) for _, b in targets) / len(targets)
    bigram = -sum(math.log((pairs[a, b] + 1) / (before[a] + V)) for a, b in targets) / len(targets)
    return math.log(V), unigram, bigram


def test_train_and_eval_read_a_texts_loss_against_its_baselines(runner, text_file):
    result = train_text(runner, text_file, '--steps', '20', '--batch-size', '4', '--val-split', '0.1',
                        '--eval-every', '20', '--samples', '0', '--out', 'b.json')
    assert result.exit_code == 0, result.output
    text = text_file.read_text()
    n_tail = round(len(text) * 0.1)
    train, tail = text[:-n_tail], text[-n_tail:]
    uniform, unigram, bigram = counted_baselines(sorted(set(text)), train, tail)
    assert (f"baselines on the held-out characters: uniform {uniform:.4f}, unigram {unigram:.4f}, bigram "
            f"{bigram:.4f} (unigram and bigram counted on the {len(train):,} training characters)") in result.stderr
    scored = runner.invoke(main, ['eval', '--checkpoint', 'b.json', '--data', str(text_file), '--held-out', '--json'])
    assert scored.exit_code == 0, scored.output
    scored = json.loads(scored.stdout)
    assert scored['loss'] == ckpt.load_checkpoint('b.json').training['best']['val_loss']
    assert scored['tokens'] == n_tail - 1 and scored['baselines']['training_characters'] == len(train)
    for name, value in zip(('uniform', 'unigram', 'bigram'), (uniform, unigram, bigram)):
        assert scored['baselines'][name] == pytest.approx(value, abs=1e-9)
    other = runner.invoke(main, ['eval', '--checkpoint', 'b.json', '--data', str(text_file)])
    uniform, unigram, bigram = counted_baselines(sorted(set(text)), train, text)
    assert (f"baselines on the same characters: uniform {uniform:.4f}, unigram {unigram:.4f}, bigram {bigram:.4f} "
            f"(unigram and bigram counted on the {len(train):,} training characters)") in other.stderr
    refused = runner.invoke(main, ['eval', '--checkpoint', 'b.json', '--data', str(bundled_text_path()),
                                   '--held-out'])
    assert refused.exit_code == 1 and len(errors_of(refused)) == 1 and '--held-out' in errors_of(refused)[0]


# --- a tiny model on a text the test makes, and a continuation ----------------------------------

def test_a_tiny_model_learns_a_made_text_and_continues_a_prompt(runner, tmp_path):
    path = tmp_path / 'rhyme.txt'
    path.write_text(made_text(lines=400, seed=5))
    result = train_text(runner, path, '--n-embd', '16', '--steps', '300', '--batch-size', '8', '--val-split', '0.1',
                        '--eval-every', '300', '--samples', '0', '--out', 'rhyme.json')
    assert result.exit_code == 0, result.output
    loaded = ckpt.load_checkpoint('rhyme.json')
    uniform = math.log(len(loaded.chars))  # a guess among the text's characters
    assert loaded.training['best']['val_loss'] < uniform - 0.8
    sample = runner.invoke(main, ['sample', '--checkpoint', 'rhyme.json', '--prompt', 'the cat ', '--chars', '200'])
    assert sample.exit_code == 0
    written = sample.stdout[len('the cat '):-1]
    assert len(written) == 200
    words = re.findall(r'[a-z]+', written)
    assert sum(word in WORDS for word in words) >= 0.7 * len(words)  # mostly the text's own words


# --- bad input: one line each, before any work ---------------------------------------------------

def test_bad_text_input_is_one_line_before_any_work(runner, tmp_path, text_file, small_data):
    short = tmp_path / 'short.txt'
    short.write_text('to be\n')
    blank = tmp_path / 'blank.txt'
    blank.write_text('\n  \n')
    cases = [
        (['train', '--text', '--data', str(short), *TINY], "text", "has 6 characters, fewer than one window of "
                                                                   "block_size + 1 = 9"),
        (['train', '--text', '--data', str(text_file), *TINY[:-1], '5000'], "fewer than one window of block_size + 1 "
                                                                            "= 5,001", ''),
        (['train', '--text', '--data', str(short), '--primordial', '--block-size', '4', '--val-split', '0.5'],
         "the window (block_size + 1 = 5 characters) is longer than the 3 characters", "left to train on"),
        (['train', '--text', '--data', str(blank), *TINY], "is empty: it holds no text", ''),
        (['train', '--text', '--data', str(text_file), *TINY, '--new-samples'], "--new-samples picks names", ''),
    ]
    for args, *parts in cases:
        result = runner.invoke(main, [*args, '--out', 'never.json'])
        assert result.exit_code == 1 and len(errors_of(result)) == 1, (args, result.output)
        assert all(part in errors_of(result)[0] for part in parts), errors_of(result)
        assert result.stdout == '' and not os.path.exists('never.json')


def test_sampling_options_that_do_not_fit_the_checkpoint_are_one_line(runner, text_checkpoint, small_data):
    assert runner.invoke(main, ['train', '--data', str(small_data), *TINY, '--steps', '2', '--samples', '0',
                                '--out', 'names.json']).exit_code == 0
    cases = [
        (['--checkpoint', text_checkpoint, '--prompt', 'the Zebra'], "prompt 'the Zebra' has characters the model "
                                                                      "does not know: 'Zb'"),
        (['--checkpoint', text_checkpoint, '--prefix', 'th'], "--prefix is for names"),
        (['--checkpoint', text_checkpoint, '--num', '3'], "--num is for names"),
        (['--checkpoint', text_checkpoint, '--novelty'], "--novelty is for names"),
        (['--checkpoint', text_checkpoint, '--new'], "--new is for names"),
        (['--checkpoint', 'names.json', '--prompt', 'em'],
         "--prompt and --chars continue a text; checkpoint names.json was trained on a list"),
        (['--checkpoint', 'names.json', '--chars', '10'], "--prompt and --chars continue a text"),
    ]
    for args, part in cases:
        result = runner.invoke(main, ['sample', *args])
        assert result.exit_code == 1, result.output
        assert len(errors_of(result)) == 1 and part in errors_of(result)[0] and result.stdout == ''
    interrupted = ckpt.load_checkpoint('names.json')
    interrupted.training['steps_done'] = 1  # as if stopped after 1 of 2 steps
    interrupted.losses = interrupted.losses[:1]
    ckpt.save_checkpoint('names.json', interrupted)
    resumed = runner.invoke(main, ['train', '--resume', 'names.json', '--text', '--data', str(small_data)])
    assert resumed.exit_code == 1 and "--text contradicts checkpoint names.json" in errors_of(resumed)[0]


def test_a_text_without_a_newline_needs_a_prompt(runner, tmp_path):
    path = tmp_path / 'one-line.txt'
    path.write_text('abcabcabcabcabcabcabcabcabc')
    assert train_text(runner, path, '--steps', '2', '--samples', '0', '--out', 'o.json').exit_code == 0
    result = runner.invoke(main, ['sample', '--checkpoint', 'o.json', '--chars', '5'])
    assert result.exit_code == 1 and errors_of(result) == ["Error: this model's text has no newline to start from: "
                                                           "give a --prompt"]
    assert runner.invoke(main, ['sample', '--checkpoint', 'o.json', '--prompt', 'ab', '--chars', '5']).exit_code == 0


# --- every command that takes --data, or reads a name, in text mode -------------------------------

@pytest.mark.parametrize('command, args', [('evolve', ['--fitness', 'loss']), ('sweep steps', []),
                                           ('sweep params', []), ('sweep frontier', []), ('judge', ['names.txt']),
                                           ('bench', [])])
def test_commands_that_read_a_list_say_they_have_no_text_mode(runner, command, args):
    result = runner.invoke(main, [*command.split(), *args, '--text'])
    assert result.exit_code == 1 and len(errors_of(result)) == 1
    assert errors_of(result)[0].startswith(f"Error: {command} has no text mode: ")
    assert result.stdout == '' and os.listdir('.') == []


@pytest.mark.parametrize('args', [['predict'], ['surprise', '--text', 'the'], ['trace'],
                                  ['graph', '--text', 'the', '--json'],
                                  ['attention', '--text', 'the', '--out', 'a.png'], ['report', '--out', 'r.html']])
def test_tools_that_read_a_name_refuse_a_text_mode_checkpoint_in_one_line(runner, text_checkpoint, args):
    result = runner.invoke(main, [args[0], '--checkpoint', text_checkpoint, *args[1:]])
    assert result.exit_code == 1 and len(errors_of(result)) == 1 and 'trained on text' in errors_of(result)[0]
    assert result.stdout == '' and not os.path.exists('a.png') and not os.path.exists('r.html')


def test_embeddings_draws_a_text_mode_checkpoint(runner, text_checkpoint):
    pytest.importorskip('matplotlib')
    result = runner.invoke(main, ['embeddings', '--checkpoint', text_checkpoint, '--out', 'e.png'])
    assert result.exit_code == 0 and os.path.getsize('e.png') > 0


def test_an_exported_text_mode_model_still_continues_text(runner, text_checkpoint, text_file):
    pytest.importorskip('safetensors')
    result = runner.invoke(main, ['export', text_checkpoint, 'folder'])
    assert result.exit_code == 0, result.output
    assert json.loads(Path('folder', 'config.json').read_text())['data_mode'] == 'text'
    assert ckpt.load_checkpoint('folder').text_mode
    args = ['--prompt', 'the dog ', '--chars', '80']
    from_folder = runner.invoke(main, ['sample', '--checkpoint', 'folder', *args])
    assert from_folder.exit_code == 0 and len(from_folder.stdout) == len('the dog ') + 80 + 1
    assert from_folder.stdout == runner.invoke(main, ['sample', '--checkpoint', text_checkpoint, *args]).stdout
    scored = runner.invoke(main, ['eval', '--checkpoint', 'folder', '--data', str(text_file)])
    assert scored.stdout == runner.invoke(main, ['eval', '--checkpoint', text_checkpoint, '--data', str(text_file)]).stdout


def test_text_mode_defaults_to_the_bundled_text(runner):
    result = runner.invoke(main, ['train', '--text', *TINY, '--steps', '1', '--samples', '0'])
    assert result.exit_code == 0, result.output
    assert "no --data: using the text bundled with microgpt (datasets/shakespeare.txt)" in result.stderr
    assert ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT).training['data_sha256'] == TEXT_SHA256
    scored = runner.invoke(main, ['eval', '--json'])
    assert scored.exit_code == 0 and json.loads(scored.stdout)['tokens'] == len(load_text(None).text) - 1


# --- the text that ships ----------------------------------------------------------------------------

def test_the_bundled_text_is_what_its_readme_says():
    text = load_text(None).text
    readme = ' '.join((REPO / 'microgpt' / 'datasets' / 'README.md').read_text().split())
    assert sha256_of(bundled_text_path()) == TEXT_SHA256 and f"SHA-256: `{TEXT_SHA256}`" in readme
    assert f"the first {len(text):,} characters ({text.count(chr(10)):,} lines" in readme
    assert f"{len(set(text))} different characters, newlines included" in readme
    assert text.startswith('First Citizen:\n') and text.endswith('\n\nCitizens:\nIt shall be so, it shall be so.\n')
    assert bundled_text_path().stat().st_size < 200_000


# --- the docs page, held to the run it quotes -----------------------------------------------------

RUN = REPO / 'experiments' / 'your-own-text'
MAKE = runpy.run_path(str(RUN / 'make.py'))  # its settings (main() runs only as a script)


def recorded(name):
    """(the command, what it printed) of a file experiments/your-own-text/make.py wrote."""
    first, printed = (RUN / name).read_text().split('\n', 1)
    return shlex.split(first[2:]), printed


def page_blocks(kind):
    page = docs_text('your-own-text')
    return [block for lang, block in re.findall(r'```(\w+)\n(.*?)```', page, re.S) if lang == kind]


def test_the_page_quotes_the_run_that_make_py_recorded():
    page = ' '.join(docs_text('your-own-text').split())
    train_args, train_out = recorded('train.txt')
    sample_args, sample_out = recorded('sample.txt')
    commands = [shlex.split(block.replace('\\\n', ' ')) for block in page_blocks('bash')]
    assert commands[0] == train_args and commands[1] == sample_args  # the page's commands are the run's
    assert train_args[:train_args.index('--out')] == ['microgpt', *MAKE['TRAIN']]
    stdout, stderr = train_out.split('--- stderr ---\n')
    quoted = page_blocks('text')
    header = stdout.splitlines()[:3]
    kept = [line for line in stderr.splitlines() if line.startswith(('held out:', 'baselines on', 'eval step'))]
    assert quoted[0].splitlines() == header + kept
    assert quoted[1] == sample_out.rstrip('\n') + '\n'
    seconds = float(re.search(r'trained 2000 steps in ([\d.]+)s', stderr)[1])
    assert f"it took {round(seconds)} seconds, under {math.ceil(seconds / 60)} minutes" in page
    last = re.findall(r'train loss ([\d.]+) \| held-out loss ([\d.]+)', stderr)[-1]
    best = float(re.search(r'best held-out loss ([\d.]+) at step 2000', stderr)[1])
    assert float(last[1]) == best
    assert f"**Its held-out loss is {best:.4f}** nats a character (perplexity {math.exp(best):.2f})" in page
    assert f"a choice among {math.exp(best):.2f} characters" in page
    text = load_text(None).text
    n_tail = round(len(text) * 0.1)
    assert f"on the last {n_tail:,} characters of the text" in page and f"its {len(text) - n_tail:,} characters" in page
    assert f"the text's {len(set(text))} different characters" in page
    kinds = len(set(text))
    assert f"uniformly among the {kinds} characters scores ln {kinds} = {math.log(kinds):.4f}" in page
    assert f"the training loss ({last[0]})" in page and float(last[0]) < best
    uniform, unigram, bigram = counted_baselines(sorted(set(text)), text[:-n_tail], text[-n_tail:])
    assert f"ln {kinds} = {uniform:.4f}" in page and f"(unigram) {unigram:.4f}" in page
    assert f"training characters) {bigram:.4f}. The model's {best:.4f} is far below the bigram's" in page
    assert best < bigram - 0.5
    assert f"*Coriolanus*, {len(text):,} characters" in page
    written = sample_out[len('CORIOLANUS:'):-1]
    assert len(written) == 300 and "then exactly 300 characters" in page
    windows = len(tiling_windows(list(text), 64))
    assert f"`loss … | perplexity … | {len(text) - 1:,} characters in {windows:,} windows`" in page


def test_the_pages_error_lines_are_what_microgpt_prints(runner, tmp_path):
    page = ' '.join(docs_text('your-own-text').split())
    (tmp_path / 'mybook.txt').write_text('to be\n')
    result = runner.invoke(main, ['train', '--text', '--primordial', '--data', 'mybook.txt'])
    assert result.exit_code == 1 and f"`{errors_of(result)[0][len('Error: '):]}`" in page
    assert train_text(runner, bundled_text_path(), '--steps', '1', '--samples', '0', '--out', 'p.json').exit_code == 0
    result = runner.invoke(main, ['sample', '--checkpoint', 'p.json', '--prompt', 'Act 1:'])
    assert result.exit_code == 1 and f"`{errors_of(result)[0][len('Error: '):]}`" in page
