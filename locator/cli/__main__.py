"""`python -m locator.cli`: the same as the `locator` command."""

from locator.cli import app

app()
