"""The zchat terminal client: input parsing, rendering, screen and the DEALER loop.

What it shows its user is its own (texts.py). It imports common/ and
protocol/, never broker/ (pyproject.toml's import-linter contracts).
"""
