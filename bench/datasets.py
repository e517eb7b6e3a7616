"""Statistics of the published splits, for bench/README.md's data table.

    python -m bench.datasets      # writes bench/results/datasets.json
"""
from bench.common import RESULTS_DIR, use_shared_data, write_json
from pyg_srgnn.data.registry import load_dataset


def main():
    use_shared_data()
    out = {name: {split: load_dataset(name, None, split).statistics()
                  for split in ('train', 'test')}
           for name in ('diginetica', 'yoochoose1_64')}
    out['command'] = 'python -m bench.datasets'
    write_json(RESULTS_DIR / 'datasets.json', out)
    print(out)


if __name__ == '__main__':
    main()
