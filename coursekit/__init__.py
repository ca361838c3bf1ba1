"""coursekit: a Jupyter course kit that teaches how neural networks are trained.

Modules, one concept each:

- ``coursekit.gradcheck``  numerical gradients, ``rel_error`` and a forward/backward checker
- ``coursekit.data``       the 8x8 digits set (shipped) and 2-D toy sets (spirals, blobs)
- ``coursekit.augment``    small shifts and rotations of digit images (data augmentation)
- ``coursekit.surfaces``   2-D loss surfaces (ravine, saddle, Rosenbrock, Beale) for optimizers
- ``coursekit.layers``     scaffolds: a forward/backward pair becomes a Layer; Sequential; Model
- ``coursekit.solver``     the training loop (minibatches, update rule, schedule, history)
- ``coursekit.plots``      plotting helpers shared by the notebooks
- ``coursekit.widgets``    interactive widgets, one module per widget
- ``coursekit.grading``    helpers used by notebook test cells, and the grading pipeline
- ``coursekit.cli``        the ``coursekit`` command (release, grade, feedback, export, report, demo)
"""

__version__ = "0.1.0"
