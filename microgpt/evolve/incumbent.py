"""The incumbent met by its own record: the scorings its final made, kept in its genome file."""
import hashlib


def split_digest(train_docs, val_docs):
    """The digest of a held-out split: its training and validation documents, in order."""
    digest = hashlib.sha256()
    for part in (train_docs, val_docs):
        digest.update('\n'.join(part).encode('utf-8'))
        digest.update(b'\0')
    return digest.hexdigest()
