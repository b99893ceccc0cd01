"""manage.py import_models FILE.json: upsert the catalog by name, all or nothing."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from messaging.models import LanguageModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(tmp_path: Path) -> Any:
    """Writes a catalog file and returns its path."""

    def write(data: Any) -> Path:
        path = tmp_path / "models.json"
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
        return path

    return write


def run(path: Path) -> list[str]:
    out = io.StringIO()
    call_command("import_models", str(path), stdout=out)
    return out.getvalue().splitlines()


def snapshot() -> list[dict[str, Any]]:
    return list(LanguageModel.objects.order_by("name").values())


def test_it_creates_a_model_with_every_field(catalog: Any) -> None:
    item = {
        "name": "gpt-4o",
        "provider": "openai",
        "upstream_model": "gpt-4o-2024-08-06",
        "base_url": "https://api.example.com/v1",
        "api_key_env": "EXAMPLE_KEY",
        "input_price": 2.5,
        "output_price": "10.000001",
        "max_output_tokens": 2048,
        "anonymous_allowed": True,
        "enabled": False,
        "is_default": False,
        "reasoning": False,
    }

    lines = run(catalog([item]))

    model = LanguageModel.objects.get(name="gpt-4o")
    assert lines == ["created gpt-4o", "1 created, 0 updated, 0 unchanged"]
    assert model.provider == "openai"
    assert model.upstream_model == "gpt-4o-2024-08-06"
    assert model.base_url == "https://api.example.com/v1"
    assert model.api_key_env == "EXAMPLE_KEY"
    assert model.input_price == Decimal("2.5")
    assert model.output_price == Decimal("10.000001")
    assert model.max_output_tokens == 2048
    assert (model.anonymous_allowed, model.enabled, model.is_default, model.reasoning) == (True, False, False, False)


def test_a_created_model_takes_the_model_defaults_for_omitted_fields(catalog: Any) -> None:
    run(catalog([{"name": "minimal"}]))

    model = LanguageModel.objects.get(name="minimal")
    assert model.provider == "openai"
    assert model.input_price == model.output_price == Decimal("0")
    assert model.max_output_tokens == 1024
    assert (model.anonymous_allowed, model.enabled, model.is_default, model.reasoning) == (False, True, False, True)


def test_an_update_changes_only_the_given_fields_and_names_the_ones_that_changed(catalog: Any) -> None:
    LanguageModel.objects.create(name="paid", input_price=Decimal("1"), output_price=Decimal("2"), enabled=True)

    lines = run(catalog([{"name": "paid", "input_price": "3", "output_price": 2, "enabled": False}]))

    model = LanguageModel.objects.get(name="paid")
    assert lines == ["updated paid: input_price, enabled", "0 created, 1 updated, 0 unchanged"]
    assert (model.input_price, model.output_price, model.enabled) == (Decimal("3"), Decimal("2"), False)
    assert model.max_output_tokens == 1024


def test_it_reports_a_model_whose_values_are_already_those_of_the_file_as_unchanged(catalog: Any) -> None:
    LanguageModel.objects.create(name="same", input_price=Decimal("1.5"))

    lines = run(catalog([{"name": "same", "input_price": 1.5}, {"name": "new"}]))

    assert lines == ["unchanged same", "created new", "1 created, 0 updated, 1 unchanged"]


def test_importing_the_same_file_twice_changes_nothing_the_second_time(catalog: Any) -> None:
    path = catalog([{"name": "a", "input_price": "0.1"}, {"name": "b", "provider": "echo", "is_default": True}])
    run(path)
    before = snapshot()

    lines = run(path)

    assert lines == ["unchanged a", "unchanged b", "0 created, 0 updated, 2 unchanged"]
    assert snapshot() == before


def test_a_new_default_takes_the_default_from_the_old_one(catalog: Any) -> None:
    assert LanguageModel.objects.get(is_default=True).name == "echo"

    lines = run(catalog([{"name": "gpt", "is_default": True}]))

    assert list(LanguageModel.objects.filter(is_default=True).values_list("name", flat=True)) == ["gpt"]
    assert lines == ["updated echo: is_default", "created gpt", "1 created, 1 updated, 0 unchanged"]


def test_an_existing_model_can_become_the_default_while_the_old_one_is_in_the_file(catalog: Any) -> None:
    LanguageModel.objects.create(name="gpt")

    lines = run(catalog([{"name": "echo", "max_output_tokens": 100}, {"name": "gpt", "is_default": True}]))

    assert list(LanguageModel.objects.filter(is_default=True).values_list("name", flat=True)) == ["gpt"]
    assert LanguageModel.objects.get(name="echo").max_output_tokens == 100
    assert lines[:2] == ["updated echo: max_output_tokens, is_default", "updated gpt: is_default"]


def test_setting_is_default_on_the_current_default_keeps_it(catalog: Any) -> None:
    lines = run(catalog([{"name": "echo", "is_default": True}]))

    assert lines == ["unchanged echo", "0 created, 0 updated, 1 unchanged"]
    assert LanguageModel.objects.get(name="echo").is_default


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([{"name": "gpt", "colour": "blue"}], "item 0 ('gpt'): colour: unknown field"),
        ([{"provider": "echo"}], "item 0: name: is required"),
        ([{"name": ""}], "item 0 (''): name: must not be empty"),
        ([{"name": 7}], "item 0: name: must be a string, not int"),
        ([{"name": "gpt", "provider": "anthropic"}], "item 0 ('gpt'): provider: 'anthropic' is not one of"),
        ([{"name": "gpt", "input_price": -1}], "item 0 ('gpt'): input_price: must not be negative"),
        ([{"name": "gpt", "output_price": "cheap"}], "item 0 ('gpt'): output_price: 'cheap' is not a number"),
        ([{"name": "gpt", "output_price": "NaN"}], "item 0 ('gpt'): output_price: 'NaN' is not a finite number"),
        ([{"name": "gpt", "input_price": True}], "item 0 ('gpt'): input_price: must be a number"),
        (
            [{"name": "gpt", "input_price": "0.0000001"}],
            "item 0 ('gpt'): input_price: Ensure that there are no more than 6 decimal places.",
        ),
        ([{"name": "gpt", "max_output_tokens": "many"}], "item 0 ('gpt'): max_output_tokens: must be an integer"),
        ([{"name": "gpt", "max_output_tokens": 0}], "item 0 ('gpt'): max_output_tokens: must be at least 1"),
        ([{"name": "gpt", "enabled": "yes"}], "item 0 ('gpt'): enabled: must be true or false, not str"),
        ([{"name": "gpt", "base_url": "not a url"}], "item 0 ('gpt'): base_url: Enter a valid URL."),
        ([{"name": "ok"}, "gpt"], "item 1: must be an object, not str"),
        ([{"name": "a"}, {"name": "b"}, {"name": "a"}], "item 2 ('a'): name: duplicates item 0 ('a')"),
        (
            [{"name": "a", "is_default": True}, {"name": "b", "is_default": True}],
            "item 0 ('a') and item 1 ('b'): is_default: only one model may be the default",
        ),
        ({"name": "gpt"}, "the catalog must be a JSON list of objects, not dict"),
        ('[{"name": "gpt",}]', "not valid JSON"),
    ],
)
def test_a_bad_file_is_refused_naming_the_item_and_field_and_writes_nothing(
    catalog: Any, data: Any, expected: str
) -> None:
    before = snapshot()

    with pytest.raises(CommandError, match="nothing imported") as refused:
        run(catalog(data))

    assert expected in str(refused.value)
    assert snapshot() == before


def test_one_bad_item_keeps_the_good_items_of_the_file_from_being_written(catalog: Any) -> None:
    LanguageModel.objects.create(name="keep", input_price=Decimal("1"))
    before = snapshot()
    data = [
        {"name": "keep", "input_price": "9"},
        {"name": "new", "is_default": True},
        {"name": "bad", "output_price": -2},
    ]

    with pytest.raises(CommandError, match=r"item 2 \('bad'\): output_price: must not be negative"):
        run(catalog(data))

    assert snapshot() == before
    assert LanguageModel.objects.get(is_default=True).name == "echo"


def test_a_value_the_model_itself_refuses_keeps_the_whole_file_from_being_written(catalog: Any) -> None:
    before = snapshot()
    data = [{"name": "new", "is_default": True}, {"name": "long", "upstream_model": "x" * 101}]

    with pytest.raises(CommandError, match=r"item 1 \('long'\): upstream_model: "):
        run(catalog(data))

    assert snapshot() == before


def test_it_lists_every_problem_of_the_file_at_once(catalog: Any) -> None:
    with pytest.raises(CommandError) as refused:
        run(catalog([{"name": "a", "enabled": 1}, {"name": "b", "input_price": -1, "extra": 0}]))

    message = str(refused.value)
    assert "item 0 ('a'): enabled: must be true or false, not int" in message
    assert "item 1 ('b'): extra: unknown field" in message
    assert "item 1 ('b'): input_price: must not be negative" in message


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "absent.json")
