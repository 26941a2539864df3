"""The agent's check of a workload's ``controlInterfaceAccess`` rules (pure).

Ported from Ankaios 1.0 ``agent/src/control_interface/authorizer.rs`` and
``authorizer/path_pattern.rs``: matching is section-wise on ``.``; a ``*`` in a
rule matches any section, a ``*`` in the request is compared literally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WILDCARD = "*"


def _sections(mask: str) -> tuple[str, ...]:
    return tuple(mask.split(".")) if mask else ()


def _sections_match(rule: tuple[str, ...], request: tuple[str, ...]) -> bool:
    # zip stops at the shorter one: a rule is a prefix pattern of the request.
    return all(r in (WILDCARD, q) for r, q in zip(rule, request, strict=False))


def allow_matches(rule: str, request: str) -> bool:
    """Return True when an allow rule grants the requested mask.

    The rule must not be longer than the request, unless it starts with ``*``.
    Rules without sections never match.
    """
    rule_sections, request_sections = _sections(rule), _sections(request)
    if not rule_sections:
        return False
    if len(rule_sections) > len(request_sections) and rule_sections[0] != WILDCARD:
        return False
    return _sections_match(rule_sections, request_sections)


def log_rule_matches(patterns: Sequence[str], workload_name: str) -> bool:
    """Return True when one LogRule's patterns match a workload name, as upstream does.

    Ported from ``authorizer/rules.rs`` ``LogRule::matches`` (v1.0.1): it returns at
    the first pattern holding a ``*``, matched or not, so later patterns of the same
    rule are never tried. One wildcard pattern per rule, or put it last.
    """
    for pattern in patterns:
        if pattern in (workload_name, WILDCARD):
            return True
        if WILDCARD in pattern:
            prefix, _, suffix = pattern.partition(WILDCARD)
            return (
                workload_name.startswith(prefix)
                and workload_name.endswith(suffix)
                and len(prefix) + len(suffix) <= len(workload_name)
            )
    return False


def deny_matches(rule: str, request: str) -> bool:
    """Return True when a deny rule refuses the requested mask (common-prefix match)."""
    rule_sections = _sections(rule)
    return bool(rule_sections) and _sections_match(rule_sections, _sections(request))


@dataclass(frozen=True, slots=True)
class Authorizer:
    """The StateRule and LogRule lists of one workload.

    Upstream keeps deny rules per operation (``state_deny_read``/``state_deny_write``
    in authorizer.rs) and has LogRule deny lists too; here one deny list, as from
    ReadWrite rules, applies to reads and writes, and logs have no deny list. Each
    entry of ``log_rules`` is one LogRule, its patterns separated by commas.
    """

    read_rules: tuple[str, ...] = (WILDCARD,)
    deny_rules: tuple[str, ...] = ()
    write_rules: tuple[str, ...] = ()
    log_rules: tuple[str, ...] = ()

    def _allows(self, allow: tuple[str, ...], masks: Sequence[str]) -> bool:
        # An empty mask list stands for the whole state: the single mask "".
        requested = list(masks) or [""]
        return all(
            any(allow_matches(rule, mask) for rule in allow)
            and not any(deny_matches(rule, mask) for rule in self.deny_rules)
            for mask in requested
        )

    def may_read(self, masks: Sequence[str]) -> bool:
        """Return True when every field mask of a CompleteStateRequest is granted."""
        return self._allows(self.read_rules, masks)

    def may_write(self, masks: Sequence[str]) -> bool:
        """Return True when every update mask of an UpdateStateRequest is granted."""
        return self._allows(self.write_rules, masks)

    def may_read_logs(self, workload_names: Sequence[str]) -> bool:
        """Return True when a LogRule matches every requested workload name.

        Upstream allows a request naming no workload (authorizer.rs
        utest_log_request_empty_is_allowed).
        """
        rules = [rule.split(",") for rule in self.log_rules]
        return all(any(log_rule_matches(rule, name) for rule in rules) for name in workload_names)
