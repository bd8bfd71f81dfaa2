"""The gateway's last line of defence: known key values are cut out of client-bound text."""

from __future__ import annotations

from modelyard.server import Redactor


def test_redacts_every_configured_key_value() -> None:
    redact = Redactor.from_env(
        ["A_KEY", "B_KEY", None, "UNSET"], {"A_KEY": "sk-aaaaaaaaaaaa", "B_KEY": "bbbbbbbbbbbbbbbb"}
    )
    text = "upstream said: bad key sk-aaaaaaaaaaaa (also bbbbbbbbbbbbbbbb, sk-aaaaaaaaaaaa)"
    assert redact(text) == "upstream said: bad key *** (also ***, ***)"
    assert "2 secrets" in repr(redact) and "sk-" not in repr(redact)


def test_longer_secrets_win_over_their_prefixes() -> None:
    redact = Redactor(["sk-live-123456", "sk-live-123456789"])
    assert redact("key sk-live-123456789") == "key ***"


def test_short_values_are_not_treated_as_secrets() -> None:
    assert Redactor(["abc", ""])("abc is fine") == "abc is fine"
