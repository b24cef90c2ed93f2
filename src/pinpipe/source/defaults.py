"""Generator defaults, kept apart so the CLI can show them without importing the generator (Faker)."""

DEFAULT_ROWS = 11_000
DEFAULT_SEED = 0
