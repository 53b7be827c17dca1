import json
import os

import pytest

from code_interpreter_runner import results
from code_interpreter_runner.results import MAX_BUNDLE_BYTES, MAX_RESULTS, ResultsReader, RichResults, pipe_sender
from code_interpreter_runner.wire import encode_frame
from conftest import split_frames


@pytest.fixture
def rich(monkeypatch):
    """A collector whose bundles land in `sent`, without installing hooks into this interpreter."""
    monkeypatch.setattr(RichResults, "install", lambda self: None)
    collector = RichResults()
    collector.sent = []
    collector.start(lambda kind, payload: collector.sent.append((kind, json.loads(payload))))
    return collector


def test_shown_values_become_bundles_in_order_and_the_main_result_is_marked(rich):
    rich.show(1)
    rich.show("two", main=True)
    assert rich.sent == [(b"d", {"is_main_result": False, "data": {"text/plain": "1"}}), (b"d", {"is_main_result": True, "data": {"text/plain": "'two'"}})]


def test_a_bundle_over_the_frame_cap_keeps_its_text_and_a_note(rich):
    rich.emit({"text/plain": "big", "text/html": "x" * (MAX_BUNDLE_BYTES + 1)})
    assert rich.sent == [(b"d", {"is_main_result": False, "data": {"text/plain": "big\n[left out: this result's data is over %d bytes]" % MAX_BUNDLE_BYTES}})]


def test_a_run_sends_at_most_max_results(rich):
    for index in range(MAX_RESULTS + 5):
        rich.show(index)
    assert len(rich.sent) == MAX_RESULTS


def test_nothing_is_sent_once_stopped(rich):
    rich.stop()
    rich.show(1)
    assert rich.sent == []


def test_an_error_is_kept_and_sent_as_an_r_frame(rich):
    rich.error(KeyError("k"), "Traceback...")
    assert rich.exception == {"name": "KeyError", "value": "'k'", "traceback": "Traceback..."}
    assert rich.sent == [(b"r", rich.exception)]


def test_raw_display_takes_known_types_only(monkeypatch, rich):
    monkeypatch.setattr(results, "RICH", rich)
    results.display({"text/plain": "p", "text/html": "<i>h</i>", "application/x-other": "no"}, raw=True)
    results.display(5)
    assert [payload["data"] for _, payload in rich.sent] == [{"text/plain": "p", "text/html": "<i>h</i>"}, {"text/plain": "5"}]


def test_results_from_the_codes_pipe_go_on_and_the_exception_is_kept(channel):
    reader = ResultsReader(channel, -1)
    stream = encode_frame(b"d", b'{"data": 1}') + encode_frame(b"r", b'{"name": "E"}') + encode_frame(b"d", b'{"data": 2}')
    for index in range(len(stream)):
        reader.push(stream[index : index + 1])
    assert channel.frames() == [(b"d", b'{"data": 1}'), (b"d", b'{"data": 2}')]
    assert reader.exception == {"name": "E"}


def test_a_pipe_that_sends_garbage_is_dropped_from_then_on(channel):
    reader = ResultsReader(channel, -1)
    reader.push(encode_frame(b"x", b"{}") + encode_frame(b"d", b"{}"))
    reader.push(encode_frame(b"d", b"{}"))
    assert channel.frames() == []
    oversized = ResultsReader(channel, -1)
    oversized.push(b"d" + (MAX_BUNDLE_BYTES + (1 << 17)).to_bytes(4, "big"))
    assert oversized.broken


def test_the_pipe_sender_frames_what_it_sends():
    read_end, write_end = os.pipe()
    pipe_sender(write_end)(b"d", b"payload")
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        assert split_frames(pipe.read()) == [(b"d", b"payload")]


FIGURES = """
import json
import matplotlib.pyplot as pyplot
from code_interpreter_runner.results import RICH
sent = []
RICH.start(lambda kind, payload: sent.append(json.loads(payload)), 3)
pyplot.plot([1, 2], [3, 4])
display(pyplot.gcf())
pyplot.figure()
pyplot.scatter([1], [2])
pyplot.show()
print(json.dumps({"sent": [(r["data"].keys() >= {"image/png"}, r.get("chart", {}).get("type")) for r in sent],
                  "files": [name for name, _ in RICH.figure_files], "open": pyplot.get_fignums()}))
"""


def test_figures_become_results_once_and_session_files_in_the_sandbox(sandbox_python):
    found = json.loads(sandbox_python(FIGURES))
    # display() showed the first (no chart: it was displayed, not flushed); show() flushed both, sending only the second.
    assert found == {"sent": [[True, None], [True, "scatter"]], "files": ["figure-3-1.png", "figure-3-2.png"], "open": []}
