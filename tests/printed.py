"""Printed figures compared as numbers, not as digits.

A shipped text (a table, a fit) is made on one machine's arithmetic; on another the same number
may round to a neighbouring last digit (935,762 against 935,763). Two texts are the same when
their words are equal and each pair of numbers agrees within the stated tolerance, widened by half
a unit in the last printed digit of each: the precision the print leaves undetermined."""
import re

NUMBER = re.compile(r'-?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?')


def _value_and_unit(token):
    """The number a printed token stands for, and half its last digit's place."""
    mantissa, _, exponent = token.replace(',', '').partition('e')
    decimals = len(mantissa.partition('.')[2])
    scale = 10.0 ** int(exponent or 0)
    return float(mantissa) * scale, 0.5 * 10.0 ** -decimals * scale


def numbers_agree(a, b, rel, abs_tol=0.0):
    """Two printed numbers that true values within `rel` (or `abs_tol`) of each other can print as."""
    (x, half_x), (y, half_y) = _value_and_unit(a), _value_and_unit(b)
    return abs(x - y) <= max(rel * max(abs(x), abs(y)), abs_tol) + half_x + half_y


def same_print(expected, actual, rel=1e-6, abs_tol=1e-8):
    """Whether two texts differ only in numbers that agree within the tolerance."""
    if NUMBER.split(expected) != NUMBER.split(actual):
        return False
    ours, theirs = NUMBER.findall(expected), NUMBER.findall(actual)
    return len(ours) == len(theirs) and all(numbers_agree(a, b, rel, abs_tol) for a, b in zip(ours, theirs))


def find_printed_line(line, text, rel=1e-6, abs_tol=1e-8):
    """The line of `text` that holds `line` printed the same (see same_print), or None."""
    wanted = line.strip()
    words = NUMBER.split(wanted)
    shape = re.compile(f'({NUMBER.pattern})'.join(map(re.escape, words)))
    for candidate in text.splitlines():
        for found in shape.finditer(candidate):
            if same_print(wanted, found.group(0), rel, abs_tol):
                return candidate
    return None
