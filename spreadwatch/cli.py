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


def main() -> None:
    from spreadwatch.settings import ConfigError

    try:
        app()
    except ConfigError as e:
        typer.echo(f"spreadwatch: {e}", err=True)
        sys.exit(2)
