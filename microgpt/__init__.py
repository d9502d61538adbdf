"""microgpt: a GPT trained and sampled through a tiny scalar autograd engine."""
__version__ = '0.1.0'
