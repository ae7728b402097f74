"""Bad inputs through the real workflow: each is named (file, key, value) before or at its job, with what to do."""

import re
import subprocess

import pytest
import yaml
from conftest import BIN, ROOT, copy_workflow, digits_preset, snakemake, use_preset

pytestmark = pytest.mark.workflow


@pytest.fixture
def workflow(tmp_path):
    return copy_workflow(tmp_path / "wf")


def said(result: subprocess.CompletedProcess) -> str:
    """What Snakemake printed (a dry run prints its errors on stdout, a real run on stderr)."""
    return result.stdout + result.stderr


def test_yaml_error_in_config_yaml_names_file_and_line(workflow):
    config = workflow / "config.yaml"
    lines = config.read_text().splitlines()
    at = lines.index("presets:") + 1
    lines.insert(at, "  bad: [1, 2")
    config.write_text("\n".join(lines) + "\n")
    result = snakemake(workflow, "-n")
    assert result.returncode != 0, said(result)
    assert f"config.yaml:{at + 2}:7: YAML syntax error: expected ',' or ']', but got ':'" in said(result)
    assert f"(while parsing a flow sequence at line {at + 1}, column 8)" in said(result)
    assert "Fix the file there" in said(result)


def test_yaml_error_in_a_configfile_is_found_with_the_readme_command(workflow):
    """Snakemake reads --configfile before the Snakefile, so its message is its own; the README's command names
    the file and line."""
    (workflow / "my.yaml").write_text("preset: tiny\nfoo: [1, 2\nbar: 3\n")
    result = snakemake(workflow, "-n", "--configfile", "my.yaml")
    assert result.returncode != 0 and "Config file is not valid JSON or YAML" in said(result)
    command = re.search(r"\n\.venv/bin/python (-c '[^']*') my\.yaml\n", (ROOT / "README.md").read_text())
    assert command, "README, Configuration: the command that finds a YAML error"
    code = command.group(1)[4:-1]
    found = subprocess.run([str(BIN / "python"), "-c", code, "my.yaml"], cwd=workflow, capture_output=True, text=True)
    assert found.returncode != 0 and 'in "my.yaml", line 3, column 4' in found.stderr


def plan_with(workflow, part: dict) -> subprocess.CompletedProcess:
    """A dry run with ``part`` of the config overridden through --configfile."""
    (workflow / "bad.yaml").write_text(yaml.safe_dump(part))
    return snakemake(workflow, "-n", "--configfile", "bad.yaml")


def test_panel_of_a_column_no_table_has_stops_the_plan(workflow):
    config = yaml.safe_load((workflow / "config.yaml").read_text())
    config["figures"]["iclr_fig02"]["panels"][0]["y"] = "test_error"
    result = plan_with(workflow, {"figures": config["figures"]})
    assert result.returncode != 0
    assert (
        "figures.iclr_fig02.panels[0].y (panel '(a) after the fine-tuning phase'): 'test_error' is not a column of "
        "the train table; did you mean test_err or test_ce?" in said(result)
    )
    assert not (workflow / "results").exists()


def test_misspelt_llm_panel_filter_stops_the_plan(workflow):
    """A filter key that no LLM panel knows was ignored (every run drawn); now it is named with the allowed keys."""
    config = yaml.safe_load((workflow / "config.yaml").read_text())
    config["figures"]["iclr_fig14"]["panels"][0]["precison"] = ["bf16"]
    result = plan_with(workflow, {"figures": config["figures"]})
    assert result.returncode != 0
    title = config["figures"]["iclr_fig14"]["panels"][0]["title"]
    assert f"figures.iclr_fig14.panels[0] (panel {title!r}): unknown key 'precison' (allowed: " in said(result)
    assert "ylim_after); did you mean precision?" in said(result)
    assert not (workflow / "results").exists()


def test_measurement_at_no_checkpoint_stops_the_plan(workflow):
    config = yaml.safe_load((workflow / "config.yaml").read_text())
    measure = [{"measure": "hessian_trace", "weights": ["iterate"], "epochs": [3, 4]}]
    config["presets"]["tiny"]["families"]["V4"]["measure"] = measure
    result = plan_with(workflow, {"presets": config["presets"]})
    assert result.returncode != 0
    assert (
        "presets.tiny.families.V4.measure[0].epochs: epoch 4 of hessian_trace is no checkpoint of the runs it selects "
        "(their checkpoints: 1, 3, 5); measure at those, or add the epoch to the checkpoints of V4" in said(result)
    )


def test_a_damaged_checkpoint_is_named_and_the_advised_forcerun_rebuilds_it(workflow):
    grid = [{"model": "preact_resnet18", "dataset": "digits", "lr": [0.1], "wd": [0.0125]}]
    measure = [{"measure": "hessian_trace", "weights": ["finetuned"]}]
    preset = digits_preset(grid=grid, epochs=2, checkpoints=[2], finetune={"epochs": 1, "lr": 0.01}, measure=measure)
    config = use_preset(workflow, "damaged", preset)
    run = "results/V1/resnet18_digits_lr0.1_wd0.0125_fp32_s0"
    checkpoint, tuned = f"{run}/ckpt/epoch2.pt", f"{run}/finetune/epoch2/metrics.parquet"
    trained = snakemake(workflow, checkpoint, "--cores", "1", "--configfile", config)
    assert trained.returncode == 0, said(trained)[-3000:]
    path = workflow / checkpoint
    path.write_bytes(path.read_bytes()[:100])  # only the first bytes survived
    failed = snakemake(workflow, tuned, "--cores", "1", "--configfile", config)
    assert failed.returncode != 0 and "Error in rule finetune" in said(failed)
    advice = (
        f"{checkpoint}: cannot be read as a PyTorch checkpoint (RuntimeError: PytorchStreamReader failed reading zip "
        "archive: failed finding central directory); the file is damaged or cut short. Delete it and rerun, or add "
        f"`--forcerun {checkpoint}` to the snakemake command: that reruns the job that wrote it (the training job of "
        "run resnet18_digits_lr0.1_wd0.0125_fp32_s0) and the jobs that read it."
    )
    assert advice in said(failed), said(failed)[-3000:]
    rebuilt = snakemake(workflow, tuned, "--cores", "1", "--configfile", config, "--forcerun", checkpoint)
    assert rebuilt.returncode == 0, said(rebuilt)[-3000:]
    assert (workflow / tuned).exists() and path.stat().st_size > 100
