import re

from rest_framework import exceptions, parsers

# Deeper documents are refused: Python's JSON decoder and encoder recurse once per level,
# and a document nested near the interpreter's recursion limit would parse, then fail to
# be stored or rendered.
MAX_DEPTH = 100

NUL_DETAIL = "Null characters are not allowed."
# Lone surrogates decode from JSON escapes, but no UTF-8 text can hold them.
SURROGATE = re.compile("[\ud800-\udfff]")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing with a 400 what the database could never store.

    - A document nested too deeply (DRF lets the decoder's RecursionError through as a 500).
    - A NUL character or a lone surrogate in any string or key: PostgreSQL text and jsonb
      cannot hold them, and DRF only checks character fields, not the inside of JSON fields
      (a configuration, an env). The error names where the character is, with the code and
      message of DRF's own check of character fields.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(
                f"JSON parse error - the document is nested more than {MAX_DEPTH} levels deep."
            ) from None
        check_document(data)
        return data


def check_document(data):
    """Raise for a document deeper than MAX_DEPTH or holding a character no text can store.

    Iterative, so that checking a deep document cannot itself run out of stack.
    """
    stack = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise exceptions.ParseError(
                f"JSON parse error - the document is nested more than {MAX_DEPTH} levels deep."
            )
        if isinstance(value, str):
            check_text(value, path)
        elif isinstance(value, dict):
            for key, item in value.items():
                # Named at the object holding it: the key itself may not even be printable.
                check_text(key, path, " (in a key)")
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))


def check_text(text, path, where=""):
    if "\x00" in text:
        raise error_at(path, NUL_DETAIL[:-1] + where + ".", "null_characters_not_allowed")
    surrogate = SURROGATE.search(text)
    if surrogate:
        detail = f"Surrogate characters are not allowed{where}: U+{ord(surrogate.group()):X}."
        raise error_at(path, detail, "surrogate_characters_not_allowed")


def error_at(path, message, code):
    """A validation error at `path` (keys and indexes), like DRF's own for character fields."""
    detail = [exceptions.ErrorDetail(message, code=code)]
    for part in reversed(path):
        detail = {part: detail}
    return exceptions.ValidationError(detail)
