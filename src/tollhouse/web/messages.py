"""The words on the pages, per locale (OIDC Core §3.1.2.1 ``ui_locales``).

A page's locale is the first of the request's ``ui_locales`` that we have, else the
best of the browser's ``Accept-Language`` (RFC 9110 §12.5.4), else English. Every
locale has every key (a test checks it); a missing key falls back to English.

To add a locale: copy the ``en`` dictionary, translate the values (keep the
``{placeholders}``), add it to ``CATALOGUES``; discovery's ``ui_locales_supported``
lists it from ``LOCALES``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tollhouse.web import mfa_messages

DEFAULT_LOCALE = "en"

EN: dict[str, str] = {
    "login.title": "Sign in",
    "login.heading": "Sign in",
    "login.continue_to": "to continue to {client}",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.failed": "Incorrect username or password.",
    "login.locked": "Too many sign-in attempts. Wait {wait} and try again.",
    "login.busy": "The server is busy with other sign-ins. Wait {wait} and try again.",
    "login.reauthenticate": "Please sign in again to continue.",
    "wait.seconds": "{n} seconds",
    "wait.second": "1 second",
    "wait.minutes": "{n} minutes",
    "wait.minute": "1 minute",
    "consent.title": "Allow access",
    "consent.heading": "Allow access?",
    "consent.wants": "{client} wants to access your account.",
    "consent.wants_api": "{client} wants to access your account on {api}.",
    "consent.signed_in_as": "You are signed in as {user}.",
    "consent.asks": "It asks to:",
    "consent.return_to": "If you allow, you will be sent back to {host}.",
    "consent.allow": "Allow",
    "consent.deny": "Deny",
    "consent.third_party": (
        "{client} was registered by a third party, not by {site}: nobody has checked it. "
        "Allow only if you trust {host}."
    ),
    "scope.openid": "Know who you are (your account identifier)",
    "scope.profile": "See your name and username",
    "scope.email": "See your email address",
    "scope.offline_access": "Keep access when you are not signed in",
    "logout.title": "Sign out",
    "logout.heading": "Sign out?",
    "logout.explain": (
        "You will be signed out of every application that uses this account in this browser."
    ),
    "logout.submit": "Sign out",
    "logout.expired": "The sign-out form expired; try again.",
    "signed_out.title": "Signed out",
    "signed_out.heading": "You are signed out",
    "signed_out.close": "You can close this window.",
    "leaving.title": "Leaving this site",
    "leaving.heading": "You are leaving {site}",
    "leaving.explain": "You are leaving {site} for {host}, registered by a third party.",
    "leaving.unchecked": (
        "{site} has not checked this application or where it sends you. Continue only if "
        "you trust {host}."
    ),
    "leaving.continue": "Continue to {host}",
    "error.title": "This sign-in link cannot be used",
    "error.sent": "What was sent",
    "error.registered": (
        "Registered redirect URIs for this client (shown because the server runs in "
        "loopback development mode):"
    ),
    "error.reference": (
        "Error {code}. Correlation id: {request_id} — give it to the operator; "
        "it finds the log line."
    ),
    "error.no_interaction": "This page needs a pending sign-in request; start again from the app.",
    "error.interaction_expired": (
        "This sign-in request has expired or was already completed; start again from the app."
    ),
    "error.client_gone": "The application of this sign-in request no longer exists.",
    "error.form_expired": (
        "The form expired or was not sent from this browser; start again from the app."
    ),
    "error.wrong_browser": (
        "This sign-in was started in another browser or has expired; start again from the app."
    ),
    "busy.title": "Please wait",
    "busy.message": "Too many requests from your network. Wait {wait} and try again.",
    "device.title": "Connect a device",
    "device.heading": "Connect a device",
    "device.intro": "Enter the code your device shows.",
    "device.label": "Code",
    "device.submit": "Continue",
    "device.confirm": "Check that this is the code your device shows, then continue.",
    "device.wrong": "That code is not valid. Check it and try again.",
    "device.locked": "Too many attempts. Wait {wait} and try again.",
    "device.approved": "Your device is connected. You can return to it now.",
    "device.denied": "You denied access. The device will not be connected.",
    "device.expired": (
        "This request has expired or was already answered. Start again on the device."
    ),
    "consent.device_from": (
        "The device asked from {ip} ({agent}). Allow only a device you have in front of you."
    ),
}

DE: dict[str, str] = {
    "login.title": "Anmelden",
    "login.heading": "Anmelden",
    "login.continue_to": "um mit {client} fortzufahren",
    "login.username": "Benutzername",
    "login.password": "Passwort",
    "login.submit": "Anmelden",
    "login.failed": "Benutzername oder Passwort ist falsch.",
    "login.locked": "Zu viele Anmeldeversuche. Warten Sie {wait} und versuchen Sie es erneut.",
    "login.busy": (
        "Der Server ist mit anderen Anmeldungen beschäftigt. Warten Sie {wait} und versuchen "
        "Sie es erneut."
    ),
    "login.reauthenticate": "Bitte melden Sie sich erneut an, um fortzufahren.",
    "wait.seconds": "{n} Sekunden",
    "wait.second": "1 Sekunde",
    "wait.minutes": "{n} Minuten",
    "wait.minute": "1 Minute",
    "consent.title": "Zugriff erlauben",
    "consent.heading": "Zugriff erlauben?",
    "consent.wants": "{client} möchte auf Ihr Konto zugreifen.",
    "consent.wants_api": "{client} möchte auf Ihr Konto bei {api} zugreifen.",
    "consent.signed_in_as": "Sie sind angemeldet als {user}.",
    "consent.asks": "Die Anwendung möchte:",
    "consent.return_to": "Wenn Sie zustimmen, werden Sie zu {host} zurückgeleitet.",
    "consent.allow": "Erlauben",
    "consent.deny": "Ablehnen",
    "consent.third_party": (
        "{client} wurde von einem Dritten registriert, nicht von {site}; niemand hat die "
        "Anwendung geprüft. Erlauben Sie den Zugriff nur, wenn Sie {host} vertrauen."
    ),
    "scope.openid": "Wissen, wer Sie sind (Ihre Konto-Kennung)",
    "scope.profile": "Ihren Namen und Benutzernamen sehen",
    "scope.email": "Ihre E-Mail-Adresse sehen",
    "scope.offline_access": "Zugriff behalten, auch wenn Sie nicht angemeldet sind",
    "logout.title": "Abmelden",
    "logout.heading": "Abmelden?",
    "logout.explain": (
        "Sie werden in diesem Browser von allen Anwendungen abgemeldet, die dieses Konto nutzen."
    ),
    "logout.submit": "Abmelden",
    "logout.expired": "Das Abmeldeformular ist abgelaufen; bitte erneut versuchen.",
    "signed_out.title": "Abgemeldet",
    "signed_out.heading": "Sie sind abgemeldet",
    "signed_out.close": "Sie können dieses Fenster schließen.",
    "leaving.title": "Sie verlassen diese Seite",
    "leaving.heading": "Sie verlassen {site}",
    "leaving.explain": (
        "Sie verlassen {site} und wechseln zu {host}, registriert von einem Dritten."
    ),
    "leaving.unchecked": (
        "{site} hat diese Anwendung und ihr Ziel nicht geprüft. Fahren Sie nur fort, wenn "
        "Sie {host} vertrauen."
    ),
    "leaving.continue": "Weiter zu {host}",
    "error.title": "Dieser Anmeldelink kann nicht verwendet werden",
    "error.sent": "Gesendet wurde",
    "error.registered": (
        "Registrierte Weiterleitungs-URIs dieses Clients (angezeigt, weil der Server im "
        "lokalen Entwicklungsmodus läuft):"
    ),
    "error.reference": (
        "Fehler {code}. Korrelations-ID: {request_id} — geben Sie sie dem Betreiber; "
        "sie findet die Protokollzeile."
    ),
    "error.no_interaction": (
        "Diese Seite braucht eine laufende Anmeldung; beginnen Sie erneut in der Anwendung."
    ),
    "error.interaction_expired": (
        "Diese Anmeldung ist abgelaufen oder wurde schon abgeschlossen; beginnen Sie erneut "
        "in der Anwendung."
    ),
    "error.client_gone": "Die Anwendung dieser Anmeldung gibt es nicht mehr.",
    "error.form_expired": (
        "Das Formular ist abgelaufen oder wurde nicht aus diesem Browser gesendet; beginnen "
        "Sie erneut in der Anwendung."
    ),
    "error.wrong_browser": (
        "Diese Anmeldung wurde in einem anderen Browser begonnen oder ist abgelaufen; "
        "beginnen Sie erneut in der Anwendung."
    ),
    "busy.title": "Bitte warten",
    "busy.message": (
        "Zu viele Anfragen aus Ihrem Netzwerk. Warten Sie {wait} und versuchen Sie es erneut."
    ),
    "device.title": "Gerät verbinden",
    "device.heading": "Gerät verbinden",
    "device.intro": "Geben Sie den Code ein, den Ihr Gerät anzeigt.",
    "device.label": "Code",
    "device.submit": "Weiter",
    "device.confirm": "Prüfen Sie, ob Ihr Gerät diesen Code anzeigt, und fahren Sie dann fort.",
    "device.wrong": "Dieser Code ist ungültig. Prüfen Sie ihn und versuchen Sie es erneut.",
    "device.locked": "Zu viele Versuche. Warten Sie {wait} und versuchen Sie es erneut.",
    "device.approved": "Ihr Gerät ist verbunden. Sie können zu ihm zurückkehren.",
    "device.denied": "Sie haben den Zugriff abgelehnt. Das Gerät wird nicht verbunden.",
    "device.expired": (
        "Diese Anfrage ist abgelaufen oder wurde schon beantwortet. Beginnen Sie erneut am Gerät."
    ),
    "consent.device_from": (
        "Das Gerät fragte von {ip} ({agent}). Erlauben Sie nur ein Gerät, das vor Ihnen steht."
    ),
}

EN.update(mfa_messages.EN)
DE.update(mfa_messages.DE)

CATALOGUES: dict[str, dict[str, str]] = {"en": EN, "de": DE}
LOCALES: tuple[str, ...] = tuple(CATALOGUES)
"""What discovery lists as ``ui_locales_supported``."""


@dataclass(frozen=True, slots=True)
class Messages:
    """The catalogue of one locale; call it with a key and the placeholders' values."""

    locale: str

    def __call__(self, key: str, **values: object) -> str:
        text = CATALOGUES[self.locale].get(key) or EN[key]
        return text.format(**values) if values else text

    def scope(self, scope: str, description: str | None = None) -> str | None:
        """Plain words for a scope: the standard ones, else the description its API
        gave it; None when there is neither (the page then shows the name alone)."""
        key = f"scope.{scope}"
        if key in EN:
            return self(key)
        return description

    def wait(self, seconds: int) -> str:
        """A Retry-After delay in words, rounded up to minutes past one minute."""
        if seconds < 60:
            return self("wait.second") if seconds == 1 else self("wait.seconds", n=seconds)
        minutes = -(-seconds // 60)
        return self("wait.minute") if minutes == 1 else self("wait.minutes", n=minutes)


def _primary(tag: str) -> str:
    return tag.strip().split("-")[0].split("_")[0].lower()


def _accept_language(header: str) -> list[str]:
    """RFC 9110 §12.5.4 language ranges, best first (``q=0`` means "not this one")."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag.strip() and quality > 0:
            ranked.append((-quality, position, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(ui_locales: str | None, accept_language: str | None) -> str:
    """The page locale: ``ui_locales`` first, then ``Accept-Language``, then English."""
    candidates: Iterable[str] = [
        *(ui_locales or "").split()[:10],
        *_accept_language(accept_language or ""),
    ]
    for tag in candidates:
        if tag == "*":
            return DEFAULT_LOCALE
        if _primary(tag) in CATALOGUES:
            return _primary(tag)
    return DEFAULT_LOCALE


def messages_for(ui_locales: str | None, accept_language: str | None) -> Messages:
    return Messages(negotiate(ui_locales, accept_language))
