"""The ``icebreak`` command installed with the wheel: the Rust CLI, linked into the extension."""

import sys

from ._icebreak import cli_main


def main():
    """Runs ``icebreak`` with this process's arguments and exits with its status."""
    sys.exit(cli_main(["icebreak", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
