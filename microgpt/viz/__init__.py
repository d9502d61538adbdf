"""Seeing a trained model: its Val graph (graph.py), attention and embeddings (figures.py) and one
HTML page of it all (report.py); training imports none of it. Here: the text a picture is made of."""
from ..errors import MicrogptError


def text_tokens(checkpoint, text):
    """BOS + text + BOS as token ids, or one MicrogptError line saying what is wrong with text:
    empty, a character the model does not know, or longer than its context holds."""
    tokenizer, block_size = checkpoint.tokenizer, checkpoint.config.block_size
    if checkpoint.text_mode:
        raise MicrogptError("this checkpoint was trained on text (train --text), which has no BOS: its pictures of "
                            "a name from BOS to BOS mean nothing; continue a text with `microgpt sample --prompt`")
    if not text:
        raise MicrogptError("--text is empty: give a word or name made of the model's characters")
    unknown = tokenizer.unknown_chars(text)
    if unknown:
        raise MicrogptError(f"text {text!r} has a character the model does not know: {unknown[0]!r} "
                            f"(it knows {''.join(tokenizer.chars)!r})")
    if len(text) > block_size - 1:
        raise MicrogptError(f"text {text!r} has {len(text)} characters; the model's block_size "
                            f"({block_size}) holds at most {block_size - 1} after BOS")
    return [tokenizer.bos] + tokenizer.encode(text) + [tokenizer.bos]
