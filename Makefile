PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: demo demo-mastering demo-remap test install bench clean

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --upgrade pip -q
	$(PY) -m pip install -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) train_fm.py trainer.device=cpu
	$(PY) evaluate.py run=$$(ls -td outputs/fm/default/*/ | head -n 1)

demo-mastering: $(STAMP)
	$(PY) train_mastering.py trainer.device=cpu
	$(PY) evaluate.py run=$$(ls -td outputs/mastering/default/*/ | head -n 1)

demo-remap: $(STAMP)
	$(PY) train_remap.py trainer.device=cpu
	$(PY) evaluate.py run=$$(ls -td outputs/remap/default/*/ | head -n 1)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) scripts/bench.py

clean:
	rm -rf outputs multirun .pytest_cache
