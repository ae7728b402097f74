"""Figures drawn from parquet tables: vision and language-model plot kinds, figures drawn by code, run summaries
and the curve readers that the claims share. Only the plot modules import matplotlib."""
