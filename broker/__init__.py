"""The zchat broker: a roster, a sans-I/O core and the ROUTER server around them.

Its console and log lines are its own (texts.py). It imports common/ and
protocol/, never client/ (pyproject.toml's import-linter contracts).
"""
