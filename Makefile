# The README's two commands: `make app` and `make test`. Both set up what they need first.
.PHONY: app test lint bench setup

setup:
	@scripts/setup.sh

app: setup
	@.venv/bin/python -m dashboard.launch

test:
	@scripts/setup.sh --system
	@.venv/bin/ruff check core dashboard tests bench
	@.venv/bin/python -m pytest $(PYTEST_ARGS)

lint: setup
	@.venv/bin/ruff check core dashboard tests bench
	@.venv/bin/mypy

bench: setup
	@for b in bench/*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done
