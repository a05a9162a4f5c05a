"""The pure domain: programs, cadences, occurrences, records, rules and plans.

No I/O, no plugin host, no environment reads: standard library and attrs only (enforced by
the import-linter contracts in ``pyproject.toml``). The public names are re-exported from
:mod:`iopcore`.
"""
