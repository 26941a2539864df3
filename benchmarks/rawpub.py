"""The raw paho baseline, in its own process like the bridge: `python -m benchmarks.rawpub`.

One paho client (CallbackAPIVersion.VERSION2, MQTT 5 or 3.1.1, `loop_start`) publishes
the same retained topics and payloads the bridge publishes, at the same QoS, from
precomputed tuples. The runner sends one JSON command per line on stdin and reads
one JSON answer per line on stdout:

- `{"op": "sync", "n": N}`: the initial publishes for N instances -> `{"t0": ns}`
- `{"op": "burst", "n": N, "start": S, "k": K}`: K changes back to back -> `{"t0": ns}`
- `{"op": "paced", "n": N, "start": S, "k": K, "rate": R}`: K changes at R per
  second -> `{"sent": [ns, ...]}` (stamped right before each change's publishes)
- `{"op": "rss"}`: -> `{"hwm_kib": peak RSS}`
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from benchmarks import workload
from benchmarks.procfs import peak_rss_kib
from bridge.core.topics import DEFAULT_PREFIX, ONLINE, bridge_topic
from bridge.mqtt.version import MQTT5, MQTT311

_CONNECT_TIMEOUT = 10.0


class RawPublisher:
    """The baseline client; `run_*` return their answer as a dict."""

    def __init__(self, host: str, port: int, qos: int, protocol: str = MQTT5) -> None:
        self.host = host
        self.port = port
        self.qos = qos
        self._connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id="bench-raw-paho",
            protocol=mqtt.MQTTv5 if protocol == MQTT5 else mqtt.MQTTv311,
        )
        self._client.on_connect = self._on_connect

    def start(self) -> None:
        """Connect and publish `online` as the bridge does on connect."""
        self._client.connect(self.host, self.port)
        self._client.loop_start()
        if not self._connected.wait(_CONNECT_TIMEOUT):
            raise TimeoutError("the raw baseline could not connect")
        self._client.publish(bridge_topic(DEFAULT_PREFIX, "status"), ONLINE, self.qos, retain=True)

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def publish_all(self, messages: Sequence[tuple[str, bytes]]) -> int:
        """Publish back to back; return the ns right before the first publish."""
        publish = self._client.publish
        qos = self.qos
        started = time.monotonic_ns()
        for topic, payload in messages:
            publish(topic, payload, qos, retain=True)
        return started

    def publish_paced(
        self, groups: Sequence[Sequence[tuple[str, bytes]]], rate: float
    ) -> list[int]:
        """Publish one group every 1/rate s; return the ns right before each group."""
        publish = self._client.publish
        qos = self.qos
        period = round(1e9 / rate)
        start = time.monotonic_ns() + period
        stamps: list[int] = []
        for index, group in enumerate(groups):
            pause = start + index * period - time.monotonic_ns()
            if pause > 0:
                time.sleep(pause / 1e9)
            stamps.append(time.monotonic_ns())
            for topic, payload in group:
                publish(topic, payload, qos, retain=True)
        return stamps

    def handle(self, command: dict[str, object]) -> dict[str, object]:
        """Run one command and return its answer."""
        op = command["op"]
        if op == "rss":
            return {"hwm_kib": peak_rss_kib("self")}
        keys = workload.instance_keys(int(str(command["n"])))
        if op == "sync":
            return {"t0": self.publish_all(workload.sync_messages(keys))}
        batch = workload.changes(keys, int(str(command["k"])), int(str(command["start"])))
        groups = workload.change_messages(batch)
        if op == "burst":
            return {"t0": self.publish_all([message for group in groups for message in group])}
        if op == "paced":
            return {"sent": self.publish_paced(groups, float(str(command["rate"])))}
        return {"error": f"unknown op {op!r}"}

    def _on_connect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if not reason_code.is_failure:
            self._connected.set()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve commands from stdin until it closes."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rawpub")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--protocol", choices=(MQTT5, MQTT311), default=MQTT5)
    args = parser.parse_args(argv)
    publisher = RawPublisher(args.host, args.port, args.qos, args.protocol)
    publisher.start()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(publisher.handle(json.loads(line))), flush=True)
    publisher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
