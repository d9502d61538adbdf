"""Printed figures compare as numbers within a tolerance, never by their last digit."""
from kernels import other_width_kernels
from printed import find_printed_line, numbers_agree, same_print

from microgpt.reproducibility import KERNEL_SIMD_WIDTH


def test_a_last_digit_rounded_the_other_way_agrees_but_a_real_difference_does_not():
    assert numbers_agree('935,762', '935,763', rel=1e-6)  # 935,762.5 either side of the cut
    assert not numbers_agree('935,762', '935,765', rel=1e-6)
    assert numbers_agree('2.0244', '2.0245', rel=1e-6) and not numbers_agree('2.0244', '2.0247', rel=1e-6)
    assert numbers_agree('1e+11', '1.0e+11', rel=0)


def test_texts_must_have_the_same_words():
    assert same_print('D_opt 935,762 tokens (52.3 per parameter)', 'D_opt 935,763 tokens (52.3 per parameter)')
    assert not same_print('D_opt 935,762 tokens', 'N_opt 935,762 tokens')
    assert not same_print('loss 2.0244', 'loss 2.0244 2.1')


def test_a_line_is_found_inside_a_longer_one():
    text = 'intro\n    C 1e+11: N_opt 17,903, D_opt 935,763 tokens\n'
    assert find_printed_line('C 1e+11: N_opt 17,903, D_opt 935,762 tokens', text)
    assert find_printed_line('C 1e+11: N_opt 17,903, D_opt 935,772 tokens', text) is None


def test_the_second_kernels_differ_in_simd_width():
    for kernel in ('SkylakeX', 'Haswell', 'Zen', 'Nehalem'):
        others = other_width_kernels(kernel)
        assert all(KERNEL_SIMD_WIDTH[k] != KERNEL_SIMD_WIDTH[kernel] for k in others)
    assert 'Haswell' not in other_width_kernels('Zen')  # Zen is 256 bits wide, as Haswell
