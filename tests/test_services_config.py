"""ConfigService: Navidrome's config_get / config_getint / config_keys over the plugin config."""

from __future__ import annotations

import pytest

from nd_notebook.clock import VirtualClock
from nd_notebook.context import PluginContext, PluginSettings
from nd_notebook.events import EventLog
from nd_notebook.services.config import ConfigService


def make_config(tmp_path, config: dict[str, str] | None) -> ConfigService:
    clock = VirtualClock()
    ctx = PluginContext(
        plugin_id="cfg", data_dir=tmp_path, permissions={}, config=config,
        settings=PluginSettings(), clock=clock, events=EventLog(clock.now),
        call_export=lambda name, data: None, has_export=lambda name: False,
    )
    return ConfigService(ctx)


def test_get_returns_value_and_exists(tmp_path):
    svc = make_config(tmp_path, {"greeting": "hi"})
    assert svc.get("greeting") == ("hi", True)


def test_get_missing_key_is_empty_and_not_exists(tmp_path):
    svc = make_config(tmp_path, {"greeting": "hi"})
    assert svc.get("nope") == ("", False)


def test_get_empty_string_value_exists(tmp_path):
    # Unlike the PDK's GetConfig, config_get reports "" as present.
    svc = make_config(tmp_path, {"empty": ""})
    assert svc.get("empty") == ("", True)


def test_get_returns_json_text_of_complex_values_verbatim(tmp_path):
    svc = make_config(tmp_path, {"users": '[{"username":"a"}]'})
    assert svc.get("users") == ('[{"username":"a"}]', True)


def test_no_config_map_means_every_key_missing(tmp_path):
    svc = make_config(tmp_path, None)
    assert svc.get("x") == ("", False)
    assert svc.keys("") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("-7", -7),
        ("+5", 5),
        ("0", 0),
        ("-0", 0),
        ("007", 7),
        ("9223372036854775807", 9223372036854775807),
        ("-9223372036854775808", -9223372036854775808),
    ],
)
def test_get_int_parses_like_go_parseint_base10(tmp_path, text, expected):
    svc = make_config(tmp_path, {"n": text})
    assert svc.get_int("n") == (expected, True)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 5",
        "5 ",
        "1_000",
        "3.0",
        "1e3",
        "0x10",
        "+",
        "--1",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: Python's int() takes it, Go's ParseInt does not
        "9223372036854775808",
        "-9223372036854775809",
        "5\n",
    ],
)
def test_get_int_unparsable_value_is_not_exists(tmp_path, text):
    svc = make_config(tmp_path, {"n": text})
    assert svc.get_int("n") == (0, False)


def test_get_int_missing_key_is_not_exists(tmp_path):
    svc = make_config(tmp_path, {})
    assert svc.get_int("n") == (0, False)


def test_keys_with_empty_prefix_lists_all_sorted(tmp_path):
    svc = make_config(tmp_path, {"b": "1", "a": "2", "B": "3", "ab": "4"})
    assert svc.keys("") == ["B", "a", "ab", "b"]


def test_keys_filters_by_case_sensitive_prefix(tmp_path):
    svc = make_config(tmp_path, {"api.key": "1", "api.url": "2", "API.x": "3", "other": "4"})
    assert svc.keys("api.") == ["api.key", "api.url"]


def test_keys_without_match_is_empty(tmp_path):
    svc = make_config(tmp_path, {"a": "1"})
    assert svc.keys("zzz") == []

