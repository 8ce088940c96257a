"""MQTT against the real Mosquitto on 127.0.0.1:1883: Home Assistant discovery, last-person state, alerts."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from amyplant_inference.alerts import Alert, AlertKind, MqttPublisher, last_person_state
from amyplant_inference.tracking import FaceInput, MatchCandidate, Tracker, TrackReport

BROKER = ("127.0.0.1", 1883)


def broker_reachable() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=1.0):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not broker_reachable(), reason="no MQTT broker (Mosquitto) on 127.0.0.1:1883")


class Listener:
    """A plain paho subscriber that records the last payload per topic."""

    def __init__(self, *topics: str) -> None:
        self.messages: dict[str, tuple[bytes, bool]] = {}
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"listener-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda client, *_: client.subscribe([(topic, 1) for topic in topics])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(*BROKER)
        self.client.loop_start()
        assert self._subscribed.wait(5), "the listener could not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.messages[message.topic] = (bytes(message.payload), bool(message.retain))
            self._changed.notify_all()

    def wait_for(
        self, topic: str, payload: bytes | None = None, timeout_s: float = 5.0
    ) -> tuple[bytes, bool]:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while topic not in self.messages or (payload is not None and self.messages[topic][0] != payload):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"nothing (or not {payload!r}) on {topic} within {timeout_s} s")
                self._changed.wait(remaining)
            return self.messages[topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def clear_retained(*topics: str) -> None:
    """An empty retained message deletes a retained topic on the broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(*BROKER)
    client.loop_start()
    for topic in topics:
        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def known_track(camera: str) -> TrackReport:
    tracker = Tracker.new(camera)
    for sequence in range(3):
        face = FaceInput(
            box=(10.0, 10.0, 90.0, 90.0),
            embedding=np.full(128, 0.05, dtype=np.float32),
            size_px=80.0,
            sharpness=200.0,
            score=0.9,
            candidate=MatchCandidate("p1", distance=0.3),
            age=38.0,
            female_probability=0.1,
        )
        tracker.update(run_id="run", sequence=sequence, timestamp=sequence / 5, faces=[face])
    return tracker.end_all()[0]


@pytest.fixture
def publisher() -> Iterator[MqttPublisher]:
    prefix = f"amyplant-test-{uuid.uuid4().hex[:8]}"
    mqtt_publisher = MqttPublisher(f"mqtt://{BROKER[0]}:{BROKER[1]}", topic_prefix=prefix)
    assert mqtt_publisher.start(wait_s=5), "could not connect to the broker"
    yield mqtt_publisher
    mqtt_publisher.close()
    clear_retained(mqtt_publisher.status_topic)


def test_discovery_config_is_retained_where_home_assistant_looks(publisher: MqttPublisher) -> None:
    camera = f"cam{uuid.uuid4().hex[:6]}.front"
    topic = publisher.discovery_topic(camera)
    try:
        publisher.announce_camera(camera, "Front door")
        time.sleep(0.3)
        # A listener that arrives later (Home Assistant restarting) still gets the retained config.
        listener = Listener(topic)
        payload, retained = listener.wait_for(topic)
        listener.close()
    finally:
        clear_retained(topic, publisher.state_topic(camera))
    ha_id = camera.replace(".", "_")
    assert topic == f"homeassistant/sensor/amyplant_{ha_id}/last_person/config"
    config = json.loads(payload)
    assert retained
    assert config["unique_id"] == f"amyplant_{ha_id}_last_person"
    assert config["state_topic"] == config["json_attributes_topic"] == publisher.state_topic(camera)
    assert config["device"]["identifiers"] == [f"amyplant_{ha_id}"]
    assert config["device"]["name"] == "Front door"
    assert config["availability_topic"] == publisher.status_topic


def test_last_person_state_and_alerts_arrive(publisher: MqttPublisher) -> None:
    camera = f"cam{uuid.uuid4().hex[:6]}"
    listener = Listener(publisher.state_topic(camera), publisher.alert_topic(camera), publisher.status_topic)
    try:
        assert listener.wait_for(publisher.status_topic)[0] == b"online"
        publisher.publish_last_person(
            camera, last_person_state(known_track(camera), person_name="Lin-Manuel")
        )
        state, _ = listener.wait_for(publisher.state_topic(camera))
        alert = Alert(
            alert_id="a1",
            kind=AlertKind.UNKNOWN_VISITOR,
            camera_id=camera,
            event_id="e1",
            track_id="t1",
            visitor_id="v1",
            first_seen=1.0,
            last_seen=2.0,
        )
        publisher.publish_alert(alert)
        alert_payload, alert_retained = listener.wait_for(publisher.alert_topic(camera))
    finally:
        listener.close()
        clear_retained(publisher.state_topic(camera))
    attributes = json.loads(state)
    assert attributes["name"] == "Lin-Manuel" and attributes["person_id"] == "p1"
    assert attributes["status"] == "known" and attributes["age"] == 38 and attributes["gender"] == "male"
    assert json.loads(alert_payload)["visitor_id"] == "v1" and not alert_retained


def test_status_goes_offline_when_the_publisher_closes() -> None:
    prefix = f"amyplant-test-{uuid.uuid4().hex[:8]}"
    mqtt_publisher = MqttPublisher(f"mqtt://{BROKER[0]}:{BROKER[1]}", topic_prefix=prefix)
    listener = Listener(f"{prefix}/status")
    try:
        assert mqtt_publisher.start(wait_s=5)
        listener.wait_for(f"{prefix}/status", b"online")
        mqtt_publisher.close()
        payload, _ = listener.wait_for(f"{prefix}/status", b"offline")
    finally:
        listener.close()
        clear_retained(f"{prefix}/status")
    assert payload == b"offline"


def test_a_bad_url_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="mqtt://host:1883"):
        MqttPublisher("http://127.0.0.1:1883")
