"""The partner API blueprint, mounted at /api/v1."""
from flask import Blueprint

PREFIX = "/api/v1"
bp = Blueprint("api", __name__)
