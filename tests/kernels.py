"""The OpenBLAS kernels CI reruns the `kernel` tests under (.ci/run): those this CPU can be
forced to whose SIMD width differs from the one numpy runs now, as machines of other kinds
compute. `python tests/kernels.py` prints them."""
import platform

from microgpt.reproducibility import KERNEL_SIMD_WIDTH, blas_info

# OpenBLAS kernels to force, by architecture
FORCEABLE_KERNELS = {'x86_64': ('SkylakeX', 'Haswell', 'Nehalem'), 'aarch64': ('NEOVERSEN1', 'ARMV8')}
# CPU flags (Linux's /proc/cpuinfo) a forced x86-64 kernel needs.
KERNEL_CPU_FLAGS = {'Nehalem': 'sse4_2', 'Haswell': 'avx2', 'SkylakeX': 'avx512f'}


def cpu_flags():
    """The CPU's feature flags as Linux lists them ('' elsewhere)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith(('flags', 'Features')):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


def other_width_kernels(kernel=None):
    """The OpenBLAS kernels this CPU can be forced to whose SIMD width differs from `kernel`'s
    (default: the one numpy runs now), widest first. On arm64, where both forceable kernels
    are 128 bits wide, the one not in force."""
    arch = {'amd64': 'x86_64', 'arm64': 'aarch64'}.get(platform.machine().lower(), platform.machine().lower())
    kernel = str(kernel or blas_info()['blas_kernel'])
    widths = {name.lower(): width for name, width in KERNEL_SIMD_WIDTH.items()}
    if arch != 'x86_64':
        return [name for name in FORCEABLE_KERNELS.get(arch, ()) if name.lower() != kernel.lower()][:1]
    flags = cpu_flags()
    return [name for name in FORCEABLE_KERNELS[arch]
            if widths[name.lower()] != widths.get(kernel.lower()) and KERNEL_CPU_FLAGS[name] in flags]


if __name__ == '__main__':
    print(*other_width_kernels())
