"""Test settings: the real settings with fast password hashing, quick echo and short timers."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("ECHO_DELAY_MS", "2")
os.environ.setdefault("UPSTREAM_MAX_RETRIES", "0")

from chatsite.settings import *  # noqa: F403
from chatsite.settings import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory: end-to-end tests run server processes that must see the test database. One per
    # pytest process, so two runs side by side do not share (and destroy) each other's database.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"chatsite-test-{os.getpid()}.sqlite3")}

if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # This process creates and drops the test database, and DROP DATABASE waits for a checkpoint, which a busy
    # server can make longer than the statement timeout. The servers the tests start keep the default.
    DATABASES["default"]["OPTIONS"] = {**DATABASES["default"]["OPTIONS"], "options": "-c statement_timeout=0"}
