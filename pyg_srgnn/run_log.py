"""Per-epoch records of a training run: JSON lines and CSV always,
TensorBoard when it is installed."""
import csv
import json
import os.path as osp
from typing import Any, Dict, List


def flatten(record: Dict[str, Any]) -> Dict[str, Any]:
    r""":obj:`{'test': {'HR@20': 0.5}}` -> :obj:`{'test/HR@20': 0.5}`."""
    out = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update({f'{key}/{k}': v for k, v in value.items()})
        else:
            out[key] = value
    return out


class RunLog:
    r"""Appends one record per epoch to :obj:`log.jsonl` and :obj:`log.csv`
    in :obj:`run_dir`, and to TensorBoard under :obj:`run_dir/tensorboard`
    when :obj:`tensorboard` is installed.

    Args:
        run_dir (str): The run directory.
        keep_epochs (int, optional): On resume, the records of the epochs
            after this one are dropped: they belong to a run that was killed
            before its checkpoint. (default: :obj:`0`, a new run)
    """
    def __init__(self, run_dir: str, keep_epochs: int = 0):
        self.jsonl = osp.join(run_dir, 'log.jsonl')
        self.csv = osp.join(run_dir, 'log.csv')
        # A run killed while appending may leave a partial last line.
        self.records = [r for r in self.read(run_dir, partial_last=True)
                        if r['epoch'] <= keep_epochs]
        self.rewrite()
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(osp.join(run_dir, 'tensorboard'),
                                        purge_step=keep_epochs + 1)
        except ImportError:  # tensorboard is an optional extra
            self.writer = None

    @staticmethod
    def read(run_dir: str,
             partial_last: bool = False) -> List[Dict[str, Any]]:
        r"""The records of :obj:`run_dir/log.jsonl`; a line that is not a
        record with an epoch raises a :class:`ValueError` naming it, except
        the last one if :obj:`partial_last`, which is dropped."""
        path = osp.join(run_dir, 'log.jsonl')
        if not osp.isfile(path):
            return []
        with open(path, 'rb') as f:
            lines = f.read().split(b'\n')
        records = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:  # not UTF-8, or not JSON
                record = None
            if not isinstance(record, dict) or not isinstance(
                    record.get('epoch'), int):
                if partial_last and number == len(lines):
                    break
                raise ValueError(f"{path}: line {number} is not a record of "
                                 f"an epoch (expected a JSON object with "
                                 f"'epoch')")
            records.append(record)
        return records

    def rewrite(self) -> None:
        with open(self.jsonl, 'w') as f:
            f.writelines(json.dumps(r) + '\n' for r in self.records)
        rows = [flatten(r) for r in self.records]
        self.fieldnames = list(dict.fromkeys(key for row in rows
                                             for key in row))
        with open(self.csv, 'w', newline='') as f:
            if rows:
                writer = csv.DictWriter(f, fieldnames=self.fieldnames)
                writer.writeheader()
                writer.writerows(rows)

    def append(self, record: Dict[str, Any]) -> None:
        self.records.append(record)
        with open(self.jsonl, 'a') as f:
            f.write(json.dumps(record) + '\n')
        row = flatten(record)
        if set(row) - set(self.fieldnames):
            # A new column (the refit's epochs have other fields than the
            # epochs that chose them): the CSV gets a new header.
            self.rewrite()
        else:
            with open(self.csv, 'a', newline='') as f:
                csv.DictWriter(f, fieldnames=self.fieldnames).writerow(row)
        if self.writer is not None:
            for key, value in row.items():
                if key != 'epoch':
                    self.writer.add_scalar(key, value, record['epoch'])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
