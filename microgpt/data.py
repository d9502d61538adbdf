"""Documents (one per line) and the character tokenizer."""
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from .errors import MicrogptError, existing_file

DEFAULT_DATA = 'input.txt'
BUNDLED_NAMES = 'datasets/names.txt'  # package data, relative to the package
BUNDLED_TEXT = 'datasets/shakespeare.txt'  # the text mode's default (see datasets/README.md)
TEXT_SHA256 = 'eb8c68891c73eb8d20df99220fed9895daeedaf13d6f1a45778b3291978f6d6a'
NAMES_SHA256 = '0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d'


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def one_newline(text):
    """text with every CRLF or lone CR made one LF, as the original read input.txt."""
    return text.replace('\r\n', '\n').replace('\r', '\n')


def parse_docs(text):
    """The non-empty lines of text, stripped; a line ends at LF, CRLF or a lone CR."""
    return [line.strip() for line in one_newline(text).strip().split('\n') if line.strip()]


VAL_FRACTION = 0.1  # the share evolution and sweeps hold out


def split_docs(docs, seed, val_fraction=VAL_FRACTION):
    """(train, validation): a held-out share of the documents, fixed by the seed."""
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(docs) * val_fraction)) if len(docs) > 1 else 0
    held_out = set(order[:n_val])
    train = [d for i, d in enumerate(docs) if i not in held_out]
    val = [docs[i] for i in order[:n_val]]
    return train, val


def held_out_split(docs, seed, val_fraction=VAL_FRACTION):
    """split_docs, less the held-out documents with a character no training document has (the model has
    no token for it); a MicrogptError if either side is left empty."""
    train, val = split_docs(docs, seed, val_fraction)
    known = set(''.join(train))
    val = [doc for doc in val if set(doc) <= known]
    if not train or not val:
        raise MicrogptError(f"a held-out share of {val_fraction:g} of {len(docs):,} documents leaves "
                            f"{len(train):,} to train on and {len(val):,} held out: both need at least one")
    return train, val


def load_docs(path, what='data file'):
    """The non-blank lines of a UTF-8 text file, stripped (one document a line); one MicrogptError naming
    the file (`what` says which) if it is missing, a folder, binary, not UTF-8 or blank."""
    return _read_dataset(path, what).docs


def _read_dataset(path, what):
    text, sha256 = _read_text(path, what, 'text with one item per line')
    docs = parse_docs(text)
    if not docs:
        raise MicrogptError(f"{what} {path} is empty: no lines with text (every line is blank)")
    return Dataset(path, docs, sha256)


# Rough bytes of memory a byte of a text file takes while it is read and split into lines:
# the bytes, the text, its line ends made one, the lines and their stripped copies.
READ_BYTES_PER_FILE_BYTE = 8


def _read_text(path, what, expected):
    """A UTF-8 file's text and its SHA-256, or one MicrogptError line saying why it cannot be read."""
    from .compute.limits import available_memory, gib
    path = existing_file(path, what)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # reading it says why
    have = available_memory()
    if have is not None and size * READ_BYTES_PER_FILE_BYTE > have:  # said before reading
        raise MicrogptError(f"{what} {path} ({gib(size)} GiB) needs about {gib(size * READ_BYTES_PER_FILE_BYTE)} GiB "
                            f"of memory to read; this machine has {gib(have)} GiB free")
    try:
        raw = path.read_bytes()
        if b'\0' in raw:
            raise MicrogptError(f"cannot read {what} {path}: it looks binary (NUL bytes), not {expected}")
        return raw.decode('utf-8-sig'), hashlib.sha256(raw).hexdigest()
    except OSError as e:
        raise MicrogptError(f"cannot read {what} {path}: {e.strerror or e}") from None
    except MemoryError:
        raise MicrogptError(f"{what} {path} is too large to read into this machine's memory") from None
    except UnicodeDecodeError as e:
        raise MicrogptError(f"cannot read {what} {path}: not UTF-8 text "
                            f"(byte {e.start}: {raw[e.start:e.start + 1]!r})") from None


@dataclass
class Dataset:
    """The documents a command works on, the file they came from, and its SHA-256."""
    path: Path
    docs: list
    sha256: str


def load_dataset(data, echo=None):
    """The documents of --data (see resolve_data_path), read once: checked and hashed."""
    return _read_dataset(resolve_data_path(data, echo), 'data file')


# --- text mode: the file is one stream of characters ------------------------------------------

@dataclass
class TextData:
    """A file read whole as one stream of characters (text mode), the file, and its SHA-256."""
    path: Path
    text: str
    sha256: str


def bundled_text_path():
    """The public-domain text that ships inside the package (text mode's default data)."""
    return Path(__file__).parent / BUNDLED_TEXT


def load_text(data, echo=None):
    """--data PATH (default: the text bundled with microgpt) read whole as one stream of characters, line
    ends made one newline; a MicrogptError line as load_docs says."""
    if data is None:
        path = bundled_text_path()
        if echo:
            echo(f"no --data: using the text bundled with microgpt ({BUNDLED_TEXT})")
    else:
        path = Path(data)
    text, sha256 = _read_text(path, 'data file', 'text')
    text = one_newline(text)
    if not text.strip():
        raise MicrogptError(f"data file {path} is empty: it holds no text (only blanks)")
    return TextData(path, text, sha256)


def split_text(text, val_fraction):
    """(training part, held-out tail): the last round(len(text) * val_fraction) characters."""
    n_val = round(len(text) * val_fraction) if val_fraction else 0
    return text[:len(text) - n_val], text[len(text) - n_val:]


def window_starts(seed, step, batch_size, num_chars, block_size):
    """Where a step's windows of block_size + 1 characters start: drawn by a random stream keyed by the
    seed and the step, so a resumed run draws the same."""
    draw = random.Random(f"{seed} text window {step}")
    return [draw.randrange(num_chars - block_size) for _ in range(batch_size)]


def tiling_windows(tokens, block_size):
    """The tokens cut into windows of block_size + 1, each starting on the last token of the one before,
    so each token after the first is a target once (the last window may be shorter)."""
    return [tokens[start:start + block_size + 1] for start in range(0, max(len(tokens) - 1, 0), block_size)]


def bundled_names_path():
    """The names data that ships inside the package (the same bytes as the project's input.txt)."""
    return Path(__file__).parent / BUNDLED_NAMES


def load_names():
    """The names data bundled with microgpt, one name a document: what the original trains on.

    How many there are, and the first three:

        >>> names = load_names()
        >>> len(names), names[:3]
        (32033, ['emma', 'olivia', 'ava'])
    """
    return load_docs(bundled_names_path())


def resolve_data_path(data, echo=None):
    """--data PATH if given; else ./input.txt; else the names data bundled with microgpt."""
    if data is not None:
        return Path(data)
    path = Path(DEFAULT_DATA)
    if path.exists():
        return path
    if echo:
        echo(f"no {path} here: using the names data bundled with microgpt")
    return bundled_names_path()


class Tokenizer:
    """Characters of the corpus as ids 0..n-1 (sorted), and BOS = n."""

    def __init__(self, chars):
        self.chars = list(chars)
        self.bos = len(self.chars)
        self.vocab_size = len(self.chars) + 1
        self._ids = {ch: i for i, ch in enumerate(self.chars)}

    @classmethod
    def from_docs(cls, docs):
        return cls(sorted(set(''.join(docs))))

    def unknown_chars(self, text):
        return sorted(set(text) - set(self._ids))

    def encode(self, text):
        return [self._ids[ch] for ch in text]

    def decode(self, ids):
        return ''.join(self.chars[i] for i in ids)

    def doc_tokens(self, doc, block_size):
        """BOS + characters + BOS, cropped to at most block_size + 1 tokens."""
        tokens = [self.bos] + self.encode(doc) + [self.bos]
        return tokens[:block_size + 1]
