#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    # A developer's shell has no secret key: let commands (migrate, makemigrations, createsuperuser) run there
    # in debug mode. Where a key is configured, DJANGO_DEBUG keeps its configured value (off by default).
    if "DJANGO_SECRET_KEY" not in os.environ:
        os.environ.setdefault("DJANGO_DEBUG", "1")
    from django.core.management import execute_from_command_line

    from chatsite.env import settings_load_or_exit

    settings_load_or_exit()  # a bad setting: one line naming it, not a traceback
    execute_from_command_line(sys.argv)
