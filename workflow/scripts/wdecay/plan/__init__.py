"""Planning, torch-free: what the Snakemake process imports. The config check (schema, cross-field rules, the plan),
the run table (run ids, sweeps, checkpoints, measurement and fine-tuning jobs), the GPT sizes."""
