"""Content negotiation that answers JSON whatever the Accept header asks for.

The API speaks JSON only. HTTP lets a server ignore an Accept header it cannot satisfy
(RFC 9110 §12.5.1), which serves clients better than a 406 the schema would have to declare
on every operation: a browser's `text/html`, a proxy's odd header or `Accept: application/xml`
all get the JSON answer. An unknown `?format=` is still a 404, as Django REST framework says.
"""

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class JSONWhateverTheAccept(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            renderer = renderers[0]
            return renderer, renderer.media_type
