"""pocusiq.data: the paired dataset format and its tools.

On disk (details in :mod:`pocusiq.data.manifest`)::

    DIR/low/<id>.png  DIR/high/<id>.png  [DIR/masks/<id>_<name>.png]  DIR/manifest.csv
    [DIR/simulate.json: the parameters of a simulated dataset, checked when it is resumed]

Modules:
    manifest   MANIFEST_NAME, ManifestRow, read_manifest, write_manifest, low_path, high_path
    splits     split_by_specimen, specimen_from_name, split_for_index (O(1) memory, simulated pairs)
    writer     PairedDatasetWriter (atomic, resumable, kill-safe)
    dataset    PairedDataset (torch Dataset with paired crop/flip)
    simulated  write_simulated_dataset (the simulator -> a paired dataset)
    validate   validate_dataset -> list of problems
    importers  import_folder, import_usenhance, import_ab; exporters: export_ab

Import from the submodules (``from pocusiq.data.dataset import PairedDataset``); this package
imports nothing heavy itself, so ``import pocusiq.data`` does not import torch.
"""
