"""`python -m gateway` runs the citygw command."""

from gateway.cli import main

main()
