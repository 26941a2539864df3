"""The sync marker's clock: asking again only after silence, and when to give up (times passed in)."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bridge.core.info import SUBSCRIPTION
from bridge.mqtt.sync import QUIET, SyncMarker


def _started(now: float) -> tuple[SyncMarker, mqtt.Client]:
    # An unconnected paho client: what start() and again() send is refused locally.
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    marker = SyncMarker("ankaios", "localhost:1883")
    marker.start(client, 1, mqtt5=True, now=now)
    return marker, client


def test_a_burst_still_arriving_is_never_asked_over() -> None:
    """However long a retained burst takes, the marker is not sent again while messages arrive."""
    marker, client = _started(0.0)
    now = 0.0
    while now < 30.0:
        now += QUIET / 2
        marker.observe("ankaios/hpc1/nginx/abc/state", retain=True, now=now)
        assert marker.again(client, now + 0.1) is None
    # The burst is over and the marker was dropped: silence brings the first ask only.
    assert marker.again(client, now + QUIET) is None
    assert marker.again(client, now + QUIET + QUIET / 2) is None


def test_three_silences_mean_the_prefix_cannot_be_read() -> None:
    """With nothing under the prefix ever arriving, the bridge is synced with nothing seen after three silences."""
    marker, client = _started(100.0)
    assert marker.again(client, 100.0 + QUIET / 2) is None
    assert marker.again(client, 100.0 + QUIET) is None
    assert marker.again(client, 100.0 + 2 * QUIET) is None
    synced = marker.again(client, 100.0 + 3 * QUIET)
    assert synced is not None
    assert synced.lacks == (SUBSCRIPTION,)
    assert marker.again(client, 100.0 + 9 * QUIET) is None
