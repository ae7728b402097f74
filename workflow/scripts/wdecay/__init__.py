"""Reproduction of "Why Do We Need Weight Decay in Modern Deep Learning?" (Andriushchenko et al., 2024).

The Snakemake process imports only pure-Python modules (sweep, configcheck, claims); everything that needs torch is
imported by the job scripts.
"""

__version__ = "0.1.0"
