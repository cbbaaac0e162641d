"""What scores a model or stands in for one: image metrics, IS/FID, the feature read-outs and the L2-SVM, the
inpainting floors (no learned model) and texture statistics. Imports repro.base, repro.datasets and repro.core
(the grid operators and nets it measures), never a model family or the runner."""
