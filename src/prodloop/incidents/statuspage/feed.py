"""An Atom feed (RFC 4287) of the page's incidents, one entry per incident, updated with
each published status update and linking to the incident's own page, as Statuspage's
history.atom is."""

from __future__ import annotations

from html import escape
from xml.etree import ElementTree as ET

from prodloop.incidents.statuspage.model import PublicIncident, PublicPage
from prodloop.incidents.statuspage.statuspage_json import iso

ATOM_NS = "http://www.w3.org/2005/Atom"


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = text
    return element


def _content(incident: PublicIncident) -> str:
    parts = [
        f"<p><small>{escape(iso(update.at) or '')}</small><br>"
        f"<strong>{escape(update.status.capitalize())}</strong> - {escape(update.body)}</p>"
        for update in incident.updates
    ]
    return "".join(parts)


def atom_feed(page: PublicPage) -> bytes:
    """The feed's XML, UTF-8 encoded."""
    feed = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": "en"})
    _text(feed, "id", f"{page.url}/history.atom")
    _text(feed, "title", f"{page.name} - Incident History")
    _text(feed, "updated", iso(page.updated_at) or "")
    ET.SubElement(feed, "link", {"rel": "alternate", "type": "text/html", "href": page.url})
    ET.SubElement(feed, "link", {"rel": "self", "href": f"{page.url}/history.atom"})
    author = ET.SubElement(feed, "author")
    _text(author, "name", page.name)
    for incident in page.incidents:
        url = page.incident_url(incident)
        entry = ET.SubElement(feed, "entry")
        _text(entry, "id", url)
        _text(entry, "title", incident.name)
        _text(entry, "published", iso(incident.created_at) or "")
        _text(entry, "updated", iso(incident.updated_at) or "")
        ET.SubElement(entry, "link", {"rel": "alternate", "type": "text/html", "href": url})
        _text(entry, "content", _content(incident), type="html")
    xml: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return xml
