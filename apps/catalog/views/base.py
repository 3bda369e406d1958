"""Catalog pages: the capabilities they require."""

from __future__ import annotations

from apps.core.roles import Cap

VIEW = Cap.CATALOG_VIEW
EDIT = Cap.CATALOG_EDIT
