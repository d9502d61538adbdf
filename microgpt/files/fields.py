"""Checking a file microgpt reads against a declaration of what it holds: {field: (test, what it must be)},
the text finishing "field X ..." when test(value) fails. check_fields raises the first field missing, unknown
or not as declared as `bad(field, why)`, which the file's reader makes one line naming file and field."""
import math


def is_number(value):
    """A finite number (not a bool, which JSON keeps apart)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_count(value):
    return is_whole(value) and value >= 0


def is_digest(value):
    return isinstance(value, str) and len(value) == 64 and all(c in '0123456789abcdef' for c in value)


def is_seeds(value):
    return isinstance(value, list) and bool(value) and all(is_whole(seed) for seed in value)


def or_null(test):
    return lambda value: value is None or test(value)


def check_fields(obj, spec, where, bad, known=(), optional=()):
    """Each field of `spec` present in obj (unless `optional`) and passing its test; no field beyond `known`
    (default: the spec's; None: any). `where` prefixes each field's name ('record.scorings[0]'; '' at the top)."""
    def named(name):
        return f'{where}.{name}' if where else name

    allowed = spec if known == () else known
    for name in obj:
        if allowed is not None and name not in allowed:
            raise bad(named(name), f"is not a field here (fields: {', '.join(allowed)})")
    for name, (test, why) in spec.items():
        if name not in obj:
            if name in optional:
                continue
            raise bad(named(name), "is missing")
        if not test(obj[name]):
            raise bad(named(name), f"{why}, got {shown(obj[name])}")


def shown(value):
    """A value as an error line quotes it: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'
