"""`microgpt bench` runs end to end and reports what it says it reports (no timing asserts)."""
import json
import random
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from microgpt import bench
from microgpt.cli import main
from microgpt.errors import MicrogptError


def test_engine_list_is_checked(monkeypatch):
    assert bench.parse_engines('numpy, val,numpy') == ['numpy', 'val']
    with pytest.raises(MicrogptError, match='unknown engine'):
        bench.parse_engines('numpy,jax')
    monkeypatch.setattr(bench, 'torch_available', lambda: False)
    assert bench.parse_engines(None) == ['val', 'numpy']
    with pytest.raises(MicrogptError, match=r"microgpt\[bench\]"):
        bench.parse_engines('torch')


@pytest.mark.parametrize('n', [3, 4, 1000])
def test_atom_graph_has_n_nodes(n):
    root = bench.atom_graph(n)
    seen, stack = {id(root)}, [root]
    while stack:
        for child in stack.pop()._children:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    assert len(seen) == n
    root.backward()
    assert root.grad == 1.0


def test_peak_rss_is_the_childs_own(tmp_path):
    grow = "b = bytearray(80 * 2**20); b[::4096] = b'x' * len(b[::4096])"
    ballast = bytearray(100 * 2**20)
    ballast[::4096] = b'x' * len(ballast[::4096])  # this process's peak must not show in its children
    _, small, _, _ = bench.run_measured([sys.executable, '-c', bench.PEAK_RSS_REPORTER + 'pass'], tmp_path)
    _, large, _, _ = bench.run_measured([sys.executable, '-c', bench.PEAK_RSS_REPORTER + grow], tmp_path)
    assert small < 40 and large > small + 70


def test_failing_step_is_one_clear_error(tmp_path):
    with pytest.raises(MicrogptError, match='boom'):
        bench.run_measured([sys.executable, '-c', "raise SystemExit('boom')"], tmp_path)


def test_bench_command_reports_each_engine(names_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench, 'ATOM_SIZES', (1000,))
    result = CliRunner().invoke(main, ['bench', '--engines', 'numpy,val', '--steps', '3', '--repeat', '1',
                                       '--data', str(names_path), '--out', 'bench.json'])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / 'bench.json').read_text())
    assert set(report['engines']) == {'numpy', 'val'}
    for result in report['engines'].values():
        assert result['train_step_seconds'] > 0 and result['sample_seconds'] > 0
        assert result['peak_rss_mb'] > 10 and result['train_process']['peak_rss_mb'] > 10
        assert result['train_process']['seconds']['runs'] == 1
        assert result['final_loss_line'].startswith('step    3 /    3 | loss ')
        assert len(result['samples'].split()) <= bench.SAMPLES
    assert report['comparisons']['same_losses_and_samples_as_numpy'] == {'val': True}
    assert report['atom']['1k_nodes']['nodes'] == 1000
    assert report['startup_seconds']['python'] > 0


def test_torch_twin_computes_the_same_gradients():
    pytest.importorskip('torch')
    from microgpt.bench_torch import TorchEngine
    from microgpt.engines.val import ValEngine
    from microgpt.model import GPTConfig, init_state_dict
    config = GPTConfig(vocab_size=6, n_embd=6, n_head=3, n_layer=2, block_size=5, ff_mult=2)
    state = init_state_dict(config, random.Random(4), std=0.3)
    tokens = [5, 1, 2, 3, 4, 0]
    val, twin = ValEngine(config, state), TorchEngine(config, state)
    assert twin.loss_and_backward([tokens]) == pytest.approx(val.loss_and_backward([tokens]), rel=1e-12)
    for name, grads in val.gradients().items():
        np.testing.assert_allclose(twin.gradients()[name], grads, rtol=1e-9, atol=1e-15)
