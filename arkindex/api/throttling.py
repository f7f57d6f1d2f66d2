import logging

from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class ClientAddressThrottle(SimpleRateThrottle):
    """Throttle a scope per client address, whoever the caller claims to be.

    The rate is read from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope] on each request:
    DRF binds its class attribute `THROTTLE_RATES` once at import, which would ignore any
    later change of the setting. The address comes from DRF's `get_ident`, which trusts
    X-Forwarded-For only as far as REST_FRAMEWORK["NUM_PROXIES"] (ARKINDEX_NUM_PROXIES)
    allows: with NUM_PROXIES unset, DRF would take the whole header, which any client can
    set to a new value on each request to escape the throttle.
    """

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def allow_request(self, request, view):
        # The counts live in Django's cache, Redis when several nodes share it. Redis out of
        # reach must not turn every Login or CreateAgent into a 500: the request is let
        # through unthrottled, and the outage logged, until Redis answers again.
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as error:
            logger.warning(
                "Throttle %s not applied, its cache is unreachable: %s", self.scope, error
            )
            return True

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UserThrottle(ClientAddressThrottle):
    """Throttle a scope per authenticated user, from whatever address they call."""

    def get_cache_key(self, request, view):
        if not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
