import base64
import json

from code_interpreter_runner.display import mime_bundle, safe_repr


class Html:
    def _repr_html_(self):
        return "<b>bold</b>"

    def __repr__(self):
        return "Html()"


class Everything:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": "plain", "application/x-unknown": "dropped", "application/json": {"a": [1, 2]}}, {"metadata": 1}

    def _repr_png_(self):
        return b"\x89PNG\r\n"

    def _repr_svg_(self):
        return b"<svg/>"

    def _repr_latex_(self):
        raise RuntimeError("broken method")


class BadRepr:
    def __repr__(self):
        raise RuntimeError("nope")


class NotJson:
    def _repr_json_(self):
        return {"set": {1, 2}}


def test_an_object_gives_its_repr_methods_data_and_its_repr():
    assert mime_bundle(Html()) == {"text/html": "<b>bold</b>", "text/plain": "Html()"}


def test_a_mimebundle_comes_first_unknown_types_go_and_binary_is_base64():
    bundle = mime_bundle(Everything())
    assert bundle == {
        "text/plain": "plain",
        "application/json": {"a": [1, 2]},
        "image/png": base64.b64encode(b"\x89PNG\r\n").decode(),
        "image/svg+xml": "<svg/>",
    }


def test_what_cannot_be_shown_is_left_out_and_a_failing_repr_is_named():
    assert safe_repr(BadRepr()) == "<BadRepr object (repr failed: nope)>"
    assert mime_bundle(BadRepr()) == {"text/plain": "<BadRepr object (repr failed: nope)>"}
    assert mime_bundle(NotJson()).keys() == {"text/plain"}


def test_a_class_is_shown_by_its_repr_only():
    assert mime_bundle(Html) == {"text/plain": repr(Html)}


DATA_STACK = """
import json
import pandas, matplotlib.pyplot as pyplot
from code_interpreter_runner.display import figure_chart, mime_bundle
shown = set()
frame = pandas.DataFrame({"city": ["Oslo", "Lima"], "people": [709000, 10000000]})
figure, axes = pyplot.subplots()
axes.bar(["a", "b"], [3, 5])
axes.set_title("counts")
line, line_axes = pyplot.subplots()
line_axes.plot([0, 1, 2], [1, 4, 9], label="squares")
print(json.dumps({"frame": mime_bundle(frame), "figure": mime_bundle(figure, shown), "shown": id(figure) in shown,
                  "bar": figure_chart(figure), "line": figure_chart(line), "two": figure_chart(pyplot.figure()) }))
"""


def test_a_data_frame_and_figures_in_the_sandboxs_data_stack(sandbox_python):
    found = json.loads(sandbox_python(DATA_STACK))
    assert "<table" in found["frame"]["text/html"] and "Oslo" in found["frame"]["text/html"]
    assert "Lima" in found["frame"]["text/plain"]
    assert base64.b64decode(found["figure"]["image/png"]).startswith(b"\x89PNG")
    assert found["shown"]
    assert found["bar"] == {"title": "counts", "x_label": None, "y_label": None, "type": "bar", "x_tick_labels": ["a", "b"], "series": [{"label": None, "x": [0.0, 1.0], "y": [3.0, 5.0]}]}
    assert found["line"]["type"] == "line"
    assert found["line"]["series"] == [{"label": "squares", "x": [0.0, 1.0, 2.0], "y": [1.0, 4.0, 9.0]}]
    assert found["two"] is None
