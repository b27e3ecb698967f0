"""The IMS content-packaging manifest (imsmanifest.xml) that SCORM 1.2, SCORM 2004 and Common Cartridge share:
the default organization's item tree and the resources its items point to."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from lxml import etree

from core.errors import ErrorCode, VraagbaakError
from ingest.lms.archive import Archive, resolve_href
from ingest.lms.content import attr, below, kid, kids, langstring, local, parse_xml, path, text

MANIFEST = "imsmanifest.xml"


@dataclass(frozen=True)
class Resource:
    identifier: str
    type: str                   # "webcontent", "imsdt_xmlv1p1", ...
    scormtype: str              # "sco" | "asset" | "" (SCORM only)
    href: str | None            # the launch member, resolved against xml:base; None when absent or external
    query: str                  # the href's query string and fragment, kept for the launch link
    files: tuple[str, ...]      # the <file> members, resolved
    dependencies: tuple[str, ...]
    variant_of: str | None      # Common Cartridge: this resource is a fallback for another one


@dataclass(frozen=True)
class Item:
    """An item that points to a resource: a lesson, with the titles of the modules above it."""

    title: str
    modules: tuple[str, ...]
    ref: str
    parameters: str


@dataclass
class Manifest:
    root: etree._Element
    title: str                  # the organization's title, else the LOM title, else the manifest identifier
    lom_title: str              # the title in the manifest's metadata (what a Common Cartridge calls itself)
    items: list[Item]
    resources: dict[str, Resource]
    schema: str
    schemaversion: str
    namespaces: frozenset[str]
    warnings: list[str] = field(default_factory=list)

    def declared(self) -> set[str]:
        """Every member some resource names (its launch file or one of its files)."""
        names: set[str] = set()
        for resource in self.resources.values():
            names.update(resource.files)
            if resource.href:
                names.add(resource.href)
        return names


def is_cartridge(archive: Archive) -> bool:
    """Whether the package's imsmanifest.xml is a Common Cartridge (not SCORM or a plain IMS package)."""
    name = archive.find(MANIFEST)
    if name != MANIFEST:
        return False
    try:
        head = archive.read(name)[:8192].decode("utf-8", errors="replace")
    except VraagbaakError:
        return False
    return "imscc" in head or "Common Cartridge" in head


def read_manifest(archive: Archive) -> Manifest:
    """Parse imsmanifest.xml; VraagbaakError when it is missing, not XML, or not a manifest."""
    if MANIFEST not in archive.names():
        raise VraagbaakError(ErrorCode.PARSE_FAILED, "the package has no imsmanifest.xml at its root")
    root = parse_xml(archive.read(MANIFEST), MANIFEST)
    if local(root) != "manifest":
        raise VraagbaakError(ErrorCode.PARSE_FAILED,
                             f"{MANIFEST} has root element <{local(root)}>, expected <manifest>")
    warnings: list[str] = []
    base = attr(root, "base") or ""
    resources = _resources(kid(root, "resources"), base, warnings)
    items, org_title = _organization(root, warnings)
    metadata = kid(root, "metadata")
    lom_title = langstring(path(next(below(metadata, "general"), None), "title"))
    namespaces = frozenset(ns for el in root.iter() for ns in (el.nsmap or {}).values() if ns)
    return Manifest(root=root, title=org_title or lom_title or attr(root, "identifier") or "", lom_title=lom_title,
                    items=items, resources=resources, schema=text(kid(metadata, "schema")),
                    schemaversion=text(kid(metadata, "schemaversion")), namespaces=namespaces,
                    warnings=warnings)


def _resources(node: etree._Element | None, base: str, warnings: list[str]) -> dict[str, Resource]:
    resources: dict[str, Resource] = {}
    base = posixpath.join(base, attr(node, "base") or "")
    for element in kids(node, "resource"):
        identifier = attr(element, "identifier") or ""
        own_base = posixpath.join(base, attr(element, "base") or "")
        raw_href = attr(element, "href")
        href = resolve_href(own_base, raw_href) if raw_href else None
        if raw_href and href is None and "://" not in raw_href:
            warnings.append(f"resource '{identifier}': href '{raw_href}' leaves the package; ignored")
        query = ""
        if raw_href and href:
            for mark in ("?", "#"):
                if mark in raw_href:
                    query = raw_href[raw_href.index(mark):]
                    break
        files = []
        for file in kids(element, "file"):
            raw = attr(file, "href") or ""
            resolved = resolve_href(own_base, raw)
            if resolved is None:
                if raw:
                    warnings.append(f"resource '{identifier}': file '{raw}' leaves the package; ignored")
                continue
            files.append(resolved)
        variant = kid(element, "variant")
        resources[identifier] = Resource(
            identifier=identifier, type=attr(element, "type") or "",
            scormtype=(attr(element, "scormtype") or "").lower(),
            href=href, query=query, files=tuple(files),
            dependencies=tuple(attr(d, "identifierref") or "" for d in kids(element, "dependency")),
            variant_of=attr(variant, "identifierref") if variant is not None else None)
    return resources


def _organization(root: etree._Element, warnings: list[str]) -> tuple[list[Item], str]:
    organizations = kid(root, "organizations")
    orgs = kids(organizations, "organization")
    if not orgs:
        return [], ""
    default = attr(organizations, "default")
    chosen = next((o for o in orgs if attr(o, "identifier") == default), None)
    if default and chosen is None:
        warnings.append(f"default organization '{default}' does not exist; read the first one")
    org = chosen if chosen is not None else orgs[0]
    items: list[Item] = []
    _walk(org, (), items)
    return items, text(kid(org, "title"))


def _walk(parent: etree._Element, modules: tuple[str, ...], items: list[Item]) -> None:
    for element in kids(parent, "item"):
        title = text(kid(element, "title"))
        ref = attr(element, "identifierref")
        if ref:
            items.append(Item(title=title, modules=modules, ref=ref, parameters=attr(element, "parameters") or ""))
        _walk(element, modules + (title,) if title else modules, items)


def lesson_path(course_title: str, item: Item, title: str) -> tuple[str, ...]:
    """Course → modules → lesson; a top module that only repeats the course title is left out."""
    modules = item.modules[1:] if item.modules[:1] == (course_title,) else item.modules
    return (course_title, *modules, title)


def launch_link(resource: Resource, parameters: str) -> str | None:
    """The launch file with the resource's query and the item's parameters (SCORM's rules for joining)."""
    if resource.href is None:
        return None
    link = resource.href + resource.query
    parameters = parameters.strip()
    if parameters:
        if parameters.startswith(("?", "#")) and "?" in link:
            parameters = "&" + parameters[1:] if parameters.startswith("?") else parameters
        elif not parameters.startswith(("?", "#")):
            parameters = ("&" if "?" in link else "?") + parameters
        link += parameters
    return link
