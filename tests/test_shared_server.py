"""A shared `mlflow server` is the source of truth: two machines, one tracking server.

Machine A (a work folder) runs the v1 cycle of a tiny policy against the server, and its
work folder is then deleted. Machine B (another, empty work folder) audits and reports the
cycle and runs the v2 update cycle from what the server holds alone: the champion is found
through the registry alias and downloaded as a registered `transformers` model. The
champion also loads with MLflow's own loaders, carries a model card and no pickles; the
cycle's outcome sits on its parent run; the MLflow UI shows it in headless Chromium.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import CHROMIUM, chromium, run_cli

pytest_plugins = ["tiny_models", "mlflow_server"]
pytestmark = pytest.mark.slow  # two training cycles on CPU: a few minutes

FIXTURES = Path(__file__).parent / "fixtures" / "cycle"
POLICY_ID = "tiny-update"
CHAMPION_URI = f"models:/{POLICY_ID}@champion"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"PK")  # pickle protocols, torch zip


@pytest.fixture(scope="module")
def machines(mlflow_server, tmp_path_factory, torch_one_thread):
    """Run A's cycle, delete A, then B's audit, report and update cycle; returns their results."""
    from tiny_models import build_tiny_llama

    url, server_tmp = mlflow_server
    tmp = tmp_path_factory.mktemp("two-machines")
    # The base model stands for a Hub id: both machines have it, neither has the other's work.
    model = build_tiny_llama(tmp / "llama", stop_words=(".", "!", "?"))
    common = ["--base-model", str(model), "--max-steps", "4"]
    a, b = tmp / "machine-a", tmp / "machine-b"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", url)
        first = run_cli(["compile-and-train", str(FIXTURES / "update-v1.policy"), *common,
                         "--work-dir", str(a)])
        shutil.rmtree(a)
        results = {"first": first,
                   "audit": run_cli(["audit", POLICY_ID, "--work-dir", str(b)]),
                   "lineage": run_cli(["audit", POLICY_ID, "--model", f"{POLICY_ID}@champion",
                                       "--work-dir", str(b)]),
                   "report": run_cli(["report", POLICY_ID, "--out", str(b / "report.html"),
                                      "--work-dir", str(b)]),
                   "second": run_cli(["compile-and-train", str(FIXTURES / "update-v2.policy"), *common,
                                      "--work-dir", str(b)])}
    return {**results, "url": url, "server": server_tmp, "b": b}


@pytest.fixture(scope="module")
def client(machines):
    from mlflow import MlflowClient

    return MlflowClient(machines["url"], registry_uri=machines["url"])


def _cycles(client) -> list:
    """The parent runs of the policy's cycles, oldest first."""
    experiment = client.get_experiment_by_name(f"tenet/{POLICY_ID}")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def test_first_machine_logs_every_artifact_to_the_server(machines, client):
    code, out, err = machines["first"]
    assert code == 0, err
    assert "promoted to champion" in out
    experiment = client.get_experiment_by_name(f"tenet/{POLICY_ID}")
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # the server chose it
    first = _cycles(client)[0]
    assert first.info.artifact_uri.startswith("mlflow-artifacts:")
    stored = {p.name for p in (machines["server"] / "artifacts").rglob("*") if p.is_file()}
    assert {"artifact.json", "model.safetensors", "MLmodel", "model_card.md", "gates.json"} <= stored


def test_second_machine_audits_and_reports_from_the_server_alone(machines, client):
    first = _cycles(client)[0]
    code, out, err = machines["audit"]
    assert code == 0, err
    assert first.info.run_id[:8] in out
    code, out, err = machines["lineage"]
    assert code == 0, err
    assert f"model {POLICY_ID}/1" in out and first.info.run_id in out
    code, out, err = machines["report"]
    assert code == 0, err
    html = (machines["b"] / "report.html").read_text(encoding="utf-8")
    assert POLICY_ID in html and "no-bad" in html


def test_second_machine_continues_from_the_registered_champion(machines, client):
    code, out, err = machines["second"]
    assert code == 0, err
    first, second = _cycles(client)[:2]
    assert f"update of champion run {first.info.run_id}" in out
    assert second.data.tags["tenet.cycle.start"] == "champion v1"
    children = client.search_runs([second.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{second.info.run_id}'")
    train = next(r for r in children if r.data.tags.get("tenet.stage") == "train")
    downloaded = machines["b"] / "cache" / "champions" / first.info.run_id
    # Recorded inside the work folder, not where that folder lies on machine B.
    assert train.data.params["train.start_model"] == f"<work>/cache/champions/{first.info.run_id}"
    assert downloaded.is_dir()
    assert not (downloaded / "training_args.bin").exists()
    # Nothing of the store lives on machine B: no SQLite file, no local artifact folder.
    assert not list(machines["b"].glob("mlflow.db")) and not list(machines["b"].glob("mlartifacts"))


def test_champion_loads_as_a_transformers_pipeline_and_a_chat_pyfunc(machines):
    import mlflow

    mlflow.set_tracking_uri(machines["url"])
    generator = mlflow.transformers.load_model(CHAMPION_URI)
    assert generator.task == "text-generation"
    answer = generator("hello world", max_new_tokens=4)
    assert isinstance(answer[0]["generated_text"], str)
    chat = mlflow.pyfunc.load_model(CHAMPION_URI)
    reply = chat.predict({"messages": [{"role": "user", "content": "hello"}], "max_tokens": 4})
    assert reply[0]["choices"][0]["message"]["role"] == "assistant"


def test_registered_model_has_a_model_card_and_no_pickles(machines, client, tmp_path):
    import mlflow

    version = client.get_model_version_by_alias(POLICY_ID, "champion")
    run = client.get_run(version.run_id)
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{POLICY_ID}/{version.version}",
                                                      dst_path=str(tmp_path / "champion"),
                                                      tracking_uri=machines["url"]))
    assert "transformers" in (folder / "MLmodel").read_text(encoding="utf-8")
    for path in folder.rglob("*"):
        if path.is_file():
            assert path.suffix not in PICKLE_SUFFIXES, path
            assert path.read_bytes()[:2] not in PICKLE_MAGIC, path
    card = (folder / "model_card.md").read_text(encoding="utf-8")
    policy_version = run.data.tags["tenet.policy.version"]
    assert f"# {POLICY_ID} {policy_version}" in card and run.data.params["policy.hash"] in card
    assert "| short | high |" in card and "| no-bad | critical |" in card
    assert "## Gates" in card and "PASS" in card
    assert f"- cycle run: {version.run_id}" in card and "- previous champion: version 1" in card
    assert version.description.startswith("---")  # the card, shown on the version's page


def test_parent_run_holds_the_cycle_outcome_and_links_the_champion(machines, client):
    experiment = client.get_experiment_by_name(f"tenet/{POLICY_ID}")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    for run in _cycles(client)[:2]:
        metrics = run.data.metrics
        for key in ("before.rule.short", "after.rule.no-bad", "before.severity.critical", "after.overall",
                    "gate.critical.passed", "gate.regression.passed", "pairs.kept", "drift.kl", "cache.hits"):
            assert key in metrics, (key, sorted(metrics))
        assert run.data.tags["tenet.gates"] == "passed"
        version = client.get_model_version(POLICY_ID, run.data.tags["tenet.model.version"])
        # The version's source is the cycle's LoggedModel (SQL registries return no `model_id`).
        assert version.run_id == run.info.run_id and version.source.startswith("models:/m-")
        logged = client.get_logged_model(version.source[len("models:/"):])
        assert logged.source_run_id == run.info.run_id
        assert logged.model_id in {o.model_id for o in run.outputs.model_outputs}
        assert logged.metrics  # the run's summary, shown on the model's page


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium "
                    "(apt-get install chromium); the UI's data was still checked through the API")
def test_mlflow_ui_shows_the_cycles_and_the_champion_in_headless_chromium(machines, client, tmp_path):
    from tenet.runtime.track import UI_WORKFLOW, run_url

    url = machines["url"]
    experiment = client.get_experiment_by_name(f"tenet/{POLICY_ID}")
    first, second = _cycles(client)[:2]
    pages = {"runs": f"{url}/#/experiments/{experiment.experiment_id}?{UI_WORKFLOW}",
             "run": run_url(url, second.info.run_id), "model": f"{url}/#/models/{POLICY_ID}"}
    text = {}
    for name, page in pages.items():
        # The UI is a single-page app: virtual time lets its requests finish before the dump.
        done = chromium("--virtual-time-budget=30000", "--dump-dom", page,
                        profile=tmp_path / f"profile-{name}")
        assert done.returncode == 0, done.stderr[-2000:]
        text[name] = _visible_text(done.stdout)
    # The training view: a runs table with one row per cycle (the GenAI view opens on traces).
    assert "Run Name" in text["runs"], text["runs"][:3000]
    assert first.info.run_name in text["runs"] and second.info.run_name in text["runs"]
    # The cycle's run page: its outcome as metrics, and the model it registered.
    assert "before.rule.short" in text["run"] and "gate.regression.passed" in text["run"], text["run"][:3000]
    assert f"{POLICY_ID} v2" in text["run"]
    assert "Version 1" in text["model"] and "Version 2" in text["model"] and "champion" in text["model"]


def _visible_text(html: str) -> str:
    """The page's text without styles and tags, whitespace collapsed."""
    import re

    text = re.sub(r"<style.*?</style>|<script.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))
