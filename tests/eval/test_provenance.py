"""Run variants, settings slugs, run status and comparability reasons."""

from ddspfx.eval.provenance import metrics_filename, not_comparable_reasons, run_status, settings_slug, variant_of


def test_variant_keeps_only_model_changing_overrides():
    overrides = [
        "trainer.seed=2", "+trainer.seed=3", "trainer.device=cuda", "hydra.run.dir=x", "experiment=fm/deter",
        "smoke=fm", "data.root=/drums", "source.root=/music", "preset=a", "trainer.resume=true",
        "trainer.epochs=20", "head=gaussian", "+head.extra=1", "data.test_size=100",
    ]
    assert variant_of(overrides) == "+head.extra=1,data.test_size=100,head=gaussian,trainer.epochs=20"
    assert variant_of([]) == "" and variant_of(["trainer.seed=1"]) == ""
    assert variant_of(["trainer.seeds=1"]) == "trainer.seeds=1"  # a prefix only matches before "."


def test_settings_slug_names_the_settings():
    assert metrics_filename({}) == "metrics.json"
    assert metrics_filename({"checkpoint": "last", "data": {"test_size": 100}}) == "metrics_checkpoint-last_test_size-100.json"
    assert settings_slug({"data": {"presets": ["banks/rom1a.syx", "banks/rom1b.syx"]}}) == "presets-rom1a.syx+rom1b.syx"
    assert settings_slug({"overrides": {"evaluation": {"map_samples": 100}}, "seed": 1}) == "evaluation.map_samples-100_seed-1"
    long = settings_slug({"overrides": {f"key{i}": "x" * 10 for i in range(10)}})
    other = settings_slug({"overrides": {f"key{i}": "x" * 10 for i in range(11)}})
    assert len(long) <= 80 and long != other


def test_run_status():
    assert run_status({"epoch": 10, "epoch_step": 0, "config": {"epochs": 10}})["status"] == "finished"
    assert run_status({"epoch": 9, "epoch_step": 0, "config": {"epochs": 10}})["status"] == "interrupted"
    assert run_status({"epoch": 10, "epoch_step": 3, "config": {"epochs": 10}})["status"] == "interrupted"
    assert run_status({"epoch": 3})["status"] == "unknown"


def test_reasons_follow_the_record():
    assert not_comparable_reasons({"comparable": True, "not_comparable": []}) == []
    assert not_comparable_reasons({"quick": True}) == ["quick run"]
    assert not_comparable_reasons({"status": "interrupted", "epochs_done": 3, "epochs": 10}) == ["interrupted at epoch 3/10"]
    assert not_comparable_reasons({"comparable": False}) == ["marked comparable: false"]
    assert not_comparable_reasons({"not_comparable": ["evaluated with data.test_size=4"], "comparable": False}) == [
        "evaluated with data.test_size=4"
    ]
