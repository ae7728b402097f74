# The two commands of the README. Both create .venv and install the pinned dependencies on first use.
VENV := .venv
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test install
run: $(STAMP)  ## every figure of the tiny preset (pass more Snakemake arguments with ARGS="...")
	$(VENV)/bin/snakemake --cores 2 $(ARGS)

test: $(STAMP)  ## the test suite (unit tests, workflow lint and dry runs, a tiny end-to-end run)
	$(VENV)/bin/pytest $(ARGS)

install: $(STAMP)  ## the virtual environment and the pinned dependencies alone (both commands above do it first)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@
