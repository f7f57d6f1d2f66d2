from rest_framework import exceptions, parsers

# Deeper documents are refused: Python's JSON decoder and encoder recurse once per level,
# and a document nested near the interpreter's recursion limit would parse, then fail to
# be stored or rendered.
MAX_DEPTH = 100

NUL_DETAIL = "Null characters are not allowed."


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing with a 400 what the database could never store.

    - A document nested too deeply (DRF lets the decoder's RecursionError through as a 500).
    - A NUL character in any string or key: PostgreSQL text and jsonb cannot hold one, and
      DRF only checks character fields, not the inside of JSON fields (a configuration, an
      env). The error names where the NUL is, as DRF's own check of character fields does.
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
    """Raise for a document deeper than MAX_DEPTH or holding a NUL character.

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
            if "\x00" in value:
                raise nul_error(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    raise nul_error((*path, key))
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))


def nul_error(path):
    """A validation error at `path` (keys and indexes), like DRF's own for character fields."""
    detail = [exceptions.ErrorDetail(NUL_DETAIL, code="null_characters_not_allowed")]
    for part in reversed(path):
        detail = {part: detail}
    return exceptions.ValidationError(detail)
