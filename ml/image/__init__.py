"""Container images: model images (build, labels, push, inspect) and the stage image with
its Docker executor for `mlci pipeline run --executor docker`."""
