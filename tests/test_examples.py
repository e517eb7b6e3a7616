import runpy
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parents[1] / 'examples' / 'quickstart.py'


def test_quickstart(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('PYG_SRGNN_HOME', str(tmp_path))
    runpy.run_path(str(QUICKSTART), run_name='__main__')
    out = capsys.readouterr().out
    assert 'Epoch 10' in out
    assert '-> next items [' in out
    assert out.count(', weight ') == 3
