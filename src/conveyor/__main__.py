"""``python -m conveyor``: the ``conveyor`` command, run by this interpreter."""

from conveyor.cli import main

if __name__ == "__main__":
    main(prog_name="conveyor")
