"""The parts of ankaios-sdk the bridge relies on: fails loudly when an SDK upgrade changes them."""

from __future__ import annotations

from importlib.metadata import version

from ankaios_sdk._protos import _ank_base, _control_api
from ankaios_sdk.utils import ANKAIOS_VERSION

from bridge.ankaios.protocol import PROTOCOL_VERSION, hello_frame


def test_sdk_version_is_the_pinned_one() -> None:
    """The bridge is built and tested against ankaios-sdk 1.0.1 exactly."""
    assert version("ankaios-sdk") == "1.0.1"


def test_protocol_version_comes_from_the_sdk() -> None:
    """The Hello carries the SDK's protocol version, 1.0.0 for SDK 1.0.1."""
    assert PROTOCOL_VERSION == ANKAIOS_VERSION == "1.0.0"
    # Reference frame from the control-interface spec (section 15).
    assert hello_frame() == bytes.fromhex("090a07120531 2e302e30".replace(" ", ""))


def _fields(message: type) -> dict[str, int]:
    return {field.name: field.number for field in message.DESCRIPTOR.fields}  # type: ignore[attr-defined]


def test_generated_messages_have_the_fields_the_bridge_uses() -> None:
    """The protobuf fields the transport reads and writes keep their names and numbers."""
    assert _fields(_control_api.ToAnkaios) == {"hello": 1, "request": 3}
    assert _fields(_control_api.FromAnkaios) == {
        "response": 3,
        "controlInterfaceAccepted": 4,
        "connectionClosed": 5,
    }
    assert {"requestId": 1, "completeStateRequest": 3, "eventsCancelRequest": 6}.items() <= _fields(
        _ank_base.Request
    ).items()
    assert {
        "requestId": 1,
        "error": 3,
        "completeStateResponse": 4,
        "eventsCancelAccepted": 10,
    }.items() <= _fields(_ank_base.Response).items()
    assert _fields(_ank_base.CompleteStateResponse) == {"completeState": 1, "alteredFields": 2}
    assert _fields(_ank_base.AlteredFields) == {
        "addedFields": 1,
        "updatedFields": 2,
        "removedFields": 3,
    }
    assert _fields(_ank_base.ExecutionState) == {
        "additionalInfo": 1,
        "agentDisconnected": 2,
        "pending": 3,
        "running": 4,
        "stopping": 5,
        "succeeded": 6,
        "failed": 7,
        "notScheduled": 8,
        "removed": 9,
    }
