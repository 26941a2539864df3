"""The option tables: every option of both commands read by flag, variable and default alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.core.model import STATES
from bridge.dashboard.app import parse_options
from bridge.settings import broker, commands
from bridge.settings.commands import build_parser, load_settings
from bridge.settings.logs import LOGS
from bridge.settings.options import ConfigError, Option, OptionParser, add_options, value

# Per option: (flag text, variable text, value of the flag, value of the variable).
SAMPLES: dict[str, tuple[str, str, Any, Any]] = {
    "--control-interface": ("/flag/ci", "/env/ci", Path("/flag/ci"), Path("/env/ci")),
    "--mqtt-host": ("flag-host", "env-host", "flag-host", "env-host"),
    "--mqtt-port": ("1884", "1885", 1884, 1885),
    "--mqtt-client-id": ("flag-id", "env-id", "flag-id", "env-id"),
    "--topic-prefix": ("flag/ank", "env/ank", "flag/ank", "env/ank"),
    "--mqtt-ca-file": ("/flag/ca.pem", "/env/ca.pem", Path("/flag/ca.pem"), Path("/env/ca.pem")),
    "--mqtt-cert-file": ("/flag/c.pem", "/env/c.pem", Path("/flag/c.pem"), Path("/env/c.pem")),
    "--mqtt-key-file": ("/flag/k.pem", "/env/k.pem", Path("/flag/k.pem"), Path("/env/k.pem")),
    "--mqtt-username": ("flag-user", "env-user", "flag-user", "env-user"),
    "--mqtt-password-file": ("/flag/pw", "/env/pw", Path("/flag/pw"), Path("/env/pw")),
    "--mqtt-keepalive": ("7", "8", 7, 8),
    "--mqtt-reconnect-max-delay": ("0.5", "1.5", 0.5, 1.5),
    "--mqtt-protocol": ("3.1.1", "5", "3.1.1", "5"),
    "--mqtt-qos": ("1", "0", 1, 0),
    "--log-level": ("warning", "Error", "WARNING", "ERROR"),
    "--resync-interval": ("7", "8.5", 7.0, 8.5),
    "--handshake-timeout": ("1", "2", 1.0, 2.0),
    "--agent-reconnect-timeout": ("3", "4", 3.0, 4.0),
    "--request-timeout": ("0.5", "0.75", 0.5, 0.75),
    "--probe-interval": ("2", "3", 2.0, 3.0),
    "--agent-status-interval": ("0", "2.5", 0.0, 2.5),
    "--info-interval": ("1", "0", 1.0, 0.0),
    "--logs-max-streams": ("2", "8", 2, 8),
    "--logs-max-follow": ("60", "1", 60.0, 1.0),
    "--logs-max-rate": ("1", "1000", 1, 1000),
    "--logs-max-line": ("16", "100000", 16, 100000),
}

# Per option: a value it refuses and the tail of the message after `--flag / VAR: 'value' `.
REFUSED: dict[str, tuple[str, str]] = {
    "--mqtt-port": ("0", "is not valid; expected an integer >= 1"),
    "--mqtt-keepalive": ("0", "is not valid; expected an integer >= 1"),
    "--topic-prefix": ("/ank", "must not start or end with '/'"),
    "--mqtt-tls": ("maybe", "is not valid; expected one of 1, true, yes, on, 0, false, no, off"),
    "--mqtt-tls-insecure": (
        "2",
        "is not valid; expected one of 1, true, yes, on, 0, false, no, off",
    ),
    "--mqtt-reconnect-max-delay": ("0", "is not valid; expected a number >= 0.1"),
    "--mqtt-qos": ("2", "is not valid; expected 0 or 1"),
    "--log-level": ("TRACE", "is not valid; expected one of DEBUG, INFO, WARNING, ERROR"),
    "--resync-interval": ("0.05", "is not valid; expected a number >= 0.1"),
    "--handshake-timeout": ("soon", "is not valid; expected a number >= 0.1"),
    "--agent-reconnect-timeout": ("-1", "is not valid; expected a number >= 0"),
    "--request-timeout": ("", "is not valid; expected a number >= 0.1"),
    "--probe-interval": ("0", "is not valid; expected a number >= 0.1"),
    "--agent-status-interval": ("-0.5", "is not valid; expected a number >= 0"),
    "--info-interval": ("ten", "is not valid; expected a number >= 0"),
    "--logs": ("sometimes", "is not valid; expected one of 1, true, yes, on, 0, false, no, off"),
    "--logs-max-streams": ("65", "is not valid; expected an integer from 1 to 64"),
    "--logs-max-follow": ("0.5", "is not valid; expected a number >= 1"),
    "--logs-max-rate": ("0", "is not valid; expected an integer >= 1"),
    "--logs-max-line": ("8", "is not valid; expected an integer >= 16"),
}

VALUED = [
    option
    for option in commands.BRIDGE_OPTIONS
    if isinstance(option, Option) and option.flag is not None and not option.switch
]
NUMBERS = [option for option in VALUED if isinstance(option.default, float)]


def _parser() -> OptionParser:
    parser = OptionParser("test", None)
    add_options(parser, commands.BRIDGE_OPTIONS)
    return parser


def _value(option: Option[Any], argv: list[str], environ: dict[str, str]) -> Any:
    return value(option, _parser().parse_args(argv), environ)


def test_every_option_has_samples() -> None:
    """Each bridge option with a value is sampled here, so a new one cannot go untested."""
    assert {option.flag for option in VALUED} == set(SAMPLES)
    assert {option.flag for option in VALUED if option.env is None} == set()


@pytest.mark.parametrize("option", VALUED, ids=lambda option: option.flag)
def test_flag_beats_variable_beats_default(option: Option[Any]) -> None:
    """Every option takes its flag over its variable, its variable over its default."""
    assert option.flag is not None
    assert option.env is not None
    flag_text, env_text, from_flag, from_env = SAMPLES[option.flag]
    environ = {option.env: env_text}
    assert _value(option, [option.flag, flag_text], environ) == from_flag
    assert _value(option, [], environ) == from_env
    assert _value(option, [], {}) == option.default


@pytest.mark.parametrize(
    "option", [broker.TLS, broker.TLS_INSECURE, LOGS], ids=lambda option: option.flag
)
def test_switches_are_flags_with_a_strict_variable(option: Option[bool]) -> None:
    """A switch flag turns its setting on whatever the variable says; the variable alone decides otherwise."""
    assert option.flag is not None
    assert option.env is not None
    assert _value(option, [option.flag], {option.env: "0"}) is True
    assert _value(option, [], {option.env: " Yes "}) is True
    assert _value(option, [], {option.env: "off"}) is False
    assert _value(option, [], {}) is False


@pytest.mark.parametrize(("flag", "refused"), REFUSED.items())
def test_a_bad_value_names_flag_variable_and_what_is_accepted(
    flag: str, refused: tuple[str, str]
) -> None:
    """A refused value, by flag or by variable, is one line naming both and what is accepted."""
    option = next(option for option in commands.BRIDGE_OPTIONS if option.flag == flag)
    assert isinstance(option, Option)
    assert option.env is not None
    text, tail = refused
    expected = f"{flag} / {option.env}: {text!r} {tail}"
    cases: list[tuple[list[str], dict[str, str]]] = [([], {option.env: text})]
    if not option.switch:  # a switch takes no value on the command line
        cases.append(([f"{flag}={text}"], {}))
    for argv, environ in cases:
        with pytest.raises(ConfigError) as caught:
            load_settings(argv, environ)
        assert str(caught.value) == expected


@pytest.mark.parametrize("option", NUMBERS, ids=lambda option: option.flag)
@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "infinity"])
def test_numbers_refuse_nan_and_infinities(option: Option[float], text: str) -> None:
    """NaN and infinities are no number of seconds: each numeric option refuses them with the usual line."""
    assert option.env is not None
    with pytest.raises(ConfigError) as caught:
        load_settings([], {option.env: text})
    assert str(caught.value).startswith(f"{option.flag} / {option.env}: {text!r} is not valid;")
    assert "\n" not in str(caught.value)


def test_the_dashboard_timeout_refuses_nan() -> None:
    """The dashboard's --timeout refuses NaN as it refuses 0."""
    with pytest.raises(ConfigError) as caught:
        parse_options(["--timeout", "nan"], {})
    assert str(caught.value) == "--timeout: 'nan' is not valid; expected a number > 0"


@pytest.mark.parametrize(
    "argv",
    [["--resync", "5"], ["--mqtt-h", "x"], ["--log", "DEBUG"], ["--agent-status", "1"]],
)
def test_the_bridge_refuses_abbreviations(argv: list[str]) -> None:
    """An abbreviated flag never passes for a whole one of the bridge."""
    with pytest.raises(ConfigError) as caught:
        load_settings(argv, {})
    assert str(caught.value) == f"unrecognized arguments: {' '.join(argv)}"


@pytest.mark.parametrize(
    "argv", [["--form", "json"], ["--time", "1"], ["--st", "FAILED"], ["--ag", "hpc1"]]
)
def test_the_dashboard_refuses_abbreviations(argv: list[str]) -> None:
    """An abbreviated flag never passes for a whole one of the dashboard."""
    with pytest.raises(ConfigError) as caught:
        parse_options(argv, {})
    assert str(caught.value) == f"unrecognized arguments: {' '.join(argv)}"


def test_the_dashboard_defaults() -> None:
    """Without flags the dashboard shows everything as text, live, waiting 10 s with --once."""
    options = parse_options([], {})
    assert (options.once, options.timeout, options.format) == (False, 10.0, "text")
    assert (options.agents, options.states) == ((), ())
    assert options.mqtt.qos == 0
    assert options.mqtt.client_id.startswith("ankaios-mqtt-dashboard-")


def test_the_dashboard_filters_and_format() -> None:
    """--agent and --state repeat (states in any case, stored upper-case, each once); --format takes json."""
    argv = ["--agent", "hpc1", "--state", "failed", "--agent", "", "--state", "Running"]
    options = parse_options([*argv, "--state", "FAILED", "--format", "JSON", "--once"], {})
    assert options.agents == ("hpc1", "")
    assert options.states == ("FAILED", "RUNNING")
    assert (options.format, options.once) == ("json", True)
    assert parse_options(["--state", "unknown"], {}).states == ("UNKNOWN",)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--state", "BROKEN"],
            f"--state: 'BROKEN' is not valid; expected one of {', '.join(STATES)}, UNKNOWN",
        ),
        (["--format", "yaml"], "--format: 'yaml' is not valid; expected text or json"),
        (["--once=yes"], "argument --once: ignored explicit argument 'yes'"),
    ],
)
def test_the_dashboard_refuses_bad_values(argv: list[str], message: str) -> None:
    """A bad dashboard value is one line naming the flag and what is accepted."""
    with pytest.raises(ConfigError) as caught:
        parse_options(argv, {})
    assert str(caught.value) == message


def test_tls_moves_only_the_default_port() -> None:
    """TLS makes the default port 8883; a port given by flag or variable stays."""
    assert load_settings(["--mqtt-tls-insecure"], {}).mqtt.port == 8883
    assert load_settings(["--mqtt-tls", "--mqtt-port", "1884"], {}).mqtt.port == 1884
    assert load_settings([], {"MQTT_CA_FILE": "/ca.pem", "MQTT_PORT": "1885"}).mqtt.port == 1885


def test_the_password_file_wins_and_the_flag_is_refused_without_its_value() -> None:
    """MQTT_PASSWORD counts only without a password file; --mqtt-password is refused without echoing it."""
    environ = {"MQTT_PASSWORD": "s3cret", "MQTT_PASSWORD_FILE": "/run/secrets/pw"}
    settings = load_settings([], environ).mqtt
    assert (settings.password, settings.password_file) == (None, Path("/run/secrets/pw"))
    with pytest.raises(ConfigError) as caught:
        load_settings(["--mqtt-password", "hunter2"], {})
    assert str(caught.value) == (
        "--mqtt-password is not accepted (it would show in ps); "
        "use --mqtt-password-file or MQTT_PASSWORD"
    )


def test_the_bridge_parser_is_the_table() -> None:
    """The bridge's parser accepts every flag of its table (and the refused password flag)."""
    flags = {flag for action in build_parser()._actions for flag in action.option_strings} - {
        "-h",
        "--help",
    }
    declared = {option.flag for option in commands.BRIDGE_OPTIONS if option.flag is not None}
    assert flags == declared | {"--mqtt-password"}
