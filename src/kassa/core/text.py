"""The one rule for text (decision 036): no NUL and no lone surrogate, anywhere. Free of
Django so that the command line can apply it before setting Django up."""

from __future__ import annotations

import re
from typing import Any

# JSON decodes a valid surrogate pair into one code point, so any surrogate left in a str is
# lone; such a str has no UTF-8 form and NUL has no place in PostgreSQL's text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_path(value: Any, param: str) -> str | None:
    """Where in `value` (a str, or dicts and lists of them, keys included) text holds NUL or a
    lone surrogate: the parameter's path (`metadata[note]`, `charges[3].description`), or
    None when every string can be stored."""
    if isinstance(value, str):
        return param if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _UNSTORABLE.search(key):
                return f"{param}[{key!a}]" if param else repr(key)
            found = unstorable_path(item, f"{param}.{key}" if param else str(key))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unstorable_path(item, f"{param}[{index}]")
            if found is not None:
                return found
    return None
