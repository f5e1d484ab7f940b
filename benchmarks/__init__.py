"""smtnn's benchmark suite: ``python -m benchmarks.run [--quick]`` times Table 1, Figures 6-8, the digits
twins, a scaling series of random ReLU MLPs and dReal baselines, and writes ``benchmarks/results/``.

Sections live in small modules (:mod:`.table1`, :mod:`.figures`, :mod:`.twins`, :mod:`.scaling`,
:mod:`.dreal_baseline`); :mod:`.report` renders the markdown, JSON and plot; :mod:`.run` is the command.
"""
