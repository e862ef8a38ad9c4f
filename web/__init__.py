"""The browser page zchat web serves (docs/WEB.md): static files, no Python.

A package only so that its files install as package data (importlib.resources
finds them); nothing imports it.
"""
