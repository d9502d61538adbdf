"""The baselines a loss is read against (microgpt/training/baselines.py): uniform, unigram and bigram,
each checked against a count written out plainly here."""
import math
from collections import Counter

import pytest

from microgpt.data import Tokenizer, held_out_split
from microgpt.errors import MicrogptError
from microgpt.training.baselines import Baselines, baseline_losses, sequence_baselines

BLOCK_SIZE = 16  # the primordial model's context


def plain_baselines(tokenizer, train_docs, scored_docs, block_size):
    """The three losses, counted token by token with dictionaries: each document is BOS +
    characters + BOS, at most block_size + 1 tokens; every token after the first is predicted;
    one is added to every count over the whole vocabulary."""
    vocab = tokenizer.vocab_size

    def sequence(doc):
        return ([tokenizer.bos] + tokenizer.encode(doc) + [tokenizer.bos])[:block_size + 1]

    singles, pairs, starts = Counter(), Counter(), Counter()
    for doc in train_docs:
        tokens = sequence(doc)
        for previous, following in zip(tokens, tokens[1:]):
            singles[following] += 1
            pairs[previous, following] += 1
            starts[previous] += 1
    total = sum(singles.values())
    uniform = unigram = bigram = 0.0
    count = 0
    for doc in scored_docs:
        tokens = sequence(doc)
        for previous, following in zip(tokens, tokens[1:]):
            uniform += -math.log(1 / vocab)
            unigram += -math.log((singles[following] + 1) / (total + vocab))
            bigram += -math.log((pairs[previous, following] + 1) / (starts[previous] + vocab))
            count += 1
    return uniform / count, unigram / count, bigram / count


SMALL_TRAIN = ['anna', 'bob', 'ava', 'abba', 'bo']
SMALL_SCORED = ['anna', 'bab', 'oo', 'nab']


def test_uniform_is_ln_of_the_vocabulary_exactly():
    tokenizer = Tokenizer.from_docs(SMALL_TRAIN)
    got = baseline_losses(tokenizer, SMALL_TRAIN, SMALL_SCORED, BLOCK_SIZE)
    assert got.uniform == math.log(tokenizer.vocab_size) == math.log(6)  # a, b, n, o, v and BOS


@pytest.mark.parametrize('block_size', [16, 3, 1])
def test_unigram_and_bigram_are_the_plain_counts(block_size):
    tokenizer = Tokenizer.from_docs(SMALL_TRAIN)
    got = baseline_losses(tokenizer, SMALL_TRAIN, SMALL_SCORED, block_size)
    uniform, unigram, bigram = plain_baselines(tokenizer, SMALL_TRAIN, SMALL_SCORED, block_size)
    assert got.uniform == pytest.approx(uniform, abs=1e-12)
    assert got.unigram == pytest.approx(unigram, abs=1e-12)
    assert got.bigram == pytest.approx(bigram, abs=1e-12)


def test_a_small_case_worked_by_hand():
    """Train on 'ab' alone (BOS a b BOS), score 'ba' (BOS b a BOS); vocabulary a, b, BOS."""
    tokenizer = Tokenizer(['a', 'b'])
    got = baseline_losses(tokenizer, ['ab'], ['ba'], BLOCK_SIZE)
    # predicted in training: a, b, BOS once each -> every token (1 + 1) / (3 + 3) = 1/3
    assert got.unigram == pytest.approx(math.log(3), abs=1e-15)
    # pairs seen: BOS->a, a->b, b->BOS; scored: BOS->b, b->a, a->BOS, none seen: 1 / (1 + 3) each
    assert got.bigram == pytest.approx(math.log(4), abs=1e-15)


def test_sequences_take_any_token_windows():
    """Windows of a token stream count and score like documents: each token after the first."""
    stream = [0, 1, 2, 1, 0, 2, 2, 1]
    windows = [stream[i:i + 4] for i in range(0, len(stream) - 3, 2)]
    got = sequence_baselines(3, windows, [stream])
    follows = Counter((p, f) for window in windows for p, f in zip(window, window[1:]))
    starts = Counter(p for window in windows for p in window[:-1])
    bigram = sum(-math.log((follows[p, f] + 1) / (starts[p] + 3)) for p, f in zip(stream, stream[1:]))
    assert got.bigram == pytest.approx(bigram / (len(stream) - 1), abs=1e-12)
    assert isinstance(got, Baselines) and set(got.as_dict()) == {'uniform', 'unigram', 'bigram'}


def test_nothing_to_count_or_score_is_a_clear_error():
    tokenizer = Tokenizer(['a'])
    with pytest.raises(MicrogptError, match='no tokens to score'):
        baseline_losses(tokenizer, ['a'], [], BLOCK_SIZE)
    with pytest.raises(MicrogptError, match='no training tokens'):
        baseline_losses(tokenizer, [], ['a'], BLOCK_SIZE)
    with pytest.raises(MicrogptError, match='outside the vocabulary'):
        sequence_baselines(2, [[0, 2]], [[0, 1]])


def test_names_held_out_baselines_are_the_plain_counts_and_in_order(names_docs):
    train, held_out = held_out_split(names_docs, 42, 0.1)
    tokenizer = Tokenizer.from_docs(train)
    got = baseline_losses(tokenizer, train, held_out, BLOCK_SIZE)
    uniform, unigram, bigram = plain_baselines(tokenizer, train, held_out, BLOCK_SIZE)
    assert abs(got.uniform - uniform) <= 1e-9 and abs(got.unigram - unigram) <= 1e-9
    assert abs(got.bigram - bigram) <= 1e-9
    assert got.uniform == math.log(27)
    assert got.uniform > got.unigram > got.bigram


# --- eval and train print them -------------------------------------------------------------------

def train_run(runner, data, *extra):
    from microgpt.cli import main
    result = runner.invoke(main, ['train', '--data', str(data), '--samples', '0', '--out', 'run.json', *extra])
    assert result.exit_code == 0, result.output
    return result


def evaluate(runner, *args):
    from microgpt.cli import main
    return runner.invoke(main, ['eval', '--checkpoint', 'run.json', *args])


def figures(baselines):
    return f"uniform {baselines.uniform:.4f}, unigram {baselines.unigram:.4f}, bigram {baselines.bigram:.4f}"


def test_eval_prints_and_carries_the_baselines_of_its_documents(runner, small_data, names_docs):
    import json
    from microgpt.files.checkpoint import load_checkpoint
    train_run(runner, small_data, '--steps', '3', '--val-split', '0.2')
    docs = names_docs[:300]
    train, held_out = held_out_split(docs, 42, 0.2)
    tokenizer = load_checkpoint('run.json').tokenizer
    # --held-out: the documents the run held out, the baselines counted on those it trained on
    expected = baseline_losses(tokenizer, train, held_out, BLOCK_SIZE)
    printed = evaluate(runner, '--data', str(small_data), '--held-out')
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.endswith(f" tokens in {len(held_out)} documents\n")
    assert (f"baselines on the same tokens: {figures(expected)} (unigram and bigram counted on the "
            f"{len(train)} training documents)") in printed.stderr.splitlines()
    as_json = json.loads(evaluate(runner, '--data', str(small_data), '--held-out', '--json').stdout)
    assert as_json['baselines'] == dict(expected.as_dict(), training_documents=len(train))
    assert as_json['documents'] == len(held_out)
    # every document of the data scored, still counted on the training documents
    whole = json.loads(evaluate(runner, '--data', str(small_data), '--json').stdout)
    assert whole['baselines'] == dict(baseline_losses(tokenizer, train, docs, BLOCK_SIZE).as_dict(),
                                      training_documents=len(train))
    # another file: the checkpoint's own data is found where it trained on it
    (other := small_data.parent / 'other.txt').write_text('anna\nbob\n')
    found = json.loads(evaluate(runner, '--data', str(other), '--json').stdout)
    assert found['baselines'] == dict(baseline_losses(tokenizer, train, ['anna', 'bob'], BLOCK_SIZE).as_dict(),
                                      training_documents=len(train))
    # ... and when it is gone, counted on the scored documents themselves, and said
    small_data.rename(small_data.parent / 'moved.txt')
    alone = evaluate(runner, '--data', str(other))
    assert (f"baselines on the same tokens: {figures(baseline_losses(tokenizer, ['anna', 'bob'], ['anna', 'bob'], 16))}"
            f" (unigram and bigram counted on these documents themselves: the checkpoint's training data is not "
            f"at hand)") in alone.stderr.splitlines()
    assert json.loads(evaluate(runner, '--data', str(other), '--json').stdout)['baselines']['training_documents'] is None


def test_eval_held_out_needs_the_run_to_have_held_some_out_of_that_data(runner, small_data):
    train_run(runner, small_data, '--steps', '2')
    no_split = evaluate(runner, '--data', str(small_data), '--held-out')
    assert no_split.exit_code == 1 and no_split.stderr.splitlines() == [
        "Error: --held-out scores the documents the run held out, and this checkpoint's run held out none "
        "(it trained without --val-split)"]
    train_run(runner, small_data, '--steps', '2', '--val-split', '0.2')
    (other := small_data.parent / 'other.txt').write_text('anna\n')
    wrong = evaluate(runner, '--data', str(other), '--held-out')
    assert wrong.exit_code == 1 and len(wrong.stderr.splitlines()) == 1
    assert wrong.stderr.startswith(f"Error: --held-out needs the data the checkpoint was trained on, and {other} "
                                   f"is not it")


def test_train_says_the_held_out_baselines_once_and_only_with_a_held_out_share(runner, small_data, names_docs):
    train, held_out = held_out_split(names_docs[:300], 42, 0.2)
    expected = baseline_losses(Tokenizer.from_docs(train), train, held_out, BLOCK_SIZE)
    result = train_run(runner, small_data, '--steps', '4', '--val-split', '0.2', '--eval-every', '2')
    lines = [line for line in result.stderr.splitlines() if line.startswith('baselines')]
    assert lines == [f"baselines on the held-out documents: {figures(expected)} (unigram and bigram counted on "
                     f"the {len(train)} training documents)"]
    assert 'baselines' not in result.stdout
    plain = train_run(runner, small_data, '--steps', '2')
    assert 'baselines' not in plain.stdout + plain.stderr


def test_eval_on_the_held_out_names_gives_the_plain_counts(runner, names_path, names_docs):
    import json
    train_run(runner, names_path, '--steps', '1', '--val-split', '0.1')
    got = json.loads(evaluate(runner, '--data', str(names_path), '--held-out', '--json').stdout)['baselines']
    train, held_out = held_out_split(names_docs, 42, 0.1)
    uniform, unigram, bigram = plain_baselines(Tokenizer.from_docs(train), train, held_out, BLOCK_SIZE)
    assert abs(got['uniform'] - uniform) <= 1e-9 and abs(got['unigram'] - unigram) <= 1e-9
    assert abs(got['bigram'] - bigram) <= 1e-9
    assert got['uniform'] > got['unigram'] > got['bigram'] and got['training_documents'] == len(train)


def test_the_report_reads_the_loss_curve_against_the_baselines(runner, small_data, names_docs):
    from microgpt.files.checkpoint import load_checkpoint
    from microgpt.viz.report import build_report
    train_run(runner, small_data, '--steps', '4', '--val-split', '0.2', '--eval-every', '2')
    checkpoint = load_checkpoint('run.json')
    train, held_out = held_out_split(names_docs[:300], 42, 0.2)
    expected = baseline_losses(checkpoint.tokenizer, train, held_out, BLOCK_SIZE)
    page = build_report(checkpoint, 'run.json', 'emma', num_samples=2, has_matplotlib=False)
    loss_section = page.split('<h2>Loss</h2>', 1)[1].split('<h2>', 1)[0]
    for name in ('uniform', 'unigram', 'bigram'):
        figure = f"{name} {getattr(expected, name):.4f}"
        assert f"<b>{figure}</b>" in loss_section  # in words below the curve
        assert f">{figure}</text>" in loss_section.split('</svg>')[0]  # and a level drawn on it
    assert f"on the {len(held_out)} held-out documents (counted on the {len(train)} it trained on" in loss_section
    small_data.unlink()  # its training documents gone: the page says why there are no baselines
    (other := small_data.with_name('other.txt')).write_text('anna\nbob\n')
    page = build_report(checkpoint, 'run.json', 'emma', num_samples=2, has_matplotlib=False, data=str(other))
    assert 'its data file is not at hand' in page.split('<h2>Loss</h2>', 1)[1].split('<h2>', 1)[0]


# --- the docs quote them ---------------------------------------------------------------------------

def rounded(*losses):
    return [f"{loss:.4f}" for loss in losses]


def test_the_training_page_quotes_the_names_baselines(runner, names_path, names_docs):
    import json
    from conftest import REPO, docs_text
    from microgpt.commands.sample import baselines_line
    page = ' '.join(docs_text('training').split())
    section = page.split('## What a loss means', 1)[1].split('## ', 1)[0]
    train, held_out = held_out_split(names_docs, 42, 0.1)
    uniform, unigram, bigram = rounded(*plain_baselines(Tokenizer.from_docs(train), train, held_out, BLOCK_SIZE))
    for row in (f"| uniform | {uniform} |", f"| unigram | {unigram} |", f"| bigram | {bigram} |"):
        assert row in section, row
    assert f"On the {len(held_out):,} names of the usual held-out split" in section
    assert f"(`--val-split 0.1`, seed 42; counted on the other {len(train):,})" in section
    # the held-out losses it sets beside them: the original run's, and the recipe's (its race's record)
    result = runner.invoke(__import__('microgpt.cli', fromlist=['main']).main,
                           ['train', '--primordial', '--data', str(names_path), '--val-split', '0.1',
                            '--eval-every', '1000', '--samples', '0', '--out', 'original.json'])
    assert result.exit_code == 0, result.output
    original = json.loads(open('original.json').read())['training']['best']['val_loss']
    assert f"1000 steps of one name) | {original:.4f} |" in section and original < float(bigram)
    race = json.loads((REPO / 'benchmarks' / 'race.json').read_text())['race']['contestants']['microgpt']
    assert f"6,500 steps of 32 names) | {race['held_out_loss']:.4f} |" in section
    # the lines train and eval print, as the page quotes them
    held_out_line = baselines_line(dict(uniform=float(uniform), unigram=float(unigram), bigram=float(bigram)),
                                   len(train), scored='the held-out documents')
    assert held_out_line in result.stderr.splitlines()
    assert f"\n{held_out_line}\n" in docs_text('training')
    every = Tokenizer.from_docs(names_docs)
    whole = baseline_losses(every, names_docs, names_docs, BLOCK_SIZE)
    assert f"`{baselines_line(whole.as_dict(), len(names_docs))}`" in page


def test_how_it_works_reads_the_primordial_model_against_the_baselines(names_docs):
    import sys
    from conftest import REPO, docs_text
    from microgpt import Run, TrainConfig, load_names
    from microgpt.training.evaluation import mean_loss
    sys.path.insert(0, str(REPO / 'docs'))
    import walkthrough
    run = Run(load_names())
    run.train(TrainConfig(num_steps=walkthrough.STEPS))
    values = walkthrough.baselines(run)
    uniform, unigram, bigram = plain_baselines(run.tokenizer, names_docs, names_docs, BLOCK_SIZE)
    model = mean_loss(run.engine, run.tokenizer, names_docs)
    assert [values['unigram'], values['bigram'], values['eval_loss']] == rounded(unigram, bigram, model)
    assert values['below_bigram'] == f"{bigram - model:.4f}" and model < bigram
    section = docs_text('how-it-works').split('### What a loss means', 1)[1].split('\n## ', 1)[0]
    for marker in ('uniform', 'unigram', 'bigram', 'eval_loss', 'below_bigram'):
        assert f"{{{{ {marker} }}}}" in section, marker
