from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from leanamp.listen import AnswerStore, ListeningServer, prepare_listening_test


def _call(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


@pytest.fixture
def test_dir(sweep_dir, tmp_path):
    return prepare_listening_test(sweep_dir, tmp_path / "test", seconds=0.5)


def test_api_serves_blind_stimuli_and_stores_ratings(test_dir):
    with ListeningServer(test_dir, port=0) as server:
        assert server.url.startswith("http://127.0.0.1:")
        status, kind, page = _call(server.url)
        assert status == 200 and kind.startswith("text/html") and b"mushra.js" in page
        session = json.loads(_call(server.url + "api/start", {"name": "B"})[2])
        text = json.dumps(session)
        for hidden in ("reference.wav", "anchor", "lstm", "stimuli"):
            assert hidden not in text  # nothing tells the page which slot is which
        store = AnswerStore(test_dir)
        record = store.load(session["participant"])
        trial = session["trials"][0]
        for index, url in enumerate(trial["slots"]):
            status, kind, wav = _call(server.url.rstrip("/") + url)
            condition = record["slots"][trial["id"]][index]
            assert kind == "audio/wav"
            stimulus = test_dir / store.trials[trial["id"]]["conditions"][condition]
            assert wav == stimulus.read_bytes()
        reply = _call(server.url + "api/rate", {"participant": session["participant"],
                                                "trial": trial["id"], "ratings": {"0": 42}})
        assert json.loads(reply[2]) == {"saved": True, "complete": []}
        assert store.load(session["participant"])["ratings"][trial["id"]] == {
            record["slots"][trial["id"]][0]: 42.0}
        again = json.loads(_call(server.url + f"api/session/{session['participant']}")[2])
        assert again["trials"][0]["ratings"] == {"0": 42.0}
        for bad_url, body, code in [
            ("api/rate", {"participant": session["participant"], "trial": trial["id"],
                          "ratings": {"0": "loud"}}, 400),
            ("api/rate", {"participant": "0" * 16, "trial": trial["id"], "ratings": {}}, 400),
            ("api/session/not-an-id", None, 404),
            ("audio/x/y/z", None, 404),
            ("nothing-here", None, 404),
        ]:
            with pytest.raises(urllib.error.HTTPError) as error:
                _call(server.url + bad_url, body)
            assert error.value.code == code
    with pytest.raises(urllib.error.URLError):  # stopped: nothing listens any more
        _call(server.url)


def test_full_session_in_a_browser(test_dir, chromium):
    from playwright.sync_api import expect

    context = chromium.new_context()
    with ListeningServer(test_dir, port=0) as server:
        page = context.new_page()
        page.goto(server.url)
        page.fill("#name", "browser listener")
        page.click("#start")
        page.wait_for_selector("#trial:not([hidden])")
        sources = page.eval_on_selector_all("#players audio", "els => els.map(e => e.src)")
        assert len(sources) == 5  # reference + hidden reference, anchor, two models
        for src in sources:
            assert _call(src)[1] == "audio/wav"  # every player points at a stimulus served
        assert page.is_disabled("#next")  # nothing rated yet
        page.locator("#rating-0").fill("77")
        page.wait_for_function("document.getElementById('saved').textContent === 'saved'")
        participant = page.evaluate("localStorage.getItem('leanamp-mushra-participant')")
        # Close the browser tab mid-trial: the rating is on disk, and a new tab resumes there.
        page.close()
        record = AnswerStore(test_dir).load(participant)
        first = record["trial_order"][0]
        assert record["ratings"] == {first: {record["slots"][first][0]: 77.0}}
        page = context.new_page()
        page.goto(server.url)
        page.wait_for_selector("#trial:not([hidden])")
        expect(page.locator("#rating-0")).to_have_value("77")
        for trial_number in range(2):
            # The next trial is shown once the server has stored the previous one.
            expect(page.locator("#progress")).to_have_text(f"Trial {trial_number + 1} of 2")
            for slot in range(4):
                page.locator(f"#rating-{slot}").fill(str(20 * slot + 30))
            page.click("#next")
        page.wait_for_selector("#done:not([hidden])")
        page.close()
    record = AnswerStore(test_dir).load(participant)
    assert sorted(record["complete"]) == ["t01", "t02"]
    for trial_id in ("t01", "t02"):
        slots = record["slots"][trial_id]
        assert record["ratings"][trial_id] == {c: float(20 * i + 30) for i, c in enumerate(slots)}
    context.close()
