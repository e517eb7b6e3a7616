// The SR-GNN session embedding (one SRGNNConv step, then SessionReadout with
// the hybrid combination) as one forward and one backward function for CPU
// tensors, built at first use by pyg_srgnn/nn/fused.py.
//
// The matrix products are ATen's. Everything between them (both channels'
// weighted means, the GRU gates, the attention weights and their sums, and
// the gradients of all of these) runs as one vectorised loop per stage, over
// rows that stay in cache, instead of some sixty separate operators with a
// tensor each: most of the gain is memory the step no longer touches.
// pyg_srgnn/nn/srgnn_conv.py and session_readout.py define the maths; the
// tests hold this file to them.

#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <vector>

using at::Tensor;

namespace {

// Loops over the d columns of a row, one vector at a time; `n` is the number
// of columns the current vector holds (fewer in the last one).
#define FOR_COLUMNS(j, n, d)                                          \
  for (int64_t j = 0, n = std::min<int64_t>(Vec::size(), d); j < d; \
       j += Vec::size(), n = std::min<int64_t>(Vec::size(), d - j))
#define LOAD(ptr) Vec::loadu((ptr) + j, n)
#define STORE(value, ptr) (value).store((ptr) + j, n)

template <typename scalar_t>
using VecOf = at::vec::Vectorized<scalar_t>;

template <typename scalar_t>
inline VecOf<scalar_t> sigmoid(VecOf<scalar_t> v) {
  const VecOf<scalar_t> one(1);
  return one / (one + v.neg().exp());
}

template <typename scalar_t>
inline scalar_t horizontal_sum(VecOf<scalar_t> v) {
  scalar_t lanes[VecOf<scalar_t>::size()];
  v.store(lanes);
  scalar_t sum = 0;
  for (int64_t i = 0; i < VecOf<scalar_t>::size(); ++i) sum += lanes[i];
  return sum;
}

// Groups the entries 0..size-1 by key[entry] (a counting sort that keeps
// their order): entries of group g are order[ptr[g]..ptr[g + 1]).
void group_by(const int64_t* key, int64_t size, int64_t num_groups,
              int64_t* ptr, int64_t* order) {
  std::fill(ptr, ptr + num_groups + 1, 0);
  for (int64_t i = 0; i < size; ++i) ptr[key[i] + 1]++;
  for (int64_t g = 0; g < num_groups; ++g) ptr[g + 1] += ptr[g];
  std::vector<int64_t> next(ptr, ptr + num_groups);
  for (int64_t i = 0; i < size; ++i) order[next[key[i]]++] = i;
}

// The edges of both channels in compressed rows: `in` lists the edges into
// each node, `out` the edges out of it. Each entry holds the other end, the
// edge's weight in this channel and its weight in the other one (which the
// backward pass needs), each weight normalised as `srgnn_norm` does.
struct ChannelGraph {
  Tensor in_ptr, in_node, in_weight, in_other;
  Tensor out_ptr, out_node, out_weight, out_other;
};

template <typename scalar_t>
ChannelGraph channel_graph(const Tensor& edge_index,
                                     const Tensor& edge_weight,
                                     int64_t num_nodes,
                                     const at::TensorOptions& options) {
  const int64_t num_edges = edge_index.size(1);
  const auto index = edge_index.contiguous();
  const int64_t* src = index.data_ptr<int64_t>();
  const int64_t* dst = src + num_edges;
  const auto long_options = index.options();

  for (int64_t k = 0; k < 2 * num_edges; ++k) {
    TORCH_CHECK(src[k] >= 0 && src[k] < num_nodes, "edge_index holds node ",
                src[k], ", but there are ", num_nodes, " nodes");
  }

  // Weight sums into and out of every node.
  std::vector<scalar_t> weight(num_edges, scalar_t(1));
  if (edge_weight.defined()) {
    TORCH_CHECK(edge_weight.numel() == num_edges, "edge_weight has ",
                edge_weight.numel(), " entries for ", num_edges, " edges");
    const auto w = edge_weight.contiguous();
    std::copy(w.data_ptr<scalar_t>(), w.data_ptr<scalar_t>() + num_edges,
              weight.begin());
  }
  std::vector<scalar_t> in_sum(num_nodes, 0), out_sum(num_nodes, 0);
  for (int64_t e = 0; e < num_edges; ++e) {
    in_sum[dst[e]] += weight[e];
    out_sum[src[e]] += weight[e];
  }
  auto normalised = [](scalar_t w, scalar_t sum) {
    return sum == 0 ? scalar_t(0) : w / sum;
  };

  ChannelGraph graph;
  auto fill = [&](const int64_t* key, const int64_t* other_end,
                  const std::vector<scalar_t>& sum,
                  const std::vector<scalar_t>& other_sum, Tensor& ptr,
                  Tensor& node, Tensor& own, Tensor& other) {
    ptr = at::empty({num_nodes + 1}, long_options);
    node = at::empty({num_edges}, long_options);
    own = at::empty({num_edges}, options);
    other = at::empty({num_edges}, options);
    std::vector<int64_t> order(num_edges);
    group_by(key, num_edges, num_nodes, ptr.data_ptr<int64_t>(),
             order.data());
    int64_t* node_ = node.data_ptr<int64_t>();
    scalar_t* own_ = own.data_ptr<scalar_t>();
    scalar_t* other_ = other.data_ptr<scalar_t>();
    for (int64_t k = 0; k < num_edges; ++k) {
      const int64_t e = order[k];
      node_[k] = other_end[e];
      own_[k] = normalised(weight[e], sum[key[e]]);
      other_[k] = normalised(weight[e], other_sum[other_end[e]]);
    }
  };
  fill(dst, src, in_sum, out_sum, graph.in_ptr, graph.in_node,
       graph.in_weight, graph.in_other);
  fill(src, dst, out_sum, in_sum, graph.out_ptr, graph.out_node,
       graph.out_weight, graph.out_other);
  return graph;
}

// Sums over a node's edges: out[j] = sum_k weight[k] * rows[node[k]][j] for
// the entries k of row `i` of a compressed graph, one output row per node.
template <typename scalar_t>
void gather_sum(const int64_t* ptr, const int64_t* node,
                const scalar_t* weight, const scalar_t* rows,
                int64_t row_stride, scalar_t* out, int64_t out_stride,
                const scalar_t* bias, int64_t num_nodes, int64_t d) {
  using Vec = VecOf<scalar_t>;
  at::parallel_for(0, num_nodes, 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      scalar_t* out_i = out + i * out_stride;
      FOR_COLUMNS(j, n, d) {
        Vec sum = bias ? LOAD(bias) : Vec(0);
        for (int64_t k = ptr[i]; k < ptr[i + 1]; ++k) {
          sum = sum + Vec(weight[k]) * LOAD(rows + node[k] * row_stride);
        }
        STORE(sum, out_i);
      }
    }
  });
}

template <typename scalar_t>
std::vector<Tensor> forward_impl(
    const Tensor& x, const Tensor& edge_index, const Tensor& edge_weight,
    const Tensor& alias_index, const Tensor& last_index, const Tensor& batch,
    const std::vector<Tensor>& params) {
  using Vec = VecOf<scalar_t>;
  const Tensor &lin_in_weight = params[0], &lin_in_bias = params[1],
               &lin_out_weight = params[2], &lin_out_bias = params[3],
               &bias_in = params[4], &bias_out = params[5],
               &weight_ih = params[6], &weight_hh = params[7],
               &bias_ih = params[8], &bias_hh = params[9],
               &last_weight = params[10], &last_bias = params[11],
               &click_weight = params[12], &click_bias = params[13],
               &att_weight = params[14], &hybrid_weight = params[15],
               &hybrid_bias = params[16];
  const int64_t num_nodes = x.size(0), d = x.size(1);
  const int64_t num_clicks = alias_index.numel();
  const int64_t num_sessions = last_index.numel();
  const auto options = x.options();

  // Propagation: both channels' linear maps in one product, then the
  // weighted means over in- and out-neighbours, plus b_iah and b_oah.
  const ChannelGraph graph = channel_graph<scalar_t>(edge_index, edge_weight,
                                             num_nodes, options);
  const auto lin_weight = at::cat({lin_in_weight, lin_out_weight});
  const auto h = at::addmm(at::cat({lin_in_bias, lin_out_bias}), x,
                           lin_weight.t());  // [N, 2d]
  auto a = at::empty({num_nodes, 2 * d}, options);  // a_in || a_out
  gather_sum<scalar_t>(
      graph.in_ptr.data_ptr<int64_t>(), graph.in_node.data_ptr<int64_t>(),
      graph.in_weight.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(), 2 * d,
      a.data_ptr<scalar_t>(), 2 * d, bias_in.data_ptr<scalar_t>(), num_nodes,
      d);
  gather_sum<scalar_t>(
      graph.out_ptr.data_ptr<int64_t>(), graph.out_node.data_ptr<int64_t>(),
      graph.out_weight.data_ptr<scalar_t>(), h.data_ptr<scalar_t>() + d,
      2 * d, a.data_ptr<scalar_t>() + d, 2 * d,
      bias_out.data_ptr<scalar_t>(), num_nodes, d);

  // GRU cell (torch.nn.GRUCell's gates).
  const auto gate_i = at::addmm(bias_ih, a, weight_ih.t());  // [N, 3d]
  const auto gate_h = at::addmm(bias_hh, x, weight_hh.t());  // [N, 3d]
  auto gates = at::empty({num_nodes, 3 * d}, options);  // r || z || n
  auto state = at::empty({num_nodes, d}, options);
  {
    const scalar_t *gi = gate_i.data_ptr<scalar_t>(),
                   *gh = gate_h.data_ptr<scalar_t>(),
                   *x_ = x.data_ptr<scalar_t>();
    scalar_t *gates_ = gates.data_ptr<scalar_t>(),
             *state_ = state.data_ptr<scalar_t>();
    at::parallel_for(0, num_nodes, 64, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const scalar_t *gi_i = gi + i * 3 * d, *gh_i = gh + i * 3 * d,
                       *x_i = x_ + i * d;
        scalar_t *g_i = gates_ + i * 3 * d, *s_i = state_ + i * d;
        FOR_COLUMNS(j, n, d) {
          const Vec r = sigmoid(LOAD(gi_i) + LOAD(gh_i));
          const Vec z = sigmoid(LOAD(gi_i + d) + LOAD(gh_i + d));
          const Vec c = (LOAD(gi_i + 2 * d) + r * LOAD(gh_i + 2 * d)).tanh();
          STORE(r, g_i);
          STORE(z, g_i + d);
          STORE(c, g_i + 2 * d);
          STORE(c + z * (LOAD(x_i) - c), s_i);
        }
      }
    });
  }

  // Readout: attention over each session's clicks, s_g, then W_3 [s_g; v_n].
  const auto click = state.index_select(0, alias_index);  // [C, d]
  auto combined = at::empty({num_sessions, 2 * d}, options);  // s_g || v_n
  auto last = combined.narrow(1, d, d);
  at::index_select_out(last, state, 0, last_index);
  const auto last_term = at::addmm(last_bias, last, last_weight.t());
  auto att = at::addmm(click_bias, click, click_weight.t());  // [C, d]
  auto alpha = at::empty({num_clicks}, options);
  const auto click_batch = batch.index_select(0, alias_index);
  {
    const int64_t* session = click_batch.data_ptr<int64_t>();
    for (int64_t c = 0; c < num_clicks; ++c) {
      TORCH_CHECK(session[c] >= 0 && session[c] < num_sessions,
                  "batch puts a clicked node in session ", session[c],
                  ", but last_index has ", num_sessions, " sessions");
    }
  }
  auto session_ptr = at::empty({num_sessions + 1}, edge_index.options());
  auto session_clicks = at::empty({num_clicks}, edge_index.options());
  group_by(click_batch.data_ptr<int64_t>(), num_clicks, num_sessions,
           session_ptr.data_ptr<int64_t>(),
           session_clicks.data_ptr<int64_t>());
  {
    const int64_t *ptr = session_ptr.data_ptr<int64_t>(),
                  *order = session_clicks.data_ptr<int64_t>();
    const scalar_t *last_ = last_term.data_ptr<scalar_t>(),
                   *q = att_weight.data_ptr<scalar_t>(),
                   *click_ = click.data_ptr<scalar_t>();
    scalar_t *att_ = att.data_ptr<scalar_t>(),
             *alpha_ = alpha.data_ptr<scalar_t>(),
             *combined_ = combined.data_ptr<scalar_t>();
    at::parallel_for(0, num_sessions, 16, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        scalar_t* global = combined_ + b * 2 * d;
        const scalar_t* last_b = last_ + b * d;
        FOR_COLUMNS(j, n, d) { STORE(Vec(0), global); }
        for (int64_t k = ptr[b]; k < ptr[b + 1]; ++k) {
          const int64_t c = order[k];
          scalar_t* att_c = att_ + c * d;
          Vec dot(0);
          FOR_COLUMNS(j, n, d) {
            const Vec s = sigmoid(LOAD(att_c) + LOAD(last_b));
            STORE(s, att_c);
            dot = dot + s * LOAD(q);
          }
          const scalar_t weight = horizontal_sum(dot);
          alpha_[c] = weight;
          const scalar_t* click_c = click_ + c * d;
          FOR_COLUMNS(j, n, d) {
            STORE(LOAD(global) + Vec(weight) * LOAD(click_c), global);
          }
        }
      }
    });
  }
  auto out = at::addmm(hybrid_bias, combined, hybrid_weight.t());

  return {out,
          graph.in_ptr, graph.in_node, graph.in_other,
          graph.out_ptr, graph.out_node, graph.out_other,
          lin_weight, a, gate_h, gates, click, combined, att, alpha,
          session_ptr, session_clicks};
}

template <typename scalar_t>
std::vector<Tensor> backward_impl(const Tensor& grad_out,
                                  const std::vector<Tensor>& saved,
                                  const Tensor& x, const Tensor& alias_index,
                                  const Tensor& last_index,
                                  const std::vector<Tensor>& params) {
  using Vec = VecOf<scalar_t>;
  const Tensor &in_ptr = saved[0], &in_node = saved[1], &in_other = saved[2],
               &out_ptr = saved[3], &out_node = saved[4],
               &out_other = saved[5], &lin_weight = saved[6], &a = saved[7],
               &gate_h = saved[8], &gates = saved[9], &click = saved[10],
               &combined = saved[11], &att = saved[12], &alpha = saved[13],
               &session_ptr = saved[14], &session_clicks = saved[15];
  const Tensor &weight_ih = params[6], &weight_hh = params[7],
               &last_weight = params[10], &click_weight = params[12],
               &att_weight = params[14], &hybrid_weight = params[15];
  const int64_t num_nodes = x.size(0), d = x.size(1);
  const int64_t num_clicks = alias_index.numel();
  const int64_t num_sessions = last_index.numel();
  const auto options = x.options();
  const auto grad = grad_out.contiguous();
  const auto last = combined.narrow(1, d, d);

  // Readout.
  const auto grad_combined = at::mm(grad, hybrid_weight);  // [B, 2d]
  const auto grad_hybrid_weight = at::mm(grad.t(), combined);
  const auto grad_hybrid_bias = grad.sum(0);
  auto grad_click = at::empty({num_clicks, d}, options);
  auto grad_att = at::empty({num_clicks, d}, options);  // before sigmoid
  auto grad_alpha = at::empty({num_clicks}, options);
  auto grad_last_term = at::empty({num_sessions, d}, options);
  {
    const int64_t *ptr = session_ptr.data_ptr<int64_t>(),
                  *order = session_clicks.data_ptr<int64_t>();
    const scalar_t *grad_combined_ = grad_combined.data_ptr<scalar_t>(),
                   *click_ = click.data_ptr<scalar_t>(),
                   *att_ = att.data_ptr<scalar_t>(),
                   *alpha_ = alpha.data_ptr<scalar_t>(),
                   *q = att_weight.data_ptr<scalar_t>();
    scalar_t *grad_click_ = grad_click.data_ptr<scalar_t>(),
             *grad_att_ = grad_att.data_ptr<scalar_t>(),
             *grad_alpha_ = grad_alpha.data_ptr<scalar_t>(),
             *grad_last_term_ = grad_last_term.data_ptr<scalar_t>();
    const Vec one(1);
    at::parallel_for(0, num_sessions, 16, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const scalar_t* grad_global = grad_combined_ + b * 2 * d;
        scalar_t* grad_last_b = grad_last_term_ + b * d;
        FOR_COLUMNS(j, n, d) { STORE(Vec(0), grad_last_b); }
        for (int64_t k = ptr[b]; k < ptr[b + 1]; ++k) {
          const int64_t c = order[k];
          const scalar_t *click_c = click_ + c * d, *att_c = att_ + c * d;
          scalar_t *grad_click_c = grad_click_ + c * d,
                   *grad_att_c = grad_att_ + c * d;
          const Vec weight(alpha_[c]);
          Vec dot(0);
          FOR_COLUMNS(j, n, d) {
            const Vec g = LOAD(grad_global);
            dot = dot + g * LOAD(click_c);
            STORE(weight * g, grad_click_c);
          }
          const scalar_t grad_weight = horizontal_sum(dot);
          grad_alpha_[c] = grad_weight;
          FOR_COLUMNS(j, n, d) {
            const Vec s = LOAD(att_c);
            const Vec g = Vec(grad_weight) * LOAD(q) * s * (one - s);
            STORE(g, grad_att_c);
            STORE(LOAD(grad_last_b) + g, grad_last_b);
          }
        }
      }
    });
  }
  const auto grad_att_weight = at::mv(att.t(), grad_alpha).view({1, d});
  const auto grad_click_weight = at::mm(grad_att.t(), click);
  const auto grad_click_bias = grad_att.sum(0);
  grad_click.addmm_(grad_att, click_weight);
  const auto grad_last_weight = at::mm(grad_last_term.t(), last);
  const auto grad_last_bias = grad_last_term.sum(0);
  const auto grad_last = at::addmm(grad_combined.narrow(1, d, d),
                                   grad_last_term, last_weight);

  // Back to the node states: every click's and every last click's rows.
  auto grad_state = at::zeros({num_nodes, d}, options);
  {
    const int64_t *alias = alias_index.data_ptr<int64_t>(),
                  *last_node = last_index.data_ptr<int64_t>();
    const scalar_t *grad_click_ = grad_click.data_ptr<scalar_t>(),
                   *grad_last_ = grad_last.data_ptr<scalar_t>();
    scalar_t* grad_state_ = grad_state.data_ptr<scalar_t>();
    auto add_rows = [&](const int64_t* node, const scalar_t* rows,
                        int64_t num_rows) {
      for (int64_t r = 0; r < num_rows; ++r) {
        scalar_t* to = grad_state_ + node[r] * d;
        const scalar_t* from = rows + r * d;
        FOR_COLUMNS(j, n, d) { STORE(LOAD(to) + LOAD(from), to); }
      }
    };
    add_rows(alias, grad_click_, num_clicks);
    add_rows(last_node, grad_last_, num_sessions);
  }

  // GRU cell.
  auto grad_gate_i = at::empty({num_nodes, 3 * d}, options);
  auto grad_gate_h = at::empty({num_nodes, 3 * d}, options);
  auto grad_x = at::empty({num_nodes, d}, options);
  {
    const scalar_t *grad_state_ = grad_state.data_ptr<scalar_t>(),
                   *gates_ = gates.data_ptr<scalar_t>(),
                   *x_ = x.data_ptr<scalar_t>(),
                   *gh = gate_h.data_ptr<scalar_t>();
    scalar_t *grad_gi = grad_gate_i.data_ptr<scalar_t>(),
             *grad_gh = grad_gate_h.data_ptr<scalar_t>(),
             *grad_x_ = grad_x.data_ptr<scalar_t>();
    const Vec one(1);
    at::parallel_for(0, num_nodes, 64, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const scalar_t *g_i = grad_state_ + i * d, *gates_i = gates_ + i * 3 * d,
                       *x_i = x_ + i * d, *gh_n = gh + i * 3 * d + 2 * d;
        scalar_t *gi_i = grad_gi + i * 3 * d, *gh_i = grad_gh + i * 3 * d,
                 *grad_x_i = grad_x_ + i * d;
        FOR_COLUMNS(j, n, d) {
          const Vec r = LOAD(gates_i), z = LOAD(gates_i + d),
                    c = LOAD(gates_i + 2 * d), g = LOAD(g_i);
          STORE(g * z, grad_x_i);
          const Vec grad_z = g * (LOAD(x_i) - c) * z * (one - z);
          const Vec grad_c = g * (one - z) * (one - c * c);
          const Vec grad_r = grad_c * LOAD(gh_n) * r * (one - r);
          STORE(grad_r, gi_i);
          STORE(grad_r, gh_i);
          STORE(grad_z, gi_i + d);
          STORE(grad_z, gh_i + d);
          STORE(grad_c, gi_i + 2 * d);
          STORE(grad_c * r, gh_i + 2 * d);
        }
      }
    });
  }
  const auto grad_weight_ih = at::mm(grad_gate_i.t(), a);
  const auto grad_bias_ih = grad_gate_i.sum(0);
  const auto grad_a = at::mm(grad_gate_i, weight_ih);  // [N, 2d]
  const auto grad_weight_hh = at::mm(grad_gate_h.t(), x);
  const auto grad_bias_hh = grad_gate_h.sum(0);
  grad_x.addmm_(grad_gate_h, weight_hh);
  const auto grad_bias = grad_a.sum(0);  // b_iah || b_oah

  // Propagation: node u's incoming-channel transform reached every v with
  // an edge u -> v, its outgoing-channel one every w with an edge w -> u.
  auto grad_h = at::empty({num_nodes, 2 * d}, options);
  gather_sum<scalar_t>(
      out_ptr.data_ptr<int64_t>(), out_node.data_ptr<int64_t>(),
      out_other.data_ptr<scalar_t>(), grad_a.data_ptr<scalar_t>(), 2 * d,
      grad_h.data_ptr<scalar_t>(), 2 * d, nullptr, num_nodes, d);
  gather_sum<scalar_t>(
      in_ptr.data_ptr<int64_t>(), in_node.data_ptr<int64_t>(),
      in_other.data_ptr<scalar_t>(), grad_a.data_ptr<scalar_t>() + d, 2 * d,
      grad_h.data_ptr<scalar_t>() + d, 2 * d, nullptr, num_nodes, d);
  const auto grad_lin_weight = at::mm(grad_h.t(), x);  // [2d, d]
  const auto grad_lin_bias = grad_h.sum(0);
  grad_x.addmm_(grad_h, lin_weight);

  return {grad_x,
          grad_lin_weight.narrow(0, 0, d), grad_lin_bias.narrow(0, 0, d),
          grad_lin_weight.narrow(0, d, d), grad_lin_bias.narrow(0, d, d),
          grad_bias.narrow(0, 0, d), grad_bias.narrow(0, d, d),
          grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh,
          grad_last_weight, grad_last_bias, grad_click_weight,
          grad_click_bias, grad_att_weight, grad_hybrid_weight,
          grad_hybrid_bias};
}

std::vector<Tensor> forward(const Tensor& x, const Tensor& edge_index,
                            const c10::optional<Tensor>& edge_weight,
                            const Tensor& alias_index,
                            const Tensor& last_index, const Tensor& batch,
                            const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "session_embedding", [&] {
    out = forward_impl<scalar_t>(x, edge_index,
                                 edge_weight.value_or(Tensor()), alias_index,
                                 last_index, batch, params);
  });
  return out;
}

std::vector<Tensor> backward(const Tensor& grad_out,
                             const std::vector<Tensor>& saved,
                             const Tensor& x, const Tensor& alias_index,
                             const Tensor& last_index,
                             const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "session_embedding_backward",
                             [&] {
    out = backward_impl<scalar_t>(grad_out, saved, x, alias_index,
                                  last_index, params);
  });
  return out;
}

}  // namespace

// Both touch tensors only, never a Python object: other Python threads run
// meanwhile (a server's event loop while its worker thread scores).
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "SR-GNN session embedding, forward",
        py::call_guard<py::gil_scoped_release>());
  m.def("backward", &backward, "SR-GNN session embedding, backward",
        py::call_guard<py::gil_scoped_release>());
}
