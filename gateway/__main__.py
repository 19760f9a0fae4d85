"""`python -m gateway` runs the citygw command."""

from gateway.cli import main

if __name__ == "__main__":  # not when a child process (multiprocessing spawn) imports it
    main()
