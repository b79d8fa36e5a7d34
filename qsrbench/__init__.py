"""qsrbench: benchmark harness and test oracles for quantized SR and efficient NAS.

Data flows one way: spec (TOML) → registry → method → runner → results store → leaderboard.
Importing the package is cheap and never imports a method: methods, models and data sets are
found lazily through :mod:`qsrbench.registry`.
"""

__version__ = "0.1.0"
