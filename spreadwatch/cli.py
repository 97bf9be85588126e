"""The ``spreadwatch`` command line. Commands live in spreadwatch/commands/*.py (each has register(app))."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from spreadwatch import commands

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="spreadwatch: notice a story the moment it starts to spread, and trace who copied whom.")


def _register_all() -> None:
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"spreadwatch.commands.{mod.name}")
        module.register(app)


_register_all()


# Exit codes, the same for every command: 0 all went well, 1 something failed (a feed, an outlet,
# a channel, the database), 2 the configuration is invalid (nothing was started or created).
EXIT_FAILED, EXIT_CONFIG = 1, 2


def main() -> None:
    import logging

    from spreadwatch.logs import configure_logging
    from spreadwatch.settings import ConfigError
    from storage import DatabaseUnavailable

    configure_logging(level=logging.WARNING)  # warnings as one line with their fields; the daemon says more
    try:
        app()
    except ConfigError as e:
        typer.echo(f"spreadwatch: {e}", err=True)
        sys.exit(EXIT_CONFIG)
    except DatabaseUnavailable as e:
        typer.echo(f"spreadwatch: {e}", err=True)
        sys.exit(EXIT_FAILED)
