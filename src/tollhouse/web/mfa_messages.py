"""The words of the second-factor pages (sign-in step, enrolment, account security),
merged into the catalogues of web/messages.py."""

from __future__ import annotations

EN: dict[str, str] = {
    "otp.title": "Verification code",
    "otp.heading": "Enter your verification code",
    "otp.explain": "Open your authenticator app and enter the 6-digit code for {site}.",
    "otp.field": "Verification code",
    "otp.recovery_hint": "Lost your device? Enter one of your recovery codes instead.",
    "otp.submit": "Verify",
    "otp.failed": "That code is not valid. Codes work once; wait for the next one.",
    "enroll.title": "Set up two-step verification",
    "enroll.heading": "Set up two-step verification",
    "enroll.explain": (
        "Signing in here needs a second step. Scan this QR code with an authenticator "
        "app, then enter the code it shows."
    ),
    "enroll.explain_account": (
        "Scan this QR code with an authenticator app, then enter the code it shows. "
        "Until you confirm, you have no authenticator."
    ),
    "enroll.secret": "Or type this key into the app:",
    "enroll.qr": "QR code for your authenticator app",
    "enroll.submit": "Confirm and continue",
    "account.title": "Account security",
    "account.heading": "Account security",
    "account.signed_in_as": "Signed in as {user}",
    "account.totp_on": "Two-step verification is on.",
    "account.totp_off": "Two-step verification is off.",
    "account.enroll": "Set up an authenticator app",
    "account.replace": "Replace the authenticator app",
    "account.confirmed": "Your authenticator app is set up.",
    "account.recovery_left": "Recovery codes left: {n}",
    "account.recovery_create": "Create new recovery codes",
    "account.recovery_shown": (
        "Your recovery codes. Keep them somewhere safe: each works once, and they are "
        "shown only now."
    ),
    "account.sign_in_first": "Sign in first to manage your account security.",
    "account.passkeys": "Passkeys: {n}",
    "account.passkey_add": "Add a passkey",
    "account.passkey_added": "Your passkey is added.",
    "account.passkey_failed": "The passkey could not be added; try again.",
    "passkey.use": "Use a passkey",
    "passkey.browser_failed": (
        "The passkey did not work in this browser. Try again, or enter a code."
    ),
    "passkey.sign_in": "Sign in with a passkey",
    "passkey.sign_in_title": "Sign in with a passkey",
    "passkey.sign_in_heading": "Sign in with a passkey",
    "passkey.sign_in_explain": (
        "Choose Sign in with a passkey and follow your browser: your fingerprint, face, "
        "PIN or security key signs you in to {site}, no password needed."
    ),
    "passkey.sign_in_failed": "That passkey did not sign you in. Try again or use your password.",
    "passkey.sign_in_browser_failed": (
        "The passkey did not work in this browser. Try again, or use your password."
    ),
    "passkey.use_password": "Use my password instead",
    "passkey.needed": "This application needs you to sign in with a passkey.",
    "otp.passkey_heading": "Confirm with your passkey",
    "otp.passkey_explain": (
        "Choose Use a passkey and follow your browser (fingerprint, face, PIN or security key)."
    ),
    "otp.recovery_field": "Or a recovery code",
    "account.step_up": (
        "To change your second factor, sign in again with it (this session used the password only)."
    ),
}

DE: dict[str, str] = {
    "otp.title": "Bestätigungscode",
    "otp.heading": "Bestätigungscode eingeben",
    "otp.explain": (
        "Öffnen Sie Ihre Authenticator-App und geben Sie den 6-stelligen Code für {site} ein."
    ),
    "otp.field": "Bestätigungscode",
    "otp.recovery_hint": (
        "Gerät verloren? Geben Sie stattdessen einen Ihrer Wiederherstellungscodes ein."
    ),
    "otp.submit": "Bestätigen",
    "otp.failed": (
        "Dieser Code ist ungültig. Jeder Code gilt einmal; warten Sie auf den nächsten."
    ),
    "enroll.title": "Bestätigung in zwei Schritten einrichten",
    "enroll.heading": "Bestätigung in zwei Schritten einrichten",
    "enroll.explain": (
        "Die Anmeldung hier braucht einen zweiten Schritt. Scannen Sie diesen QR-Code mit "
        "einer Authenticator-App und geben Sie den angezeigten Code ein."
    ),
    "enroll.explain_account": (
        "Scannen Sie diesen QR-Code mit einer Authenticator-App und geben Sie den "
        "angezeigten Code ein. Bis Sie bestätigen, haben Sie keine Authenticator-App."
    ),
    "enroll.secret": "Oder geben Sie diesen Schlüssel in der App ein:",
    "enroll.qr": "QR-Code für Ihre Authenticator-App",
    "enroll.submit": "Bestätigen und fortfahren",
    "account.title": "Kontosicherheit",
    "account.heading": "Kontosicherheit",
    "account.signed_in_as": "Angemeldet als {user}",
    "account.totp_on": "Die Bestätigung in zwei Schritten ist eingeschaltet.",
    "account.totp_off": "Die Bestätigung in zwei Schritten ist ausgeschaltet.",
    "account.enroll": "Authenticator-App einrichten",
    "account.replace": "Authenticator-App ersetzen",
    "account.confirmed": "Ihre Authenticator-App ist eingerichtet.",
    "account.recovery_left": "Verbleibende Wiederherstellungscodes: {n}",
    "account.recovery_create": "Neue Wiederherstellungscodes erstellen",
    "account.recovery_shown": (
        "Ihre Wiederherstellungscodes. Bewahren Sie sie sicher auf: Jeder gilt einmal, "
        "und sie werden nur jetzt angezeigt."
    ),
    "account.sign_in_first": "Melden Sie sich zuerst an, um Ihre Kontosicherheit zu verwalten.",
    "account.passkeys": "Passkeys: {n}",
    "account.passkey_add": "Passkey hinzufügen",
    "account.passkey_added": "Ihr Passkey ist hinzugefügt.",
    "account.passkey_failed": (
        "Der Passkey konnte nicht hinzugefügt werden; versuchen Sie es erneut."
    ),
    "passkey.use": "Passkey verwenden",
    "passkey.browser_failed": (
        "Der Passkey hat in diesem Browser nicht funktioniert. Versuchen Sie es erneut oder "
        "geben Sie einen Code ein."
    ),
    "passkey.sign_in": "Mit Passkey anmelden",
    "passkey.sign_in_title": "Mit Passkey anmelden",
    "passkey.sign_in_heading": "Mit Passkey anmelden",
    "passkey.sign_in_explain": (
        "Wählen Sie „Mit Passkey anmelden“ und folgen Sie Ihrem Browser: Fingerabdruck, "
        "Gesicht, PIN oder Sicherheitsschlüssel melden Sie ohne Passwort bei {site} an."
    ),
    "passkey.sign_in_failed": (
        "Dieser Passkey hat Sie nicht angemeldet. Versuchen Sie es erneut oder nutzen Sie "
        "Ihr Passwort."
    ),
    "passkey.sign_in_browser_failed": (
        "Der Passkey hat in diesem Browser nicht funktioniert. Versuchen Sie es erneut oder "
        "nutzen Sie Ihr Passwort."
    ),
    "passkey.use_password": "Stattdessen mit Passwort",
    "passkey.needed": "Diese Anwendung verlangt eine Anmeldung mit Passkey.",
    "otp.passkey_heading": "Mit Ihrem Passkey bestätigen",
    "otp.passkey_explain": (
        "Wählen Sie „Passkey verwenden“ und folgen Sie Ihrem Browser (Fingerabdruck, "
        "Gesicht, PIN oder Sicherheitsschlüssel)."
    ),
    "otp.recovery_field": "Oder ein Wiederherstellungscode",
    "account.step_up": (
        "Um Ihren zweiten Faktor zu ändern, melden Sie sich erneut mit ihm an (diese "
        "Sitzung wurde nur mit dem Passwort angemeldet)."
    ),
}
