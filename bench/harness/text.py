"""Typographic characters for the report, spelled by name so the source stays ASCII-clear."""

TIMES = "\N{MULTIPLICATION SIGN}"
DASH = "\N{EN DASH}"
AT_MOST = "\N{LESS-THAN OR EQUAL TO}"
AT_LEAST = "\N{GREATER-THAN OR EQUAL TO}"
