"""Placeholder router for the learning area (filled by its own work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
