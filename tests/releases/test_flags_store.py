"""Flags in the store, with the audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from prodloop.errors import NotFoundError, ValidationError
from prodloop.releases.flags import evaluate, flag_from_dict
from prodloop.releases.flags.store import (
    FlagExistsError,
    config_etag,
    create_flag,
    flag_audit_log,
    flag_changes,
    flag_config,
    get_flag,
    kill_flag,
    list_flags,
    set_rollout,
    update_flag,
)
from prodloop.store import connect

T0 = 1_767_225_600.0


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = connect(store_url)
    yield engine
    engine.dispose()


def test_create_set_rollout_kill_with_an_audit_row_each(engine: Engine) -> None:
    flag = flag_from_dict({"key": "new-prompt", "description": "the v2 prompt"})
    created = create_flag(engine, flag, by="ann", now=T0)
    assert (created.revision, created.is_enabled, created.updated_by) == (1, False, "ann")

    rules = [{"attribute": "country", "operator": "in", "value": ["DE"], "variant": "on"}]
    targeted = update_flag(engine, "new-prompt", {"rules": rules}, by="bob", now=T0 + 60)
    assert targeted.revision == 2
    rolled = set_rollout(engine, "new-prompt", 100, by="ann", now=T0 + 120, sticky_attribute="org")
    assert (rolled.revision, rolled.is_enabled, rolled.sticky_attribute) == (3, True, "org")
    assert evaluate(rolled, {}).value is True
    killed = kill_flag(engine, "new-prompt", by="carol", now=T0 + 180)
    assert (killed.revision, killed.is_enabled) == (4, False)
    assert evaluate(get_flag(engine, "new-prompt"), {"country": "DE"}).reason == "DISABLED"

    log = flag_audit_log(engine, "new-prompt")
    assert [(e.action, e.by, e.at) for e in log] == [
        ("kill", "carol", T0 + 180),
        ("rollout", "ann", T0 + 120),
        ("set", "bob", T0 + 60),
        ("create", "ann", T0),
    ]
    assert log[-1].before is None and log[-1].after is not None
    assert log[0].before is not None and log[0].after is not None
    assert (log[0].before["enabled"], log[0].after["enabled"]) == (True, False)
    assert log[2].after is not None and log[2].after["rules"] == rules


def test_flag_changes_are_annotations_in_a_window(engine: Engine) -> None:
    create_flag(engine, flag_from_dict({"key": "a"}), by="ann", now=T0)
    create_flag(engine, flag_from_dict({"key": "b"}), by="ann", now=T0 + 10)
    kill_flag(engine, "a", by="bob", now=T0 + 20)
    window = flag_changes(engine, T0 + 5, T0 + 30)
    assert [(e.flag_key, e.action, e.at) for e in window] == [
        ("b", "create", T0 + 10),
        ("a", "kill", T0 + 20),
    ]


def test_bad_changes_change_nothing(engine: Engine) -> None:
    create_flag(engine, flag_from_dict({"key": "f"}), by="ann", now=T0)
    bad_rule = [{"attribute": "email", "operator": "regex", "value": "(", "variant": "on"}]
    with pytest.raises(ValidationError) as raised:
        update_flag(engine, "f", {"rules": bad_rule}, by="bob", now=T0 + 1)
    assert raised.value.field == "rules[0].value"
    with pytest.raises(ValidationError):
        update_flag(engine, "f", {"revision": 9}, by="bob", now=T0 + 1)
    with pytest.raises(ValidationError) as raised:
        set_rollout(engine, "f", 50, variant="purple", by="bob", now=T0 + 1)
    assert raised.value.field == "variant"
    assert get_flag(engine, "f").revision == 1
    assert len(flag_audit_log(engine, "f")) == 1
    with pytest.raises(FlagExistsError):
        create_flag(engine, flag_from_dict({"key": "f"}), by="ann", now=T0 + 2)
    with pytest.raises(NotFoundError):
        kill_flag(engine, "missing", by="ann", now=T0)


def test_the_config_etag_moves_with_every_change(engine: Engine) -> None:
    empty = config_etag(engine)
    create_flag(engine, flag_from_dict({"key": "b"}), by="ann", now=T0)
    create_flag(engine, flag_from_dict({"key": "a"}), by="ann", now=T0)
    first = flag_config(engine)
    assert first.etag == config_etag(engine) != empty
    assert [f.key for f in first.flags] == ["a", "b"] == [f.key for f in list_flags(engine)]
    update_flag(engine, "a", {"description": "x"}, by="ann", now=T0 + 1)
    assert config_etag(engine) != first.etag
