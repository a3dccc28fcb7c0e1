"""The HTTP layer (Starlette): parse, call the provider, render. No protocol rule lives here."""
