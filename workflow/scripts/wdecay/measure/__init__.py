"""Measurements taken at saved weights (checkpoints, EMAs, fine-tuned iterates): Hessian trace, Jacobian norm,
gradient-noise scale, Hessian/noise alignment, snapshot ensembles. Each estimator takes a model and a list of
(inputs, labels) batches already on the device, works in fp32 and eval mode (BatchNorm uses its running
statistics, so every example's loss depends on that example alone), and is checked in the tests against an exact
computation on a model small enough to form it.
"""
