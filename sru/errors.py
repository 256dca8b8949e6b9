"""Narrow exception classes shared by every component."""


class SruError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero, without a traceback."""


class ConfigError(SruError):
    """A bad flag or config value. The message always names the option."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(f"{option}: {message}")


class MigrationError(SruError):
    """The schema could not be brought up to date."""


class NotMigratedError(SruError):
    """The database lacks sru's schema, or part of it (never migrated, or older than this sru)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"the database is not migrated{f' ({detail})' if detail else ''}: "
                         "run `sru db migrate` first")
