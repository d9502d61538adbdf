"""`microgpt train` prints the reference runs line for line, on every engine.

Each run happens in an empty temporary directory, so a genome.json or input.txt in the
project (or wherever pytest was started) cannot change it.
"""
import subprocess
import sys

import pytest

from conftest import REFERENCE

ENGINES = ['val', 'numpy']

# settings per reference file, as tests/data/reference/README.md gives them
REFERENCE_RUNS = {
    'default-50-steps.txt': ['--steps', '50'],
    'default-100-steps.txt': ['--steps', '100'],
    'small-300-steps.txt': ['--seed', '11', '--n-embd', '8', '--n-head', '2', '--block-size', '12',
                            '--lr', '0.015', '--steps', '300', '--temperature', '0.7'],
    'default-1000-steps.txt': [],
    'seed3-3layers-embd8-20-steps.txt': ['--seed', '3', '--n-layer', '3', '--n-embd', '8', '--n-head', '2',
                                         '--block-size', '8', '--ff-mult', '1', '--lr', '0.03', '--steps', '20',
                                         '--temperature', '0.7', '--samples', '5'],
    'seed123-embd20-head5-15-steps.txt': ['--seed', '123', '--n-embd', '20', '--n-head', '5', '--block-size', '12',
                                          '--ff-mult', '3', '--lr', '0.005', '--steps', '15',
                                          '--temperature', '1.0', '--samples', '5'],
}


def run_train(args, cwd):
    return subprocess.run([sys.executable, '-m', 'microgpt', 'train', *args],
                          cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize('engine', ENGINES)
@pytest.mark.parametrize('reference', [
    pytest.param(name, marks=pytest.mark.slow) if name == 'default-1000-steps.txt' else name
    for name in sorted(REFERENCE_RUNS)])
def test_train_reproduces_reference(reference, engine, names_path, tmp_path):
    expected = (REFERENCE / reference).read_text()
    out = tmp_path / 'model.ckpt.json'
    result = run_train(['--data', str(names_path), '--engine', engine, '--out', str(out),
                        *REFERENCE_RUNS[reference]], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected.splitlines()
    assert out.exists()
