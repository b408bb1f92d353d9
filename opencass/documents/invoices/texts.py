"""The invoice's words, in the recipient's language (gettext domain ``invoices``)."""

from __future__ import annotations

from opencass.documents.i18n import Translator, translator
from opencass.documents.invoices.content import ADJUSTMENTS, CHARGES, InvoiceLine

I18N_DOMAIN = "invoices"

__all__ = ["category_name", "default_terms", "line_name", "tr"]


def tr(lang: str) -> Translator:
    """The invoices translator for ``lang``."""
    return translator(lang, I18N_DOMAIN)


def line_name(t: Translator, line: InvoiceLine, airline: str) -> str:
    """ "Air cargo charges, Demo Air AG (997)" and its translations."""
    _ = t.gettext
    if line.side == CHARGES:
        text = _("Air cargo charges, {airline} ({prefix})")
    elif line.side == ADJUSTMENTS:
        text = _("Adjustments, {airline} ({prefix})")
    else:
        text = _("Commission and charges due agent, {airline} ({prefix})")
    return text.format(airline=airline, prefix=line.airline_prefix)


def category_name(t: Translator, category: str) -> str:
    """A VAT category code (UNCL 5305) in words."""
    _ = t.gettext
    names = {
        "S": _("Standard rate"),
        "Z": _("Zero rated"),
        "E": _("Exempt from VAT"),
        "O": _("Not subject to VAT"),
        "AE": _("Reverse charge"),
    }
    return names.get(category, category)


def default_terms(t: Translator) -> str:
    """Payment terms when the country configures none (``{due}`` is Remittance Day)."""
    return t.gettext("Payable through CASS by Remittance Day, {due}.")
