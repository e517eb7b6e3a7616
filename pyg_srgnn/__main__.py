r"""`python -m pyg_srgnn` is the command line, so that a launcher can start
it: `torchrun --nproc-per-node 2 -m pyg_srgnn fit ...`."""
from pyg_srgnn.cli import main

if __name__ == '__main__':
    main(prog_name='pyg-srgnn')
