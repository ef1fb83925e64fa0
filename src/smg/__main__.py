"""`python -m smg` runs the command line, as the `smg` script does."""

from smg.cli import main

if __name__ == "__main__":
    main()
