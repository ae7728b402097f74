# Datasets: CIFAR is downloaded into resources/cifar when its folder is absent there (a dataset whose `root` points
# elsewhere must already be in place); every dataset is converted once into compact arrays that training jobs load
# straight onto the device.


rule download_cifar:
    output:
        directory("resources/cifar/{folder}"),
    log:
        "results/logs/data/download_{folder}.log",
    wildcard_constraints:
        folder=one_of(CIFAR_FOLDERS.values()),
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
        spec=lambda wildcards: PLAN.spec["datasets"][wildcards.dataset],
    script:
        "../scripts/prepare_dataset.py"
