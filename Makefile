# The story of this project in commands. `make run` serves it, `make test` proves it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
export DJANGO_DEBUG ?= 1

.PHONY: run install install-dev test test-e2e-deps lint format typecheck migrations-check bench vendor clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python -m chatsite.serve --port $(PORT)

tests/node_modules/.installed: tests/package.json tests/package-lock.json
	cd tests && npm ci --silent --no-audit --no-fund
	touch $@

test-e2e-deps: tests/node_modules/.installed

test: install-dev test-e2e-deps
	$(BIN)/python manage.py makemigrations --check --dry-run > /dev/null
	$(BIN)/pytest $(PYTEST_ARGS)

APPS := chatsite usage chats messaging accounts web

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/flake8 --select CFQ001 --max-function-length 40 --exclude migrations $(APPS)
	$(BIN)/python manage.py makemigrations --check --dry-run > /dev/null

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install-dev
	$(BIN)/mypy

migrations-check: install-dev
	$(BIN)/python manage.py makemigrations --check --dry-run

bench: install-dev
	$(BIN)/python bench/stream_overhead.py

# The web client's Socket.IO library, copied from the npm package of the version tests/package.json pins (the
# one the Node end-to-end clients use), so the page needs no build step and no CDN.
VENDOR := web/static/web/vendor
vendor:
	@version=$$(node -p "require('./tests/package.json').dependencies['socket.io-client']") && \
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd "$$tmp" && npm pack --silent "socket.io-client@$$version" > /dev/null && tar -xzf socket.io-client-*.tgz) && \
	cp "$$tmp/package/dist/socket.io.esm.min.js" $(VENDOR)/socket.io.esm.min.js && \
	cp "$$tmp/package/LICENSE" $(VENDOR)/socket.io-client.LICENSE && \
	printf 'socket.io-client %s (MIT) from npm: dist/socket.io.esm.min.js\nsha256 %s\n' "$$version" \
	  "$$(sha256sum $(VENDOR)/socket.io.esm.min.js | cut -d' ' -f1)" > $(VENDOR)/socket.io-client.VERSION && \
	cat $(VENDOR)/socket.io-client.VERSION

clean:
	rm -rf $(VENV) tests/node_modules db.sqlite3 db.sqlite3-*
