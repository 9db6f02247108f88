"""The serving benchmark's form reader (bench/serving_client.py): what a browser would send."""

from __future__ import annotations

import random

from bench.serving_client import forms_of, post_form

PAGE = """<!doctype html><html><head><style>form{color:red}</style>
</head><body>
<form method="get" action="/search"><input name="q" value="x"></form>
<p>Some <b>text</b> &amp; more.</p>
<form method="POST" action='/a/s/item/' id="judgment-form" novalidate>
<input type="hidden" name="csrfmiddlewaretoken" value="tok&amp;en">
<input type=hidden name=entry_id value=17>
<fieldset class="dimension" data-key="empathy" data-type="slider" data-label="a &gt; b">
<input type="range" name="value__empathy" min="0" max="100" aria-label="1 > 0">
</fieldset>
<fieldset data-key="ok" data-type="checkbox"><input type="checkbox" name="value__ok" value="on" checked></fieldset>
<textarea name="rationale__ok" maxlength="500">Already &lt;here&gt;</textarea>
<button type="submit" id="submit">Next</button>
</form></body></html>"""


def test_every_control_of_the_post_form_is_read_with_its_question():
    forms = forms_of(PAGE)
    assert [(f.method, f.action) for f in forms] == [("get", "/search"), ("post", "/a/s/item/")]
    form = post_form(PAGE)
    assert form is not None and form.id == "judgment-form"
    by_name = {c.name: c for c in form.controls if c.name}
    assert by_name["csrfmiddlewaretoken"].value == "tok&en"
    assert by_name["entry_id"].kind == "hidden" and by_name["entry_id"].value == "17"
    slider = by_name["value__empathy"]
    assert slider.kind == "range" and slider.attrs["max"] == "100"
    assert slider.attrs["aria-label"] == "1 > 0"  # a quoted > does not end the tag
    assert slider.question == {
        "data-key": "empathy",
        "data-type": "slider",
        "data-label": "a > b",
    }
    assert by_name["value__ok"].question["data-type"] == "checkbox"
    assert "checked" in by_name["value__ok"].attrs
    assert by_name["rationale__ok"].tag == "textarea"
    assert by_name["rationale__ok"].value == "Already <here>"
    assert form.submit_button() is not None and form.submit_button().tag == "button"
    sent = form.fill(random.Random(0))
    assert sent["entry_id"] == ["17"] and sent["csrfmiddlewaretoken"] == ["tok&en"]
    assert 0 <= int(sent["value__empathy"][0]) <= 100
    assert sent["rationale__ok"] == ["Already <here>"]  # kept as written, as a browser does
