import hashlib
import json
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from pyg_srgnn.atomic_write import written_whole
from pyg_srgnn.data.click_logs import (
    read_click_log,
    read_diginetica_csv,
    read_yoochoose_clicks,
)
from pyg_srgnn.data.dataset import Samples, SessionDataset, read_srgnn_split
from pyg_srgnn.data.preprocess import split_sessions, yoochoose_fraction
from pyg_srgnn.data.sequences import prefix_augment, sample_sessions
from pyg_srgnn.data.text import read_samples_text, read_sessions_text
from pyg_srgnn.text_files import read_json_object

FORMATS = {
    # name: (number of input files, what they are)
    'diginetica': (1, 'a Diginetica train-item-views.csv'),
    'yoochoose': (1, 'a YOOCHOOSE yoochoose-clicks.dat'),
    'csv': (1, 'a click log of your own (CSV/TSV)'),
    'srgnn': (2, 'SR-GNN pickles all_train_seq.txt and test.txt'),
    'text': (2, 'plain-text training sessions and test samples'),
}
# The test period of each raw format, in days, as the official code has it.
TEST_DAYS = {'diginetica': 7, 'yoochoose': 1, 'csv': 7}
OPTIONS_FILE = 'options.json'


def read_options(root: str) -> Dict[str, Any]:
    r"""The options :meth:`SessionLogDataset.create` recorded in
    :obj:`root`."""
    path = osp.join(root, OPTIONS_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f"'{root}' holds no {OPTIONS_FILE}: prepare it with "
            f"'pyg-srgnn preprocess INPUT --root {root}' (or "
            f"SessionLogDataset.create)")
    options = read_json_object(path, "run 'pyg-srgnn preprocess' again")
    missing = {'format', 'files'} - set(options)
    if missing:
        raise ValueError(f"{path}: not the options of 'pyg-srgnn preprocess' "
                         f"(missing {', '.join(sorted(missing))}); run it "
                         f"again")
    return options


class SessionLogDataset(SessionDataset):
    r"""A session data set made from the files a user holds: a raw click log
    (Diginetica, YOOCHOOSE or one's own CSV/TSV, preprocessed with the
    official :obj:`"parity"` protocol or the :obj:`"clean"` one), SR-GNN
    pickles, or plain text. :meth:`create` records the input files and
    options in :obj:`root/options.json`; later, :obj:`SessionLogDataset(root)`
    reads them from there. The processed files live in a folder named after
    the options, so that changing an option never reuses a stale cache.

    Item ids of a raw log may be any strings: :obj:`item_labels` maps the
    model's items back to them.

    Args:
        root (str): The directory that :meth:`create` set up.
        split, transform, force_reload: as for :class:`SessionDataset`.
        options (dict, optional): The options :meth:`create` recorded, to use
            instead of reading them from :obj:`root` (another
            :meth:`create` may have replaced them there since).
    """
    def __init__(self, root: str, split: str = 'train',
                 transform: Optional[Callable] = None,
                 force_reload: bool = False,
                 options: Optional[Dict[str, Any]] = None) -> None:
        self.options: Dict[str, Any] = options or read_options(root)
        super().__init__(root, split, transform, force_reload)

    def split_dataset(self, split: str) -> 'SessionLogDataset':
        r"""The split :obj:`split` of the same data set, made with the same
        options."""
        return SessionLogDataset(self.root, split, options=self.options)

    @classmethod
    def create(cls, root: str, files: Sequence[str], format: str = 'csv',
               protocol: str = 'parity', test_days: Optional[int] = None,
               fraction: Optional[int] = None,
               reader: Optional[Dict[str, Any]] = None,
               on_error: str = 'raise') -> 'SessionLogDataset':
        r"""Records the input and options in :obj:`root` and processes the
        data once.

        Args:
            root (str): Where the processed data set goes.
            files (list of str): The input: one click log, or the training
                and test files of an SR-GNN split (pickles or plain text).
            format (str, optional): One of :obj:`"diginetica"`,
                :obj:`"yoochoose"`, :obj:`"csv"`, :obj:`"srgnn"`,
                :obj:`"text"`. (default: :obj:`"csv"`)
            protocol (str, optional): For raw logs, :obj:`"parity"` (the
                official preprocessing) or :obj:`"clean"`.
                (default: :obj:`"parity"`)
            test_days (int, optional): For raw logs, the test period
                [default: 7, YOOCHOOSE: 1].
            fraction (int, optional): For YOOCHOOSE, keep the most recent
                :obj:`1 / fraction` of the training samples (64 or 4).
            reader (dict, optional): For :obj:`"csv"`, the arguments of
                :func:`~pyg_srgnn.data.click_logs.read_click_log`
                (:obj:`session_col`, :obj:`item_col`, :obj:`time_col`,
                :obj:`sep`, ...).
            on_error (str, optional): Malformed rows of a raw log:
                :obj:`"raise"` or :obj:`"skip"` with a warning.
                (default: :obj:`"raise"`)
        """
        if format not in FORMATS:
            raise ValueError(f"Unknown format '{format}' (expected one of "
                             f"{', '.join(FORMATS)})")
        count, what = FORMATS[format]
        if len(files) != count:
            raise ValueError(f"Format '{format}' takes {count} file(s), "
                             f"{what} (got {len(files)})")
        for file in files:
            if not osp.isfile(file):
                raise FileNotFoundError(f"No such input file: '{file}'")
        if fraction not in (None, 64, 4) or (fraction is not None
                                             and format != 'yoochoose'):
            raise ValueError(f"'fraction' is 64 or 4, for the yoochoose "
                             f"format only (got {fraction!r})")
        if format == 'csv' and ((reader or {}).get('session_col') is None
                                or (reader or {}).get('item_col') is None):
            raise ValueError("The csv format needs the reader options "
                             "session_col and item_col")
        options = {
            'format': format,
            'files': [osp.abspath(file) for file in files],
            'protocol': protocol,
            'test_days': test_days if test_days is not None else
            TEST_DAYS.get(format),
            'fraction': fraction,
            'reader': reader or {},
            'on_error': on_error,
        }
        os.makedirs(root, exist_ok=True)
        with written_whole(osp.join(root, OPTIONS_FILE)) as tmp:
            with open(tmp, 'w') as f:
                json.dump(options, f, indent=2)
        return cls(root, options=options)

    @property
    def raw_dir(self) -> str:  # the user's files stay where they are
        return osp.dirname(self.options['files'][0])

    @property
    def raw_paths(self) -> List[str]:
        return self.options['files']

    @property
    def raw_file_names(self) -> List[str]:
        return [osp.basename(path) for path in self.options['files']]

    @property
    def processed_dir(self) -> str:
        key = json.dumps(self.options, sort_keys=True).encode()
        return osp.join(self.root, 'processed',
                        hashlib.sha1(key).hexdigest()[:12])

    def download(self) -> None:
        missing = [p for p in self.raw_paths if not osp.isfile(p)]
        raise FileNotFoundError(f"The input file(s) {missing} recorded in "
                                f"{osp.join(self.root, OPTIONS_FILE)} are "
                                f"gone; put them back or create the data "
                                f"set again")

    def process_samples(
            self) -> Tuple[Dict[str, Samples], Optional[Sequence[str]]]:
        opts = self.options
        fmt, files = opts['format'], opts['files']
        if fmt == 'srgnn':
            return read_srgnn_split(*files), None
        if fmt == 'text':
            train = prefix_augment(read_sessions_text(files[0]))
            prefixes, targets = read_samples_text(files[1])
            test = (prefixes, targets, sample_sessions(prefixes, targets))
            return {'train': train, 'test': test}, None

        if fmt == 'diginetica':
            log = read_diginetica_csv(files[0], opts['on_error'])
        elif fmt == 'yoochoose':
            log = read_yoochoose_clicks(files[0], opts['on_error'])
        else:
            log = read_click_log(files[0], on_error=opts['on_error'],
                                 **opts['reader'])
        split = split_sessions(log, opts['protocol'], opts['test_days'])
        del log  # the clicks of a large log: memory the samples need
        if opts['fraction'] is not None:
            split, train = yoochoose_fraction(split, opts['fraction'])
        else:
            train = prefix_augment(split.train)
        samples = {'train': train, 'test': prefix_augment(split.test)}
        return samples, [str(label) for label in split.item_labels]

