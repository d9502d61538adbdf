"""Standard weights (`microgpt export`, microgpt/files/export.py): a checkpoint goes out as
config.json and model.safetensors and comes back with the same samples and the same loss; the
safetensors library reads every weight bit for bit, in float64 and float32; PyTorch computes the
numpy engine's logits from the folder, through the PyTorch twin and through the docs' snippet;
and each bad input is one line before any work, with nothing written."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from microgpt.cli import main
from microgpt.files.checkpoint import load_checkpoint
from microgpt.files.export import CONFIG_FILE, WEIGHTS_FILE
from microgpt.gpt.engines.numpy_engine import NumpyEngine

from conftest import DOCS_PAGES, REPO

if os.environ.get('CI') == 'true':  # CI installs the test extra, which brings safetensors: never skip there
    import safetensors.numpy as safetensors_numpy
else:
    safetensors_numpy = pytest.importorskip('safetensors.numpy')
from tour import fenced_blocks  # noqa: E402  (the docs' own block reader; conftest puts benchmarks/ on the path)

EXACT = 1e-12
SMALL = ['--steps', '20', '--samples', '0', '--n-embd', '8', '--n-head', '2', '--block-size', '8']
DTYPE_RUNS = {'float64': [], 'float32': ['--dtype', 'float32'], 'float32 ema': ['--dtype', 'float32', '--ema', '0.9']}
STORED = {'float64': 'float64', 'float32': 'float32', 'float32 ema': 'float64'}  # the average is kept in float64


def invoke(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_one_line(result, fragment, exit_code=1):
    assert result.exit_code == exit_code, result.output
    assert 'Traceback' not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith('Error:')]
    assert len(errors) == 1 and fragment in errors[0], result.stderr


@pytest.fixture(scope='module')
def trained(tmp_path_factory, names_docs):
    """{run: checkpoint path}: small float64 and float32 runs, and a float32 run that keeps a weight average."""
    folder = tmp_path_factory.mktemp('runs')
    data = folder / 'names.txt'
    data.write_text('\n'.join(names_docs[:300]) + '\n')
    paths, cwd = {}, os.getcwd()
    os.chdir(folder)  # no genome.json here: the settings are the defaults and SMALL's
    try:
        for dtype, extra in DTYPE_RUNS.items():
            paths[dtype] = folder / f"{dtype.replace(' ', '-')}.ckpt.json"
            result = invoke('train', '--data', data, *SMALL, *extra, '--out', paths[dtype])
            assert result.exit_code == 0, result.output
    finally:
        os.chdir(cwd)
    return paths


@pytest.fixture(scope='module')
def exported(trained, tmp_path_factory):
    """{dtype: the folder `microgpt export` wrote from that checkpoint}."""
    folders = {}
    for dtype, checkpoint in trained.items():
        folders[dtype] = tmp_path_factory.mktemp('exported') / dtype.replace(' ', '-')
        result = invoke('export', checkpoint, folders[dtype])
        assert result.exit_code == 0, result.output
        assert result.stderr.startswith(f"exported {checkpoint} to {folders[dtype]}: config.json and model.safetensors")
    return folders


@pytest.mark.parametrize('dtype', DTYPE_RUNS)
def test_the_folder_samples_and_scores_as_the_checkpoint(trained, exported, dtype, small_data):
    for args in (['sample', '--num', '20', '--seed', '7', '--temperature', '0.8'],
                 ['sample', '--num', '5', '--prefix', 'ma', '--top-k', '4'],
                 ['trace', '--seed', '3'], ['predict', '--prefix', 'em'], ['surprise', '--text', 'emma']):
        original, again = (invoke(*args, '--checkpoint', path) for path in (trained[dtype], exported[dtype]))
        assert original.exit_code == again.exit_code == 0, again.output
        assert again.stdout == original.stdout and original.stdout.strip()
    losses = [json.loads(invoke('eval', '--checkpoint', path, '--data', small_data, '--json').stdout)
              for path in (trained[dtype], exported[dtype])]
    assert losses[0]['loss'] == losses[1]['loss'] and losses[0]['tokens'] == losses[1]['tokens']


@pytest.mark.parametrize('dtype', DTYPE_RUNS)
def test_the_safetensors_library_reads_every_weight_bit_for_bit(trained, exported, dtype):
    checkpoint = load_checkpoint(trained[dtype])
    weights = safetensors_numpy.load_file(str(exported[dtype] / WEIGHTS_FILE))
    assert list(weights) != [] and set(weights) == {name for name, _ in checkpoint.config.param_shapes()}
    stored = STORED[dtype]
    for name, rows in checkpoint.inference_state_dict.items():
        assert weights[name].dtype == np.dtype(stored)
        assert np.array_equal(weights[name].astype(np.float64), np.array(rows)), name  # a float32 widens exactly
        assert weights[name].tobytes() == np.array(rows, dtype=stored).tobytes(), name
    if 'ema' in dtype:  # the folder holds the weights the run samples with: its average
        assert checkpoint.ema is not None and checkpoint.ema != checkpoint.state_dict
    config = json.loads((exported[dtype] / CONFIG_FILE).read_text())
    assert {k: config[k] for k in checkpoint.config.to_dict()} == checkpoint.config.to_dict()
    assert config['dtype'] == stored and config['chars'] == checkpoint.chars
    assert config['bos_token_id'] == len(checkpoint.chars) == checkpoint.config.vocab_size - 1


def test_an_exported_folder_exports_again_unchanged(exported, tmp_path):
    for dtype in DTYPE_RUNS:
        again = tmp_path / dtype.replace(' ', '-')
        result = invoke('export', exported[dtype], again)
        assert result.exit_code == 0, result.output
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            assert (again / name).read_bytes() == (exported[dtype] / name).read_bytes(), (dtype, name)


def numpy_logits(checkpoint, ids):
    engine = NumpyEngine(checkpoint.config, checkpoint.inference_state_dict)
    return engine.forward(engine.batch([ids + [0]]))  # the last token is a target only


def test_the_pytorch_twin_loads_the_folder_and_computes_the_same_logits(trained, exported):
    pytest.importorskip('torch')
    from safetensors.torch import load_file
    from torch_twin import TorchEngine
    import torch
    checkpoint = load_checkpoint(trained['float64'])
    tensors = load_file(str(exported['float64'] / WEIGHTS_FILE))
    assert all(t.dtype == torch.float64 for t in tensors.values())
    twin = TorchEngine(checkpoint.config, {name: tensor.tolist() for name, tensor in tensors.items()})
    ids = [checkpoint.config.vocab_size - 1] + checkpoint.tokenizer.encode('emmanuel')[:7]
    with torch.no_grad():
        logits = twin.forward(torch.tensor(ids), torch.arange(len(ids)), None, 1, len(ids)).numpy()
    assert np.abs(logits - numpy_logits(checkpoint, ids)).max() <= EXACT


def docs_snippet():
    page = (DOCS_PAGES / 'export.md').read_text()
    [code] = [code for language, code, *_ in fenced_blocks(page) if language == 'python' and 'torch' in code]
    return code


@pytest.mark.parametrize('dtype', DTYPE_RUNS)
def test_the_docs_pytorch_snippet_computes_the_numpy_engine_s_logits(trained, exported, dtype, tmp_path,
                                                                   monkeypatch):
    pytest.importorskip('torch')
    os.symlink(exported[dtype], tmp_path / 'exported')
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(docs_snippet(), 'export.md', 'exec'), namespace)
    checkpoint = load_checkpoint(trained[dtype])
    expected = numpy_logits(checkpoint, namespace['ids'])
    assert namespace['logits'].shape == expected.shape
    # float64 to 1e-12; a float32 model computes in float32 in PyTorch, in float64 in the engine
    tolerance = EXACT if STORED[dtype] == 'float64' else 1e-5
    assert np.abs(namespace['logits'].double().numpy() - expected).max() <= tolerance


def test_a_folder_that_holds_files_is_refused_unless_forced(trained, tmp_path):
    folder = tmp_path / 'taken'
    folder.mkdir()
    (folder / 'notes.txt').write_text('mine\n')
    assert_one_line(invoke('export', trained['float64'], folder), f"export folder {folder} exists and is not empty")
    assert sorted(p.name for p in folder.iterdir()) == ['notes.txt']
    assert invoke('export', trained['float64'], folder, '--force').exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE, 'notes.txt']
    assert (folder / 'notes.txt').read_text() == 'mine\n'
    assert load_checkpoint(folder).state_dict == load_checkpoint(trained['float64']).inference_state_dict
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert invoke('export', trained['float64'], empty).exit_code == 0  # an empty folder is filled
    assert sorted(p.name for p in tmp_path.iterdir()) == ['empty', 'taken']  # no staging folder left


def test_a_missing_or_bad_checkpoint_writes_nothing(tmp_path):
    assert_one_line(invoke('export', tmp_path / 'nope.json', tmp_path / 'out'), 'checkpoint not found')
    (tmp_path / 'bad.json').write_text('{"format": "other"}')
    assert_one_line(invoke('export', tmp_path / 'bad.json', tmp_path / 'out'), 'not a microgpt checkpoint')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bad.json']
    assert_one_line(invoke('export', tmp_path / 'bad.json', tmp_path / 'bad.json'), 'is not a folder')


def test_without_safetensors_export_says_how_to_install_it(trained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'safetensors', None)
    monkeypatch.setitem(sys.modules, 'safetensors.numpy', None)
    assert_one_line(invoke('export', trained['float64'], tmp_path / 'out'), "pip install -e '.[export]'")
    assert not (tmp_path / 'out').exists()


def copy_folder(source, target):
    target.mkdir()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        (target / name).write_bytes((source / name).read_bytes())
    return target


def edit_tensors(folder, change):
    tensors = safetensors_numpy.load_file(str(folder / WEIGHTS_FILE))
    change(tensors)
    safetensors_numpy.save_file(tensors, str(folder / WEIGHTS_FILE))


def edit_config(folder, change):
    config = json.loads((folder / CONFIG_FILE).read_text())
    change(config)
    (folder / CONFIG_FILE).write_text(json.dumps(config))


TENSOR_FAULTS = {
    'missing': (lambda t: t.pop('wpe'), 'missing wpe'),
    'extra': (lambda t: t.update(bias=np.zeros(3)), 'extra bias'),
    'shape': (lambda t: t.update(wte=t['wte'][:, :4].copy()), 'wte is 27x4, not 27x8'),
    'dtype': (lambda t: t.update(lm_head=t['lm_head'].astype(np.float32)), 'lm_head is float32, not float64'),
    'not finite': (lambda t: t['wte'].__setitem__((0, 0), np.nan), 'wte holds a value that is not a finite number'),
}
CONFIG_FAULTS = {
    'missing field': (lambda c: c.pop('n_head'), 'it misses n_head'),
    'bad value': (lambda c: c.update(n_head=3), 'n_head'),
    'wrong vocabulary': (lambda c: c['chars'].pop(), 'not vocab_size 27'),
    'bad dtype': (lambda c: c.update(dtype='int8'), "dtype 'int8'"),
    'not an export': (lambda c: c.update(format='llama'), "format is not 'microgpt-export'"),
}


@pytest.mark.parametrize('fault', TENSOR_FAULTS)
def test_tensors_that_do_not_match_the_config_are_one_line(exported, tmp_path, fault):
    change, fragment = TENSOR_FAULTS[fault]
    folder = copy_folder(exported['float64'], tmp_path / 'edited')
    edit_tensors(folder, change)
    for args in (['sample'], ['eval'], ['predict'], ['export', folder, tmp_path / 'out']):
        result = invoke(*args, *(['--checkpoint', folder] if args[0] != 'export' else []))
        assert_one_line(result, f"{folder / WEIGHTS_FILE} does not match its config.json: {fragment}")
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('fault', CONFIG_FAULTS)
def test_a_config_that_is_not_valid_is_one_line(exported, tmp_path, fault):
    change, fragment = CONFIG_FAULTS[fault]
    folder = copy_folder(exported['float64'], tmp_path / 'edited')
    edit_config(folder, change)
    result = invoke('sample', '--checkpoint', folder)
    assert_one_line(result, f"{folder / CONFIG_FILE} is not a valid export config: ")
    assert fragment in result.stderr



def test_an_absurd_n_layer_is_one_line_at_once(exported, tmp_path):
    """n_layer is checked against the layers the tensors hold before the config's shapes are
    listed: 10**30 of them would never end."""
    folder = copy_folder(exported['float64'], tmp_path / 'edited')
    edit_config(folder, lambda config: config.update(n_layer=10 ** 30))
    result = invoke('sample', '--checkpoint', folder)
    assert_one_line(result, f"{folder / WEIGHTS_FILE} does not match its config.json: n_layer is {10 ** 30} "
                            f"and the tensors hold")

def test_a_folder_that_is_not_an_export_is_one_line(exported, tmp_path):
    (tmp_path / 'plain').mkdir()
    assert_one_line(invoke('sample', '--checkpoint', tmp_path / 'plain'), 'without config.json')
    folder = copy_folder(exported['float64'], tmp_path / 'edited')
    (folder / CONFIG_FILE).write_text('{"format": ')
    assert_one_line(invoke('eval', '--checkpoint', folder), 'is not readable JSON')
    folder = copy_folder(exported['float64'], tmp_path / 'halved')
    (folder / WEIGHTS_FILE).unlink()
    assert_one_line(invoke('sample', '--checkpoint', folder), f"{folder / WEIGHTS_FILE} not found")
    (folder / WEIGHTS_FILE).write_bytes(b'\x08\x00\x00\x00\x00\x00\x00\x00{"a":1}')
    assert_one_line(invoke('sample', '--checkpoint', folder), 'is not a readable safetensors file')


def test_what_needs_the_training_record_refuses_a_folder(exported, small_data):
    folder = exported['float64']
    assert_one_line(invoke('train', '--resume', folder, '--data', small_data),
                    f"{folder} is an exported folder: it holds weights only")
    assert_one_line(invoke('sample', '--checkpoint', folder, '--novelty', '--data', small_data),
                    f"{folder} is an exported folder: it holds weights only")
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]


def test_the_report_reads_a_folder(exported, tmp_path):
    result = invoke('report', '--checkpoint', exported['float64'], '--out', tmp_path / 'report.html',
                    '--data', REPO / 'input.txt')
    assert result.exit_code == 0, result.output
    page = (tmp_path / 'report.html').read_text()
    assert 'without the record of its training' in page and 'It trained' not in page


def test_a_failed_write_leaves_no_folder_and_no_staging(trained, tmp_path, monkeypatch):
    def disk_full(tensors, filename, metadata=None):
        with open(filename, 'wb') as f:
            f.write(b'half')
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(safetensors_numpy, 'save_file', disk_full)
    assert_one_line(invoke('export', trained['float64'], tmp_path / 'out'),
                    f"cannot write export folder {tmp_path / 'out'}: No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_train_and_sample_from_a_file_never_import_safetensors(names_path, trained, tmp_path):
    script = ("import sys\nfrom microgpt.cli import main\n"
              "for argv in (['train', '--steps', '1', '--samples', '0', '--data', sys.argv[1]],\n"
              "             ['sample', '--num', '1', '--checkpoint', sys.argv[2]]):\n"
              "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
              "print('safetensors' in {m.split('.')[0] for m in sys.modules})")
    done = subprocess.run([sys.executable, '-c', script, str(names_path), str(trained['float64'])],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == 'False'
