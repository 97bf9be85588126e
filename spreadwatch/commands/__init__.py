"""CLI command modules. Each module here defines ``register(app: typer.Typer) -> None``."""
