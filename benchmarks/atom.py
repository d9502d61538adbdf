"""The atom's micro-benchmarks: building and back-propagating chains of Val nodes."""
import time


def atom_graph(n):
    """A chain of n >= 3 Val nodes: leaves a and b, y = a * b, then alternately y + a and y * b."""
    from microgpt.gpt.autograd import Val
    a, b = Val(0.1), Val(0.9)
    y = a * b
    for i in range(n - 3):
        y = y + a if i % 2 == 0 else y * b
    return y


def measure_atom(n, budget_seconds=0.5):
    """Seconds to build an n-node Val graph and to back-propagate through it (best of several)."""
    builds, backwards = [], []
    while not builds or (sum(builds) + sum(backwards) < budget_seconds and len(builds) < 200):
        t0 = time.perf_counter()
        root = atom_graph(n)
        t1 = time.perf_counter()
        root.backward()
        t2 = time.perf_counter()
        builds.append(t1 - t0)
        backwards.append(t2 - t1)
        del root
    build, backward = min(builds), min(backwards)
    return dict(nodes=n, build_seconds=build, backward_seconds=backward, runs=len(builds),
                build_ns_per_node=build / n * 1e9, backward_ns_per_node=backward / n * 1e9)
