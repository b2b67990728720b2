"""ArtiMuse batch scoring on Ray Data: millions of images, many GPUs or machines, results as Parquet.

A front end like the CLI and the watcher: it scores with the one engine (``artimuse_core.create_engine``
from the one ``EngineSpec``), decodes with the product's own decoder (``artimuse_core.images``) and brings
results into the library through the one door (``artimuse_core.library.door.ingest``). Ray is an optional
extra (``pip install 'artimuse-studio[ray]'``); only ``artimuse_batch.pipeline`` imports it.

Modules: ``inputs`` (folders, globs, manifests, fsspec URIs -> keys to score), ``parts`` (the output: a
folder of atomically written Parquet parts; resume), ``stages`` (the decode task and the scoring actor),
``pipeline`` (the Ray Data plan and run), ``importing`` (results -> the library through the door).
"""
