"""The toolkit's own URLs under ``/o/`` (``/o/token/``, ``/o/introspect/``), as its
tutorial mounts them."""

from django.urls import include, path

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
]
