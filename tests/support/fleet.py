"""A fleet back end with a TLS listener, a link that can be cut, and the shipped fleet fragment."""

from __future__ import annotations

from pathlib import Path

from tests.support.broker import Mosquitto, free_port, wait_until_listening
from tests.support.tls import Pki

ROOT = Path(__file__).resolve().parent.parent.parent
FRAGMENT = ROOT / "deploy" / "mosquitto-fleet.conf"


def vehicle_fragment(vehicle_id: str, port: int, pki: Pki) -> str:
    """Return deploy/mosquitto-fleet.conf with only address, VEHICLE_ID and certificates replaced.

    The TLS check needs the host name the back end's certificate lists: `localhost`.
    """
    text = FRAGMENT.read_text()
    replacements = {
        "address fleet.example.com:8883": f"address localhost:{port}",
        "/etc/mosquitto/fleet/ca.crt": str(pki.ca),
        "/etc/mosquitto/fleet/vehicle.crt": str(pki.client.cert),
        "/etc/mosquitto/fleet/vehicle.key": str(pki.client.key),
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{FRAGMENT.name} no longer holds {old!r} once"
        text = text.replace(old, new)
    assert "VEHICLE_ID" in text
    return text.replace("VEHICLE_ID", vehicle_id)


class BackEnd(Mosquitto):
    """The fleet's broker: vehicles log in on `tls_port` with a client certificate.

    The CN becomes the user name, and the ACL lets that vehicle write only under
    `fleet/<vehicle id>/`. The test plays the back-end service on the plain `port`.
    """

    def __init__(self, pki: Pki, vehicle_id: str) -> None:
        super().__init__()
        self.pki = pki
        self.vehicle_id = vehicle_id
        self.tls_port = 0

    def start(self) -> None:
        """Start the broker and wait until both listeners accept connections."""
        if not self.tls_port:
            self.tls_port = free_port()
        self.extra_config = self._tls_listener()
        super().start()
        wait_until_listening(self.tls_port)

    def _tls_listener(self) -> str:
        acl = self.pki.directory / f"fleet-{self.vehicle_id}.acl"
        # Rules before any `user` line apply to anonymous clients: the test's service.
        acl.write_text(
            "topic readwrite fleet/#\ntopic readwrite test-marker/#\n"
            f"user bridge\ntopic readwrite fleet/{self.vehicle_id}/#\n"
        )
        pki = self.pki
        return "\n".join(
            (
                f"acl_file {acl}",
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {pki.ca}",
                f"certfile {pki.server.cert}",
                f"keyfile {pki.server.key}",
                "require_certificate true",
                "use_identity_as_username true",
            )
        )
