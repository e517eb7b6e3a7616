"""Plain-text session files, as SR-GNN follow-up repositories share them:
sessions one per line (:obj:`all_train_seq.txt.plain.gz`) and samples one
per line, prefix and target (:obj:`test.tsv.gz`)."""
import contextlib
import gzip
import io
import itertools
import os
from typing import Callable, List, Optional, Sequence, TextIO, Tuple

import numpy as np

from pyg_srgnn.data.rows import bad_rows_message
from pyg_srgnn.data.sequences import Sequences
from pyg_srgnn.text_files import decoding_errors, open_text
from pyg_srgnn.typing import PathLike

SESSIONS_FORMAT = ('one session per line: item ids (integers from 1) '
                   'separated by spaces')
SAMPLES_FORMAT = ('one sample per line: the prefix (item ids, integers from '
                  '1, separated by spaces), a tab and the target item id')


def read_sessions_text(path: PathLike) -> Sequences:
    r"""Reads sessions written one per line, item ids separated by spaces,
    such as :obj:`all_train_seq.txt.plain.gz`. A :obj:`.gz` file is
    decompressed on the fly.

    Args:
        path (str or os.PathLike): The text file.
    """
    lines = _read_lines(path)
    # A samples file read as sessions would silently join prefix and target.
    if not any('\t' in line for line in lines):
        with contextlib.suppress(ValueError, OverflowError):
            return _parse_ids(lines)
    raise _bad_lines_error(path, lines, _session_problem, SESSIONS_FORMAT)


def read_samples_text(path: PathLike) -> Tuple[Sequences, np.ndarray]:
    r"""Reads samples written one per line as :obj:`prefix<TAB>target`, the
    prefix's item ids separated by spaces, such as :obj:`test.tsv.gz`. A
    :obj:`.gz` file is decompressed on the fly.

    Args:
        path (str or os.PathLike): The text file.

    Returns:
        (prefixes, targets)
    """
    lines = _read_lines(path)
    tabs = np.fromiter(map(str.count, lines, itertools.repeat('\t')),
                       dtype=np.int64, count=len(lines))
    if (tabs == 1).all():
        # One tab a line: prefixes and targets alternate.
        fields = '\t'.join(lines).split('\t') if lines else []
        with contextlib.suppress(ValueError, OverflowError):
            prefixes = _parse_ids(fields[0::2])
            targets = _parse_ids(fields[1::2])
            if (targets.lengths == 1).all():
                return prefixes, targets.values
    raise _bad_lines_error(path, lines, _sample_problem, SAMPLES_FORMAT)


def write_sessions_text(path: PathLike, sessions: Sequences):
    r"""Writes sessions one per line, item ids separated by spaces, as
    :func:`read_sessions_text` reads them. A :obj:`.gz` file is compressed.

    Args:
        path (str or os.PathLike): The text file.
        sessions (Sequences): The sessions, none empty, ids from :obj:`1`.
    """
    lines = _format_ids(path, sessions, 'session')
    with _open_for_writing(path) as f:
        f.writelines(f'{line}\n' for line in lines)


def write_samples_text(path: PathLike, prefixes: Sequences,
                       targets: np.ndarray):
    r"""Writes samples one per line as :obj:`prefix<TAB>target`, as
    :func:`read_samples_text` reads them. A :obj:`.gz` file is compressed.

    Args:
        path (str or os.PathLike): The text file.
        prefixes (Sequences): The prefixes, none empty, ids from :obj:`1`.
        targets (numpy.ndarray): The target item ids.
    """
    if len(prefixes) != len(targets):
        raise ValueError(f'{path}: cannot write {len(prefixes)} prefixes '
                         f'with {len(targets)} targets')
    targets = np.asarray(targets)
    prefix_lines = _format_ids(path, prefixes, 'prefix')
    target_lines = _format_ids(
        path, Sequences(targets, np.arange(len(targets) + 1)), 'target')
    with _open_for_writing(path) as f:
        f.writelines(f'{prefix}\t{target}\n'
                     for prefix, target in zip(prefix_lines, target_lines))


def _read_lines(path: PathLike) -> List[str]:
    with open_text(path) as f, decoding_errors(path):
        lines = f.read().split('\n')
    if lines[-1] == '':  # after the last line end, or an empty file
        lines.pop()
    return lines


def _parse_ids(texts: Sequence[str]) -> Sequences:
    r"""The item ids of each of :obj:`texts`, whitespace-separated; raises
    :class:`ValueError` (or :class:`OverflowError`) if a text is empty or
    holds anything but integers from :obj:`1`."""
    # Lists made per text and dropped at once keep the garbage collector
    # quiet; kept, they would double the time.
    lengths = np.fromiter(map(len, map(str.split, texts)), dtype=np.int64,
                          count=len(texts))
    values = np.array(' '.join(texts).split(), dtype=np.int64)
    if lengths.min(initial=1) == 0 or values.min(initial=1) < 1:
        raise ValueError('empty sequence or id below 1')
    ptr = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    return Sequences(values, ptr)


def _bad_lines_error(path: PathLike, lines: List[str],
                     problem: Callable[[str], Optional[str]],
                     expected: str) -> ValueError:
    # Only reached once the vectorised parse failed: looks at line after
    # line to name the malformed ones and what is wrong with the first.
    bad = [(number, reason)
           for number, reason in enumerate(map(problem, lines), start=1)
           if reason is not None]
    first_line, reason = bad[0]
    return ValueError(
        bad_rows_message(path, [number for number, _ in bad],
                         f'expected {expected} (line {first_line}: '
                         f'{reason})'))


def _session_problem(line: str) -> Optional[str]:
    if '\t' in line:
        return 'a tab, as in a file of samples'
    return _ids_problem(line, 'session')


def _sample_problem(line: str) -> Optional[str]:
    fields = line.split('\t')
    if len(fields) != 2:
        return 'no tab' if len(fields) == 1 else 'more than one tab'
    prefix, target = fields
    if len(target.split()) > 1:
        return 'more than one target'
    return _ids_problem(prefix, 'prefix') or _ids_problem(target, 'target')


def _ids_problem(text: str, what: str) -> Optional[str]:
    # Reads ids as _parse_ids does, so that the lines named are exactly
    # those that made it fail.
    tokens = text.split()
    if not tokens:
        return f'an empty {what}'
    for token in tokens:
        try:
            _parse_ids([token])
        except (ValueError, OverflowError):
            return f'{token!r} is not an item id'
    return None


def _format_ids(path: PathLike, seqs: Sequences, what: str) -> List[str]:
    # Refuses what the readers would refuse, before a file is opened.
    empty = np.flatnonzero(seqs.lengths == 0)
    if len(empty) > 0:
        raise ValueError(f'{path}: cannot write {what} {empty[0]}: it is '
                         f'empty, which the text format cannot hold')
    bad = np.flatnonzero(seqs.values < 1)
    if len(bad) > 0:
        index = int(np.searchsorted(seqs.ptr, bad[0], side='right')) - 1
        raise ValueError(f'{path}: cannot write {what} {index}: it holds '
                         f'item id {seqs.values[bad[0]]}; ids start at 1')
    tokens = list(map(str, seqs.values.tolist()))
    ptr = seqs.ptr.tolist()
    return [' '.join(tokens[start:end])
            for start, end in zip(ptr[:-1], ptr[1:])]


def _open_for_writing(path: PathLike) -> TextIO:
    # A gzip header holds a time stamp unless told otherwise: with none, the
    # same sequences give the same bytes.
    if os.fspath(path).endswith('.gz'):
        return io.TextIOWrapper(gzip.GzipFile(path, 'wb', mtime=0),
                                encoding='utf-8', newline='\n')
    return open(path, 'w', encoding='utf-8', newline='\n')
