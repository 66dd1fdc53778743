"""The shipped demo registry: three centres in Hangzhou, Baotou and Qingdao."""

from __future__ import annotations

from importlib import resources

from rules import Registry, parse_registry

__all__ = ["DEMO_REGISTRY_NAME", "demo_registry", "demo_registry_text"]

DEMO_REGISTRY_NAME = "demo_registry.yaml"


def demo_registry_text() -> str:
    """The YAML of the demo registry, as shipped in the package."""
    return (resources.files("firmware_sims") / "data" / DEMO_REGISTRY_NAME).read_text("utf-8")


def demo_registry() -> Registry:
    """The demo registry, parsed."""
    return parse_registry(demo_registry_text(), f"firmware_sims/data/{DEMO_REGISTRY_NAME}")
