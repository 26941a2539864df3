"""Options declared once: flag, variable, default, parser, help; settings built from them (pure).

An option table drives argparse, the environment lookup, the defaults, the help texts
and the settings (`build`, by field name); `tests/test_readme.py` checks README against it.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, NoReturn, TypeVar

T = TypeVar("T")
S = TypeVar("S")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
# What a switch flag (`--mqtt-tls`) stores: the same parser then reads flag and variable.
_SWITCHED_ON = "true"


class ConfigError(Exception):
    """A setting has a value the bridge cannot use; the message is one line for the user."""


class RejectedError(Exception):
    """A parser's verdict on a text, e.g. `is not valid; expected 0 or 1`."""


@dataclass(frozen=True, slots=True)
class Option(Generic[T]):
    """One setting: given by flag, else by environment variable, else the default."""

    # None: environment only (a password flag would show in ps).
    flag: str | None
    env: str | None  # None: flag only
    default: T
    parse: Callable[[str], T]
    help: str
    # The default as documented, when `default` alone does not say it.
    shown: str | None = None
    # A flag without a value that switches the setting on (`--mqtt-tls`).
    switch: bool = False
    metavar: str | None = None
    # The settings field it fills, when not the flag's (or the variable's) name.
    setting: str | None = None

    @property
    def names(self) -> str:
        """Return how messages name the option: `--flag / ENV`."""
        return " / ".join(name for name in (self.flag, self.env) if name is not None)

    @property
    def dest(self) -> str:
        """Return the settings field the option fills: the flag's name, else the variable's."""
        return self.setting or _dest(self.flag or str(self.env))

    @property
    def shown_default(self) -> str:
        """Return the default as help texts and README state it."""
        return self.shown if self.shown is not None else describe(self.default)


@dataclass(frozen=True, slots=True)
class Repeated:
    """A flag given any number of times; no environment twin; none given means all."""

    flag: str
    parse: Callable[[str], str]
    help: str
    shown_default: str
    metavar: str
    # The settings field it fills.
    dest: str

    # Flag only: tables name any option's variable alike.
    env: ClassVar[None] = None

    @property
    def names(self) -> str:
        """Return how messages name the option."""
        return self.flag


Declared = Option[Any] | Repeated


class OptionParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one-line ConfigErrors."""

    def __init__(self, prog: str, description: str | None) -> None:
        # No abbreviations: `--mqtt-password` must not pass for `--mqtt-password-file`.
        super().__init__(prog=prog, description=description, allow_abbrev=False)

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing usage and exiting."""
        raise ConfigError(message)


def describe(default: object) -> str:
    """Return how a default value reads in help and README."""
    if default is None:
        return "none"
    if default is False:
        return "off"
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


def help_text(option: Declared) -> str:
    """Return the option's help: its meaning, then `(ENV, default X)`."""
    twin = f"{option.env}, " if option.env is not None else ""
    repeat = "repeatable; " if isinstance(option, Repeated) else ""
    return f"{option.help} ({repeat}{twin}default {option.shown_default})"


def add_options(parser: argparse.ArgumentParser, table: Sequence[Declared]) -> None:
    """Add the table's flags to `parser`; parsing waits for `value` to know flag from variable."""
    for option in table:
        if option.flag is None:
            continue
        dest = _dest(option.flag)
        help_ = help_text(option).replace("%", "%%")
        if isinstance(option, Repeated):
            parser.add_argument(
                option.flag, dest=dest, action="append", metavar=option.metavar, help=help_
            )
        elif option.switch:
            parser.add_argument(
                option.flag, dest=dest, action="store_const", const=_SWITCHED_ON, help=help_
            )
        else:
            parser.add_argument(option.flag, dest=dest, metavar=option.metavar, help=help_)


def value(option: Option[T], args: argparse.Namespace, environ: Mapping[str, str]) -> T:
    """Return the option's setting: flag beats environment beats default."""
    given: str | None = getattr(args, _dest(option.flag)) if option.flag is not None else None
    if given is None and option.env is not None:
        given = environ.get(option.env)
    if given is None:
        return option.default
    return _parsed(option.names, option.parse, given)


def build(
    settings: Callable[..., S],
    table: Sequence[Declared],
    args: argparse.Namespace,
    environ: Mapping[str, str],
    **given: object,
) -> S:
    """Return `settings` (a dataclass) with each field the table option of that name gives.

    Fields in `given` are filled by the caller (settings made of other settings).
    """
    by_dest = {option.dest: option for option in table}
    for field in dataclasses.fields(settings):  # type: ignore[arg-type]
        if field.name in given:
            continue
        option = by_dest[field.name]
        if isinstance(option, Repeated):
            # Every value the flag was given, in order, each once.
            texts: list[str] = getattr(args, _dest(option.flag)) or []
            parsed = (_parsed(option.names, option.parse, text) for text in texts)
            given[field.name] = tuple(dict.fromkeys(parsed))
        else:
            given[field.name] = value(option, args, environ)
    return settings(**given)


def _parsed(names: str, parse: Callable[[str], T], given: str) -> T:
    try:
        return parse(given)
    except RejectedError as err:
        msg = f"{names}: {given!r} {err}"
        raise ConfigError(msg) from None


def _dest(name: str) -> str:
    return name.removeprefix("--").replace("-", "_").lower()


def _invalid(accepted: str) -> RejectedError:
    return RejectedError(f"is not valid; expected {accepted}")


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """Return a parser of integers from `minimum` (to `maximum`)."""
    at_least = f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise _invalid(at_least) from None
        if number < minimum:
            raise _invalid(at_least)
        if maximum is not None and number > maximum:
            raise _invalid(f"an integer from {minimum} to {maximum}")
        return number

    return parse


def number(minimum: float, *, above: bool = False) -> Callable[[str], float]:
    """Return a parser of finite numbers >= `minimum` (> `minimum` when `above`)."""
    accepted = f"a number {'>' if above else '>='} {minimum:g}"

    def parse(text: str) -> float:
        try:
            result = float(text)
        except ValueError:
            raise _invalid(accepted) from None
        # NaN compares false with everything, so it must be refused by name.
        low = result <= minimum if above else result < minimum
        if not math.isfinite(result) or low:
            raise _invalid(accepted)
        return result

    return parse


def one_of(choices: Mapping[str, T]) -> Callable[[str], T]:
    """Return a case-insensitive parser of the names in `choices` (upper- or lower-case keys)."""
    names = list(choices)
    accepted = " or ".join(names) if len(names) == 2 else f"one of {', '.join(names)}"  # noqa: PLR2004
    folded = {name.casefold(): result for name, result in choices.items()}

    def parse(text: str) -> T:
        try:
            return folded[text.strip().casefold()]
        except KeyError:
            raise _invalid(accepted) from None

    return parse


def boolean(text: str) -> bool:
    """Parse a strict yes/no value (`"0"` is false, `"maybe"` is refused)."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _invalid(f"one of {', '.join(_TRUE + _FALSE[:-1])}")
