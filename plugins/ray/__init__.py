"""ArtiMuse batch scoring on Ray Data: millions of images, many GPUs or machines, results as Parquet.

A front end like the CLI and the watcher: it scores with the one engine (``artimuse_core.create_engine``
from the one ``EngineSpec``), decodes with the product's own decoder (``artimuse_core.images``) and brings
results into the library through the one door (``artimuse_core.library.door.ingest``). Ray is an optional
extra (``pip install 'artimuse-studio[ray]'``); only ``artimuse_batch.pipeline`` and
``artimuse_batch.cluster`` import it.

Modules: ``inputs`` (folders, globs, manifests, fsspec URIs -> keys to score), ``parts`` (the output: a
folder of atomically written Parquet parts; resume), ``lease`` (one run writes an output at a time),
``stages`` (the decode task, the scoring actor, how they share the CPUs), ``cluster`` (which Ray: address,
probe, token authentication, the private Ray's ``watchdog``), ``pipeline`` (the Ray Data plan and run),
``summary`` (what a run did), ``importing`` (results -> the library through the door).
"""
