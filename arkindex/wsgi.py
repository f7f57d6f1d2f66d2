import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arkindex.settings")

application = get_wsgi_application()


def _refuse_serious_check_errors():
    """Refuse to serve with errors of the system checks (a missing secret key, ...).

    `manage.py` commands run the checks, WSGI servers such as gunicorn do not: without
    this, a production server would start on a misconfiguration the checks report.
    """
    from django.core.checks import run_checks
    from django.core.management.base import SystemCheckError

    errors = [message for message in run_checks() if message.is_serious()]
    if errors:
        raise SystemCheckError(
            "System check identified some issues:\n" + "\n".join(str(e) for e in errors)
        )


_refuse_serious_check_errors()
