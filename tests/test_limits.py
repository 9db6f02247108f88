"""The limits of ``core.limits`` are the database's: each column's length is the model
field's ``max_length`` (a migration that changes one must change the table too)."""

from __future__ import annotations

import pytest
from django.apps import apps

from core import limits


@pytest.mark.parametrize("column", limits.COLUMNS, ids=lambda c: f"{c.model}.{c.field}")
def test_each_limit_is_its_columns_max_length(column):
    model = apps.get_model(column.model)
    assert model._meta.get_field(column.field).max_length == column.max_length


def test_a_study_name_leaves_room_for_its_datasets_names():
    longest = "n" * limits.SPEC_STUDY_NAME + limits.STUDY_NAME_SUFFIX
    assert len(longest) <= limits.DATASET_NAME.max_length
    assert limits.SPEC_STUDY_NAME <= limits.STUDY_NAME.max_length
