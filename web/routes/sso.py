"""Placeholder router for the sso area (filled by its own work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
