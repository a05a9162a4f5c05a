"""Storage URLs: the one place that masks passwords and picks a URL's backend.

Every message, log record, repr and audit entry that shows a storage URL shows
``mask_url(url)``. Masking is deliberately greedy: it works on text that is not a valid URL
(a mistyped scheme, ``postgresql:`` without ``//``, a libpq keyword string, a password with a
raw ``/``, ``#``, ``?`` or ``@``), because that is exactly the text error messages show.

>>> mask_url("postgresql://clinic:s3cret@db.example:5432/iop?sslmode=require")
'postgresql://clinic:***@db.example:5432/iop?sslmode=require'
>>> mask_url("host=db user=clinic password='a b' dbname=iop")
'host=db user=clinic password=*** dbname=iop'
>>> mask_url("sqlite:///clinic.db")
'sqlite:///clinic.db'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

from iopcore.core.errors import StorageError, suggest

T = TypeVar("T")

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(//)?(.*)", re.DOTALL)
#: ``password=...`` (also ``sslpassword=``) in a query string or a libpq keyword string:
#: a quoted value, or everything up to the next ``&`` or white space.
_KEYWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&]*)")
#: A URL-like word with user information, inside a longer text.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S*@\S*")
#: Longest storage URL iopcore accepts (libpq's own limits are far below this).
MAX_URL = 4096


def mask_url(url: str) -> str:
    """``url`` with every password replaced by ``***``, fit for messages and logs.

    >>> mask_url("PostgreSQL://u:pa/ss#w?rd@h/db")
    'PostgreSQL://u:***@h/db'
    >>> mask_url("postgresql:u:pw@h/db")
    'postgresql:***@h/db'
    >>> mask_url("postgres://u@h/db?password=x&sslmode=require")
    'postgres://u@h/db?password=***&sslmode=require'
    """
    text = _KEYWORD.sub(r"\1***", url)
    match = _SCHEME.fullmatch(text)
    if match is None:
        return _mask_userinfo(text, keep_user=False) if "=" not in text else text
    scheme, slashes, rest = match.groups()
    if slashes and rest.startswith("/"):  # no authority (sqlite:///path, postgresql:///db)
        return text
    if not slashes:
        # "postgresql:u:pw@h" or "user:pw@host" (then the "scheme" was the user name)
        return f"{scheme}:{_mask_userinfo(rest, keep_user=False)}" if "@" in rest else text
    return f"{scheme}://{_mask_userinfo(rest, keep_user=True)}"


def _mask_userinfo(rest: str, *, keep_user: bool) -> str:
    """Mask up to the last ``@``: a password may hold any character, even ``@`` or ``/``."""
    if "@" not in rest:
        return rest
    userinfo, host = rest.rsplit("@", 1)
    if keep_user:
        if ":" not in userinfo:
            return rest
        return f"{userinfo.split(':', 1)[0]}:***@{host}"
    return f"***@{host}"


def url_scheme(url: str) -> str | None:
    """The scheme of ``scheme://...`` as written, or None if there is no ``://``."""
    scheme, sep, _ = url.partition("://")
    return scheme if sep and _SCHEME.fullmatch(url) else None


def backend_for(url: str, schemes: Mapping[str, T], *, blocked: str = "") -> T:
    """The backend registered for ``url``'s scheme, or a StorageError showing it masked.

    Refuses what no backend should have to guess at: non-text, a NUL, an over-long URL, a
    scheme in the wrong case or without ``//``. ``blocked`` is appended to the message.
    """
    if not isinstance(url, str):
        raise StorageError(f"a storage URL must be a string, got {type(url).__name__}")
    available = "; available schemes: " + ", ".join(sorted(schemes))
    if "sqlite" in schemes:
        available += " (e.g. sqlite:///clinic.db)"
    if "\x00" in url or len(url) > MAX_URL:
        raise StorageError(
            f"storage URL {mask_url(url[:200])!r} has a NUL character or is over {MAX_URL} "
            "characters; give the path or address exactly"
        )
    scheme = url_scheme(url)
    if scheme is None:
        match = _SCHEME.fullmatch(url)
        if match is not None and match.group(1).lower() in schemes:
            name = match.group(1).lower()
            problem = f"lacks '//' after '{match.group(1)}:'; write {name}://..."
        else:
            problem = "has no scheme (scheme://...)"
        raise StorageError(f"storage URL {mask_url(url)!r} {problem}{available}")
    if scheme not in schemes:
        if scheme.lower() in schemes:
            hint = f" (schemes are lower case: {scheme.lower()!r})"
        else:
            hint = suggest(scheme, schemes)
        raise StorageError(
            f"storage URL {mask_url(url)!r} has an unknown scheme {scheme!r}{hint}"
            f"{available}{blocked}"
        )
    _, _, rest = url.partition("://")
    userinfo = rest.rpartition("@")[0]
    if any(c in userinfo for c in "@/?#"):
        raise StorageError(
            f"storage URL {mask_url(url)!r} has '@', '/', '?' or '#' before its host: drivers "
            "disagree on where the user name and password end (libpq stops at the first), so "
            "percent-encode them in the user name or password (@ %40, / %2F, ? %3F, # %23)"
        )
    return schemes[scheme]


def url_secrets(url: str) -> list[str]:
    """The passwords written in ``url`` (as written and percent-decoded), longest first."""
    from urllib.parse import unquote

    found: list[str] = []
    for match in _KEYWORD.finditer(url):
        value = match.group(2)
        found.append(value)
        if value.startswith("'"):
            found.append(value.strip("'").replace("\\'", "'").replace("\\\\", "\\"))
    unkeyed = _SCHEME.fullmatch(_KEYWORD.sub(r"\1***", url))
    if unkeyed is not None and "@" in unkeyed.group(3):
        userinfo = unkeyed.group(3).rsplit("@", 1)[0]
        if unkeyed.group(2) is None:  # "postgresql:u:pw@host", or "user:pw@host"
            found.append(userinfo)
            found.append(userinfo.split(":", 1)[-1])
        elif ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
    # a driver that reads the password differently may quote a part of it: every run of
    # its pieces between URL delimiters
    for secret in list(found):
        pieces = re.split(r"([/@?#:&])", secret)
        for i in range(0, len(pieces), 2):
            for j in range(i, len(pieces), 2):
                found.append("".join(pieces[i : j + 1]))
    found += [unquote(s) for s in found]
    found += [repr(s)[1:-1] for s in found]  # as a driver's message may quote it
    return sorted({s for s in found if len(s) >= 2}, key=len, reverse=True)


def mask_text(text: str) -> str:
    """``text`` with the password of every URL or keyword DSN in it masked (for messages
    that may quote what the user typed, e.g. argument errors).

    >>> mask_text("invalid choice: 'postgresql://u:S3cret@h/db'")
    "invalid choice: 'postgresql://u:***@h/db'"
    """
    text = _KEYWORD.sub(r"\1***", text)
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)


def scrub(text: str, url: str) -> str:
    """``text`` (e.g. a driver's error message) without any password written in ``url``."""
    text = _KEYWORD.sub(r"\1***", text)
    for secret in url_secrets(url):  # whole secrets first: they may look like URLs
        text = text.replace(secret, "***")
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
