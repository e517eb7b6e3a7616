r"""Reading text files (UTF-8, gzip-compressed or not, JSON) with errors
that name the file, and the line and byte that are wrong."""
import contextlib
import gzip
import json
import os
import zlib
from typing import Any, Dict, Iterator, TextIO, Tuple

from pyg_srgnn.typing import PathLike


def open_text(path: PathLike) -> TextIO:
    r"""Opens a UTF-8 text file for reading, decompressing it on the fly if
    its name ends with :obj:`.gz`. Line ends are left as they are
    (:obj:`newline=''`), as the :mod:`csv` module requires; a byte-order
    mark, which spreadsheet exports write, is dropped."""
    if os.fspath(path).endswith('.gz'):
        return gzip.open(path, 'rt', encoding='utf-8-sig', newline='')
    return open(path, encoding='utf-8-sig', newline='')


def decode_text(data: bytes, name: str) -> str:
    r"""Decodes the bytes of a text file named :obj:`name`; a file that is
    not UTF-8 text raises a :class:`ValueError` naming the line and byte
    that are not, a binary file one that says so."""
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b'\n') + 1
        column = e.start - (data.rfind(b'\n', 0, e.start) + 1) + 1
        raise ValueError(not_utf8(name, line, data[e.start], column)
                         ) from None
    nul = text.find('\x00')
    if nul >= 0:
        line = text.count('\n', 0, nul) + 1
        raise ValueError(f"{name}: a binary file, not text (a NUL byte on "
                         f"line {line})")
    return text


def read_json_object(path: str, remedy: str) -> Dict[str, Any]:
    r"""The JSON object in the file :obj:`path`; a file that is not one
    raises a :class:`ValueError` naming it, why, and the :obj:`remedy`."""
    try:
        with open(path, 'rb') as f:
            value = json.loads(decode_text(f.read(), path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); {remedy}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, found "
                         f"{type(value).__name__}; {remedy}")
    return value


def not_utf8(name: PathLike, line: int, byte: int, column: int) -> str:
    return (f'{name}: line {line} is not UTF-8 text (byte {byte:#04x} at '
            f'column {column}); save the file as UTF-8')


def first_undecodable(path: PathLike) -> Tuple[int, int, int]:
    r"""Where a file (gzip-compressed if its name ends with :obj:`.gz`)
    first holds bytes that are not UTF-8: its line, the byte and its
    column, counting from 1."""
    opener = gzip.open if os.fspath(path).endswith('.gz') else open
    with opener(path, 'rb') as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode('utf-8')
            except UnicodeDecodeError as e:
                return number, line[e.start], e.start + 1
    raise ValueError(f'{path} holds no bytes that are not UTF-8')


@contextlib.contextmanager
def decoding_errors(path: PathLike) -> Iterator[None]:
    r"""Turns the errors of a truncated gzip file or of bytes that are not
    UTF-8, raised while reading rather than at open, into a
    :class:`ValueError` that names the file."""
    try:
        yield
    except UnicodeDecodeError:
        raise ValueError(not_utf8(path, *first_undecodable(path))) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f'{path} is a truncated or corrupt gzip file: '
                         f'{e}') from e
