#!/bin/sh
# Container entrypoint. With no arguments: apply migrations, then serve the ASGI app with daphne on $PORT.
# With arguments, run them instead (e.g. `docker compose run --rm web python manage.py createsuperuser`).
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

# Without the statement timeout of the serving process: a migration may rewrite a large table.
DATABASE_STATEMENT_TIMEOUT_SECONDS=0 python manage.py migrate --noinput

# --proxy-headers makes daphne take the client address from the first X-Forwarded-For entry, which the client
# controls, and the scheme from X-Forwarded-Proto. Use it only behind proxies (TRUSTED_PROXY_COUNT >= 1), never
# when the port is reached directly, or anyone could pick the address the per-IP free-message limit counts.
if [ "${TRUSTED_PROXY_COUNT:-0}" -gt 0 ] 2>/dev/null; then
    set -- --proxy-headers
fi

exec daphne -b 0.0.0.0 -p "${PORT:-3000}" "$@" chatsite.asgi:application
