"""Quickstart: train SR-GNN on the Diginetica sample shipped with pyg-srgnn,
then recommend the next items for a live session, in the shop's own ids.

    python examples/quickstart.py

`pyg-srgnn fit` runs the same training with a validation split, early
stopping, checkpoints and logs; this is the loop spelled out.
"""
import torch

from pyg_srgnn.data import DigineticaSample, SessionLoader
from pyg_srgnn.data.registry import default_root
from pyg_srgnn.nn import SRGNN
from pyg_srgnn.recommend import Recommender
from pyg_srgnn.train import evaluate, train_epoch

torch.manual_seed(0)

# Preprocessed once with the official SR-GNN protocol, then cached.
root = default_root('diginetica-sample')
train_dataset = DigineticaSample(root, split='train')
test_dataset = DigineticaSample(root, split='test')

# Each batch is a torch_geometric Batch of session graphs. The sample is
# small: batches of 50 and a later learning-rate decay than the paper's
# (100, every 3 epochs) suit it, as `pyg-srgnn fit` uses on it.
train_loader = SessionLoader(train_dataset, batch_size=50, shuffle=True)
test_loader = SessionLoader(test_dataset, batch_size=500)
print(next(iter(train_loader)))

model = SRGNN(train_dataset.num_items, hidden_channels=100, num_layers=1)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10,
                                            gamma=0.1)

for epoch in range(1, 11):
    loss = train_epoch(model, train_loader, optimizer)
    scheduler.step()
    metrics = evaluate(model, test_loader, ks=[20])
    print(f"Epoch {epoch:02d}, Loss: {loss:.4f}, "
          f"HR@20: {100 * metrics['HR@20']:.2f}, "
          f"MRR@20: {100 * metrics['MRR@20']:.2f}")

# A live session: three clicks, given in the shop's own item ids.
recommender = Recommender(model, train_dataset.item_labels)
labels = train_dataset.item_labels
session = [labels[0], labels[4], labels[0]]
print(f'Session {session} -> next items '
      f'{recommender.recommend([session], k=5)[0]}')

# The same through the model, with its item numbers (1..num_items).
print(model.recommend([[1, 5, 1]], k=5))

# What the model looked at: each click's attention weight.
for click in recommender.explain(session)['clicks']:
    print(f"click {click['position'] + 1}: item {click['item']}, "
          f"weight {click['attention']:.3f}")
