"""Comments with known duplicates: two bugs told ten ways each, and unrelated noise."""

from __future__ import annotations

PDF_EXPORT = [
    "Export to PDF fails with an error",
    "PDF export is broken, I get an error every time",
    "When I export the chat to PDF it fails",
    "Exporting to PDF does not work anymore",
    "pdf export fails :(",
    "Can't export my conversation as PDF, export fails",
    "The PDF export button gives an error",
    "export to pdf broken since yesterday",
    "PDF exports fail with error 500",
    "Tried to export a PDF, it failed again",
]

LOGIN_LOOP = [
    "Login keeps redirecting me back to the login page",
    "I am stuck in a login loop after signing in",
    "After login it redirects to the login page again",
    "Login redirect loop on Safari",
    "Can't log in, the login page keeps coming back",
    "login loop: signing in sends me back to login",
    "Every time I sign in I land on the login page again",
    "Stuck in a redirect loop at login",
    "The login page loops forever after I enter my password",
    "login keeps looping back to the login screen",
]

NOISE = [
    "The answers are great, thanks!",
    "Please add a dark mode",
    "Response was too slow today",
    "Wrong information about the refund policy",
    "I would like keyboard shortcuts",
]
