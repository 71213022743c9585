"""Training a brand's own detector: synthetic data from packshots (pure numpy/OpenCV, importable
everywhere) and the ultralytics trainer (`tagger.training.ultralytics_train`, imported only inside the
`train` virtualenv, never by the API or the worker)."""
