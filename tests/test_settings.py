"""Each setting is declared once (microgpt/gpt/settings.py): the configs, the genome, the options of
`microgpt train` and the gene spaces are derived from the declarations."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from microgpt.errors import MicrogptError
from microgpt.gpt import settings
from microgpt.gpt.model import GPTConfig
from microgpt.gpt.settings import SettingError
from microgpt.training.genome import SETTINGS, Genome, check_genome
from microgpt.training.run import TrainConfig

PACKAGE = Path(__file__).resolve().parents[1] / 'microgpt'

# One new hyperparameter, declared as any other; nothing else in the package is edited.
NEW_SETTING = '''    Setting('label_smoothing', float, 0.0, SHARE_TEXT, 'training', '--label-smoothing',
            "Mix this share of the uniform distribution into the targets.", 'Training',
            Bounds(0, 1, high_open=True), zero_is_off=True, budget=dict(low=0, high=0.2)),
'''

SHOW_IT = '''
import json, sys
from microgpt.evolve.genes import BUDGET_SPACE, SEED_SPACE
from microgpt.training.genome import PRIMORDIAL, save_genome
from microgpt.training.run import TrainConfig
save_genome(sys.argv[1], PRIMORDIAL.with_settings(label_smoothing=0.1), {})
try:
    TrainConfig(label_smoothing=1.5)
except Exception as e:
    refused = [type(e).__name__, e.setting, str(e)]
print(json.dumps({'budget': {name: r.table() for name, r in BUDGET_SPACE.ranges.items()},
                  'seed': list(SEED_SPACE.ranges), 'train': TrainConfig(label_smoothing=0.05).label_smoothing,
                  'refused': refused}))
'''


def test_a_setting_declared_once_is_an_option_a_gene_and_a_range(tmp_path):
    copy = tmp_path / 'microgpt'
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns('__pycache__'))
    source = (copy / 'gpt' / 'settings.py').read_text()
    end = source.index('\n)\n', source.index('TRAINING_SETTINGS = ('))
    (copy / 'gpt' / 'settings.py').write_text(source[:end + 1] + NEW_SETTING + source[end + 1:])
    env = {'PYTHONPATH': str(tmp_path), 'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path)}

    def run(*args):
        done = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    help_text = run('-m', 'microgpt', 'train', '--help')
    training = help_text.split('Training:\n', 1)[1].split('\n\n', 1)[0]
    assert '--label-smoothing NUMBER' in training and 'Mix this share of the uniform' in training
    assert '[default: (off)]' in help_text.split('--label-smoothing', 1)[1]
    shown = json.loads(run('-c', SHOW_IT, str(tmp_path / 'genome.json')))
    genes = json.loads((tmp_path / 'genome.json').read_text())['genes']
    assert genes['label_smoothing'] == 0.1 and list(genes)[-1] == 'label_smoothing'
    assert shown['budget']['label_smoothing'] == '0\u20130.2' and 'label_smoothing' not in shown['seed']
    assert list(shown['budget'])[-1] == 'num_steps'  # what the budget buys stays last
    assert shown['train'] == 0.05
    assert shown['refused'] == ['SettingError', 'label_smoothing',
                                'label_smoothing must be a share in [0, 1), got 1.5']
    # ./genome.json now holds it, and --help shows the value in force
    in_force = run('-m', 'microgpt', 'train', '--help').split('--label-smoothing', 1)[1].split('\n  --', 1)[0]
    assert '[in force: 0.1 from genome.json]' in ' '.join(in_force.split())


def test_the_configs_and_the_genome_are_the_declarations():
    model = [s.name for s in settings.MODEL_SETTINGS]
    training = [s.name for s in settings.TRAINING_SETTINGS]
    assert list(GPTConfig.__dataclass_fields__) == model
    assert list(TrainConfig.__dataclass_fields__) == training
    assert SETTINGS == tuple(s.name for s in settings.ALL_SETTINGS if s.part in ('model', 'training'))
    assert set(training) - set(SETTINGS) == set(settings.WATCHING) == {'val_split', 'eval_every', 'early_stop'}
    assert Genome() == Genome(**{s.name: s.default for s in settings.GENOME_SETTINGS})


@pytest.mark.parametrize('make, setting, message', [
    (lambda: GPTConfig(vocab_size=27, n_layer=0), 'n_layer', "n_layer must be a whole number >= 1, got 0"),
    (lambda: GPTConfig(vocab_size=27, n_embd=9, n_head=2), 'n_head', "n_embd (9) must be divisible by n_head (2)"),
    (lambda: TrainConfig(num_steps=10, warmup=10), 'warmup',
     "warmup must be a whole number of steps from 0 to num_steps - 1 (9), got 10"),
    (lambda: TrainConfig(schedule='step'), 'schedule', "schedule must be one of linear, cosine, constant, got 'step'"),
    (lambda: TrainConfig(grad_clip=float('nan')), 'grad_clip', "grad_clip must be a finite number > 0, got nan"),
    (lambda: TrainConfig(eval_every=5), 'eval_every', "eval_every evaluates the held-out documents: it needs a val_split"),
])
def test_a_refused_setting_carries_its_name(make, setting, message):
    with pytest.raises(SettingError) as refused:
        make()
    assert isinstance(refused.value, MicrogptError)
    assert (refused.value.setting, str(refused.value)) == (setting, message)


def test_check_genome_asks_the_configs():
    assert check_genome(Genome()) is None
    assert check_genome(Genome(n_embd=9, n_head=2)) == ('n_head', "must divide n_embd (9), got 2")
    assert check_genome(Genome(beta2=1.0)) == ('beta2', "must be in [0, 1), got 1.0")
    assert check_genome(Genome(n_layer=True)) == ('n_layer', "must be a whole number >= 1, got True")


def test_the_architecture_page_adds_the_setting_this_test_adds():
    """The docs' worked example is the declaration the derivation test adds, word for word."""
    from conftest import docs_text
    page = ' '.join(docs_text('architecture').split())
    assert ' '.join(NEW_SETTING.split()).rstrip(',') in page
