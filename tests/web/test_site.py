"""The web site in Chromium against a real gallery: sign in, enroll, search, feedback, erase, scopes,
the live view and a screenshot of every page at desktop and phone widths."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.web.conftest import ADMIN_KEY, ARTEFACTS, Browsing, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def sign_in(page: Page, key: str) -> None:
    page.goto("/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Live")).to_be_visible()


def create_person(stack: Stack, name: str, photos: list[Path]) -> int:
    person = stack.api.post("/api/v1/people", json={"name": name})
    assert person.status_code == 201, person.text
    person_id = int(person.json()["id"])
    if photos:
        files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in photos]
        enrolled = stack.api.post(f"/api/v1/people/{person_id}/faces", files=files)
        assert enrolled.status_code == 201, enrolled.text
    return person_id


def loaded_images(page: Page, selector: str) -> int:
    """How many images under `selector` finished loading a picture."""
    count: int = page.eval_on_selector_all(
        selector, "images => images.filter(i => i.complete && i.naturalWidth > 0).length"
    )
    return count


def unnamed_controls(page: Page) -> list[str]:
    """Visible controls without an accessible name (a label, aria-label or text)."""
    names: list[str] = page.eval_on_selector_all(
        "input, select, textarea, button",
        """controls => controls
            .filter(c => c.offsetParent !== null)
            .filter(c => !(c.labels && c.labels.length) && !c.getAttribute("aria-label")
                && !c.textContent.trim())
            .map(c => c.outerHTML)""",
    )
    return names


def test_a_wrong_key_sees_nothing(browsing: Browsing) -> None:
    page = browsing.page
    page.goto("/#/people")
    expect(page.get_by_label("API key")).to_be_visible()
    page.get_by_label("API key").fill("amyk_not-a-key-of-this-gallery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong API key")
    expect(page.locator("#nav")).to_be_hidden()
    expect(page.locator("#people-list")).to_have_count(0)
    page.goto("/#/events")
    expect(page.get_by_label("API key")).to_be_visible()
    expect(page.locator("#events-table")).to_have_count(0)


def test_enroll_search_reject_and_erase_through_the_pages(
    browsing: Browsing, stack: Stack, shared_data: Path
) -> None:
    page = browsing.page
    sign_in(page, ADMIN_KEY)
    page.get_by_role("link", name="People").click()
    page.get_by_role("button", name="Add person").click()
    page.get_by_label("Name", exact=True).fill("Barack Obama")
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(re.compile(r"#/people/\d+$"))
    person_id = int(page.url.rsplit("/", 1)[1])
    photos = sorted((shared_data / "enroll" / "obama").iterdir())[:2]
    page.get_by_label("Photos", exact=True).set_input_files([str(p) for p in photos])
    results = page.locator("#enroll-results li")
    expect(results).to_have_count(2, timeout=120_000)
    for photo in photos:
        expect(results.filter(has_text=photo.name)).to_contain_text("enrolled")
    expect(page.locator("#samples img")).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#samples img')].every(i => i.naturalWidth > 0)"
    )

    page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    card = page.locator(f'[data-person="{person_id}"]')
    expect(card).to_contain_text("2 samples")
    expect(card.locator("img")).to_have_count(1)  # the thumbnail replaced the initials
    assert loaded_images(page, f'[data-person="{person_id}"] img') == 1

    page.get_by_role("link", name="Search").click()
    page.get_by_label("Photo", exact=True).set_input_files(str(shared_data / "probe" / "obama1.jpg"))
    expect(page.locator(".face-result .face-name").first).to_have_text("Barack Obama", timeout=60_000)

    # A sighting of him, recorded as a camera would, then marked "Not this person" on the Events page.
    snapshot = (shared_data / "photos" / "obama-480p.jpg").read_bytes()
    recorded = stack.api.post(
        "/api/v1/events",
        files={"image": ("door.jpg", snapshot, "image/jpeg")},
        data={"camera_id": "front-door"},
    )
    assert recorded.status_code == 201, recorded.text
    event = recorded.json()["events"][0]
    assert event["person_name"] == "Barack Obama"
    page.get_by_role("link", name="Events").click()
    row = page.locator(f'tr[data-event="{event["id"]}"]')
    expect(row.locator(".who")).to_have_text("Barack Obama")
    row.get_by_role("button", name=f"Open event {event['id']}").click()
    dialog = page.locator("#event-dialog")
    expect(dialog.get_by_role("img", name="Snapshot")).to_be_visible()
    dialog.get_by_role("button", name="Not this person").click()
    expect(dialog.locator(".who")).to_contain_text("unknown")
    dialog.get_by_role("button", name="Close").click()
    expect(row.locator(".who")).not_to_have_text("Barack Obama")
    assert stack.api.get(f"/api/v1/events/{event['id']}").json()["person_id"] is None

    page.goto(f"/#/people/{person_id}")
    page.get_by_label("Type the name to confirm").fill("Barack Obam")
    expect(page.get_by_role("button", name="Erase")).to_be_disabled()
    page.get_by_label("Type the name to confirm").fill("Barack Obama")
    page.get_by_role("button", name="Erase").click()
    expect(page).to_have_url(re.compile(r"#/people$"))
    expect(page.locator("#people-list")).not_to_contain_text("Barack Obama")
    assert stack.api.get(f"/api/v1/people/{person_id}").status_code == 404
    assert stack.api.get("/api/v1/events", params={"person_id": person_id}).json()["total"] == 0
    page.get_by_role("link", name="Events").click()
    expect(page.locator("#events-table")).not_to_contain_text("Barack Obama")


def test_a_read_key_cannot_enroll_through_the_page(
    browsing: Browsing, stack: Stack, shared_data: Path
) -> None:
    made = stack.api.post("/api/v1/api-keys", json={"name": "web read key", "scopes": ["read"]})
    assert made.status_code == 201, made.text
    person_id = create_person(stack, "Rose Leslie", [shared_data / "enroll" / "rose_leslie" / "img1.jpg"])
    try:
        page = browsing.page
        sign_in(page, made.json()["key"])
        page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
        expect(page.locator(f'[data-person="{person_id}"]')).to_contain_text("Rose Leslie")
        expect(page.get_by_role("button", name="Add person")).to_have_count(0)
        page.get_by_role("link", name="Rose Leslie").click()
        expect(page.get_by_role("heading", name="Rose Leslie")).to_be_visible()
        expect(page.get_by_text("This key can only read")).to_be_visible()
        expect(page.get_by_label("Photos", exact=True)).to_have_count(0)
        expect(page.get_by_role("button", name="Erase")).to_have_count(0)
        # Even a request made from the page with this key is refused, and says why.
        status = page.evaluate(
            """async (id) => {
                const form = new FormData();
                form.append("files", new Blob(["x"], {type: "image/jpeg"}), "x.jpg");
                const key = sessionStorage.getItem("amyplant.apiKey");
                const r = await fetch(`/api/v1/people/${id}/faces`,
                    {method: "POST", body: form, headers: {Authorization: `Bearer ${key}`}});
                return r.status;
            }""",
            person_id,
        )
        assert status == 403
    finally:
        stack.api.delete(f"/api/v1/api-keys/{made.json()['id']}")


def test_the_live_page_shows_a_camera_frame_and_a_sighting(
    browsing: Browsing, stack: Stack, shared_data: Path, tmp_path: Path
) -> None:
    video = shared_data / "video"
    create_person(stack, "Lin-Manuel Miranda", [video / "lin-manuel-miranda.png"])
    page = browsing.page
    sign_in(page, ADMIN_KEY)
    expect(page.get_by_text("New sightings appear here")).to_be_visible()
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(f"cameras:\n  - id: stage\n    source: {video / 'short_hamilton_clip.mp4'}\n")
    capture = subprocess.Popen(
        [sys.executable, "-m", "amyplant.cli", "capture", "--cameras-file", str(cameras)],
        env=stack.environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        tile = page.locator('[data-camera="stage"]')
        expect(tile).to_be_visible(timeout=30_000)
        expect(tile.get_by_role("img", name="Latest frame of camera stage")).to_be_visible(timeout=30_000)
        assert loaded_images(page, '[data-camera="stage"] img') == 1
        expect(page.locator("#sightings li").first).to_be_visible(timeout=60_000)
        assert capture.wait(timeout=120) == 0
        expect(tile.locator(".badge")).to_have_text(re.compile(r"\w+"))
    finally:
        if capture.poll() is None:
            capture.kill()


def test_an_unknown_visitor_is_named_from_the_visitors_page(
    browsing: Browsing, stack: Stack, shared_data: Path
) -> None:
    stranger = shared_data / "probe" / "alex_lacamoire1.jpg"
    recorded = stack.api.post(
        "/api/v1/events",
        files={"image": (stranger.name, stranger.read_bytes(), "image/jpeg")},
        data={"camera_id": "front-door"},
    )
    assert recorded.status_code == 201, recorded.text
    visitor_id = recorded.json()["events"][0]["visitor_id"]
    assert visitor_id is not None
    page = browsing.page
    sign_in(page, ADMIN_KEY)
    page.get_by_role("link", name="Visitors").click()
    card = page.locator(f'[data-visitor="{visitor_id}"]')
    expect(card.get_by_role("img", name=f"Face of unknown #{visitor_id}")).to_be_visible()
    card.get_by_label("New person's name").fill("Alex Lacamoire")
    card.get_by_role("button", name="Name").click()
    expect(card).to_contain_text("Named Alex Lacamoire")
    expect(page.get_by_text("No unknown visitors.")).to_be_visible()
    page.get_by_role("link", name="Events").click()
    expect(page.locator("#events-table .who").first).to_have_text("Alex Lacamoire")


def test_the_training_page_lists_every_model_version(browsing: Browsing) -> None:
    page = browsing.page
    sign_in(page, ADMIN_KEY)
    page.get_by_role("link", name="Training").click()
    expect(page.get_by_role("heading", name="Model versions")).to_be_visible()
    for name in ("face_detector", "face_attributes", "face_embedder", "face_landmarks"):
        section = page.get_by_role("region", name=f"{name} versions")
        expect(section.get_by_role("cell", name="serving")).to_have_count(1)
    expect(page.get_by_text("No training run yet.")).to_be_visible()


PAGES = ["live", "events", "people", "person", "visitors", "search", "training", "settings"]
SIZES: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 900},
    "phone": {"width": 390, "height": 844},
}


@pytest.mark.parametrize("size", sorted(SIZES))
def test_a_screenshot_of_every_page(browsing: Browsing, stack: Stack, shared_data: Path, size: str) -> None:
    photo = shared_data / "enroll" / "kit_harington" / "john1.jpeg"
    person_id = create_person(stack, "Kit Harington", [photo])
    # Sightings to show: one named, one of a stranger (an unknown visitor to name).
    probes = shared_data / "probe"
    for sighting in (probes / "johnsnow_test1.jpg", probes / "alex_lacamoire1.jpg"):
        recorded = stack.api.post(
            "/api/v1/events",
            files={"image": (sighting.name, sighting.read_bytes(), "image/jpeg")},
            data={"camera_id": "front-door"},
        )
        assert recorded.status_code == 201, recorded.text
    page = browsing.page
    page.set_viewport_size(SIZES[size])
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.goto("/")
    expect(page.get_by_label("API key")).to_be_visible()
    written = [ARTEFACTS / f"signin-{size}.png"]
    page.screenshot(path=written[0], full_page=True)
    sign_in(page, ADMIN_KEY)
    for name in PAGES:
        page.goto(f"/#/people/{person_id}" if name == "person" else f"/#/{name}")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        time.sleep(0.5)  # let the page's first data arrive before the picture
        path = ARTEFACTS / f"{name}-{size}.png"
        page.screenshot(path=path, full_page=True)
        written.append(path)
    assert all(path.stat().st_size > 1000 for path in written)
