#!/bin/sh
# Container entrypoint. With no arguments: apply migrations, then serve the ASGI app on $PORT.
# With arguments, run them instead (e.g. `docker compose run --rm web python manage.py createsuperuser`).
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

# Without the statement timeout of the serving process: a migration may rewrite a large table.
DATABASE_STATEMENT_TIMEOUT_SECONDS=0 python manage.py migrate --noinput

# The server (uvicorn; see chatsite/serve.py). The client's address and scheme behind a proxy are the
# application's business (TRUSTED_PROXY_COUNT, SECURE_PROXY_SSL_HEADER), never the server's.
exec python -m chatsite.serve --host 0.0.0.0 --port "${PORT:-3000}"
