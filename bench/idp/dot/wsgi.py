"""The WSGI application gunicorn serves (``benchdot.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchdot.settings")

application = get_wsgi_application()
