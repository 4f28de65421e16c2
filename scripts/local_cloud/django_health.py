"""Django as Tuva EMPI's api answers health checks, for tests/it/health_check.rs: upstream's health
check view (`GET /api/v1/health-check` -> 200 `{}`, no auth, no database) behind the host check
that Django's CommonMiddleware makes on every request, with DEBUG off as empi-infra deploys it.

ALLOWED_HOSTS is the JSON list in EMPI_ALLOWED_HOSTS: the test passes exactly what empi-infra
writes to the config's `django.allowed_hosts`. Served by gunicorn like upstream's `api` mode:

    gunicorn --bind 127.0.0.1:PORT --chdir scripts/local_cloud django_health:application
"""

import json
import os

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="tests-only",
    ALLOWED_HOSTS=json.loads(os.environ["EMPI_ALLOWED_HOSTS"]),
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
    ],
    INSTALLED_APPS=[],
    DATABASES={},
)

from django.core.wsgi import get_wsgi_application  # noqa: E402 (after settings)
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.http import require_GET  # noqa: E402


@require_GET
def health_check(request):
    return JsonResponse({})


urlpatterns = [path("api/v1/health-check", health_check)]

application = get_wsgi_application()
