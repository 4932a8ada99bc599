"""Lexicon files for engage's sentiment scorer (package data, read with importlib.resources)."""
