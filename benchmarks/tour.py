"""Times the README's tour as a newcomer runs it from the project root, command by command,
and writes what each printed and how long it took (wall and CPU seconds) to
benchmarks/tour.json, the file whose times the README quotes (tests/test_docs.py checks them):

    flock /tmp/microgpt-cpu.lock python benchmarks/tour.py [OUT]

The commands run in a scratch copy of the project root (input.txt, genome.json and
experiments/), one after another, so the repository itself is left untouched."""
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOUR_HEADING = '## The lifecycle in seven commands'
# Enough of each command's output to hold what the README quotes from it.
HEAD_LINES, TAIL_LINES = 12, 40
FENCE = re.compile(r'^(\s*)(`{3,})(\S*)\s*$')


def fenced_blocks(text):
    """Every fenced code block of a Markdown text: (language, code, line of the opening fence,
    the line above the fence, what follows the block up to the next one), the code dedented
    by the fence's indent."""
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, ticks, language = opening.groups()
        end = i + 1
        while end < len(lines) and lines[end].strip() != ticks:
            end += 1
        code = '\n'.join(line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1:end])
        blocks.append([language, code, i + 1, lines[i - 1].strip() if i else '', end + 1])
        i = end + 1
    for block, following in zip(blocks, [*blocks[1:], None]):  # the text between it and the next
        block[4] = '\n'.join(lines[block[4]:following[2] - 1 if following else len(lines)])
    return [tuple(block) for block in blocks]


def tour_section(readme):
    """The README's tour: the text from its heading to the next heading of its level."""
    return readme.split(TOUR_HEADING, 1)[1].split('\n## ', 1)[0]


def tour_steps(readme):
    """The tour's steps in order: [(title, time as written, command, description)], each step
    a line `**N. TITLE** (TIME on 2 cores)`, a bash block of one command, a paragraph."""
    steps = []
    for chunk in re.split(r'\n(?=\*\*\d+\. )', tour_section(readme))[1:]:
        head = re.match(r'\*\*\d+\. (.+?)\*\* \((.+?) on 2 cores\)', chunk)
        [(language, command, _, _, _)] = fenced_blocks(chunk)
        assert head and language == 'bash' and '\n' not in command.strip(), chunk
        description = chunk.split('```', 2)[2].strip()
        steps.append((head.group(1), head.group(2), command.strip(), description))
    return steps


def tour_time(seconds):
    """A wall time as the README writes it."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 100:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def excerpt(text):
    lines = text.splitlines()
    return lines if len(lines) <= HEAD_LINES + TAIL_LINES else [*lines[:HEAD_LINES], '...', *lines[-TAIL_LINES:]]


def run_tour(commands, workdir):
    """Runs each command (a microgpt command line) in workdir; what it printed and its times."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    results = []
    for command in commands:
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        done = subprocess.run(shlex.split(command), cwd=workdir, env=env, capture_output=True, text=True)
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"tour command failed ({done.returncode}): {command}\n{done.stderr}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        results.append(dict(command=command, seconds=round(wall, 3), cpu_seconds=round(cpu, 3),
                            stdout=excerpt(done.stdout), stderr=excerpt(done.stderr)))
        print(f"{tour_time(wall):>12}  {command}", file=sys.stderr)
    return results


def main(out=ROOT / 'benchmarks' / 'tour.json'):
    from microgpt.provenance import provenance
    steps = tour_steps((ROOT / 'README.md').read_text())
    with tempfile.TemporaryDirectory() as scratch:
        for name in ('input.txt', 'genome.json'):
            shutil.copy(ROOT / name, scratch)
        shutil.copytree(ROOT / 'experiments', Path(scratch) / 'experiments')
        load = os.getloadavg()
        results = run_tour([command for _, _, command, _ in steps], scratch)
    report = dict(provenance=provenance(['tour']), cores=os.cpu_count(), load_average_before=load, commands=results)
    tmp = Path(f"{out}.tmp")
    tmp.write_text(json.dumps(report, indent=1) + '\n')
    tmp.replace(out)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == '__main__':
    main(*sys.argv[1:])
