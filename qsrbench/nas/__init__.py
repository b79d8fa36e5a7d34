"""Neural architecture search substrate: the cell search space of Liu et al. (ICLR 2019), its
supernet, genotypes, the evaluation network, the method-agnostic search loop and the strategy
building blocks. Search methods themselves live in ``reference/`` (one module each).

Conventions (Liu et al., arXiv 1806.09055): a cell has two inputs (the outputs of the two
previous cells), ``steps = 4`` intermediate nodes, and every intermediate node is connected to
all earlier nodes by one edge carrying one of :data:`PRIMITIVES`; the cell output concatenates
the intermediate nodes. Edges are numbered node by node (node 0: edges 0-1, node 1: edges 2-4,
node 2: 5-8, node 3: 9-13), 14 per cell.
"""

from .genotype import PRIMITIVES, Genotype, derive_genotype, num_edges

__all__ = ["PRIMITIVES", "Genotype", "derive_genotype", "num_edges"]
