"""The data bess-duos ships (read through `importlib.resources`; each file names its source)."""
