"""Files underneath every stage: parquet schemas, atomic writes, the code version, job logs."""
