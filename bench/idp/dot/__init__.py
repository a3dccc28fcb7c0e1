"""A Django project serving django-oauth-toolkit, for bench/run.py's Python peer."""
