"""Pictures of a run and of one session's explanation (matplotlib, an
optional extra: `pip install pyg-srgnn[plot]`)."""
import math
from typing import Any, Dict, List


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ValueError("Drawing needs matplotlib: pip install "
                         "'pyg-srgnn[plot]'") from None
    matplotlib.use('Agg')  # files only, no display needed
    import matplotlib.pyplot as plt
    return plt


def plot_run(records: List[Dict[str, Any]], path: str) -> None:
    r"""Draws the training loss and every HR/MRR curve of a run's per-epoch
    records (:obj:`log.jsonl`) into one PNG."""
    if not records:
        raise ValueError('The run has no finished epoch to plot')
    for record in records:
        if not isinstance(record.get('loss'), (int, float)):
            raise ValueError(f"The record of epoch {record['epoch']} has no "
                             f"training loss to plot")
    plt = _pyplot()
    epochs = [r['epoch'] for r in records]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r['loss'] for r in records], marker='o')
    ax_loss.set(xlabel='epoch', ylabel='training loss', title='Loss')
    for split in ('valid', 'test'):
        # Refit epochs have a loss but no validation metrics.
        evaluated = [r for r in records if split in r]
        for key in sorted(evaluated[0][split] if evaluated else ()):
            if key.startswith(('HR@', 'MRR@')):
                ax_metric.plot([r['epoch'] for r in evaluated],
                               [100 * r[split][key] for r in evaluated],
                               marker='o', label=f'{split} {key}')
    ax_metric.set(xlabel='epoch', ylabel='%', title='Ranking metrics')
    ax_metric.legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_explanation(explanation: Dict[str, Any], path: str) -> None:
    r"""Draws a session's graph (nodes on a circle, edges with their
    outgoing weights) next to the attention weight of every click."""
    plt = _pyplot()
    nodes, edges = explanation['nodes'], explanation['edges']
    clicks = explanation['clicks']
    fig, (ax_graph, ax_att) = plt.subplots(1, 2, figsize=(11, 4.5))
    angle = [2 * math.pi * i / len(nodes) for i in range(len(nodes))]
    pos = [(math.cos(a), math.sin(a)) for a in angle]
    for edge in edges:
        (x0, y0), (x1, y1) = pos[edge['source']], pos[edge['target']]
        if edge['source'] == edge['target']:
            ax_graph.add_patch(plt.Circle((x0 * 1.15, y0 * 1.15), 0.12,
                                          fill=False, color='grey'))
            continue
        ax_graph.annotate('', xy=(x1, y1), xytext=(x0, y0),
                          arrowprops=dict(arrowstyle='->', color='grey',
                                          shrinkA=14, shrinkB=14))
        ax_graph.text((x0 + x1) / 2, (y0 + y1) / 2,
                      f"{edge['out_weight']:.2f}", fontsize=8, color='grey')
    for (x, y), label in zip(pos, nodes):
        ax_graph.text(x, y, label, ha='center', va='center',
                      bbox=dict(boxstyle='round', fc='lightyellow'))
    ax_graph.set(xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), aspect='equal',
                 title='Session graph (edge labels: outgoing weight)')
    ax_graph.axis('off')
    ax_att.bar(range(1, len(clicks) + 1), [c['attention'] for c in clicks])
    ax_att.set_xticks(range(1, len(clicks) + 1),
                      [c['item'] for c in clicks], rotation=45, ha='right')
    ax_att.set(xlabel='click (item)', ylabel='attention weight',
               title='Attention of each click (no softmax)')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
