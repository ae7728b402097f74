# Datasets. A raw dataset missing under its default root is downloaded there: CIFAR into resources/cifar by
# torchvision (checksums verified), the CIFAR-5m parts into resources/cifar5m and Tiny-ImageNet into
# resources/tiny-imagenet from their published locations (wdecay.data.raw). The download rules match missing data
# only, so data in place is never fetched again; data missing under a root set elsewhere stops at missing_raw_data,
# with what to download and where to put it. Downloads are local rules: on a cluster they run on the host running
# Snakemake (compute nodes often have no network), beside the jobs that do not wait for them. Every dataset is then
# converted once into compact arrays that training jobs load straight onto the device.


rule download_cifar:
    output:
        directory("resources/cifar/{folder}"),
    log:
        "results/logs/data/download_{folder}.log",
    wildcard_constraints:
        folder=one_of(MISSING_CIFAR),
    retries: resource("data", "retries")
    localrule: True
    conda:
        "../../envs/torch.yaml"
    threads: resource("data", "threads")
    resources:
        **job_resources("data"),
    params:
        name=lambda wildcards: {v: k for k, v in CIFAR_FOLDERS.items()}[
            wildcards.folder
        ],
    script:
        "../scripts/download_cifar.py"


rule download_cifar5m:
    output:
        "resources/cifar5m/cifar5m_part{part}.npz",
    log:
        "results/logs/data/download_cifar5m_part{part}.log",
    wildcard_constraints:
        part=one_of(MISSING_CIFAR5M_PARTS),
    retries: resource("data", "retries")
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        url=lambda wildcards: download_setting("cifar5m", "url", raw.CIFAR5M_URL),
    script:
        "../scripts/download_cifar5m.py"


rule download_tiny_imagenet:
    output:
        directory("resources/tiny-imagenet/{folder}"),
    log:
        "results/logs/data/download_{folder}.log",
    wildcard_constraints:
        folder=one_of(MISSING_TINY_IMAGENET),
    retries: resource("data", "retries")
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        url=lambda wildcards: download_setting(
            "tiny_imagenet", "url", raw.TINY_IMAGENET_URL
        ),
        md5=lambda wildcards: download_setting(
            "tiny_imagenet", "md5", raw.TINY_IMAGENET_MD5
        ),
    script:
        "../scripts/download_tiny_imagenet.py"


if MISSING_ELSEWHERE:

    rule missing_raw_data:
        output:
            missing_outputs(),
        log:
            "results/logs/data/missing_raw_data.log",
        localrule: True
        conda:
            "../../envs/torch.yaml"
        params:
            instructions=missing_instructions(),
        script:
            "../scripts/missing_raw_data.py"


rule prepare_dataset:
    input:
        unpack(dataset_inputs),
    output:
        expand("results/data/{{dataset}}/{file}", file=PREPARED),
    log:
        "results/logs/data/{dataset}.log",
    wildcard_constraints:
        dataset=one_of(PLAN.spec["datasets"]),
    retries: resource("data", "retries")
    conda:
        "../../envs/torch.yaml"
    threads: resource("data", "threads")
    resources:
        **job_resources("data"),
    params:
        spec=lambda wildcards: raw.prepared_spec(
            PLAN.spec["datasets"][wildcards.dataset]
        ),
    script:
        "../scripts/prepare_dataset.py"
