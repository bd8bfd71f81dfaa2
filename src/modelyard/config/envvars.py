"""Shell-style ``${…}`` expansion of environment variables in config values.

Every string value of the YAML tree (not keys) is expanded once, before
validation. The forms and their results are those of ``bash -u`` (``set -u``:
an unset variable with no default is an error), and a test runs bash on every
row of this table to check it:

==================  ===========  ====================  ==========
form                VAR unset    VAR set but empty     VAR = v
==================  ===========  ====================  ==========
``${VAR}``          error        ``""``                ``v``
``${VAR:-word}``    ``word``     ``word``              ``v``
``${VAR-word}``     ``word``     ``""``                ``v``
``${VAR:?msg}``     error msg    error msg             ``v``
``${VAR?msg}``      error msg    ``""``                ``v``
``${VAR:+word}``    ``""``       ``""``                ``word``
``${VAR+word}``     ``""``       ``word``              ``word``
==================  ===========  ====================  ==========

``word`` may hold references itself (``${A:-${B:-x}}``); like the shell, it is
expanded only when used. ``$${`` is a literal ``${`` (the docker-compose escape;
in bash ``$$`` is the PID, so this is the one place the shell differs).
``$NAME`` without braces is left as written, and ``word`` is taken literally:
no quote removal, no backslash escapes. Anything else after ``${`` (``${1}``,
``${A:=x}``, ``${A#x}``, an unclosed ``${A``) is an error, not passed through.

Each expansion is recorded as an `EnvReference` (key path, variable, how it
resolved) so ``modelyard validate`` can show what every reference became;
`EnvReference.shown` masks values that look secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from modelyard.config.errors_format import format_loc
from modelyard.errors import ConfigError

__all__ = ["EnvReference", "expand_tree", "looks_secret", "masked"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = (":-", ":?", ":+", "-", "?", "+")
#: substrings of a variable name that mark its value as secret (upper-cased name)
_SECRET_VAR = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PWD", "CREDENTIAL", "AUTH", "DSN", "COOKIE")
#: a key path whose last name matches this holds a secret (``headers.Authorization``, ``options.api_key``)
_SECRET_KEY = re.compile(
    r"api[_-]?key|token|secret|passw(or)?d|authori[sz]ation|^auth$|cookie|credential|dsn|private[_-]?key",
    re.IGNORECASE,
)


def looks_secret(var: str | None = None, key: str | None = None) -> bool:
    """True if variable ``var`` or key path ``key`` names something that must not be printed.

    Variables: any name containing KEY, TOKEN, SECRET, PASSWORD, PASSWD, PWD,
    CREDENTIAL, AUTH, DSN or COOKIE. Key paths: the last name is an API key,
    token, secret, password, authorization, cookie, credential or DSN field.
    Errs towards masking.
    """
    if var and any(part in var.upper() for part in _SECRET_VAR):
        return True
    if key:
        last = re.sub(r"\[\d+\]", "", key).rsplit(".", 1)[-1]
        return bool(_SECRET_KEY.search(last))
    return False


def masked(value: str, *, secret: bool) -> str:
    """How a resolved value is printed: secrets as ``set (N chars)``; URL passwords as ``****``."""
    if secret:
        return f"set ({len(value)} chars)" if value else "empty"
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        password = None
    if password:
        value = value.replace(f":{password}@", ":****@", 1)
    return repr(value)


@dataclass(frozen=True)
class EnvReference:
    """One ``${…}`` expansion: where it is, what it read, what it became.

    ``value`` is the expanded text (kept out of ``repr``); print `shown`
    instead. ``how`` says which rule applied and why, e.g. ``VAR is set``,
    ``VAR is set but empty``, ``default: VAR is not set``, ``default: VAR is set
    but empty``, ``empty: VAR is not set``, ``alternative: VAR is set``.
    ``empty_from_env`` is true when the variable is set to the empty string and
    that empty string is the result (``validate`` warns).
    """

    key: str
    var: str
    text: str
    how: str
    secret: bool
    empty_from_env: bool
    value: str = field(repr=False)

    @property
    def expression(self) -> str:
        """The reference as written; a secret's default word is elided."""
        if self.secret and self.text != f"${{{self.var}}}":
            op = next(o for o in _OPS if self.text.startswith(f"${{{self.var}{o}"))
            return f"${{{self.var}{op}…}}"
        return self.text

    @property
    def shown(self) -> str:
        return masked(self.value, secret=self.secret)


@dataclass(frozen=True)
class _Ref:
    var: str
    op: str
    word: tuple[str | _Ref, ...]
    text: str


class _Syntax(ValueError):
    pass


def _parse(s: str, i: int, *, nested: bool) -> tuple[list[str | _Ref], int]:
    """Parts of ``s`` from ``i``; when ``nested``, stop at the ``}`` closing a word."""
    parts: list[str | _Ref] = []
    buf: list[str] = []
    while i < len(s):
        if s.startswith("$${", i):
            buf.append("${")
            i += 3
        elif s.startswith("${", i):
            if buf:
                parts.append("".join(buf))
                buf = []
            ref, i = _parse_ref(s, i)
            parts.append(ref)
        elif nested and s[i] == "}":
            break
        else:
            buf.append(s[i])
            i += 1
    if buf:
        parts.append("".join(buf))
    return parts, i


def _parse_ref(s: str, start: int) -> tuple[_Ref, int]:
    snippet = s[start : start + 40]
    name = _NAME.match(s, start + 2)
    if name is None:
        raise _Syntax(
            f"bad substitution {snippet!r}: '${{' must be followed by a variable name "
            "(write '$${' for a literal '${')"
        )
    var, i = name.group(), name.end()
    if s.startswith("}", i):
        return _Ref(var, "", (), s[start : i + 1]), i + 1
    op = next((o for o in _OPS if s.startswith(o, i)), None)
    if op is None:
        if i >= len(s):
            raise _Syntax(f"unclosed {snippet!r}: missing '}}'")
        raise _Syntax(f"bad substitution {snippet!r}: after ${{{var} expected '}}', ':-', '-', ':?', '?', ':+' or '+'")
    word, end = _parse(s, i + len(op), nested=True)
    if end >= len(s):
        raise _Syntax(f"unclosed {snippet!r}: missing '}}'")
    return _Ref(var, op, tuple(word), s[start : end + 1]), end + 1


class _Expander:
    def __init__(self, env: Mapping[str, str], source: str) -> None:
        self.env = env
        self.source = source
        self.refs: list[EnvReference | None] = []

    def tree(self, node: Any, loc: list[str | int]) -> Any:
        if isinstance(node, dict):
            return {k: self.tree(v, [*loc, str(k)]) for k, v in node.items()}
        if isinstance(node, list):
            return [self.tree(v, [*loc, i]) for i, v in enumerate(node)]
        if not isinstance(node, str) or "${" not in node:
            return node
        key = format_loc(loc)
        try:
            parts, _ = _parse(node, 0, nested=False)
        except _Syntax as exc:
            raise ConfigError(str(exc), file=self.source, key=key) from None
        return self.parts(parts, key)[0]

    def parts(self, parts: tuple[str | _Ref, ...] | list[str | _Ref], key: str) -> tuple[str, bool]:
        """Expanded text, and whether any secret went into it."""
        out: list[str] = []
        secret = False
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            else:
                text, sec = self.ref(part, key)
                out.append(text)
                secret = secret or sec
        return "".join(out), secret

    def ref(self, ref: _Ref, key: str) -> tuple[str, bool]:
        slot = len(self.refs)  # the outer reference is listed before those in its word
        self.refs.append(None)
        present = ref.var in self.env
        value = self.env.get(ref.var, "")
        null = not present or (ref.op.startswith(":") and value == "")
        kind = ref.op.lstrip(":")
        word_secret = False
        state = f"{ref.var} is {'set' if value else ('set but empty' if present else 'not set')}"
        if kind == "":
            if not present:
                raise ConfigError(
                    f"environment variable {ref.var} is not set (set it, or write ${{{ref.var}:-default}})",
                    file=self.source,
                    key=key,
                )
            result, how = value, state
        elif kind == "-":
            if null:
                result, word_secret = self.parts(ref.word, key)
                how = f"default: {state}"
            else:
                result, how = value, state
        elif kind == "?":
            if null:
                message, _ = self.parts(ref.word, key)
                raise ConfigError(
                    f"environment variable {ref.var} is {'not set' if not present else 'empty'}: "
                    f"{message or 'a value is required'}",
                    file=self.source,
                    key=key,
                )
            result, how = value, state
        else:  # "+"
            if null:
                result, how = "", f"empty: {state}"
            else:
                result, word_secret = self.parts(ref.word, key)
                how = f"alternative: {state}"
        secret = word_secret or looks_secret(ref.var, key)
        from_env = kind in ("", "-", "?") and not (kind == "-" and null)
        self.refs[slot] = EnvReference(
            key=key,
            var=ref.var,
            text=ref.text,
            how=how,
            secret=secret,
            empty_from_env=from_env and present and value == "",
            value=result,
        )
        return result, secret


def expand_tree(node: Any, env: Mapping[str, str], source: str) -> tuple[Any, list[EnvReference]]:
    """Expand every string value under ``node``; the new tree and the references, in file order.

    Raises `ConfigError` (``source: key.path: reason``) for an unset variable
    without a default, a ``${VAR:?msg}`` / ``${VAR?msg}`` whose variable is
    missing, and malformed references.
    """
    expander = _Expander(env, source)
    tree = expander.tree(node, [])
    return tree, [ref for ref in expander.refs if ref is not None]
