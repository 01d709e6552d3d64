"""One module per generator family; `models.registry` lists them and is what callers use.

Each family module says how to recognise its files, how to build and load the generator, how a
seed (and class and truncation) becomes z, and where its attention layers sit. The shared
interface is in `base.py`; layers that several families build are in `models.blocks`.
"""
