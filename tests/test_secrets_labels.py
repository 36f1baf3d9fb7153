"""The one scrubber (corpsim.secrets) and the human-label storage of the results store."""

import pytest

from corpsim.secrets import HIDDEN, scrub_settings, scrub_text
from corpsim.sweep.store import Store, StoreError


def test_scrub_text_hides_env_values_and_key_shapes(monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_API_KEY", "plain-secret-value-123")
    text = ("401: key plain-secret-value-123 rejected; Authorization: Bearer abcdefghijklmnop; "
            "got sk-proj-ABCDEFGHIJKLMNOPQRST; max_tokens=5")
    out = scrub_text(text)
    assert "plain-secret-value-123" not in out
    assert "abcdefghijklmnop" not in out and "sk-proj-ABCDEFGHIJKLMNOPQRST" not in out
    assert out.count(HIDDEN) == 3 and "max_tokens=5" in out


def test_scrub_text_hides_credentials_inside_urls():
    out = scrub_text("http://127.0.0.1:9/v1: ClientConnectorError via "
                     "https://user:s3cr3t-pass@llm.internal:8000/v1 and "
                     "postgresql://corpsim:pw@127.0.0.1:5432/db; plain http://host:80/v1")
    assert "s3cr3t-pass" not in out and ":pw@" not in out and "user:" not in out
    assert "https://<hidden>@llm.internal:8000/v1" in out
    assert "http://127.0.0.1:9/v1" in out and "http://host:80/v1" in out


def test_scrub_settings_drops_credentials_but_keeps_token_counts():
    s = {"api_key": "x", "max_tokens": 9, "extra_headers": {"a": 1},
         "nested": {"access_token": "y", "temperature": 0.2}}
    assert scrub_settings(s) == {"max_tokens": 9, "nested": {"temperature": 0.2}}


def test_labels_round_trip(tmp_path):
    from sqlalchemy import insert
    from corpsim.sweep.store import EP

    store = Store(tmp_path / "r.db")
    with store.engine.begin() as conn:
        conn.execute(insert(EP).values(
            key="k1", sweep_id="s", cell="c", condition_id="x", scenario="blackmail",
            goal_type="none", goal_value="none", urgency="none", agent="a",
            agent_kind="scripted", agent_spec="compliant", sample=0, seed=0))
    store.add_label("s", "k1", "blackmail", True, who="ann", note="clear threat")
    store.add_label("s", "k1", "blackmail", False, who="bob")
    assert [r["verdict"] for r in store.labels("s", latest=False)] == [True, False]
    latest = store.labels("s")
    assert len(latest) == 1 and latest[0]["verdict"] is False and latest[0]["who"] == "bob"
    with pytest.raises(StoreError, match="unknown harm"):
        store.add_label("s", "k1", "arson", True)
    with pytest.raises(StoreError, match="no episode"):
        store.add_label("s", "nope", "leak", True)
