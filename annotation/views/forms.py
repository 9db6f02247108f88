"""The item page's form, built from the study's dimensions.

One field per dimension, ``value__<key>``, and ``rationale__<key>`` for a choice that
takes a rationale. Each field is drawn with its dimension type's template; the form's
``clean`` checks the submission with the types' rules (``answers.clean_answers``). The item view
hands ``answers()`` to ``services.record_judgment``, which checks them again inside its
transaction, after it has made sure the item is the one expected next (a stale page's
answers are not judged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django import forms

from ..answers import clean_answers
from ..dimensions import ChoiceDimension, DimensionBase, dimensions_of

VALUE = "value__"
RATIONALE = "rationale__"


class DimensionWidget(forms.Widget):
    """Reads one dimension's value from the POST: one value, or every value sent under
    its name for a type that sends several (``DimensionBase.many``)."""

    def __init__(self, dimension: DimensionBase) -> None:
        super().__init__()
        self.many = dimension.many

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        if self.many and hasattr(data, "getlist"):
            return data.getlist(name) if name in data else None
        return data.get(name)


class DimensionField(forms.Field):
    """One dimension's answer, drawn with its type's template. The value is checked by
    the form as a whole (a choice's rationale is part of its answer)."""

    def __init__(self, dimension: DimensionBase, **kwargs: Any) -> None:
        # Whether an answer is required is the dimension's rule (with its message).
        super().__init__(
            required=False, label=dimension.statement, widget=DimensionWidget(dimension), **kwargs
        )
        self.dimension = dimension
        self.template_name = dimension.template


def takes_rationale(dimension: DimensionBase) -> bool:
    return isinstance(dimension, ChoiceDimension) and dimension.rationale != "none"


class JudgmentForm(forms.Form):
    def __init__(
        self,
        dimensions: Sequence[Mapping[str, Any] | DimensionBase],
        data: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(data)
        self.dimensions = dimensions_of(dimensions)
        for dim in self.dimensions:
            self.fields[VALUE + dim.key] = DimensionField(dim)
            if takes_rationale(dim):
                self.fields[RATIONALE + dim.key] = forms.CharField(
                    required=False, widget=forms.Textarea
                )

    def answers(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The submitted values and (non-blank) rationales by dimension key, as sent.

        Fields of no dimension are kept too (``value__<anything>``), so that a forged
        field is refused by name rather than dropped unseen.
        """
        values: dict[str, Any] = {}
        rationales: dict[str, str] = {}
        if not self.is_bound:
            return values, rationales
        for name, raw in self.data.items():
            if name.startswith(VALUE):
                values[name[len(VALUE) :]] = self[name].data if name in self.fields else raw
            elif name.startswith(RATIONALE) and str(raw).strip():
                rationales[name[len(RATIONALE) :]] = raw
        return values, rationales

    def clean(self) -> dict[str, Any]:
        values, rationales = self.answers()
        checked = clean_answers(self.dimensions, values, rationales)
        for problem in checked.problems:
            self.add_error(None, problem)
        self.cleaned_data = {"values": checked.values, "rationales": checked.rationales}
        return self.cleaned_data

    def rows(self) -> list[dict[str, Any]]:
        """Each dimension as its template draws it: its spec fields, the field names,
        its options, and what was sent (so a refused submit keeps the answers)."""
        values, rationales = self.answers()
        return [
            {
                **dim.to_dict(),
                "template": dim.template,
                "field": VALUE + dim.key,
                "rationale_field": RATIONALE + dim.key if takes_rationale(dim) else "",
                "max_rationale": ChoiceDimension.MAX_RATIONALE,
                "options": dim.options(),
                "submitted": values.get(dim.key, ""),
                "submitted_rationale": rationales.get(dim.key, ""),
            }
            for dim in self.dimensions
        ]
