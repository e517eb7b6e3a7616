import json
import os

import pytest
import torch
from click.testing import CliRunner

from pyg_srgnn.cli import main
from pyg_srgnn.data.dataset import DigineticaSample
from pyg_srgnn.data.log_dataset import SessionLogDataset
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.recommend import Recommender

SAMPLE_CSV = os.path.join(os.path.dirname(__file__), '..', '..', 'datasets',
                          'diginetica-sample', 'train-item-views.csv')


def same_samples(a, b):
    for x, y in zip(a.sample_tensors(), b.sample_tensors()):
        assert torch.equal(x, y)


def write_shop_log(path):
    # Two weeks of sessions over string item ids; the last sessions are in
    # the final day.
    fruits = ['apple', 'pear', 'plum', 'kiwi', 'fig', 'lime']
    lines = ['visit\tproduct\twhen']
    for s in range(60):
        day = 1 + s // 5
        for c in range(2 + s % 3):
            item = fruits[(s + c) % len(fruits)]
            lines.append(f'v{s}\t{item}\t2024-03-{day:02d}T10:{c:02d}:00Z')
    path.write_text('\n'.join(lines) + '\n')


def test_raw_diginetica_equals_the_sample_dataset(tmp_path):
    custom = SessionLogDataset.create(str(tmp_path / 'custom'), [SAMPLE_CSV],
                                      format='diginetica')
    sample = DigineticaSample(str(tmp_path / 'sample'))
    same_samples(custom, sample)
    assert custom.item_labels == sample.item_labels
    same_samples(SessionLogDataset(str(tmp_path / 'custom'), 'test'),
                 DigineticaSample(str(tmp_path / 'sample'), 'test'))


def test_own_log_with_string_ids(tmp_path):
    log = tmp_path / 'shop.tsv'
    write_shop_log(log)
    root = tmp_path / 'shop'
    result = CliRunner().invoke(main, [
        'preprocess', str(log), '--root', str(root), '--session-col', 'visit',
        '--item-col', 'product', '--time-col', 'when', '--test-days', '3',
        '--json'
    ])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output.strip().splitlines()[-1])
    assert stats['train']['sessions'] > 0 and stats['test']['sessions'] > 0
    assert stats['train']['items'] == 6

    dataset = load_dataset('custom', str(root))
    assert sorted(dataset.item_labels) == sorted(
        ['apple', 'pear', 'plum', 'kiwi', 'fig', 'lime'])

    result = CliRunner().invoke(main, [
        'fit', '--dataset', 'custom', '--root', str(root), '--epochs', '1',
        '--hidden-channels', '8', '--no-progress', '--run-dir',
        str(tmp_path / 'run'), '--protocol', 'paper'
    ])
    assert result.exit_code == 0, result.output
    rec = Recommender.from_checkpoint(str(tmp_path / 'run' /
                                          'checkpoint.pt'))
    top = rec.recommend([['apple', 'pear']], k=3)[0]
    assert len(top) == 3 and set(top) <= set(dataset.item_labels)


def test_changed_options_never_reuse_the_cache(tmp_path):
    log = tmp_path / 'shop.tsv'
    write_shop_log(log)
    root = str(tmp_path / 'shop')
    reader = {'session_col': 'visit', 'item_col': 'product',
              'time_col': 'when'}
    week = SessionLogDataset.create(root, [str(log)], 'csv', test_days=7,
                                    reader=reader)
    three = SessionLogDataset.create(root, [str(log)], 'csv', test_days=3,
                                     reader=reader)
    assert week.processed_dir != three.processed_dir
    assert len(week) != len(three)
    again = SessionLogDataset.create(root, [str(log)], 'csv', test_days=7,
                                     reader=reader)
    assert again.processed_dir == week.processed_dir
    same_samples(again, week)


def test_published_split_formats(tmp_path, shared_data):
    sample = DigineticaSample(str(tmp_path / 'sample'))
    pickles = SessionLogDataset.create(
        str(tmp_path / 'pickles'),
        [str(shared_data / 'sample' / 'all_train_seq.txt'),
         str(shared_data / 'sample' / 'test.txt')], format='srgnn')
    same_samples(pickles, sample)
    assert pickles.num_items == 309


def test_yoochoose_slice_through_the_generic_reader(tmp_path, shared_data):
    log = (shared_data / 'yoochoose_clicks_100k' /
           'yoochoose-clicks-100k_train_full.txt.gz')
    result = CliRunner().invoke(main, [
        'preprocess', str(log), '--root', str(tmp_path), '--session-col',
        'SessionId', '--item-col', 'ItemId', '--time-col', 'Time',
        '--test-days', '1', '--json'
    ])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output.strip().splitlines()[-1])
    assert stats['train']['samples'] == 38_634
    assert stats['test']['samples'] == 12_211
    assert stats['train']['items'] == 2_488
    assert stats['train']['avg_session_length'] >= 2


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='holds no options.json'):
        SessionLogDataset(str(tmp_path))
    with pytest.raises(ValueError, match="'srgnn' takes 2 file"):
        SessionLogDataset.create(str(tmp_path), [SAMPLE_CSV], 'srgnn')
    with pytest.raises(ValueError, match="Unknown format 'xls'"):
        SessionLogDataset.create(str(tmp_path), [SAMPLE_CSV], 'xls')
    with pytest.raises(ValueError, match="'fraction' is 64 or 4"):
        SessionLogDataset.create(str(tmp_path), [SAMPLE_CSV], 'diginetica',
                                 fraction=64)

    result = CliRunner().invoke(main, ['preprocess', SAMPLE_CSV, '--root',
                                       str(tmp_path), '--format', 'csv'])
    assert result.exit_code == 2
    assert 'needs --session-col and --item-col' in result.output

    bad = tmp_path / 'bad.csv'
    bad.write_text('session,item\n1,a\n1\n')
    result = CliRunner().invoke(main, ['preprocess', str(bad), '--root',
                                       str(tmp_path / 'bad'), '--session-col',
                                       'session', '--item-col', 'item'])
    assert result.exit_code == 1
    assert 'bad.csv' in result.output and 'line 3' in result.output
    assert 'Traceback' not in result.output

    result = CliRunner().invoke(main, ['fit', '--dataset', 'custom'])
    assert result.exit_code == 1
    assert "needs --root" in result.output


def test_headerless_log_with_the_session_in_column_0(tmp_path):
    log = tmp_path / 'shop.tsv'
    write_shop_log(log)
    headerless = tmp_path / 'headerless.tsv'
    headerless.write_text(''.join(log.read_text().splitlines(True)[1:]))
    runner = CliRunner()
    by_name = runner.invoke(main, [
        'preprocess', str(log), '--root', str(tmp_path / 'a'), '--session-col',
        'visit', '--item-col', 'product', '--time-col', 'when', '--json'])
    by_position = runner.invoke(main, [
        'preprocess', str(headerless), '--root', str(tmp_path / 'b'),
        '--session-col', '0', '--item-col', '1', '--time-col', '2',
        '--no-header', '--json'])
    assert by_position.exit_code == 0, by_position.output
    assert by_position.output == by_name.output
    same_samples(load_dataset('custom', str(tmp_path / 'a')),
                 load_dataset('custom', str(tmp_path / 'b')))


def test_preprocess_into_one_root_twice_keeps_each_own_options(tmp_path):
    # Two `preprocess` runs into one root at once: the second records its
    # options while the first still has its test split to read. Each must
    # report its own data set.
    shop = tmp_path / 'shop.tsv'
    write_shop_log(shop)
    root = str(tmp_path / 'shared')
    reader = {'session_col': 'visit', 'item_col': 'product',
              'time_col': 'when'}
    first = SessionLogDataset.create(root, [str(shop)], 'csv', test_days=3,
                                     reader=reader)
    SessionLogDataset.create(root, [SAMPLE_CSV], 'diginetica')
    alone = SessionLogDataset.create(str(tmp_path / 'alone'), [str(shop)],
                                     'csv', test_days=3, reader=reader)
    assert first.split_dataset('test').statistics() == alone.split_dataset(
        'test').statistics()
    same_samples(first.split_dataset('test'), alone.split_dataset('test'))
    # What is recorded in the root is the last run's.
    assert SessionLogDataset(root).num_items == 309
