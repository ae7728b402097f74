"""Data: image datasets (raw readers and prepared arrays; torch-free, the plan reads their file layouts), token
corpora in nanoGPT's layout, and the device-resident image loader."""
