"""The two protocols: ``as_run`` (default), the experiment as the authors' code ran it, which produced the published
figures, and ``as_written``, the paper's text where it describes something else. Each difference is its own
family setting in the schema, whose default names both values: ``{as_run: X, as_written: Y}``. Any setting of
config.yaml may be written that way; the top-level ``protocol`` picks one side before anything is planned.

A run whose settings differ from the as-run ones carries them in its id (``_init-he``), so runs of both protocols
can share one results folder and a run that is the same under both is one run.
"""

PROTOCOLS = ("as_run", "as_written")

# Family settings that differ between the protocols, and their slugs in run ids (applicable_* says when each applies)
VISION_VARIANTS = {"init": "init", "vgg_input": "vggin", "si_arch": "si", "projection": "proj"}
LLM_VARIANTS = {"l2_penalty": "l2pen"}


def is_by_protocol(value) -> bool:
    return isinstance(value, dict) and set(value) == set(PROTOCOLS)


def resolve(value, protocol: str):
    """``value`` with every ``{as_run: X, as_written: Y}`` replaced by its ``protocol`` side, at any depth."""
    if is_by_protocol(value):
        return resolve(value[protocol], protocol)
    if isinstance(value, dict):
        return {k: resolve(v, protocol) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, protocol) for v in value]
    return value


def applicable_vision(group: dict, spec: dict) -> dict:
    """The protocol settings of a grid group's runs (None where a setting does not apply to the group's model)."""
    model = group["model"]
    return {
        "init": spec["init"],
        "vgg_input": spec["vgg_input"] if model == "vgg16" else None,
        "si_arch": spec["si_arch"] if model == "si_preact_resnet18" else None,
        "projection": group.get("projection", spec["projection"]) if spec["sphere"] else None,
    }


def applicable_llm(l2: float, spec: dict) -> dict:
    return {"l2_penalty": spec["l2_penalty"] if l2 else None}


def variant(settings: dict, reference: dict, slugs: dict) -> str:
    """'init-he_proj-step': the settings that differ from the as-run ones ('' for the authors' experiment)."""
    return "_".join(f"{slugs[k]}-{v}" for k, v in settings.items() if v != reference[k])
