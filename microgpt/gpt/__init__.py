"""The GPT itself: its settings, the atom, the model, the optimizer, the engines and sampling."""
