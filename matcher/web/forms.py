"""Form helpers shared by the pages that take a person's answers (families' reports, the
shelter's children): validation errors in the page's language, and the answers kept to show
the form again after a mistake."""

from __future__ import annotations

from pydantic import ValidationError

from matcher.web.i18n import Language


def field_errors(exc: ValidationError, labels: dict[str, str], tr: Language) -> list[str]:
    """Pydantic's errors as "Label: what to fix" in the page's language (the field names a person
    sees, never the API's)."""
    out = []
    for e in exc.errors():
        label = tr.gettext(labels[str(e["loc"][0])]) if str(e["loc"][0]) in labels else str(e["loc"][0])
        kind = e.get("type", "")
        if kind == "missing":
            problem = tr.gettext("this is required.")
        elif kind.startswith("string_too_long"):
            problem = tr.gettext("this is too long.")
        elif kind.startswith(("date", "datetime")):
            problem = tr.gettext("give a date like 2019-06-30.")
        elif kind.startswith(("int", "greater", "less")):
            problem = tr.gettext("give a year like 2015.")
        else:
            problem = tr.gettext("this value cannot be used.")
        out.append(tr.gettext("%(label)s: %(problem)s") % {"label": label, "problem": problem})
    return out


def typed_fields(form) -> dict[str, str]:
    """What a person typed into a form (files and the CSRF token left out), to show the form
    again with their answers after a mistake."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
