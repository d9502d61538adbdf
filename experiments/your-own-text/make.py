"""The run behind docs/pages/your-own-text.md: a model trained in text mode on the text bundled
with microgpt (the opening of Coriolanus) for a few minutes, its held-out loss, and what it
writes after a prompt. Run from the project root with microgpt installed (or PYTHONPATH set):

    python experiments/your-own-text/make.py

It writes, beside this script, train.txt (the command and what it printed: stdout without the
per-step lines but the last, then stderr) and sample.txt (the command and its output), and
leaves no checkpoint behind. tests/test_text_mode.py holds the page's figures to them."""
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
TRAIN = ['train', '--text', '--primordial', '--n-embd', '64', '--n-head', '4', '--n-layer', '2',
         '--block-size', '64', '--batch-size', '16', '--lr', '0.005', '--warmup', '100', '--steps', '2000',
         '--val-split', '0.1', '--eval-every', '500']
SAMPLE = ['sample', '--prompt', 'CORIOLANUS:', '--chars', '300']


def microgpt(args):
    done = subprocess.run([sys.executable, '-m', 'microgpt', *args], capture_output=True, text=True,
                          env=dict(os.environ, OPENBLAS_NUM_THREADS='1'))
    if done.returncode:
        sys.exit(f"microgpt {shlex.join(args)} failed:\n{done.stderr}")
    return done


def kept_stdout(stdout):
    """stdout without the per-step lines, except the last."""
    lines = stdout.splitlines(keepends=True)
    steps = [i for i, line in enumerate(lines) if line.startswith('step ')]
    return ''.join(line for i, line in enumerate(lines) if i not in steps[:-1])


def main():
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = str(Path(scratch) / 'play.ckpt.json')
        train = microgpt([*TRAIN, '--out', checkpoint])
        sample = microgpt([*SAMPLE, '--checkpoint', checkpoint])
    shown_train = shlex.join(['microgpt', *TRAIN, '--out', 'play.ckpt.json'])
    shown_sample = shlex.join(['microgpt', *SAMPLE, '--checkpoint', 'play.ckpt.json'])
    (HERE / 'train.txt').write_text(f"$ {shown_train}\n{kept_stdout(train.stdout)}--- stderr ---\n{train.stderr}")
    (HERE / 'sample.txt').write_text(f"$ {shown_sample}\n{sample.stdout}")
    print((HERE / 'train.txt').read_text() + (HERE / 'sample.txt').read_text())


if __name__ == '__main__':
    main()
