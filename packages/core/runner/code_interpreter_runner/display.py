"""Rich results, like a notebook's: an object becomes a MIME bundle {mime: data}
read from its _repr_mimebundle_ and _repr_*_ methods as IPython's formatter reads
them, and a simple matplotlib figure also a structured chart. Binary data is
base64. (results.py collects the bundles of a run and sends them.)"""
import sys

MIME_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("text/latex", "_repr_latex_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("image/svg+xml", "_repr_svg_"),
    ("application/json", "_repr_json_"),
    ("application/pdf", "_repr_pdf_"),
)
RICH_MIME = ("text/plain",) + tuple(mime for mime, _ in MIME_METHODS)
BINARY_MIME = ("image/png", "image/jpeg", "application/pdf")


def safe_repr(value):
    try:
        return repr(value)
    except Exception as error:
        return "<%s object (repr failed: %s)>" % (type(value).__name__, error)


def safe_str(value):
    try:
        return str(value)
    except Exception:
        return ""


def mime_bundle(value, shown_figures=None):
    """{mime: data} of an object, from its _repr_mimebundle_ and _repr_*_ methods, as IPython's formatter
    reads them. A matplotlib figure gets its PNG, and its id goes to `shown_figures` (it is not shown again)."""
    import base64
    import json

    data = {}
    if not isinstance(value, type):
        method = getattr(value, "_repr_mimebundle_", None)
        if callable(method):
            try:
                got = method(include=None, exclude=None)
            except TypeError:
                try:
                    got = method()
                except Exception:
                    got = None
            except Exception:
                got = None
            if isinstance(got, tuple):
                got = got[0]
            if isinstance(got, dict):
                data.update(got)
        for mime, name in MIME_METHODS:
            method = getattr(value, name, None)
            if mime in data or not callable(method):
                continue
            try:
                got = method()
            except Exception:
                continue
            if isinstance(got, tuple):
                got = got[0]
            if got is not None:
                data[mime] = got
        figure_type = getattr(sys.modules.get("matplotlib.figure"), "Figure", None)
        if figure_type is not None and isinstance(value, figure_type) and "image/png" not in data:
            data["image/png"] = figure_png(value)
            if shown_figures is not None:
                shown_figures.add(id(value))
    if "text/plain" not in data:
        data["text/plain"] = safe_repr(value)
    bundle = {}
    for mime, item in data.items():
        if mime not in RICH_MIME:
            continue
        if mime in BINARY_MIME:
            if isinstance(item, (bytes, bytearray)):
                item = base64.b64encode(bytes(item)).decode("ascii")
            elif not isinstance(item, str):
                continue
        elif mime == "application/json":
            try:
                json.dumps(item)
            except (TypeError, ValueError):
                continue
        elif isinstance(item, (bytes, bytearray)):
            item = bytes(item).decode("utf-8", "replace")
        elif not isinstance(item, str):
            continue
        bundle[mime] = item
    return bundle


def figure_png(figure):
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def figure_chart(figure):
    """A structured description of a simple plot (one axes of lines, bars, points or a pie), or None."""
    try:
        axes = figure.get_axes()
        if len(axes) != 1:
            return None
        ax = axes[0]
        base = {"title": ax.get_title() or None, "x_label": ax.get_xlabel() or None, "y_label": ax.get_ylabel() or None}
        wedges = [patch for patch in ax.patches if type(patch).__name__ == "Wedge"]
        if wedges:
            labels = [text.get_text() for text in ax.texts]
            sizes = [abs(w.theta2 - w.theta1) / 360.0 for w in wedges]
            return dict(base, type="pie", series=[{"label": None, "labels": labels[: len(wedges)], "values": sizes}])
        bars = [patch for patch in ax.patches if type(patch).__name__ == "Rectangle"]
        if bars and not ax.lines and not ax.collections:
            labels = [tick.get_text() for tick in ax.get_xticklabels()]
            series = [{"label": None, "x": [float(b.get_x() + b.get_width() / 2) for b in bars], "y": [float(b.get_height()) for b in bars]}]
            return dict(base, type="bar", x_tick_labels=labels, series=series)
        if ax.lines and not bars and not ax.collections:
            series = []
            for line in ax.lines:
                label = line.get_label()
                series.append({"label": None if label.startswith("_") else label, "x": [float(v) for v in line.get_xdata()], "y": [float(v) for v in line.get_ydata()]})
            return dict(base, type="line", series=series)
        if ax.collections and not ax.lines and not bars:
            series = []
            for collection in ax.collections:
                offsets = collection.get_offsets()
                label = collection.get_label()
                series.append({"label": None if label.startswith("_") else label, "x": [float(p[0]) for p in offsets], "y": [float(p[1]) for p in offsets]})
            return dict(base, type="scatter", series=series)
    except Exception:
        return None
    return None
