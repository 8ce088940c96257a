"""Alerts: HMAC-signed JSON webhooks and MQTT messages (Home Assistant discovery), sent off the frame path.

Webhooks go through a bounded queue to one background thread, so a slow or dead receiver never holds a
frame: the frame only enqueues (the oldest alert is dropped and counted when the queue is full). Each
attempt has a timeout; failures (connection errors, timeouts, 429 and 5xx answers) are retried with
exponential backoff. The body is signed with HMAC-SHA256 under the worker's webhook secret and the
signature sent as `X-Amyplant-Signature: sha256=<hex>`; `X-Amyplant-Delivery` carries the alert id, which
is the same for a redone frame, so receivers can drop duplicates. AlertDispatcher also records sent alert
ids in Redis so a redone frame does not send them again.

MQTT uses paho's network thread (publish only queues). Per camera, a retained discovery message at
`<discovery>/sensor/amyplant_<camera>/last_person/config` describes a "Last person" sensor whose state and
attributes come from one retained JSON message at `<prefix>/<camera>/last_person`; alerts go to
`<prefix>/<camera>/alert`; `<prefix>/status` says online/offline (last will), which Home Assistant shows
as the sensors' availability.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as mqtt
import redis
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel, ConfigDict

from amyplant_inference.tracking import TrackReport

SIGNATURE_HEADER = "X-Amyplant-Signature"
DELIVERY_HEADER = "X-Amyplant-Delivery"
ALERT_NAMESPACE = uuid.UUID("0b6f3f0e-2d1c-5a8e-9f47-3c2b1a0d9e88")
SENT_KEY = "amyplant:alert:sent:{alert_id}"

logger = logging.getLogger(__name__)


def sign_body(secret: str, body: bytes) -> str:
    """The signature header's value for a raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """For receivers: whether the header is the body's signature under the secret (constant time)."""
    return header is not None and hmac.compare_digest(sign_body(secret, body), header)


class AlertKind(StrEnum):
    UNKNOWN_VISITOR = "unknown_visitor"
    FLAGGED_PERSON = "flagged_person"


class Alert(BaseModel):
    """The webhook body and MQTT alert payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    alert_id: str
    kind: AlertKind
    camera_id: str
    camera_name: str | None = None
    event_id: str
    track_id: str
    person_id: str | None = None
    person_name: str | None = None
    visitor_id: str | None = None
    confidence: float | None = None
    age: float | None = None
    gender: str | None = None
    first_seen: float
    last_seen: float
    snapshot_url: str | None = None

    @staticmethod
    def make_id(event_id: str, kind: AlertKind, subject: str | None) -> str:
        """One id per event, kind and subject: a redone frame yields the same id, a changed name a new one."""
        return str(uuid.uuid5(ALERT_NAMESPACE, f"{event_id}/{kind}/{subject or ''}"))

    @classmethod
    def for_track(
        cls,
        report: TrackReport,
        kind: AlertKind,
        *,
        person_name: str | None = None,
        camera_name: str | None = None,
        snapshot_url: str | None = None,
    ) -> Alert:
        gender = None
        if report.female_probability is not None:
            gender = "female" if report.female_probability >= 0.5 else "male"
        return cls(
            alert_id=cls.make_id(report.event_id, kind, report.identity or report.visitor_id),
            kind=kind,
            camera_id=report.camera_id,
            camera_name=camera_name,
            event_id=report.event_id,
            track_id=report.track_id,
            person_id=report.identity,
            person_name=person_name,
            visitor_id=report.visitor_id,
            confidence=report.confidence,
            age=report.age,
            gender=gender,
            first_seen=report.first_seen,
            last_seen=report.last_seen,
            snapshot_url=snapshot_url,
        )

    def body(self) -> bytes:
        return self.model_dump_json().encode()


def last_person_state(report: TrackReport, *, person_name: str | None) -> dict[str, Any]:
    """The 'last person' sensor's JSON: `name` is the state Home Assistant shows, the rest are attributes."""
    if report.identity:
        name = person_name or report.identity
    else:
        name = "Unknown visitor" if report.status == "unknown" else "Someone"
    gender = None
    if report.female_probability is not None:
        gender = "female" if report.female_probability >= 0.5 else "male"
    return {
        "name": name,
        "person_id": report.identity,
        "visitor_id": report.visitor_id,
        "status": str(report.status),
        "confidence": round(report.confidence, 3),
        "age": round(report.age) if report.age is not None else None,
        "gender": gender,
        "event_id": report.event_id,
        "camera_id": report.camera_id,
        "seen_at": report.last_seen,
    }


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    attempts: int
    status_code: int | None = None
    error: str | None = None


class WebhookSender:
    """POSTs alerts to one URL; deliver() is synchronous, submit() hands the alert to a background thread."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout_s: float = 3.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        queue_size: int = 100,
        on_result: Callable[[Alert, DeliveryResult], None] | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.retries = retries
        self.backoff_s = backoff_s
        self.on_result = on_result
        self.dropped = 0
        self._client = httpx.Client(timeout=timeout_s, headers={"User-Agent": "amyplant-alerts/1"})
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    def deliver(self, alert: Alert) -> DeliveryResult:
        body = alert.body()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_body(self.secret, body),
            DELIVERY_HEADER: alert.alert_id,
        }
        result = DeliveryResult(ok=False, attempts=0)
        for attempt in range(self.retries + 1):
            if attempt and self._closing.wait(self.backoff_s * 2 ** (attempt - 1)):
                break  # shutting down: give up rather than hold the process
            result = self._attempt(body, headers, attempt + 1)
            if result.ok or not self._retryable(result):
                break
        if not result.ok:
            logger.warning(
                "webhook %s for alert %s failed after %d attempt(s): %s",
                self.url,
                alert.alert_id,
                result.attempts,
                result.error,
            )
        return result

    def submit(self, alert: Alert) -> None:
        """Queue an alert without waiting; the oldest queued alert makes room when the queue is full."""
        self._ensure_thread()
        while True:
            try:
                self._queue.put_nowait(alert)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued within the timeout, then stop (alerts still queued then are dropped)."""
        if self._thread is not None:
            deadline = time.monotonic() + timeout_s
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=timeout_s)
            self._thread.join(max(0.0, deadline - time.monotonic()))
            self._closing.set()  # ends a backoff wait still in progress
            self._thread.join(1.0)
        self._client.close()

    def _attempt(self, body: bytes, headers: dict[str, str], attempt: int) -> DeliveryResult:
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return DeliveryResult(ok=False, attempts=attempt, error=f"{type(error).__name__}: {error}")
        ok = 200 <= response.status_code < 300
        return DeliveryResult(
            ok=ok,
            attempts=attempt,
            status_code=response.status_code,
            error=None if ok else f"HTTP {response.status_code}",
        )

    @staticmethod
    def _retryable(result: DeliveryResult) -> bool:
        code = result.status_code
        return code is None or code == 429 or code >= 500

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="webhook-sender", daemon=True)
            self._thread.start()

    def _drain(self) -> None:
        while (alert := self._queue.get()) is not None and not self._closing.is_set():
            result = self.deliver(alert)
            if self.on_result is not None:
                self.on_result(alert, result)


def _ha_id(camera_id: str) -> str:
    """Home Assistant's discovery ids allow [a-zA-Z0-9_-] only."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", camera_id)


class MqttPublisher:
    """Publishes per-camera 'last person' sensors (with discovery) and alerts; reconnects by itself."""

    def __init__(
        self,
        url: str,
        *,
        topic_prefix: str = "amyplant",
        discovery_prefix: str = "homeassistant",
        username: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"MQTT URL must look like mqtt://host:1883 or mqtts://host:8883, got {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self.topic_prefix = topic_prefix.rstrip("/")
        self.discovery_prefix = discovery_prefix.rstrip("/")
        self.status_topic = f"{self.topic_prefix}/status"
        self.connected = threading.Event()
        self._cameras: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"amyplant-{uuid.uuid4().hex[:10]}"
        )
        if username or parts.username:
            self._client.username_pw_set(username or parts.username, password or parts.password)
        if parts.scheme == "mqtts":
            self._client.tls_set()
        self._client.will_set(self.status_topic, "offline", qos=1, retain=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect

    def start(self, wait_s: float = 0.0) -> bool:
        """Connect in the background; optionally wait for the connection. Returns whether connected."""
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        return self.connected.wait(wait_s) if wait_s > 0 else self.connected.is_set()

    def close(self) -> None:
        if self.connected.is_set():
            self._client.publish(self.status_topic, "offline", qos=1, retain=True).wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()

    def discovery_topic(self, camera_id: str) -> str:
        return f"{self.discovery_prefix}/sensor/amyplant_{_ha_id(camera_id)}/last_person/config"

    def state_topic(self, camera_id: str) -> str:
        return f"{self.topic_prefix}/{camera_id}/last_person"

    def alert_topic(self, camera_id: str) -> str:
        return f"{self.topic_prefix}/{camera_id}/alert"

    def discovery_config(self, camera_id: str, camera_name: str | None = None) -> dict[str, Any]:
        ha_id = _ha_id(camera_id)
        return {
            "name": "Last person",
            "unique_id": f"amyplant_{ha_id}_last_person",
            "state_topic": self.state_topic(camera_id),
            "value_template": "{{ value_json.name }}",
            "json_attributes_topic": self.state_topic(camera_id),
            "availability_topic": self.status_topic,
            "payload_available": "online",
            "payload_not_available": "offline",
            "icon": "mdi:account-eye",
            "device": {
                "identifiers": [f"amyplant_{ha_id}"],
                "name": camera_name or camera_id,
                "manufacturer": "amyplant",
                "model": "Face-aware camera",
            },
            "origin": {"name": "amyplant"},
        }

    def announce_camera(self, camera_id: str, camera_name: str | None = None) -> None:
        """Publish the camera's discovery config now (if connected) and after every reconnect."""
        with self._lock:
            self._cameras[camera_id] = camera_name
        if self.connected.is_set():
            self._publish_discovery(camera_id, camera_name)

    def publish_last_person(self, camera_id: str, state: dict[str, Any]) -> mqtt.MQTTMessageInfo:
        """The sensor's state: a JSON object whose `name` is shown and whose fields become attributes."""
        return self._publish_json(self.state_topic(camera_id), state, retain=True)

    def publish_alert(self, alert: Alert) -> mqtt.MQTTMessageInfo:
        return self._client.publish(self.alert_topic(alert.camera_id), alert.body(), qos=1)

    def _publish_json(self, topic: str, payload: dict[str, Any], *, retain: bool) -> mqtt.MQTTMessageInfo:
        return self._client.publish(topic, json.dumps(payload, separators=(",", ":")), qos=1, retain=retain)

    def _publish_discovery(self, camera_id: str, camera_name: str | None) -> None:
        self._publish_json(
            self.discovery_topic(camera_id), self.discovery_config(camera_id, camera_name), retain=True
        )

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            logger.warning("MQTT %s:%d refused the connection: %s", self.host, self.port, reason)
            return
        client.publish(self.status_topic, "online", qos=1, retain=True)
        with self._lock:
            cameras = dict(self._cameras)
        for camera_id, name in cameras.items():
            self._publish_discovery(camera_id, name)
        self.connected.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.connected.clear()


class AlertDispatcher:
    """Sends each alert once (remembered in Redis) to the webhook and MQTT, whichever are configured."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        webhook: WebhookSender | None,
        mqtt_publisher: MqttPublisher | None,
        remember_s: int = 7 * 24 * 3600,
    ) -> None:
        self.redis = client
        self.webhook = webhook
        self.mqtt = mqtt_publisher
        self.remember_s = remember_s

    def dispatch(self, alert: Alert) -> bool:
        """Send the alert unless it was sent before; returns whether it was sent now."""
        if not self.redis.set(SENT_KEY.format(alert_id=alert.alert_id), 1, nx=True, ex=self.remember_s):
            return False
        if self.webhook is not None:
            self.webhook.submit(alert)
        if self.mqtt is not None:
            self.mqtt.publish_alert(alert)
        return True

    def close(self) -> None:
        if self.webhook is not None:
            self.webhook.close()
        if self.mqtt is not None:
            self.mqtt.close()
