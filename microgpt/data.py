"""Documents (one per line) and the character tokenizer."""
import hashlib
import random
from pathlib import Path

from .errors import MicrogptError
from .fileio import atomic_write_bytes

DEFAULT_DATA = 'input.txt'
NAMES_URL = 'https://raw.githubusercontent.com/karpathy/makemore/refs/heads/master/names.txt'
NAMES_SHA256 = '0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d'


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def parse_docs(text):
    """The non-empty lines of text, stripped."""
    return [line.strip() for line in text.strip().split('\n') if line.strip()]


def split_docs(docs, seed, val_fraction=0.1):
    """(train, validation): a held-out share of the documents, fixed by the seed."""
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(docs) * val_fraction)) if len(docs) > 1 else 0
    held_out = set(order[:n_val])
    train = [d for i, d in enumerate(docs) if i not in held_out]
    val = [docs[i] for i in order[:n_val]]
    return train, val


def load_docs(path):
    """Read one document per line; a clear MicrogptError if that cannot give any."""
    path = Path(path)
    if not path.exists():
        raise MicrogptError(f"data file not found: {path}")
    if path.is_dir():
        raise MicrogptError(f"data path is a directory, not a file: {path}")
    try:
        text = path.read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as e:
        raise MicrogptError(f"cannot read data file {path}: {e}") from None
    docs = parse_docs(text)
    if not docs:
        raise MicrogptError(f"data file is empty (no non-blank lines): {path}")
    return docs


def download_names(dest, url=NAMES_URL, timeout=30):
    """Fetch the names dataset to dest, verifying its SHA-256 before writing it."""
    import urllib.request  # here: it costs ~20 ms of start-up, and only a download needs it
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()
    except OSError as e:
        raise MicrogptError(
            f"no data: {dest} does not exist and downloading the names dataset failed ({e}); "
            f"pass --data PATH to a one-document-per-line file, or save the names file as {dest}"
        ) from None
    digest = hashlib.sha256(payload).hexdigest()
    if digest != NAMES_SHA256:
        raise MicrogptError(f"downloaded names file has SHA-256 {digest}, expected {NAMES_SHA256}; "
                            f"not saved. Pass --data PATH instead")
    atomic_write_bytes(dest, payload)


def resolve_data_path(data, echo=None):
    """--data PATH if given; else ./input.txt; else download the names dataset there."""
    if data is not None:
        return Path(data)
    path = Path(DEFAULT_DATA)
    if not path.exists():
        if echo:
            echo(f"{path} not found: downloading the names dataset to it")
        download_names(path)
    return path


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
