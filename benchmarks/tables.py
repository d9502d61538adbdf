"""The Markdown tables of the docs' "Engines and speed" page and benchmarks/README.md's results,
from one report of the benchmark suite (benchmarks/bench.py) and one of its race (--race):
    python benchmarks/tables.py benchmarks/report.json benchmarks/race.json
(tests/test_shipped.py checks that both hold these lines)."""
import json
import sys


PEAK = 'peak_rss_mb'


def ms(seconds):
    return f"{seconds * 1000:.3g} ms"


def seconds(value):
    return '–' if value is None else f"{value:.3g} s"


def tables(report, race):
    e, out = report['engines'], []
    numpy, val, torch = e['numpy'], e['val'], e.get('torch', {})
    out += ["| | numpy (default) | val (atoms) | PyTorch (float64, 1 thread) |",
            "| --- | ---: | ---: | ---: |",
            f"| training step, default config | {ms(numpy['train_step_seconds'])} | {ms(val['train_step_seconds'])} | "
            f"{ms(torch['train_step_seconds']) if torch else '–'} |",
            f"| 20 samples | {numpy['sample_seconds']:.3g} s | {val['sample_seconds']:.3g} s | "
            f"{seconds(torch.get('sample_seconds'))} |",
            f"| whole `microgpt train --samples 0` process | {numpy['train_process']['seconds']['median']:.3g} s | "
            f"{val['train_process']['seconds']['median']:.3g} s | – |",
            f"| peak RSS of that process | {numpy['train_process']['peak_rss_mb']:.0f} MB | "
            f"{val['train_process']['peak_rss_mb']:.0f} MB | "
            f"{f'{torch[PEAK]:.0f} MB (worker)' if torch else '–'} |",
            f"| batch 32, n_embd 64, 2 layers: tokens/s | {report['batch_training']['numpy']['tokens_per_second']['median']:,.0f} | – | "
            f"{report['batch_training']['torch']['tokens_per_second']['median']:,.0f} |", ""]
    side = e['original']['side_by_side_process'], val['side_by_side_process']
    out += [f"| whole process, {side[0]['steps']} steps and 20 samples | the original microgpt.py | "
            "`microgpt train --engine val --primordial` |", "| --- | ---: | ---: |",
            f"| seconds (median of {side[0]['seconds']['runs']}) | {side[0]['seconds']['median']:.3g} | "
            f"{side[1]['seconds']['median']:.3g} |", ""]
    m = report['makemore_size_training']
    out += ["| batch 32, n_embd 64, 4 layers | numpy float64 | numpy float32 | PyTorch twin, float32, 2 threads |",
            "| --- | ---: | ---: | ---: |",
            "| tokens/s (median) | " + " | ".join(f"{m[k]['tokens_per_second']['median']:,.0f}" for k in
                                                 ('numpy_float64', 'numpy_float32', 'torch_float32_2_threads')) + " |",
            "| step | " + " | ".join(ms(m[k]['step_seconds']) for k in
                                    ('numpy_float64', 'numpy_float32', 'torch_float32_2_threads')) + " |", ""]
    out += ["| goal | measured | limit | |", "| --- | ---: | ---: | --- |"]
    for name, g in {**report['goals'], **race['goals']}.items():
        out.append(f"| {name} | {g['value']:.3g} | {g['goal']} | {'PASS' if g['met'] else 'FAIL'} |")
    return '\n'.join(out)


if __name__ == '__main__':
    print(tables(json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))))
