"""Webhooks against a real local HTTP server: signed bodies, retries with backoff, never blocking."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis

from amyplant_inference.alerts import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    Alert,
    AlertDispatcher,
    AlertKind,
    WebhookSender,
    verify_signature,
)

SECRET = "webhook-secret-for-tests"


@dataclass
class Receiver:
    """What the server got, and how it should answer the next requests."""

    url: str
    answers: list[int] = field(default_factory=list)  # status codes to give, in order; then 200
    delay_s: float = 0.0
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append((body, dict(self.headers.items())))
            time.sleep(state.delay_s)
            code = state.answers.pop(0) if state.answers else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            state.arrived.set()

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def make_alert(number: int = 1) -> Alert:
    return Alert(
        alert_id=f"alert-{number}",
        kind=AlertKind.UNKNOWN_VISITOR,
        camera_id="door",
        event_id="event-1",
        track_id="door:run:1",
        visitor_id="visitor-3",
        first_seen=1.0,
        last_seen=2.0,
    )


def test_the_receiver_verifies_the_signature_of_the_raw_body(receiver: Receiver) -> None:
    sender = WebhookSender(receiver.url, SECRET, timeout_s=2.0)
    try:
        result = sender.deliver(make_alert())
    finally:
        sender.close()
    assert result.ok and result.attempts == 1 and result.status_code == 200
    body, headers = receiver.received[0]
    assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER])
    assert not verify_signature("some-other-secret", body, headers[SIGNATURE_HEADER])
    assert headers[DELIVERY_HEADER] == "alert-1"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["visitor_id"] == "visitor-3"


def test_server_errors_are_retried_with_backoff(receiver: Receiver) -> None:
    receiver.answers = [503, 500]
    sender = WebhookSender(receiver.url, SECRET, retries=3, backoff_s=0.1)
    started = time.perf_counter()
    try:
        result = sender.deliver(make_alert())
    finally:
        sender.close()
    assert result.ok and result.attempts == 3
    assert time.perf_counter() - started >= 0.1 + 0.2  # waited 0.1 s, then 0.2 s
    assert len({body for body, _ in receiver.received}) == 1  # every attempt sends the same signed body


def test_a_client_error_is_not_retried(receiver: Receiver) -> None:
    receiver.answers = [401]
    sender = WebhookSender(receiver.url, SECRET, retries=3, backoff_s=0.01)
    try:
        result = sender.deliver(make_alert())
    finally:
        sender.close()
    assert not result.ok and result.attempts == 1 and result.status_code == 401


def test_a_slow_receiver_times_out_and_gives_up(receiver: Receiver) -> None:
    receiver.delay_s = 1.0
    sender = WebhookSender(receiver.url, SECRET, timeout_s=0.2, retries=1, backoff_s=0.01)
    try:
        result = sender.deliver(make_alert())
    finally:
        sender.close()
    assert not result.ok and result.attempts == 2
    assert result.error is not None and "Timeout" in result.error


def test_submit_returns_at_once_and_delivers_in_the_background(receiver: Receiver) -> None:
    receiver.delay_s = 0.3
    results = []
    sender = WebhookSender(receiver.url, SECRET, on_result=lambda alert, result: results.append(result))
    started = time.perf_counter()
    sender.submit(make_alert())
    waited = time.perf_counter() - started
    assert receiver.arrived.wait(5)
    sender.close()
    assert waited < 0.1  # the frame did not wait for the receiver's 0.3 s
    assert results and results[0].ok


def test_a_full_queue_drops_the_oldest_alert(receiver: Receiver) -> None:
    receiver.delay_s = 0.3
    delivered: list[str] = []
    sender = WebhookSender(
        receiver.url, SECRET, queue_size=2, on_result=lambda alert, result: delivered.append(alert.alert_id)
    )
    for number in range(6):
        sender.submit(make_alert(number))
    sender.close(timeout_s=5)
    assert sender.dropped >= 2
    assert delivered[-1] == "alert-5"  # the newest alert is never the one dropped


def test_a_redone_frame_does_not_send_its_alert_twice(receiver: Receiver, redis_client: redis.Redis) -> None:
    delivered: list[str] = []
    sender = WebhookSender(
        receiver.url, SECRET, on_result=lambda alert, result: delivered.append(alert.alert_id)
    )
    dispatcher = AlertDispatcher(redis_client, webhook=sender, mqtt_publisher=None)
    # Two dispatchers stand for the killed worker and the one that redoes its frame.
    again = AlertDispatcher(redis_client, webhook=sender, mqtt_publisher=None)
    sent = [
        dispatcher.dispatch(make_alert()),
        again.dispatch(make_alert()),
        dispatcher.dispatch(make_alert(2)),
    ]
    dispatcher.close()
    assert sent == [True, False, True]
    assert sorted(delivered) == ["alert-1", "alert-2"]
