"""Training: the vision and language-model trainers, fine-tuning, optimisers and decay groups, schedules, EMA,
stop requests (preemption) and divergence flags."""
