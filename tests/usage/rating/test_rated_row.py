"""The rating write step inserts RatedRow values column by column into usage_rated: the dataclass and the model
must name the same fields, or rating breaks (a missing column) or silently drops a figure (an extra field)."""

import dataclasses

from apps.usage.models import RatedUsage
from apps.usage.rating.types import RatedRow


def _model_fields() -> set[str]:
    return {f.attname for f in RatedUsage._meta.concrete_fields if not f.primary_key}


def test_rated_row_has_every_concrete_field_of_rated_usage_but_the_id():
    missing = _model_fields() - {f.name for f in dataclasses.fields(RatedRow)}
    assert not missing, f"RatedRow lacks RatedUsage fields {sorted(missing)}: add them to RatedRow and settle()"


def test_rated_row_has_no_field_rated_usage_does_not_store():
    extra = {f.name for f in dataclasses.fields(RatedRow)} - _model_fields()
    assert not extra, f"RatedRow fields {sorted(extra)} are not RatedUsage columns"


def test_rated_row_is_frozen():
    assert RatedRow.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_a_rated_row_needs_every_field_and_refuses_unknown_ones():
    import pytest

    values: dict = {f.name: None for f in dataclasses.fields(RatedRow)}
    row = RatedRow(**values)
    assert dataclasses.astuple(row) == tuple(values.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.amount = 1  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing fields \\['amount'\\]"):
        RatedRow(**{k: v for k, v in values.items() if k != "amount"})
    with pytest.raises(TypeError, match="unknown fields \\['bogus'\\]"):
        RatedRow(**values, bogus=1)  # type: ignore[call-arg]
